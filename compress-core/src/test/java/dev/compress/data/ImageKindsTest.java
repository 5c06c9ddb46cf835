package dev.compress.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;
import static org.assertj.core.api.Assertions.within;

import dev.compress.data.Preprocessing.Layout;
import dev.compress.graph.OnnxModel;
import dev.compress.prune.TinyModels;
import dev.compress.quantize.QuantizationResult;
import dev.compress.quantize.Quantizer;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every kind of image is converted to the model's channels as PIL's {@code convert("RGB")} / {@code convert("L")}
 * do, and counted. Expected values are PIL's (Debian's Pillow 9.4 on the same files).
 */
class ImageKindsTest {
    @TempDir
    Path dir;

    /** The images in {@link #dir}, read for a model of {@code channels}: 8-bit values pixel by pixel. */
    private record Read(float[] values, Map<String, Long> conversions) {}

    private Read read(int height, int width, int channels) {
        ImageDataset data = dataset(height, width, channels);
        float[] values = ImageDatasetTest.floats(data.batches(data.size()).next());
        return new Read(values, data.conversions());
    }

    private ImageDataset dataset(int height, int width, int channels) {
        Preprocessing spec = Preprocessing.builder()
                .setResize(height, width)
                .setChannels(channels)
                .setLayout(Layout.NHWC)
                .optScaled(false)
                .build();
        return ImageDataset.builder().setRoot(dir).setInputName("x").setPreprocessing(spec).build();
    }

