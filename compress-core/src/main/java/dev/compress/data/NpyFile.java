package dev.compress.data;

import dev.compress.CompressException;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The header of a NumPy {@code .npy} file (format versions 1, 2 and 3) and positioned reads of its elements, so a
 * large file can be read a few samples at a time.
 *
 * <p>Format: magic {@code \x93NUMPY}, major and minor version bytes, header length (2 bytes little-endian in v1,
 * 4 in v2/v3), then a Python dict literal {@code {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }}
 * (Latin-1, UTF-8 in v3), then the raw C-order data.
 */
final class NpyFile {
    /** The supported element types; all little-endian or single-byte. */
    enum DType {
        F4("<f4", 4),
        F8("<f8", 8),
        I4("<i4", 4),
        I8("<i8", 8),
        U1("|u1", 1),
        B1("|b1", 1);

        final String descr;
        final int bytes;

        DType(String descr, int bytes) {
            this.descr = descr;
            this.bytes = bytes;
        }

        boolean isFloat() {
            return this == F4 || this == F8;
        }
    }

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final int MAX_HEADER = 1 << 20;

    final Path path;
    final DType dtype;
    final long[] shape;
    final long dataOffset;

    private NpyFile(Path path, DType dtype, long[] shape, long dataOffset) {
        this.path = path;
        this.dtype = dtype;
        this.shape = shape;
        this.dataOffset = dataOffset;
    }

