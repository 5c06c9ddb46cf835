package dev.compress.runtime;

import dev.compress.CompressException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Makes an ORT-format file a function of its content alone. ONNX Runtime writes the file's kernel type string
 * resolver (op id → type constraint → argument positions) from absl hash maps, whose iteration order depends on a
 * per-process seed taken from an address ({@code absl::Hash} mixes in {@code &kSeed}), so under address-space layout
 * randomization two runs order those entries differently; all other bytes are equal. (Measured on ONNX Runtime
 * 1.29: two processes saving the same model differ in 337 bytes, all inside the resolver; with ASLR off,
 * {@code setarch -R}, the files are identical.)
 *
 * <p>The resolver is the last object ONNX Runtime builds before the root table, so in the flatbuffer it sits between
 * the root table and the model, which is left byte for byte as it is. This class rewrites the file as: header and root
 * table, the resolver with its entries sorted by key (the schema declares {@code op_id} and {@code kernel_type_str}
 * as keys), then the unchanged rest, moved by a multiple of 64 bytes so every alignment in it is kept.
 */
final class OrtCanonicalizer {
    private static final String IDENTIFIER = "ORTM";
    /** The rest of the file is moved by a multiple of this, so every alignment inside it is kept. */
    private static final int BLOCK_ALIGNMENT = 64;

    private OrtCanonicalizer() {}

    record Arg(int type, int index) {}

    record TypeStr(String name, List<Arg> args) {}

    record Op(String id, List<TypeStr> typeStrs) {}

    /** The ORT file with the resolver rewritten in key order. */
    static byte[] canonicalize(byte[] file) {
        Reader in = new Reader(file);
        if (file.length < 8 || !IDENTIFIER.equals(new String(file, 4, 4, StandardCharsets.US_ASCII))) {
            throw unexpected("no ORTM identifier");
        }
        int root = in.u32(0);
        int version = in.field(root, 0);
        int model = in.field(root, 1);
        int resolver = in.field(root, 3);
        if (version < 0 || model < 0 || in.field(root, 2) >= 0) {
            throw unexpected("root table without version and model, or with a session state");
        }
        if (resolver < 0) {
            return file;
        }
        int modelTable = in.deref(model);
        int blockStart = Math.min(modelTable, modelTable - in.s32(modelTable));
        int versionString = in.deref(version);
        int resolverTable = in.deref(resolver);
        if (versionString < blockStart || resolverTable >= blockStart || root >= blockStart) {
            throw unexpected("resolver not between root table and model");
        }
        List<Op> ops = readResolver(in, resolverTable);

        Writer out = new Writer();
        out.u32(0); // root offset, patched below
        out.bytes(IDENTIFIER.getBytes(StandardCharsets.US_ASCII));
        int rootVtable = out.vtable(16, 12, 8, 0, 4);
        int oneField = out.vtable(8, 4);
        int twoFields = out.vtable(12, 4, 8);
        int argVtable = out.vtable(12, 8, 4);
        int rootTable = out.table(rootVtable, 3);
        out.patchU32(0, rootTable);
        int resolverOut = out.table(oneField, 1);
        out.patchOffset(rootTable + 4, resolverOut);
        int opVector = out.vector(ops.size());
        out.patchOffset(resolverOut + 4, opVector);
        for (int i = 0; i < ops.size(); i++) {
            Op op = ops.get(i);
            int opTable = out.table(twoFields, 2);
            out.patchOffset(opVector + 4 + 4 * i, opTable);
            out.patchOffset(opTable + 4, out.string(op.id()));
            int typeVector = out.vector(op.typeStrs().size());
            out.patchOffset(opTable + 8, typeVector);
            for (int j = 0; j < op.typeStrs().size(); j++) {
                TypeStr typeStr = op.typeStrs().get(j);
                int typeTable = out.table(twoFields, 2);
                out.patchOffset(typeVector + 4 + 4 * j, typeTable);
                out.patchOffset(typeTable + 4, out.string(typeStr.name()));
                int argVector = out.vector(typeStr.args().size());
                out.patchOffset(typeTable + 8, argVector);
                for (int k = 0; k < typeStr.args().size(); k++) {
                    Arg arg = typeStr.args().get(k);
                    int argTable = out.table(argVtable, 2);
                    out.patchU32(argTable + 4, arg.index());
                    out.patchU32(argTable + 8, arg.type());
                    out.patchOffset(argVector + 4 + 4 * k, argTable);
                }
            }
        }
        int shift = out.padTo(blockStart % BLOCK_ALIGNMENT, BLOCK_ALIGNMENT) - blockStart;
        out.bytes(file, blockStart, file.length - blockStart);
        out.patchOffset(rootTable + 8, modelTable + shift);
        out.patchOffset(rootTable + 12, versionString + shift);
        return out.toByteArray();
    }

