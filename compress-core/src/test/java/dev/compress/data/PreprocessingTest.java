package dev.compress.data;

import static dev.compress.data.ImageDatasetTest.badInput;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.compress.CompressException;
import dev.compress.data.Preprocessing.Layout;
import dev.compress.data.Preprocessing.Overrides;
import dev.compress.data.Preprocessing.Size;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PreprocessingTest {
    /** What the shipped Fashion-MNIST fixture models carry. */
    private static final String FIXTURE_METADATA =
            "{\"channels\":1,\"mean\":[0.286],\"std\":[0.353],\"layout\":\"NCHW\",\"scale\":\"0-1\"}";

    private static final Path MODEL = Path.of("model.onnx");

    @TempDir
    Path dir;

    private static Preprocessing resolve(long[] shape, Map<String, String> metadata, Overrides overrides) {
        return Preprocessing.resolve(MODEL, "x", shape, metadata, overrides);
    }

    private static Preprocessing resolve(long... shape) {
        return resolve(shape, Map.of(), Overrides.NONE);
    }

    private Path json(String text) throws IOException {
        return Files.writeString(dir.resolve("prep.json"), text);
    }

    @Test
    void defaultsComeFromTheInputShape() {
        Preprocessing nchw = resolve(-1, 3, 32, 32);
        assertThat(nchw.resize()).isEqualTo(new Size(32, 32));
        assertThat(nchw.crop()).isEmpty();
        assertThat(nchw.channels()).isEqualTo(3);
        assertThat(nchw.layout()).isEqualTo(Layout.NCHW);
        assertThat(nchw.scaled()).isTrue();
        assertThat(nchw.mean()).containsExactly(0f);
        assertThat(nchw.std()).containsExactly(1f);
        assertThat(nchw.batchShape(8)).containsExactly(8, 3, 32, 32);

        Preprocessing nhwc = resolve(1, 28, 24, 1);
        assertThat(nhwc.layout()).isEqualTo(Layout.NHWC);
        assertThat(nhwc.channels()).isEqualTo(1);
        assertThat(nhwc.resize()).isEqualTo(new Size(28, 24));
        assertThat(nhwc.batchShape(2)).containsExactly(2, 28, 24, 1);
    }

    @Test
    void metadataOverridesTheShape() {
        Preprocessing p = resolve(new long[] {-1, 1, 28, 28}, Map.of(Preprocessing.METADATA_KEY, FIXTURE_METADATA),
                Overrides.NONE);

        assertThat(p.channels()).isEqualTo(1);
        assertThat(p.mean()).containsExactly(0.286f);
        assertThat(p.std()).containsExactly(0.353f);
        assertThat(p.scaled()).isTrue();
        assertThat(p.outputSize()).isEqualTo(new Size(28, 28));
    }

    @Test
    void precedenceIsShapeThenMetadataThenFileThenOptions() throws IOException {
        Map<String, String> metadata = Map.of(Preprocessing.METADATA_KEY,
                "{\"mean\":[0.1],\"std\":[0.2],\"scale\":\"0-255\",\"resize\":[40,40],\"crop\":[32,32]}");
        Path file = json("{\"std\":[0.3,0.4,0.5],\"resize\":36}");
        Overrides overrides = Overrides.builder().optPreprocessFile(file).optMean(Preprocessing.parseFloats("mean", "1,2,3")).build();

        Preprocessing p = resolve(new long[] {-1, 3, 32, 32}, metadata, overrides);

        assertThat(p.channels()).as("shape").isEqualTo(3);
        assertThat(p.scaled()).as("metadata").isFalse();
        assertThat(p.crop()).as("metadata").contains(new Size(32, 32));
        assertThat(p.resize()).as("file over metadata").isEqualTo(new Size(36, 36));
        assertThat(p.std()).as("file over metadata").containsExactly(0.3f, 0.4f, 0.5f);
        assertThat(p.mean()).as("option over all").containsExactly(1f, 2f, 3f);
    }

    @Test
    void optionsOverrideEverything() throws IOException {
        Path file = json("{\"layout\":\"NCHW\",\"channels\":3}");
        Overrides overrides = Overrides.builder()
                .optPreprocessFile(file)
                .optImageSize(Preprocessing.parseSize("224x200"))
                .optChannels(1)
                .optStd(Preprocessing.parseFloats("std", "0.5"))
                .optLayout(Preprocessing.Layout.parse("nhwc"))
                .build();

        Preprocessing p = resolve(new long[] {-1, -1, -1, -1}, Map.of(), overrides);

        assertThat(p.layout()).isEqualTo(Layout.NHWC);
        assertThat(p.channels()).isEqualTo(1);
        assertThat(p.resize()).isEqualTo(new Size(224, 200));
        assertThat(p.std()).containsExactly(0.5f);
    }

    @Test
    void unsetOptionsChangeNothing() {
        Overrides nulls = Overrides.builder()
                .optPreprocessFile(null)
                .optImageSize((Preprocessing.Size) null)
                .optChannels(null)
                .optMean((float[]) null)
                .optStd((float[]) null)
                .optLayout((Preprocessing.Layout) null)
                .build();

        assertThat(resolve(new long[] {1, 3, 8, 8}, Map.of(), nulls)).isEqualTo(resolve(1, 3, 8, 8));
    }

    @Test
    void jsonRoundTripsThroughMetadata() {
        Preprocessing p = Preprocessing.builder()
                .setResize(36, 40)
                .optCrop(32, 32)
                .setChannels(3)
                .setLayout(Layout.NHWC)
                .optScaled(false)
                .optMean(0.485f, 0.456f, 0.406f)
                .optStd(0.229f, 0.224f, 0.225f)
                .build();

        Preprocessing back = resolve(new long[] {-1, 32, 32, 3}, Map.of(Preprocessing.METADATA_KEY, p.toJson()),
                Overrides.NONE);

        assertThat(back).isEqualTo(p);
        assertThat(p.toJson()).doesNotContain("\n").contains("\"crop\":[32,32]").contains("\"mean\":[0.485,0.456,0.406]");
        assertThat(p.toMap()).containsEntry("layout", "NHWC").containsEntry("scale", "0-255");
    }

    @Test
    void dynamicSizeNeedsImageSize() {
        assertThat(badInput(() -> resolve(-1, 3, -1, -1))).hasMessage(
                "model.onnx: input 'x' has dynamic height/width; pass --image-size HxW");
        assertThat(badInput(() -> resolve(-1, 3, 0, 32))).hasMessageEndingWith("pass --image-size HxW");
        assertThat(resolve(new long[] {-1, 3, -1, -1}, Map.of(), Overrides.builder().optImageSize(Preprocessing.parseSize("64")).build())
                .outputSize()).isEqualTo(new Size(64, 64));
    }

    @Test
    void shapeErrors() {
        assertThat(badInput(() -> resolve(-1, 10))).hasMessage(
                "model.onnx: input 'x' [-1, 10] is not an image input: expected rank 4 (NCHW or NHWC)");
        assertThat(badInput(() -> resolve(-1, 5, 8, 8))).hasMessageStartingWith(
                "model.onnx: input 'x' [-1, 5, 8, 8]: cannot tell the layout");
        assertThat(badInput(() -> resolve(new long[0], Map.of(), Overrides.builder().optImageSize(Preprocessing.parseSize("8")).build())))
                .hasMessageContaining("cannot tell the layout");
        assertThat(badInput(() -> resolve(new long[] {-1, -1, 8, 8}, Map.of(),
                Overrides.builder().optLayout(Preprocessing.Layout.parse("NCHW")).build())))
                .hasMessage("model.onnx: input 'x' [-1, -1, 8, 8] has dynamic channels in layout NCHW; "
                        + "pass --channels 1 or 3");
    }

    @Test
    void settingsMustFitTheModel() throws IOException {
        assertThat(badInput(() -> resolve(new long[] {-1, 1, 28, 28}, Map.of(),
                Overrides.builder().optChannels(3).build())))
                .hasMessage("channels is 3 but input 'x' [-1, 1, 28, 28] has 1 channels in layout NCHW");
        assertThat(badInput(() -> resolve(new long[] {-1, 1, 28, 28}, Map.of(),
                Overrides.builder().optImageSize(Preprocessing.parseSize("32")).build())))
                .hasMessage("preprocessing gives 32x32 images but input 'x' [-1, 1, 28, 28] expects 28x28");
        Path file = json("{\"resize\":[20,20],\"crop\":[24,24]}");
        assertThat(badInput(() -> resolve(new long[] {-1, 1, -1, -1}, Map.of(),
                Overrides.builder().optPreprocessFile(file).build())))
                .hasMessage(file + ": crop 24x24 is larger than the resize size 20x20");
    }

    @Test
    void meanAndStdLengthsMustMatchChannels() {
        assertThat(badInput(() -> resolve(new long[] {-1, 1, 8, 8}, Map.of(),
                Overrides.builder().optMean(Preprocessing.parseFloats("mean", "0.1,0.2,0.3")).build())))
                .hasMessage("mean has 3 values but there are 1 channels; give 1 value or one per channel");
        assertThat(badInput(() -> resolve(new long[] {-1, 3, 8, 8},
                Map.of(Preprocessing.METADATA_KEY, "{\"std\":[1,2]}"), Overrides.NONE)))
                .hasMessage("model.onnx: metadata compress.preprocess: std has 2 values but there are 3 channels; "
                        + "give 1 value or one per channel");
    }

    @Test
    void optionValueErrors() {
        assertThatThrownBy(() -> Overrides.builder().optStd(Preprocessing.parseFloats("std", "0.5,0")))
                .isInstanceOf(CompressException.class).hasMessage("std [0.5, 0.0] must be positive (it divides)");
        assertThat(badInput(() -> Overrides.builder().optMean(Preprocessing.parseFloats("mean", "0.5,abc")))).hasMessage(
                "mean '0.5,abc' is not a comma-separated list of numbers");
        assertThat(badInput(() -> Overrides.builder().optLayout(Preprocessing.Layout.parse("CHW")))).hasMessage(
                "unknown layout 'CHW' (expected NCHW or NHWC)");
        assertThatThrownBy(() -> Overrides.builder().optChannels(2))
                .isInstanceOf(CompressException.class).hasMessage("channels must be 1 or 3, got 2");
        assertThat(badInput(() -> Overrides.builder().optImageSize(Preprocessing.parseSize("32x")))).hasMessage(
                "image size '32x' is not N or HxW (e.g. 32 or 224x224, at most 65536)");
    }

    @Test
    void parseSizeForms() {
        assertThat(Preprocessing.parseSize("32")).isEqualTo(new Size(32, 32));
        assertThat(Preprocessing.parseSize("224x200")).isEqualTo(new Size(224, 200));
        assertThat(Preprocessing.parseSize(" 10 X 20 ")).isEqualTo(new Size(10, 20));
        for (String bad : new String[] {"", "0", "3x0", "-1", "1.5", "axb", "1x2x3", "9999999", "70000x2"}) {
            assertThat(badInput(() -> Preprocessing.parseSize(bad))).hasMessageStartingWith("image size '" + bad + "'");
        }
        assertThat(Preprocessing.parseFloats("mean", "0.485, 0.456,0.406")).containsExactly(0.485f, 0.456f, 0.406f);
        assertThat(badInput(() -> Preprocessing.parseFloats("mean", "1,,2"))).hasMessageStartingWith("mean '1,,2'");
        assertThat(badInput(() -> Preprocessing.parseFloats("mean", "NaN"))).hasMessageStartingWith("mean 'NaN'");
    }

    @Test
    void preprocessFileErrorsNameTheFile() throws IOException {
        String[][] cases = {
            {"{\"channels\": 1,", "invalid JSON at line 1, column 16 ("},
            {"[1, 2]", "expected a JSON object such as"},
            {"{\"chanels\": 1}", "unknown key 'chanels' (known keys: resize, crop, channels, scale, mean, std, layout)"},
            {"{\"std\": [0.5, 0]}", "std must be a number or a non-empty array of positive numbers, got [0.5,0]"},
            {"{\"mean\": []}", "mean must be a number or a non-empty array of numbers, got []"},
            {"{\"mean\": [\"a\"]}", "mean must be a number or a non-empty array of numbers"},
            {"{\"layout\": \"CHW\"}", "unknown layout 'CHW' (expected NCHW or NHWC)"},
            {"{\"channels\": 2}", "channels must be 1 or 3, got 2"},
            {"{\"scale\": \"0-1.0\"}", "scale must be \"0-1\" (pixel/255) or \"0-255\" (raw pixels), got \"0-1.0\""},
            {"{\"resize\": [32]}", "resize must be [height, width] (integers 1..65536), got [32]"},
            {"{\"crop\": [0, 3]}", "crop must be [height, width] (integers 1..65536), got [0,3]"},
            {"{\"mean\": 1, \"mean\": 2}", "invalid JSON at line 1"},
        };
        for (String[] c : cases) {
            Path file = json(c[0]);
            Overrides overrides = Overrides.builder().optPreprocessFile(file).build();
            assertThat(badInput(() -> resolve(new long[] {-1, 3, 8, 8}, Map.of(), overrides)))
                    .as(c[0])
                    .hasMessageStartingWith(file + ": " + c[1]);
        }
        Path missing = dir.resolve("missing.json");
        assertThat(badInput(() -> resolve(new long[] {-1, 3, 8, 8}, Map.of(),
                Overrides.builder().optPreprocessFile(missing).build())))
                .hasMessage(missing + ": no such file");
    }

    @Test
    void metadataErrorsNameTheModel() {
        assertThat(badInput(() -> resolve(new long[] {-1, 3, 8, 8}, Map.of(Preprocessing.METADATA_KEY, "{bad"),
                Overrides.NONE)))
                .hasMessageStartingWith("model.onnx: metadata compress.preprocess: invalid JSON at line 1");
    }

    @Test
    void builderRejectsInconsistentSettings() {
        assertThatThrownBy(() -> Preprocessing.builder().setResize(8, 8).setChannels(2).setLayout(Layout.NCHW).build())
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Preprocessing.builder().setResize(8, 8).setChannels(1).setLayout(Layout.NCHW)
                .optStd(0f).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("std must be positive");
        assertThatThrownBy(() -> Preprocessing.builder().setResize(8, 8).setChannels(1).setLayout(Layout.NCHW)
                .optCrop(9, 8).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("larger than resize");
        assertThatThrownBy(() -> Preprocessing.builder().setChannels(1).setLayout(Layout.NCHW).build())
                .isInstanceOf(NullPointerException.class);
        assertThat(Preprocessing.builder().setResize(8, 8).setChannels(1).setLayout(Layout.NCHW).build().crop())
                .isEqualTo(Optional.empty());
    }
}
