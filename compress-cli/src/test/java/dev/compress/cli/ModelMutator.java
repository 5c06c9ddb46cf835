package dev.compress.cli;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import java.util.Random;

/**
 * Seeded mutants of a valid ONNX model, for the fuzz test: mostly one to three structural edits of the protobuf (the
 * defects issue 15 found: dims, data lengths, element types, dangling names, cycles, duplicate outputs, opsets), some
 * byte-level damage to the file. The same seed gives the same mutant.
 */
final class ModelMutator {
    private static final long[] ODD_DIMS = {-1, 0, 1, 3, 1L << 31, 1L << 40, Long.MAX_VALUE};
    private static final int[] ODD_INTS = {-1, 0, 1, 2, 7, 1 << 20, Integer.MAX_VALUE};

    private ModelMutator() {}

    /** The mutant of {@code model} for {@code seed}. */
    static byte[] mutate(byte[] model, long seed) {
        Random random = new Random(seed);
        if (random.nextInt(8) == 0) {
            return damageBytes(model, random);
        }
        ModelProto.Builder mutant;
        try {
            mutant = ModelProto.parseFrom(model).toBuilder();
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalArgumentException("the seed model is not ONNX", e);
        }
        int edits = 1 + random.nextInt(3);
        for (int i = 0; i < edits; i++) {
            edit(mutant, random);
        }
        return mutant.build().toByteArray();
    }

    private static byte[] damageBytes(byte[] model, Random random) {
        byte[] bytes = model.clone();
        switch (random.nextInt(3)) {
            case 0 -> {
                for (int i = 0, n = 1 + random.nextInt(16); i < n; i++) {
                    bytes[random.nextInt(bytes.length)] ^= (byte) (1 + random.nextInt(255));
                }
                return bytes;
            }
            case 1 -> {
                return java.util.Arrays.copyOf(bytes, random.nextInt(bytes.length));
            }
            default -> {
                int at = random.nextInt(bytes.length);
                byte[] inserted = new byte[1 + random.nextInt(64)];
                random.nextBytes(inserted);
                byte[] out = new byte[bytes.length + inserted.length];
                System.arraycopy(bytes, 0, out, 0, at);
                System.arraycopy(inserted, 0, out, at, inserted.length);
                System.arraycopy(bytes, at, out, at + inserted.length, bytes.length - at);
                return out;
            }
        }
    }

    private static void edit(ModelProto.Builder model, Random random) {
        GraphProto.Builder graph = model.getGraphBuilder();
        int nodes = graph.getNodeCount();
        int initializers = graph.getInitializerCount();
        switch (random.nextInt(14)) {
            case 0 -> {
                if (initializers > 0) {
                    TensorProto.Builder t = graph.getInitializerBuilder(random.nextInt(initializers));
                    if (t.getDimsCount() > 0) {
                        t.setDims(random.nextInt(t.getDimsCount()), ODD_DIMS[random.nextInt(ODD_DIMS.length)]);
                    } else {
                        t.addDims(ODD_DIMS[random.nextInt(ODD_DIMS.length)]);
                    }
                }
            }
            case 1 -> {
                if (initializers > 0) {
                    TensorProto.Builder t = graph.getInitializerBuilder(random.nextInt(initializers));
                    ByteString raw = t.getRawData();
                    t.setRawData(random.nextBoolean() ? raw.substring(0, random.nextInt(raw.size() + 1))
                            : raw.concat(ByteString.copyFrom(new byte[1 + random.nextInt(16)])));
                }
            }
            case 2 -> {
                if (initializers > 0) {
                    graph.getInitializerBuilder(random.nextInt(initializers))
                            .setDataType(random.nextInt(5) == 0 ? 99 : random.nextInt(17));
                }
            }
            case 3 -> {
                if (nodes > 0) {
                    NodeProto.Builder node = graph.getNodeBuilder(random.nextInt(nodes));
                    if (node.getInputCount() > 0) {
                        // a name nothing defines, or the output of any node (a later one makes a cycle)
                        String name = random.nextBoolean() ? "missing_" + random.nextInt(100)
                                : graph.getNode(random.nextInt(nodes)).getOutput(0);
                        node.setInput(random.nextInt(node.getInputCount()), name);
                    }
                }
            }
            case 4 -> {
                if (nodes > 1) {
                    graph.removeNode(random.nextInt(nodes));
                }
            }
            case 5 -> {
                if (nodes > 1) {
                    int a = random.nextInt(nodes);
                    int b = random.nextInt(nodes);
                    NodeProto first = graph.getNode(a);
                    graph.setNode(a, graph.getNode(b));
                    graph.setNode(b, first);
                }
            }
            case 6 -> {
                if (nodes > 0) {
                    String other = random.nextInt(4) == 0 ? "NoSuchOp"
                            : graph.getNode(random.nextInt(nodes)).getOpType();
                    graph.getNodeBuilder(random.nextInt(nodes)).setOpType(other);
                }
            }
            case 7 -> {
                if (nodes > 0) {
                    NodeProto.Builder node = graph.getNodeBuilder(random.nextInt(nodes));
                    if (node.getAttributeCount() > 0) {
                        AttributeProto.Builder attribute = node.getAttributeBuilder(random.nextInt(
                                node.getAttributeCount()));
                        int value = ODD_INTS[random.nextInt(ODD_INTS.length)];
                        if (attribute.getIntsCount() > 0) {
                            attribute.setInts(random.nextInt(attribute.getIntsCount()), value);
                        } else {
                            attribute.setI(value);
                        }
                    }
                }
            }
            case 8 -> {
                if (graph.getInputCount() > 0) {
                    TensorShapeProto.Builder shape = graph.getInputBuilder(0).getTypeBuilder().getTensorTypeBuilder()
                            .getShapeBuilder();
                    if (shape.getDimCount() > 0) {
                        shape.getDimBuilder(random.nextInt(shape.getDimCount()))
                                .setDimValue(ODD_DIMS[random.nextInt(ODD_DIMS.length)]);
                    }
                }
            }
            case 9 -> {
                if (graph.getInputCount() > 0) {
                    graph.getInputBuilder(0).getTypeBuilder().getTensorTypeBuilder()
                            .setElemType(random.nextInt(5) == 0 ? 99 : random.nextInt(17));
                }
            }
            case 10 -> {
                if (graph.getOutputCount() > 0) {
                    graph.getOutputBuilder(0).setName(random.nextBoolean() ? "missing_output"
                            : graph.getNode(random.nextInt(Math.max(1, nodes))).getOutput(0));
                }
            }
            case 11 -> {
                if (random.nextInt(4) == 0) {
                    model.clearOpsetImport();
                } else if (model.getOpsetImportCount() > 0) {
                    model.getOpsetImportBuilder(0).setVersion(new int[] {1, 7, 11, 13, 21, 99}[random.nextInt(6)]);
                }
            }
            case 12 -> {
                if (nodes > 1) {
                    NodeProto.Builder node = graph.getNodeBuilder(random.nextInt(nodes));
                    node.setOutput(0, graph.getNode(random.nextInt(nodes)).getOutput(0));
                }
            }
            default -> {
                if (initializers > 0) {
                    graph.removeInitializer(random.nextInt(initializers));
                }
            }
        }
    }
}