    private static List<Op> readResolver(Reader in, int table) {
        List<Op> ops = new ArrayList<>();
        for (int opTable : in.tables(in.field(table, 0))) {
            List<TypeStr> typeStrs = new ArrayList<>();
            for (int typeTable : in.tables(in.field(opTable, 1))) {
                List<Arg> args = new ArrayList<>();
                for (int argTable : in.tables(in.field(typeTable, 1))) {
                    int type = in.field(argTable, 0);
                    int index = in.field(argTable, 1);
                    args.add(new Arg(type < 0 ? 0 : in.buffer.get(type), index < 0 ? 0 : in.u32(index)));
                }
                typeStrs.add(new TypeStr(in.string(in.field(typeTable, 0)), args));
            }
            typeStrs.sort(Comparator.comparing(TypeStr::name));
            ops.add(new Op(in.string(in.field(opTable, 0)), typeStrs));
        }
        ops.sort(Comparator.comparing(Op::id));
        return ops;
    }

    private static CompressException unexpected(String what) {
        return CompressException.internal("unexpected ORT format file layout (" + what + "); was it written by a"
                + " newer ONNX Runtime?", null);
    }

    /** Flatbuffer reading: little-endian, tables through their vtables, offsets relative to where they are stored. */
    private static final class Reader {
        final ByteBuffer buffer;

        Reader(byte[] bytes) {
            buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        }

        int u32(int at) {
            check(at, 4);
            return buffer.getInt(at);
        }

        int s32(int at) {
            return u32(at);
        }

        int u16(int at) {
            check(at, 2);
            return Short.toUnsignedInt(buffer.getShort(at));
        }

        /** Where field {@code index} of the table at {@code table} is stored, or -1 when it is absent. */
        int field(int table, int index) {
            int vtable = table - s32(table);
            int entry = 4 + 2 * index;
            if (entry >= u16(vtable)) {
                return -1;
            }
            int offset = u16(vtable + entry);
            return offset == 0 ? -1 : table + offset;
        }

        int deref(int at) {
            return at + u32(at);
        }

        String string(int field) {
            if (field < 0) {
                throw unexpected("missing string key");
            }
            int at = deref(field);
            int length = u32(at);
            check(at + 4, length);
            return new String(buffer.array(), at + 4, length, StandardCharsets.UTF_8);
        }

        /** The tables a vector field refers to, in stored order; none when the field is absent. */
        List<Integer> tables(int field) {
            List<Integer> tables = new ArrayList<>();
            if (field >= 0) {
                int vector = deref(field);
                int length = u32(vector);
                for (int i = 0; i < length; i++) {
                    tables.add(deref(vector + 4 + 4 * i));
                }
            }
            return tables;
        }

        private void check(int at, int length) {
            if (at < 0 || length < 0 || at > buffer.capacity() - length) {
                throw unexpected("offset " + at + " outside the file");
            }
        }
    }

    /** Flatbuffer writing front to back: every object 4-byte aligned, children after the fields that refer to them. */
    private static final class Writer {
        private byte[] bytes = new byte[1024];
        private int size;

        private void write(int b) {
            if (size == bytes.length) {
                bytes = Arrays.copyOf(bytes, 2 * size);
            }
            bytes[size++] = (byte) b;
        }

        void u32(int value) {
            write(value);
            write(value >>> 8);
            write(value >>> 16);
            write(value >>> 24);
        }

        void u16(int value) {
            write(value);
            write(value >>> 8);
        }

        void bytes(byte[] data) {
            bytes(data, 0, data.length);
        }

        void bytes(byte[] data, int offset, int length) {
            if (size + length > bytes.length) {
                bytes = Arrays.copyOf(bytes, Math.max(2 * bytes.length, size + length));
            }
            System.arraycopy(data, offset, bytes, size, length);
            size += length;
        }

        /** Pads with zeros until the position is {@code remainder} modulo {@code alignment}; returns the position. */
        int padTo(int remainder, int alignment) {
            while (size % alignment != remainder) {
                write(0);
            }
            return size;
        }

        /** A vtable for tables of {@code tableSize} bytes with fields at {@code offsets} (0 = absent). */
        int vtable(int tableSize, int... offsets) {
            int at = padTo(0, 4);
            u16(4 + 2 * offsets.length);
            u16(tableSize);
            for (int offset : offsets) {
                u16(offset);
            }
            return at;
        }

        /** A table of {@code slots} 4-byte fields, zero until patched. */
        int table(int vtable, int slots) {
            int at = padTo(0, 4);
            u32(at - vtable);
            for (int i = 0; i < slots; i++) {
                u32(0);
            }
            return at;
        }

        /** A vector of {@code length} offsets, zero until patched. */
        int vector(int length) {
            int at = padTo(0, 4);
            u32(length);
            for (int i = 0; i < length; i++) {
                u32(0);
            }
            return at;
        }

        int string(String text) {
            int at = padTo(0, 4);
            byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
            u32(utf8.length);
            bytes(utf8);
            write(0);
            return at;
        }

        /** Sets the offset stored at {@code at} to point at {@code target} (which lies after it). */
        void patchOffset(int at, int target) {
            patchU32(at, target - at);
        }

        void patchU32(int at, int value) {
            bytes[at] = (byte) value;
            bytes[at + 1] = (byte) (value >>> 8);
            bytes[at + 2] = (byte) (value >>> 16);
            bytes[at + 3] = (byte) (value >>> 24);
        }

        byte[] toByteArray() {
            return Arrays.copyOf(bytes, size);
        }
    }
}