    /**
     * Reads and checks the header of {@code path}, and that the file holds exactly the data it announces.
     *
     * @throws CompressException BAD_INPUT naming the file
     */
    static NpyFile open(Path path) {
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long fileSize = channel.size();
            ByteBuffer prefix = read(channel, 0, (int) Math.min(12, fileSize));
            if (prefix.remaining() < 10 || !startsWithMagic(prefix)) {
                throw CompressException.badInput(path, "not a .npy file (no \\x93NUMPY magic)");
            }
            int major = prefix.get(6) & 0xFF;
            if (major < 1 || major > 3) {
                throw CompressException.badInput(path, "unsupported .npy format version " + major + "."
                        + (prefix.get(7) & 0xFF) + " (expected 1, 2 or 3)");
            }
            long headerLength;
            int headerStart;
            if (major == 1) {
                headerLength = prefix.getShort(8) & 0xFFFF;
                headerStart = 10;
            } else {
                if (prefix.remaining() < 12) {
                    throw truncated(path);
                }
                headerLength = prefix.getInt(8) & 0xFFFFFFFFL;
                headerStart = 12;
            }
            if (headerLength > MAX_HEADER || headerStart + headerLength > fileSize) {
                throw truncated(path);
            }
            ByteBuffer headerBytes = read(channel, headerStart, (int) headerLength);
            String header = (major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1)
                    .decode(headerBytes)
                    .toString();
            NpyFile file = fromHeader(path, header, headerStart + headerLength);
            long expected = file.dataOffset + file.elementCount() * file.dtype.bytes;
            if (fileSize < expected) {
                throw CompressException.badInput(path, "truncated: the header announces shape "
                        + Arrays.toString(file.shape) + " of " + file.dtype.descr + " (" + (expected - file.dataOffset)
                        + " data bytes) but the file has " + (fileSize - file.dataOffset));
            }
            if (fileSize > expected) {
                throw CompressException.badInput(path, (fileSize - expected) + " bytes after the array data "
                        + "(expected one array of shape " + Arrays.toString(file.shape) + ")");
            }
            return file;
        } catch (IOException e) {
            throw DataFiles.readError(path, e);
        }
    }

    private static boolean startsWithMagic(ByteBuffer buffer) {
        for (int i = 0; i < MAGIC.length; i++) {
            if (buffer.get(i) != MAGIC[i]) {
                return false;
            }
        }
        return true;
    }

    private static CompressException truncated(Path path) {
        return CompressException.badInput(path, "truncated .npy header");
    }

    private static NpyFile fromHeader(Path path, String header, long dataOffset) {
        Map<String, Object> dict = new HeaderParser(path, header).dict();
        Object descr = dict.get("descr");
        Object fortran = dict.get("fortran_order");
        Object shape = dict.get("shape");
        if (!(descr instanceof String) || !(fortran instanceof Boolean) || !(shape instanceof long[])) {
            throw CompressException.badInput(path, "the .npy header needs 'descr' (a string), 'fortran_order' "
                    + "and 'shape' (a tuple): " + DataFiles.oneLine(header));
        }
        if ((Boolean) fortran) {
            throw CompressException.badInput(path, "Fortran-order arrays are not supported; save a C-order array "
                    + "(numpy.ascontiguousarray)");
        }
        DType type = dtype(path, (String) descr);
        long bytes = type.bytes;
        try {
            for (long dim : (long[]) shape) {
                bytes = Math.multiplyExact(bytes, dim);
            }
        } catch (ArithmeticException e) {
            throw CompressException.badInput(path, "shape " + Arrays.toString((long[]) shape) + " is too large");
        }
        return new NpyFile(path, type, (long[]) shape, dataOffset);
    }

    private static DType dtype(Path path, String descr) {
        for (DType type : DType.values()) {
            if (type.descr.equals(descr)) {
                return type;
            }
        }
        if (descr.startsWith(">")) {
            throw CompressException.badInput(path, "big-endian data ('" + descr + "') is not supported; save it as '<"
                    + descr.substring(1) + "' (array.astype('<" + descr.substring(1) + "'))");
        }
        throw CompressException.badInput(path, "dtype '" + descr + "' is not supported (use <f4, <f8, <i4, <i8, "
                + "|u1 or |b1)");
    }

    long elementCount() {
        return HostTensor.elementCount(shape);
    }

    /**
     * Converts {@code count} elements starting at element {@code first} into {@code target} (a {@code float[]} or
     * {@code long[]}) at {@code offset}.
     *
     * @param what names the destination in errors, e.g. "input 'ids' (int64)"
     */
    void read(FileChannel channel, long first, int count, Object target, int offset, String what) throws IOException {
        ByteBuffer data = read(channel, dataOffset + first * dtype.bytes, Math.multiplyExact(count, dtype.bytes));
        if (target instanceof float[] floats) {
            for (int i = 0; i < count; i++) {
                floats[offset + i] = switch (dtype) {
                    case F4 -> data.getFloat();
                    case F8 -> (float) data.getDouble();
                    case I4 -> data.getInt();
                    case I8 -> data.getLong();
                    case U1, B1 -> data.get() & 0xFF;
                };
            }
            return;
        }
        long[] longs = (long[]) target;
        for (int i = 0; i < count; i++) {
            longs[offset + i] = switch (dtype) {
                case F4, F8 -> integral(dtype == DType.F4 ? data.getFloat() : data.getDouble(), first + i, what);
                case I4 -> data.getInt();
                case I8 -> data.getLong();
                case U1, B1 -> data.get() & 0xFF;
            };
        }
    }

    private long integral(double value, long element, String what) {
        if (value != Math.rint(value) || value >= 0x1p63 || value < -0x1p63) {
            throw CompressException.badInput(path, "element " + element + " is " + value + ", not an integer, but "
                    + what + " takes integers");
        }
        return (long) value;
    }

    private static ByteBuffer read(FileChannel channel, long position, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        while (buffer.hasRemaining()) {
            if (channel.read(buffer, position + buffer.position()) < 0) {
                // The size was checked when opening: the file changed since.
                throw new EOFException("file shrank while reading");
            }
        }
        return buffer.flip();
    }

    /** Parses the header's Python literal: a dict of strings, True/False and tuples of integers. */
    private static final class HeaderParser {
        private final Path path;
        private final String text;
        private int pos;

        HeaderParser(Path path, String text) {
            this.path = path;
            this.text = text;
        }

        Map<String, Object> dict() {
            Map<String, Object> dict = new HashMap<>();
            expect('{');
            while (!peek('}')) {
                String key = string();
                expect(':');
                if (key.equals("descr") && peek('[')) {
                    throw CompressException.badInput(path, "structured (record) dtypes are not supported; save a "
                            + "plain numeric array");
                }
                dict.put(key, value());
                if (!peek('}')) {
                    expect(',');
                }
            }
            expect('}');
            return dict;
        }

        private Object value() {
            skipSpaces();
            if (peek('\'') || peek('"')) {
                return string();
            }
            if (peek('(') || peek('[')) {
                return tuple();
            }
            if (text.startsWith("True", pos)) {
                pos += 4;
                return Boolean.TRUE;
            }
            if (text.startsWith("False", pos)) {
                pos += 5;
                return Boolean.FALSE;
            }
            throw error();
        }

        private long[] tuple() {
            char close = text.charAt(pos) == '(' ? ')' : ']';
            pos++;
            List<Long> dims = new ArrayList<>();
            while (!peek(close)) {
                int start = pos;
                while (pos < text.length() && Character.isDigit(text.charAt(pos))) {
                    pos++;
                }
                if (start == pos) {
                    throw error();
                }
                dims.add(Long.parseLong(text.substring(start, pos)));
                if (pos < text.length() && text.charAt(pos) == 'L') {
                    pos++; // Python 2 long literal
                }
                if (!peek(close)) {
                    expect(',');
                }
            }
            pos++;
            return dims.stream().mapToLong(Long::longValue).toArray();
        }

        private String string() {
            skipSpaces();
            if (pos >= text.length()) {
                throw error();
            }
            char quote = text.charAt(pos);
            int end = text.indexOf(quote, pos + 1);
            if ((quote != '\'' && quote != '"') || end < 0) {
                throw error();
            }
            String value = text.substring(pos + 1, end);
            pos = end + 1;
            return value;
        }

        private boolean peek(char c) {
            skipSpaces();
            return pos < text.length() && text.charAt(pos) == c;
        }

        private void expect(char c) {
            if (!peek(c)) {
                throw error();
            }
            pos++;
        }

        private void skipSpaces() {
            while (pos < text.length() && Character.isWhitespace(text.charAt(pos))) {
                pos++;
            }
        }

        private CompressException error() {
            return CompressException.badInput(path, "malformed .npy header at character " + pos + ": "
                    + DataFiles.oneLine(text));
        }
    }
}
