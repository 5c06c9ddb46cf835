package dev.compress.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.compress.CompressException;
import dev.compress.data.Preprocessing.Layout;
import java.awt.image.IndexColorModel;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import javax.imageio.ImageIO;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageDatasetTest {
    @TempDir
    Path dir;

    private static Preprocessing gray(int size) {
        return Preprocessing.builder().setResize(size, size).setChannels(1).setLayout(Layout.NCHW).build();
    }

    private static Preprocessing raw(int height, int width, int channels, Layout layout) {
        return Preprocessing.builder()
                .setResize(height, width)
                .setChannels(channels)
                .setLayout(layout)
                .optScaled(false)
                .build();
    }

    private static ImageDataset dataset(Path root, Preprocessing spec) {
        return ImageDataset.builder().setRoot(root).setInputName("x").setPreprocessing(spec).build();
    }

    private static List<Batch> all(Dataset data, int batchSize) {
        List<Batch> batches = new ArrayList<>();
        data.batches(batchSize).forEachRemaining(batches::add);
        return batches;
    }

    static float[] floats(Batch batch) {
        FloatBuffer buffer = batch.inputs().get("x").floats();
        float[] values = new float[buffer.remaining()];
        buffer.get(values);
        return values;
    }

    /** One sample's values from a dataset of one image. */
    private static float[] single(Path root, Preprocessing spec) {
        return floats(dataset(root, spec).batches(1).next());
    }

    static CompressException badInput(ThrowingCallable call) {
        CompressException e = catchThrowableOfType(CompressException.class, call);
        assertThat(e).as("expected a CompressException").isNotNull();
        assertThat(e.kind()).isEqualTo(CompressException.Kind.BAD_INPUT);
        assertThat(e.getMessage()).doesNotContain("\n");
        return e;
    }

    @Test
    void labelsFileFixesClassOrder() throws IOException {
        for (String c : List.of("apple", "banana", "cherry")) {
            TestImages.uniformGray(dir.resolve(c).resolve(c + ".png"), 2, 2, 10);
        }
        Files.writeString(dir.resolve("labels.txt"), "cherry\napple\nbanana\n");

        ImageDataset data = dataset(dir, gray(2));

        assertThat(data.classNames()).containsExactly("cherry", "apple", "banana");
        Batch batch = data.batches(10).next();
        assertThat(batch.sources()).extracting(p -> p.getFileName().toString())
                .containsExactly("apple.png", "banana.png", "cherry.png");
        assertThat(batch.labels()).containsExactly(1, 2, 0);
    }

    @Test
    void labelsFileInTheParentFolderAndGivenExplicitly() throws IOException {
        Path train = dir.resolve("train");
        TestImages.uniformGray(train.resolve("b/1.png"), 2, 2, 1);
        TestImages.uniformGray(train.resolve("a/1.png"), 2, 2, 1);
        Files.writeString(dir.resolve("labels.txt"), "b\na\n");
        Path other = Files.writeString(dir.resolve("other.txt"), "a\nb\nc\n");

        assertThat(dataset(train, gray(2)).classNames()).containsExactly("b", "a");
        ImageDataset explicit = ImageDataset.builder()
                .setRoot(train)
                .setInputName("x")
                .setPreprocessing(gray(2))
                .optLabelsFile(other)
                .build();
        assertThat(explicit.classNames()).containsExactly("a", "b", "c");
        assertThat(explicit.batches(2).next().labels()).containsExactly(0, 1);
    }

    @Test
    void withoutLabelsFileClassesAreSortedCaseSensitively() {
        for (String c : List.of("b", "B", "a", "Z")) {
            TestImages.uniformGray(dir.resolve(c).resolve("i.png"), 2, 2, 1);
        }
        assertThat(dataset(dir, gray(2)).classNames()).containsExactly("B", "Z", "a", "b");
    }

    @Test
    void chineseFolderAndFileNamesWithBomLabelsFile() throws IOException {
        TestImages.uniformGray(dir.resolve("运动鞋").resolve("鞋子一.png"), 2, 2, 1);
        TestImages.uniformGray(dir.resolve("运动鞋").resolve("鞋子二.png"), 2, 2, 1);
        TestImages.uniformGray(dir.resolve("衬衫").resolve("衬衫.png"), 2, 2, 1);
        Files.write(dir.resolve("labels.txt"), "\uFEFF衬衫\r\n\r\n  运动鞋  \r\n".getBytes(StandardCharsets.UTF_8));

        ImageDataset data = dataset(dir, gray(2));

        assertThat(data.classNames()).containsExactly("衬衫", "运动鞋");
        assertThat(data.size()).isEqualTo(3);
        Batch batch = data.batches(3).next();
        assertThat(batch.sources()).extracting(p -> p.getParent().getFileName() + "/" + p.getFileName())
                .containsExactly("衬衫/衬衫.png", "运动鞋/鞋子一.png", "运动鞋/鞋子二.png");
        assertThat(batch.labels()).containsExactly(0, 1, 1);
    }

    @Test
    void chineseFolderNamesSortByCodePointWithoutLabelsFile() {
        TestImages.uniformGray(dir.resolve("运动鞋").resolve("a.png"), 2, 2, 1);
        TestImages.uniformGray(dir.resolve("衬衫").resolve("a.png"), 2, 2, 1);
        TestImages.uniformGray(dir.resolve("bag").resolve("a.png"), 2, 2, 1);
        // 衬 is U+886C, 运 is U+8FD0.
        assertThat(dataset(dir, gray(2)).classNames()).containsExactly("bag", "衬衫", "运动鞋");
    }

    @Test
    void folderNotInLabelsFileIsAnError() throws IOException {
        TestImages.uniformGray(dir.resolve("cat/1.png"), 2, 2, 1);
        TestImages.uniformGray(dir.resolve("dog/1.png"), 2, 2, 1);
        Files.writeString(dir.resolve("labels.txt"), "cat\n");

        CompressException e = badInput(() -> dataset(dir, gray(2)));

        assertThat(e.getMessage()).startsWith(dir.resolve("dog") + ": class folder is not listed in ")
                .contains("labels.txt");
    }

    @Test
    void labelsFileWithDuplicateIsAnError() throws IOException {
        TestImages.uniformGray(dir.resolve("cat/1.png"), 2, 2, 1);
        Path labels = Files.writeString(dir.resolve("labels.txt"), "cat\ndog\ncat\n");

        assertThat(badInput(() -> dataset(dir, gray(2)))).hasMessage(labels + ": line 3: class 'cat' is listed twice");
    }

    @Test
    void csvWithHeaderQuotedCommasAndRelativePaths() throws IOException {
        Path data = dir.resolve("data");
        TestImages.uniformGray(data.resolve("img, 1.png"), 2, 2, 10);
        TestImages.uniformGray(data.resolve("sub/two.png"), 2, 2, 20);
        TestImages.uniformGray(data.resolve("3.png"), 2, 2, 30);
        Path csv = Files.writeString(data.resolve("list.csv"),
                "path,label\r\n\"img, 1.png\",shirt\r\nsub/two.png, \"bag\"\r\n\r\n3.png,shirt\r\n");

        ImageDataset dataset = dataset(csv, raw(2, 2, 1, Layout.NCHW));

        assertThat(dataset.source()).isEqualTo(csv);
        assertThat(dataset.classNames()).containsExactly("bag", "shirt");
        Batch batch = dataset.batches(8).next();
        assertThat(batch.labels()).containsExactly(1, 0, 1);
        assertThat(batch.sources()).extracting(p -> p.getFileName().toString())
                .containsExactly("img, 1.png", "two.png", "3.png");
        assertThat(floats(batch)).containsExactly(10, 10, 10, 10, 20, 20, 20, 20, 30, 30, 30, 30);
    }

    @Test
    void csvUsesLabelsFileNextToIt() throws IOException {
        TestImages.uniformGray(dir.resolve("a.png"), 2, 2, 1);
        Files.writeString(dir.resolve("labels.txt"), "zebra\nant\n");
        Path csv = Files.writeString(dir.resolve("d.csv"), "a.png,ant\n");

        ImageDataset data = dataset(csv, gray(2));

        assertThat(data.classNames()).containsExactly("zebra", "ant");
        assertThat(data.batches(1).next().labels()).containsExactly(1);
    }

    @Test
    void csvErrorsNameTheCsvAndLine() throws IOException {
        TestImages.uniformGray(dir.resolve("a.png"), 2, 2, 1);
        Path missing = Files.writeString(dir.resolve("missing.csv"), "path,label\na.png,x\nb.png,x\n");
        Path fields = Files.writeString(dir.resolve("fields.csv"), "a.png\n");
        Path quote = Files.writeString(dir.resolve("quote.csv"), "a.png,x\n\"b.png,x\n");
        Files.writeString(dir.resolve("labels.txt"), "x\n");
        Path label = Files.writeString(dir.resolve("label.csv"), "a.png,y\n");

        assertThat(badInput(() -> dataset(missing, gray(2)))).hasMessageStartingWith(
                missing + ": line 3: image 'b.png' not found (paths are relative to ");
        assertThat(badInput(() -> dataset(fields, gray(2)))).hasMessage(
                fields + ": line 1: expected path,label (2 non-empty fields), found 1 field(s)");
        assertThat(badInput(() -> dataset(quote, gray(2)))).hasMessage(quote + ": line 2: quoted field is not closed");
        assertThat(badInput(() -> dataset(label, gray(2)))).hasMessageStartingWith(
                label + ": line 1: label 'y' is not listed in ");
    }

    @Test
    void folderWithoutSubFoldersIsUnlabeled() throws IOException {
        TestImages.uniformGray(dir.resolve("b.PNG"), 2, 2, 1);
        TestImages.uniformGray(dir.resolve("a.png"), 2, 2, 1);
        TestImages.uniformGray(dir.resolve(".hidden.png"), 2, 2, 1);
        Files.writeString(dir.resolve("notes.txt"), "not an image");

        ImageDataset data = dataset(dir, gray(2));

        assertThat(data.classNames()).isEmpty();
        assertThat(data.size()).isEqualTo(2);
        Batch batch = data.batches(5).next();
        assertThat(batch.labels()).containsExactly(-1, -1);
        assertThat(batch.sources()).extracting(p -> p.getFileName().toString()).containsExactly("a.png", "b.PNG");
    }

    @Test
    void hiddenFoldersAndNestedImagesInClassFolders() {
        TestImages.uniformGray(dir.resolve("cat/2020/b.jpg.png"), 2, 2, 1);
        TestImages.uniformGray(dir.resolve("cat/a.png"), 2, 2, 1);
        TestImages.uniformGray(dir.resolve("cat/.thumbs/a.png"), 2, 2, 1);
        TestImages.uniformGray(dir.resolve(".git/x.png"), 2, 2, 1);

        ImageDataset data = dataset(dir, gray(2));

        assertThat(data.classNames()).containsExactly("cat");
        assertThat(data.files()).containsExactly(dir.resolve("cat/2020/b.jpg.png"), dir.resolve("cat/a.png"));
    }

    @Test
    void emptyFolderIsAnError() throws IOException {
        Files.writeString(dir.resolve("readme.txt"), "nothing here");
        assertThat(badInput(() -> dataset(dir, gray(2)))).hasMessage(
                dir + ": no images found (expected class sub-folders or image files: .png .jpg .jpeg .bmp .gif)");

        Files.createDirectories(dir.resolve("empty-class"));
        assertThat(badInput(() -> dataset(dir, gray(2)))).hasMessageStartingWith(dir + ": no images found");
    }

    @Test
    void imageNextToClassFoldersIsAnError() {
        TestImages.uniformGray(dir.resolve("cat/a.png"), 2, 2, 1);
        Path loose = TestImages.uniformGray(dir.resolve("stray.png"), 2, 2, 1);

        assertThat(badInput(() -> dataset(dir, gray(2))))
                .hasMessageStartingWith(loose + ": image next to class folders");
    }

    @Test
    void missingRootAndWrongFileType() throws IOException {
        Path missing = dir.resolve("nope");
        Path text = Files.writeString(dir.resolve("list.txt"), "a.png,x\n");

        assertThat(badInput(() -> dataset(missing, gray(2)))).hasMessage(missing + ": no such file or folder");
        assertThat(badInput(() -> dataset(text, gray(2)))).hasMessage(
                text + ": expected a folder of images or a .csv file of path,label lines");
    }

    @Test
    void corruptImageIsAnErrorNamingIt() throws IOException {
        TestImages.uniformGray(dir.resolve("a.png"), 2, 2, 1);
        Path garbage = Files.write(dir.resolve("x.png"), "this is not a PNG at all".getBytes(StandardCharsets.US_ASCII));

        Iterator<Batch> batches = dataset(dir, gray(2)).batches(1);
        batches.next();

        assertThat(badInput(batches::next)).hasMessage(garbage + ": cannot decode image (unknown format)");
    }

    @Test
    void truncatedPngIsAnErrorNamingIt() throws IOException {
        Path good = TestImages.uniformGray(dir.resolve("t.png"), 64, 64, 7);
        byte[] bytes = Files.readAllBytes(good);
        Files.write(good, Arrays.copyOf(bytes, bytes.length / 2));

        assertThat(badInput(() -> single(dir, gray(64)))).hasMessageStartingWith(good + ": cannot decode image (");
    }

    @Test
    void emptyImageFileIsAnError() throws IOException {
        Path empty = Files.createFile(dir.resolve("empty.png"));

        assertThat(badInput(() -> single(dir, gray(2)))).hasMessage(empty + ": cannot decode image (empty file)");
    }

    @Test
    void grayPixelsAreExact() {
        int[] bytes = {0, 1, 127, 128, 254, 255};
        TestImages.gray(dir.resolve("g.png"), 3, 2, bytes);
        float mean = 0.286f;
        float std = 0.353f;
        Preprocessing spec = Preprocessing.builder()
                .setResize(2, 3)
                .setChannels(1)
                .setLayout(Layout.NCHW)
                .optMean(mean)
                .optStd(std)
                .build();

        float[] values = single(dir, spec);

        float[] expected = new float[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            expected[i] = (bytes[i] / 255f - mean) / std;
        }
        assertThat(values).containsExactly(expected);
    }

    @Test
    void grayPalettePngCountsAsOneChannel() throws IOException {
        Path file = TestImages.grayPalette(dir.resolve("p.png"), 2, 2, 0, 1, 2, 15);
        assertThat(ImageIO.read(file.toFile()).getColorModel())
                .as("the PNG keeps its palette").isInstanceOf(IndexColorModel.class);

        assertThat(single(dir, raw(2, 2, 1, Layout.NCHW))).containsExactly(0, 16, 32, 240);
        assertThat(single(dir, raw(1, 1, 1, Layout.NCHW))).containsExactly((0 + 16 + 32 + 240) / 4f);
    }

    @Test
    void sixteenBitGrayScalesByMaxValue() {
        TestImages.gray16(dir.resolve("g16.png"), 2, 2, 0, 65535, 32768, 257);

        assertThat(single(dir, gray(2))).containsExactly(0f, 1f, 32768 / 65535f, 257 / 65535f);
    }

    @Test
    void sixteenBitGrayResizes() {
        TestImages.gray16(dir.resolve("g16.png"), 4, 4, filled(16, 100 * 257));

        assertThat(single(dir, raw(2, 2, 1, Layout.NCHW))).containsOnly(100f);
    }

    @Test
    void grayWithAlphaResizes() throws IOException {
        Path file = TestImages.grayAlpha(dir.resolve("ga.png"), 4, 4, filled(16, 77));
        assertThat(ImageIO.read(file.toFile()).getType()).as("read back as TYPE_CUSTOM").isZero();

        assertThat(single(dir, raw(4, 4, 1, Layout.NCHW))).containsOnly(77f);
        assertThat(single(dir, raw(2, 2, 1, Layout.NCHW))).containsOnly(77f);
    }

    private static int[] filled(int n, int value) {
        int[] values = new int[n];
        Arrays.fill(values, value);
        return values;
    }

    @Test
    void rgbLayouts() {
        TestImages.rgb(dir.resolve("c.png"), 2, 2, 0x0A141E, 0x28323C, 0x46505A, 0x646E78);

        assertThat(single(dir, raw(2, 2, 3, Layout.NCHW)))
                .containsExactly(10, 40, 70, 100, 20, 50, 80, 110, 30, 60, 90, 120);
        assertThat(single(dir, raw(2, 2, 3, Layout.NHWC)))
                .containsExactly(10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120);
    }

    @Test
    void perChannelMeanAndStd() {
        TestImages.rgb(dir.resolve("c.png"), 1, 1, 0x336699);
        Preprocessing spec = Preprocessing.builder()
                .setResize(1, 1)
                .setChannels(3)
                .setLayout(Layout.NHWC)
                .optMean(0.485f, 0.456f, 0.406f)
                .optStd(0.229f, 0.224f, 0.225f)
                .build();

        assertThat(single(dir, spec)).containsExactly(
                (0x33 / 255f - 0.485f) / 0.229f, (0x66 / 255f - 0.456f) / 0.224f, (0x99 / 255f - 0.406f) / 0.225f);
    }

    @Test
    void resizeKeepsGrayValuesAndAveragesAreas() {
        TestImages.uniformGray(dir.resolve("u.png"), 8, 8, 100);
        assertThat(single(dir, raw(4, 4, 1, Layout.NCHW))).hasSize(16).containsOnly(100f);
        assertThat(single(dir, raw(16, 12, 1, Layout.NCHW))).hasSize(192).containsOnly(100f);

        TestImages.gray(dir.resolve("u.png"), 4, 2, 0, 100, 200, 250, 0, 100, 200, 250);
        assertThat(single(dir, raw(1, 2, 1, Layout.NCHW))).containsExactly(50, 225);
    }

    @Test
    void resizeRgb() {
        TestImages.rgb(dir.resolve("c.png"), 8, 8, filled(64, 0x0A141E));

        float[] values = single(dir, raw(3, 5, 3, Layout.NCHW));

        assertThat(values).hasSize(45);
        assertThat(Arrays.copyOfRange(values, 0, 15)).containsOnly(10f);
        assertThat(Arrays.copyOfRange(values, 15, 30)).containsOnly(20f);
        assertThat(Arrays.copyOfRange(values, 30, 45)).containsOnly(30f);
    }

    @Test
    void centerCropAfterResize() {
        int[] values = new int[36];
        for (int i = 0; i < 36; i++) {
            values[i] = i;
        }
        TestImages.gray(dir.resolve("g.png"), 6, 6, values);
        Preprocessing spec = Preprocessing.builder()
                .setResize(6, 6)
                .optCrop(2, 4)
                .setChannels(1)
                .setLayout(Layout.NCHW)
                .optScaled(false)
                .build();

        Batch batch = dataset(dir, spec).batches(1).next();

        assertThat(batch.inputs().get("x").shape()).containsExactly(1, 1, 2, 4);
        assertThat(floats(batch)).containsExactly(13, 14, 15, 16, 19, 20, 21, 22);
    }

    @Test
    void batchesHaveTheRequestedSizeAndShape() {
        for (int i = 0; i < 5; i++) {
            TestImages.uniformGray(dir.resolve("c/" + i + ".png"), 3, 3, i);
        }
        ImageDataset data = dataset(dir, raw(2, 2, 1, Layout.NHWC));

        List<Batch> batches = all(data, 2);

        assertThat(batches).extracting(Batch::size).containsExactly(2, 2, 1);
        assertThat(batches.get(0).inputs().get("x").shape()).containsExactly(2, 2, 2, 1);
        assertThat(batches.get(2).inputs().get("x").shape()).containsExactly(1, 2, 2, 1);
        assertThat(floats(batches.get(2))).containsOnly(4f);
        assertThat(batches.get(0).inputs().keySet()).containsExactly("x");
        assertThat(all(data, 5)).hasSize(1);
    }
}