    private static float[] values(int... values) {
        float[] floats = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            floats[i] = values[i];
        }
        return floats;
    }

    /** The CMYK JPEG fixture (see its README for how it was made and PIL's values). */
    private Path cmykJpeg(String name) {
        try (InputStream in = ImageKindsTest.class.getResourceAsStream("cmyk.jpg")) {
            Path file = dir.resolve(name);
            Files.copy(in, file);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void grayBecomesRgb() {
        TestImages.gray(dir.resolve("g.png"), 3, 1, 0, 1, 200);

        Read read = read(1, 3, 3);

        assertThat(read.values()).containsExactly(values(0, 0, 0, 1, 1, 1, 200, 200, 200));
        assertThat(read.conversions()).containsExactly(entry("gray->rgb", 1L));
    }

    @Test
    void sixteenBitGrayKeepsItsHighByte() {
        // PIL clips 16-bit gray at 255 here (nearly white); its 16-bit RGB keeps the high byte, and so does this.
        TestImages.gray16(dir.resolve("g16.png"), 4, 1, 0, 255, 25900, 65535);

        Read read = read(1, 4, 3);

        assertThat(read.values()).containsExactly(values(0, 0, 0, 0, 0, 0, 101, 101, 101, 255, 255, 255));
        assertThat(read.conversions()).containsExactly(entry("gray16->rgb", 1L));
    }

    @Test
    void grayWithAlphaDropsAlpha() {
        TestImages.grayAlpha(dir.resolve("ga.png"), 3, 1, new int[] {77, 77, 200}, new int[] {0, 128, 255});

        Read rgb = read(1, 3, 3);
        Read luma = read(1, 3, 1);

        assertThat(rgb.values()).containsExactly(values(77, 77, 77, 77, 77, 77, 200, 200, 200));
        assertThat(rgb.conversions()).containsExactly(entry("graya->rgb", 1L));
        assertThat(luma.values()).containsExactly(values(77, 77, 200));
        assertThat(luma.conversions()).containsExactly(entry("graya->luma", 1L));
    }

    @Test
    void paletteLooksUpItsColors() {
        int[] palette = {0xFFFF0000, 0xFF0080FF, 0xFF0C2238};
        TestImages.palette(dir.resolve("p.png"), 3, 1, palette, 2, 0, 1);

        Read rgb = read(1, 3, 3);
        Read luma = read(1, 3, 1);

        assertThat(rgb.values()).containsExactly(values(12, 34, 56, 255, 0, 0, 0, 128, 255));
        assertThat(rgb.conversions()).containsExactly(entry("palette->rgb", 1L));
        assertThat(luma.values()).containsExactly(values(30, 76, 104));
        assertThat(luma.conversions()).containsExactly(entry("palette->luma", 1L));
    }

    @Test
    void transparentPaletteEntriesKeepTheirColor() {
        int[] palette = {0x00102030, 0x80C86432, 0xFF0A141E};
        TestImages.palette(dir.resolve("p.png"), 3, 1, palette, 0, 1, 2);

        Read read = read(1, 3, 3);

        assertThat(read.values()).containsExactly(values(16, 32, 48, 200, 100, 50, 10, 20, 30));
        assertThat(read.conversions()).containsExactly(entry("palette->rgb", 1L));
    }

    @Test
    void rgbaDropsAlphaWithoutCompositing() {
        TestImages.argb(dir.resolve("a.png"), 3, 1, 0x00102030, 0x80C86432, 0xFF0A141E);

        Read rgb = read(1, 3, 3);
        Read luma = read(1, 3, 1);

        assertThat(rgb.values()).containsExactly(values(16, 32, 48, 200, 100, 50, 10, 20, 30));
        assertThat(rgb.conversions()).containsExactly(entry("rgba->rgb", 1L));
        assertThat(luma.values()).containsExactly(values(29, 124, 18));
        assertThat(luma.conversions()).containsExactly(entry("rgba->luma", 1L));
    }

    @Test
    void sixteenBitRgbKeepsTheHighByte() {
        // 0x80FF would round to 129, PIL takes its high byte: 128.
        TestImages.rgb16(dir.resolve("c16.png"), 2, 1, 0x1234, 0x80FF, 0xFFFF, 0x00FF, 0x0100, 0x7FFF);

        Read rgb = read(1, 2, 3);
        Read luma = read(1, 2, 1);

        assertThat(rgb.values()).containsExactly(values(18, 128, 255, 0, 1, 127));
        assertThat(rgb.conversions()).containsExactly(entry("rgb16->rgb", 1L));
        assertThat(luma.values()).containsExactly(values(110, 15));
        assertThat(luma.conversions()).containsExactly(entry("rgb16->luma", 1L));
    }

    @Test
    void fiveSixFiveBmpStretchesAsPilDoes() throws IOException {
        BufferedImage image = new BufferedImage(4, 1, BufferedImage.TYPE_USHORT_565_RGB);
        for (int x = 0; x < 4; x++) {
            image.getRaster().setPixel(x, 0, new int[] {x, 2 * x + 1, 31 - x});
        }
        assertThat(ImageIO.write(image, "bmp", dir.resolve("c565.bmp").toFile())).isTrue();

        Read read = read(1, 4, 3);

        assertThat(read.values()).containsExactly(values(0, 4, 255, 8, 12, 246, 16, 20, 238, 24, 28, 230));
        assertThat(read.conversions()).as("5-6-5 is RGB").isEmpty();
    }

    @Test
    void rgbBecomesLumaWithPilsRounding() {
        // (51,102,153): 0.299 R + 0.587 G + 0.114 B = 92.565, PIL rounds to 93; (0,1,0) gives 1, not 0.
        TestImages.rgb(dir.resolve("c.png"), 6, 1, 0xFF0000, 0x00FF00, 0x0000FF, 0x000100, 0x808080, 0x336699);

        Read read = read(1, 6, 1);

        assertThat(read.values()).containsExactly(values(76, 150, 29, 1, 128, 93));
        assertThat(read.conversions()).containsExactly(entry("rgb->luma", 1L));
    }

    @Test
    void cmykJpegDecodesAsPilDoes() {
        cmykJpeg("cmyk.jpg");
        // PIL's RGB and L of the four quadrants: top left, top right, bottom left, bottom right
        int[][] rgb = {{255, 255, 255}, {1, 255, 255}, {255, 127, 0}, {125, 94, 64}};
        int[] luma = {255, 179, 151, 100};

        Read color = read(16, 16, 3);
        Read gray = read(16, 16, 1);

        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 16; x++) {
                int quadrant = (y / 8) * 2 + x / 8;
                int p = y * 16 + x;
                for (int c = 0; c < 3; c++) {
                    // ±1: the JPEG plugin's CMYK to RGB rounds differently from PIL's
                    assertThat(color.values()[p * 3 + c]).as("pixel %d,%d channel %d", x, y, c)
                            .isCloseTo(rgb[quadrant][c], within(1f));
                }
                assertThat(gray.values()[p]).as("pixel %d,%d", x, y).isCloseTo(luma[quadrant], within(1f));
            }
        }
        assertThat(color.conversions()).containsExactly(entry("cmyk->rgb", 1L));
        assertThat(gray.conversions()).containsExactly(entry("cmyk->luma", 1L));
    }

    /** One image of every kind, in this (file name) order. */
    private void everyKind() {
        TestImages.gray(dir.resolve("a-gray.png"), 2, 2, 0, 50, 100, 150);
        TestImages.gray16(dir.resolve("b-gray16.png"), 2, 2, 0, 5000, 40000, 65535);
        TestImages.grayAlpha(dir.resolve("c-graya.png"), 2, 2, 1, 2, 3, 4);
        TestImages.palette(dir.resolve("d-palette.png"), 2, 2, new int[] {0xFF336699, 0x00FFFFFF}, 0, 1, 1, 0);
        TestImages.argb(dir.resolve("e-rgba.png"), 2, 2, 0x10203040, 0xFF506070, 0x00000000, 0x80808080);
        TestImages.rgb(dir.resolve("f-rgb.png"), 2, 2, 0x102030, 0x405060, 0x708090, 0xA0B0C0);
        TestImages.rgb16(dir.resolve("g-rgb16.png"), 1, 1, 1000, 20000, 60000);
        cmykJpeg("h-cmyk.jpg");
    }

    private static void readAll(Iterator<Batch> batches) {
        batches.forEachRemaining(batch -> { });
    }

    @Test
    void everyImageCountsOnceWhateverTheBatchSizeAndPasses() {
        everyKind();
        Map<String, Long> expected = Map.of("gray->rgb", 1L, "gray16->rgb", 1L, "graya->rgb", 1L,
                "palette->rgb", 1L, "rgba->rgb", 1L, "rgb16->rgb", 1L, "cmyk->rgb", 1L);

        ImageDataset one = dataset(4, 4, 3);
        readAll(one.batches(1));
        ImageDataset three = dataset(4, 4, 3);
        readAll(three.batches(3));
        readAll(three.batches(2));
        // two passes taking turns, as two consumers would
        ImageDataset interleaved = dataset(4, 4, 3);
        Iterator<Batch> first = interleaved.batches(2);
        Iterator<Batch> second = interleaved.batches(3);
        while (first.hasNext() || second.hasNext()) {
            if (first.hasNext()) {
                first.next();
            }
            if (second.hasNext()) {
                second.next();
            }
        }

        assertThat(one.conversions()).containsExactlyInAnyOrderEntriesOf(expected);
        assertThat(three.conversions()).isEqualTo(one.conversions());
        assertThat(interleaved.conversions()).isEqualTo(one.conversions());
        assertThat(List.copyOf(one.conversions().keySet())).as("sorted for reports").isSorted();
    }

    @Test
    void countsCoverTheImagesReadSoFar() {
        everyKind();
        ImageDataset data = dataset(4, 4, 3);
        assertThat(data.conversions()).isEmpty();

        data.batches(2).next();

        assertThat(data.conversions()).containsOnly(entry("gray->rgb", 1L), entry("gray16->rgb", 1L));
    }

    @Test
    void oneChannelModelCountsAllButGray() {
        everyKind();
        ImageDataset data = dataset(4, 4, 1);

        readAll(data.batches(4));

        assertThat(data.conversions()).containsOnly(entry("graya->luma", 1L), entry("palette->luma", 1L),
                entry("rgba->luma", 1L), entry("rgb->luma", 1L), entry("rgb16->luma", 1L), entry("cmyk->luma", 1L));
    }

    @Test
    void grayscalePngsCalibrateAnRgbModel() {
        for (int i = 0; i < 6; i++) {
            int[] values = new int[100];
            for (int p = 0; p < values.length; p++) {
                values[p] = (p * 7 + i * 40) % 256;
            }
            TestImages.gray(dir.resolve("g" + i + ".png"), 10, 10, values);
        }
        OnnxModel model = TinyModels.concatResidual(); // input x: N x 3 x 8 x 8
        ImageDataset data = ImageDataset.builder()
                .setRoot(dir)
                .setInputName("x")
                .setPreprocessing(ModelInputs.imagePreprocessing(model, Preprocessing.Overrides.NONE))
                .build();

        QuantizationResult result = Quantizer.builder()
                .setModel(model)
                .setCalibrationData(data)
                .optBatchSize(4)
                .build()
                .quantize();

        assertThat(result.report().calibrationSamples()).isEqualTo(6);
        assertThat(result.report().quantizedOps()).containsKey("Conv");
        assertThat(data.conversions()).containsExactly(entry("gray->rgb", 6L));
    }
}
