package dev.compress.data;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Collectors;

/** Writes .npy files the way numpy.save does, so tests need no binary fixtures. */
public final class NpyWriter {
    private NpyWriter() {}

    public static Path floats(Path file, long[] shape, float... values) {
        ByteBuffer data = buffer(values.length * 4);
        for (float v : values) {
            data.putFloat(v);
        }
        return write(file, "<f4", false, shape, data.array(), 1);
    }

    static Path doubles(Path file, long[] shape, double... values) {
        ByteBuffer data = buffer(values.length * 8);
        for (double v : values) {
            data.putDouble(v);
        }
        return write(file, "<f8", false, shape, data.array(), 1);
    }

    public static Path longs(Path file, long[] shape, long... values) {
        ByteBuffer data = buffer(values.length * 8);
        for (long v : values) {
            data.putLong(v);
        }
        return write(file, "<i8", false, shape, data.array(), 1);
    }

    static Path ints(Path file, long[] shape, int... values) {
        ByteBuffer data = buffer(values.length * 4);
        for (int v : values) {
            data.putInt(v);
        }
        return write(file, "<i4", false, shape, data.array(), 1);
    }

    private static ByteBuffer buffer(int bytes) {
        return ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Any header and raw data: {@code version} 1, 2 or 3; the header is padded so the data starts at a multiple of
     * 64 bytes, as numpy does.
     */
    static Path write(Path file, String descr, boolean fortran, long[] shape, byte[] data, int version) {
        String dims = Arrays.stream(shape).mapToObj(Long::toString).collect(Collectors.joining(", "));
        String tuple = "(" + dims + (shape.length == 1 ? ",)" : ")");
        String dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False")
                + ", 'shape': " + tuple + ", }";
        int prefix = version == 1 ? 10 : 12;
        int total = (prefix + dict.length() + 1 + 63) / 64 * 64;
        String header = dict + " ".repeat(total - prefix - dict.length() - 1) + "\n";
        byte[] headerBytes = header.getBytes(version == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', (byte) version, 0});
        ByteBuffer length = buffer(version == 1 ? 2 : 4);
        if (version == 1) {
            length.putShort((short) headerBytes.length);
        } else {
            length.putInt(headerBytes.length);
        }
        out.writeBytes(length.array());
        out.writeBytes(headerBytes);
        out.writeBytes(data);
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            return Files.write(file, out.toByteArray());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
