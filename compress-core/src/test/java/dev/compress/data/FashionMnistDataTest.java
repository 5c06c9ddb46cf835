package dev.compress.data;

import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.graph.OnnxModel;
import dev.compress.testing.TestData;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shipped Fashion-MNIST PNGs through the shipped model's own preprocessing, checked pixel by pixel against the
 * original IDX files they were written from ({@code test-NNNNN.png} is test image NNNNN).
 */
class FashionMnistDataTest {
    private static final int PIXELS = 28 * 28;

    private static Path labelsFile;
    private static Preprocessing preprocessing;

    @TempDir
    Path dir;

    @BeforeAll
    static void resolvePreprocessingFromTheModel() {
        labelsFile = TestData.fashionMnist().resolve("labels.txt");
        Path modelFile = TestData.model("cnn-fp32.onnx");
        OnnxModel model = OnnxModel.load(modelFile);
        var input = model.graph().inputs().get(0);
        preprocessing = Preprocessing.resolve(
                modelFile, input.name(), ModelInputs.shape(input), model.metadata(), Preprocessing.Overrides.NONE);
    }

    private static ImageDataset dataset(Path root) {
        return ImageDataset.builder().setRoot(root).setInputName("input").setPreprocessing(preprocessing).build();
    }

    private static List<String> labelLines() throws IOException {
        return Files.readAllLines(labelsFile).stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
    }

    @Test
    void modelMetadataGivesTheFixturePreprocessing() {
        assertThat(preprocessing).isEqualTo(Preprocessing.builder()
                .setResize(28, 28)
                .setChannels(1)
                .setLayout(Preprocessing.Layout.NCHW)
                .optMean(0.286f)
                .optStd(0.353f)
                .build());
    }

    @Test
    void heldOutImagesMatchTheIdxSourceExactly() throws IOException {
        Path idx = TestData.debianFashionMnist();
        byte[] images = readIdx(idx.resolve("t10k-images-idx3-ubyte.gz"), 0x803);
        byte[] idxLabels = readIdx(idx.resolve("t10k-labels-idx1-ubyte.gz"), 0x801);
        ImageDataset data = dataset(TestData.fashionMnist().resolve("heldout"));

        assertThat(data.size()).isEqualTo(2000);
        assertThat(data.classNames()).containsExactlyElementsOf(labelLines()).hasSize(10);
        int[] perClass = new int[10];
        int batches = 0;
        int seen = 0;
        for (Iterator<Batch> it = data.batches(64); it.hasNext(); batches++) {
            Batch batch = it.next();
            assertThat(batch.inputs().get("input").shape()).containsExactly(batch.size(), 1, 28, 28);
            FloatBuffer values = batch.inputs().get("input").floats();
            for (int i = 0; i < batch.size(); i++) {
                String name = batch.sources().get(i).getFileName().toString();
                int index = Integer.parseInt(name.substring("test-".length(), name.length() - ".png".length()));
                assertThat(batch.labels()[i]).as(name).isEqualTo(idxLabels[index]);
                float[] expected = new float[PIXELS];
                for (int p = 0; p < PIXELS; p++) {
                    expected[p] = ((images[index * PIXELS + p] & 0xFF) / 255f - 0.286f) / 0.353f;
                }
                float[] actual = new float[PIXELS];
                values.get(actual);
                assertThat(actual).as(name).containsExactly(expected);
                perClass[batch.labels()[i]]++;
                seen++;
            }
        }
        assertThat(batches).isEqualTo(32);
        assertThat(seen).isEqualTo(2000);
        assertThat(perClass).containsOnly(200);
    }

    @Test
    void calibrationFolderHasFiftyPerClass() {
        ImageDataset data = dataset(TestData.fashionMnist().resolve("calib"));

        int[] perClass = new int[10];
        data.batches(128).forEachRemaining(b -> {
            for (int label : b.labels()) {
                perClass[label]++;
            }
        });
        assertThat(data.size()).isEqualTo(500);
        assertThat(perClass).containsOnly(50);
    }

    @Test
    void chineseClassFoldersWithTheChineseLabelsFile() throws IOException {
        List<String> english = labelLines();
        List<String> chinese = Files.readAllLines(TestData.fashionMnist().resolve("labels-zh.txt")).stream()
                .map(String::strip).filter(s -> !s.isEmpty()).toList();
        Path heldout = TestData.fashionMnist().resolve("heldout");
        for (int c : new int[] {7, 6, 0}) { // 运动鞋, 衬衫, T恤上衣
            Path from = Files.list(heldout.resolve(english.get(c))).sorted().findFirst().orElseThrow();
            Files.createDirectories(dir.resolve(chinese.get(c)));
            Files.copy(from, dir.resolve(chinese.get(c)).resolve(from.getFileName()));
        }

        ImageDataset data = ImageDataset.builder()
                .setRoot(dir)
                .setInputName("input")
                .setPreprocessing(preprocessing)
                .optLabelsFile(TestData.fashionMnist().resolve("labels-zh.txt"))
                .build();

        assertThat(data.classNames()).containsExactlyElementsOf(chinese);
        int[] labels = data.batches(8).next().labels();
        assertThat(labels).containsExactlyInAnyOrder(7, 6, 0);
    }

    @Test
    void csvListingOfShippedImages() throws IOException {
        Path heldout = TestData.fashionMnist().resolve("heldout");
        List<String> lines = new ArrayList<>(List.of("path,label"));
        for (String cls : List.of("Ankle boot", "Bag", "T-shirt_top")) {
            Path image = Files.list(heldout.resolve(cls)).sorted().findFirst().orElseThrow();
            lines.add("\"" + image.toAbsolutePath() + "\"," + cls);
        }
        Path csv = Files.write(dir.resolve("list.csv"), lines);
        Files.copy(labelsFile, dir.resolve("labels.txt"));

        ImageDataset data = dataset(csv);

        assertThat(data.classNames()).containsExactlyElementsOf(labelLines());
        assertThat(data.batches(3).next().labels()).containsExactly(9, 8, 0);
    }

    /** The payload of a gzipped IDX file with the given magic number. */
    private static byte[] readIdx(Path file, int magic) throws IOException {
        try (InputStream in = new GZIPInputStream(Files.newInputStream(file));
                DataInputStream data = new DataInputStream(in)) {
            int found = data.readInt();
            assertThat(found).as(file + " magic").isEqualTo(magic);
            long count = 1;
            for (int d = 0; d < (magic & 0xFF); d++) {
                count *= data.readInt();
            }
            byte[] payload = new byte[Math.toIntExact(count)];
            data.readFully(payload);
            return payload;
        }
    }
}
