package dev.compress.data;

import static dev.compress.data.ImageDatasetTest.badInput;
import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.HostTensor.ElementType;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NpyDatasetTest {
    @TempDir
    Path dir;

    private static long[] shape(long... dims) {
        return dims;
    }

    private NpyDataset dataset(Map<String, long[]> inputs) {
        return NpyDataset.builder().setRoot(dir).setInputs(inputs).build();
    }

    private NpyDataset single(long... modelShape) {
        return dataset(Map.of("x", modelShape));
    }

    private static List<Batch> all(Dataset data, int batchSize) {
        List<Batch> batches = new ArrayList<>();
        data.batches(batchSize).forEachRemaining(batches::add);
        return batches;
    }

    private static float[] floats(Batch batch, String input) {
        FloatBuffer buffer = batch.inputs().get(input).floats();
        float[] values = new float[buffer.remaining()];
        buffer.get(values);
        return values;
    }

    private static long[] longs(Batch batch, String input) {
        LongBuffer buffer = batch.inputs().get(input).longs();
        long[] values = new long[buffer.remaining()];
        buffer.get(values);
        return values;
    }

    @Test
    void float32SampleFilesInSortedOrder() {
        NpyWriter.floats(dir.resolve("b.npy"), shape(2, 2), 5, 6, 7, 8);
        NpyWriter.floats(dir.resolve("a.npy"), shape(2, 2), 1, 2, 3, 4);
        NpyWriter.floats(dir.resolve("c.npy"), shape(2, 2), 9, 10, 11, 12);

        NpyDataset data = single(-1, 2, 2);

        assertThat(data.size()).isEqualTo(3);
        assertThat(data.classNames()).isEmpty();
        assertThat(data.inputTypes()).containsEntry("x", ElementType.FLOAT);
        List<Batch> batches = all(data, 2);
        assertThat(batches).extracting(Batch::size).containsExactly(2, 1);
        assertThat(batches.get(0).inputs().get("x").shape()).containsExactly(2, 2, 2);
        assertThat(floats(batches.get(0), "x")).containsExactly(1, 2, 3, 4, 5, 6, 7, 8);
        assertThat(floats(batches.get(1), "x")).containsExactly(9, 10, 11, 12);
        assertThat(batches.get(0).labels()).containsExactly(-1, -1);
        assertThat(batches.get(0).sources()).containsExactly(dir.resolve("a.npy"), dir.resolve("b.npy"));
    }

    @Test
    void int64Samples() {
        NpyWriter.longs(dir.resolve("0.npy"), shape(3), 1, -2, Long.MAX_VALUE);

        NpyDataset data = single(-1, 3);

        assertThat(data.inputTypes()).containsEntry("x", ElementType.INT64);
        Batch batch = data.batches(4).next();
        assertThat(batch.inputs().get("x").shape()).containsExactly(1, 3);
        assertThat(longs(batch, "x")).containsExactly(1, -2, Long.MAX_VALUE);
    }

    @Test
    void batchFilesAreSplitAcrossBatches() {
        float[] values = new float[15];
        for (int i = 0; i < values.length; i++) {
            values[i] = i;
        }
        NpyWriter.floats(dir.resolve("a.npy"), shape(5, 3), values);
        NpyWriter.floats(dir.resolve("b.npy"), shape(3), 100, 101, 102);
        NpyWriter.floats(dir.resolve("c.npy"), shape(2, 3), 200, 201, 202, 203, 204, 205);

        NpyDataset data = single(-1, 3);
        List<Batch> batches = all(data, 3);

        assertThat(data.size()).isEqualTo(8);
        assertThat(batches).extracting(Batch::size).containsExactly(3, 3, 2);
        assertThat(floats(batches.get(0), "x")).containsExactly(0, 1, 2, 3, 4, 5, 6, 7, 8);
        assertThat(floats(batches.get(1), "x")).containsExactly(9, 10, 11, 12, 13, 14, 100, 101, 102);
        assertThat(floats(batches.get(2), "x")).containsExactly(200, 201, 202, 203, 204, 205);
        assertThat(batches.get(1).sources())
                .containsExactly(dir.resolve("a.npy"), dir.resolve("a.npy"), dir.resolve("b.npy"));
    }

    @Test
    void otherDtypesAndHeaderVersions() {
        NpyWriter.doubles(dir.resolve("1.npy"), shape(2), 0.5, -1.25);
        NpyWriter.ints(dir.resolve("2.npy"), shape(2), 7, -8);
        NpyWriter.write(dir.resolve("3.npy"), "|u1", false, shape(2), new byte[] {(byte) 255, 1}, 2);
        NpyWriter.write(dir.resolve("4.npy"), "|b1", false, shape(2), new byte[] {1, 0}, 3);

        Batch batch = single(-1, 2).batches(4).next();

        assertThat(floats(batch, "x")).containsExactly(0.5f, -1.25f, 7, -8, 255, 1, 1, 0);
    }

    @Test
    void integerFilesConvertToTheInputType() {
        NpyWriter.longs(dir.resolve("a.npy"), shape(2), 3, 4);
        NpyWriter.floats(dir.resolve("b.npy"), shape(2), 5, 6);

        NpyDataset asFloat = NpyDataset.builder()
                .setRoot(dir)
                .setInputs(Map.of("x", shape(-1, 2)))
                .optInputTypes(Map.of("x", ElementType.FLOAT))
                .build();
        NpyDataset asLong = NpyDataset.builder()
                .setRoot(dir)
                .setInputs(Map.of("x", shape(-1, 2)))
                .optInputTypes(Map.of("x", ElementType.INT64))
                .build();

        assertThat(floats(asFloat.batches(2).next(), "x")).containsExactly(3, 4, 5, 6);
        assertThat(longs(asLong.batches(2).next(), "x")).containsExactly(3, 4, 5, 6);
    }

    @Test
    void nonIntegerFloatsForAnInt64InputAreAnError() {
        Path file = NpyWriter.floats(dir.resolve("a.npy"), shape(2), 3, 4.5f);
        NpyDataset data = NpyDataset.builder()
                .setRoot(dir)
                .setInputs(Map.of("ids", shape(-1, 2)))
                .optInputTypes(Map.of("ids", ElementType.INT64))
                .build();

        assertThat(badInput(() -> data.batches(1).next())).hasMessage(
                file + ": element 1 is 4.5, not an integer, but input 'ids' (INT64) takes integers");
    }

    @Test
    void severalInputsInOneFolderEach() {
        Map<String, long[]> inputs = new LinkedHashMap<>();
        inputs.put("input_ids", shape(-1, -1));
        inputs.put("mask:0", shape(-1, -1));
        NpyWriter.longs(dir.resolve("input_ids/s1.npy"), shape(2, 3), 1, 2, 3, 4, 5, 6);
        NpyWriter.longs(dir.resolve("input_ids/s2.npy"), shape(3), 7, 8, 9);
        NpyWriter.longs(dir.resolve("mask_0/s1.npy"), shape(2, 3), 1, 1, 0, 1, 1, 1);
        NpyWriter.longs(dir.resolve("mask_0/s2.npy"), shape(3), 1, 0, 0);

        NpyDataset data = dataset(inputs);
        Batch batch = data.batches(3).next();

        assertThat(data.size()).isEqualTo(3);
        assertThat(batch.inputs().keySet()).containsExactly("input_ids", "mask:0");
        assertThat(batch.inputs().get("input_ids").shape()).containsExactly(3, 3);
        assertThat(longs(batch, "input_ids")).containsExactly(1, 2, 3, 4, 5, 6, 7, 8, 9);
        assertThat(longs(batch, "mask:0")).containsExactly(1, 1, 0, 1, 1, 1, 1, 0, 0);
    }

    @Test
    void singleInputMayUseItsFolderToo() {
        NpyWriter.floats(dir.resolve("x/a.npy"), shape(1), 42);

        assertThat(floats(single(-1, 1).batches(1).next(), "x")).containsExactly(42);
    }

    @Test
    void multiInputLayoutErrors() throws IOException {
        Map<String, long[]> inputs = new LinkedHashMap<>();
        inputs.put("a", shape(-1, 1));
        inputs.put("b", shape(-1, 1));

        assertThat(badInput(() -> dataset(inputs))).hasMessage(
                dir + ": no .npy files for input 'a' (expected in " + dir.resolve("a") + "/)");

        NpyWriter.floats(dir.resolve("a/1.npy"), shape(1), 1);
        NpyWriter.floats(dir.resolve("a/2.npy"), shape(1), 2);
        NpyWriter.floats(dir.resolve("b/1.npy"), shape(1), 1);
        assertThat(badInput(() -> dataset(inputs))).hasMessage(dir.resolve("b/2.npy") + ": missing: "
                + dir.resolve("a/2.npy") + " exists, and every input folder needs the same file names");

        NpyWriter.floats(dir.resolve("b/2.npy"), shape(2, 1), 1, 2);
        assertThat(badInput(() -> dataset(inputs))).hasMessage(
                dir.resolve("b/2.npy") + ": holds 2 samples but " + dir.resolve("a/2.npy") + " holds 1");

        Files.delete(dir.resolve("b/2.npy"));
        NpyWriter.floats(dir.resolve("b/2.npy"), shape(1), 2);
        NpyWriter.floats(dir.resolve("stray.npy"), shape(1), 1);
        assertThat(badInput(() -> dataset(inputs))).hasMessageStartingWith(
                dir.resolve("stray.npy") + ": the model has inputs a, b: put each input's .npy files in ");
    }

    @Test
    void labelsFromLabelsNpyAndLabelsTxt() throws IOException {
        NpyWriter.floats(dir.resolve("a.npy"), shape(2, 1), 1, 2);
        NpyWriter.floats(dir.resolve("b.npy"), shape(1), 3);
        NpyWriter.longs(dir.resolve("labels.npy"), shape(3), 2, 0, -1);

        NpyDataset numbered = single(-1, 1);
        assertThat(numbered.size()).as("labels.npy is not a sample").isEqualTo(3);
        assertThat(numbered.classNames()).containsExactly("0", "1", "2");
        assertThat(numbered.batches(3).next().labels()).containsExactly(2, 0, -1);

        Files.writeString(dir.resolve("labels.txt"), "cat\ndog\nbird\n");
        assertThat(single(-1, 1).classNames()).containsExactly("cat", "dog", "bird");

        Files.writeString(dir.resolve("labels.txt"), "cat\ndog\n");
        assertThat(badInput(() -> single(-1, 1))).hasMessageStartingWith(
                dir.resolve("labels.npy") + ": label 2 at position 0 is not -1 or a class index below 2");

        NpyWriter.longs(dir.resolve("labels.npy"), shape(2), 0, 1);
        assertThat(badInput(() -> single(-1, 1))).hasMessage(
                dir.resolve("labels.npy") + ": has 2 labels but there are 3 samples");
    }

    @Test
    void headerErrorsNameTheFile() throws IOException {
        Path fortran = NpyWriter.write(dir.resolve("f.npy"), "<f4", true, shape(2, 2), new byte[16], 1);
        assertThat(badInput(() -> single(-1, 2, 2))).hasMessage(fortran
                + ": Fortran-order arrays are not supported; save a C-order array (numpy.ascontiguousarray)");
        Files.delete(fortran);

        Path big = NpyWriter.write(dir.resolve("b.npy"), ">f4", false, shape(2), new byte[8], 1);
        assertThat(badInput(() -> single(-1, 2))).hasMessage(
                big + ": big-endian data ('>f4') is not supported; save it as '<f4' (array.astype('<f4'))");
        Files.delete(big);

        Path f16 = NpyWriter.write(dir.resolve("h.npy"), "<f2", false, shape(2), new byte[4], 1);
        assertThat(badInput(() -> single(-1, 2))).hasMessage(
                f16 + ": dtype '<f2' is not supported (use <f4, <f8, <i4, <i8, |u1 or |b1)");
        Files.delete(f16);

        Path text = Files.writeString(dir.resolve("t.npy"), "x,y\n1,2\n");
        assertThat(badInput(() -> single(-1, 2))).hasMessage(text + ": not a .npy file (no \\x93NUMPY magic)");
        Files.delete(text);
    }

    @Test
    void truncatedFileNamesTheFile() throws IOException {
        Path file = NpyWriter.floats(dir.resolve("t.npy"), shape(4, 3), new float[12]);
        byte[] bytes = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(bytes, bytes.length - 5));

        assertThat(badInput(() -> single(-1, 3))).hasMessage(
                file + ": truncated: the header announces shape [4, 3] of <f4 (48 data bytes) but the file has 43");

        Files.write(file, Arrays.copyOf(bytes, 30));
        assertThat(badInput(() -> single(-1, 3))).hasMessage(file + ": truncated .npy header");
    }

    @Test
    void shapeMustFitTheInput() {
        Path file = NpyWriter.floats(dir.resolve("a.npy"), shape(2, 4), new float[8]);

        assertThat(badInput(() -> single(-1, 3))).hasMessage(file + ": shape [2, 4] does not fit input 'x' [-1, 3] "
                + "(expected [3] for one sample, or a batch with the sample count on axis 0; -1 = any size; if samples"
                + " stack on another axis, say which: --batch-axis x=AXIS)");
    }

    @Test
    void dynamicDimsMustAgreeWithinABatch() {
        NpyWriter.floats(dir.resolve("a.npy"), shape(2), 1, 2);
        Path longer = NpyWriter.floats(dir.resolve("b.npy"), shape(3), 1, 2, 3);
        NpyDataset data = single(-1, -1);

        assertThat(all(data, 1)).extracting(b -> b.inputs().get("x").shape()[1]).containsExactly(2L, 3L);
        assertThat(badInput(() -> data.batches(2).next())).hasMessageStartingWith(
                longer + ": sample shape [3] differs from [2] of " + dir.resolve("a.npy") + " in the same batch");
    }

    @Test
    void emptyOrMissingFolder() {
        assertThat(badInput(() -> single(-1, 1))).hasMessage(
                dir + ": no .npy files for input 'x' (expected them here or in " + dir.resolve("x") + "/)");
        Path missing = dir.resolve("nope");
        assertThat(badInput(() -> NpyDataset.builder().setRoot(missing).setInputs(Map.of("x", shape(1))).build()))
                .hasMessage(missing + ": no such folder");
    }
}
