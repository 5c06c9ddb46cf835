package dev.compress.graph;

import dev.compress.CompressException;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.OperatorSetIdProto;
import dev.compress.onnx.proto.Onnx.SparseTensorProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * The structural checks every model passes on {@link OnnxModel#load}, so that no stage rewrites (and writes out) a
 * graph ONNX Runtime or the ONNX checker would reject, and none crashes on one: opset imports, topological order,
 * every read name defined (subgraphs of If/Loop/Scan may read names of the graphs around them), each name produced
 * once, known element types, dims neither negative nor overflowing, and tensor data matching its dims.
 */
final class ModelValidator {
    private ModelValidator() {}

    /** @throws CompressException BAD_INPUT naming {@code file} and the node or tensor at fault */
    static void check(ModelProto model, Path file) {
        if (model.getOpsetImportCount() == 0) {
            throw bad(file, "declares no opset imports (every ONNX model names the operator set it uses)");
        }
        Set<String> domains = new HashSet<>();
        for (OperatorSetIdProto opset : model.getOpsetImportList()) {
            domains.add(OnnxModel.normalizeDomain(opset.getDomain()));
        }
        new ModelValidator.Scope(file, domains).graph(model.getGraph(), Set.of(), true);
    }

    private static CompressException bad(Path file, String problem) {
        return CompressException.badInput(file, problem);
    }

    private record Scope(Path file, Set<String> domains) {
        /** Checks {@code graph}, which may read {@code outer} (the names visible where it is nested). */
        void graph(GraphProto graph, Set<String> outer, boolean main) {
            Set<String> visible = new HashSet<>(outer);
            Set<String> defined = new HashSet<>(); // names this graph defines, for duplicates
            for (ValueInfoProto input : graph.getInputList()) {
                if (main) {
                    checkInput(input);
                }
                if (!defined.add(input.getName())) {
                    throw bad(file, "graph input '" + input.getName() + "' is declared twice");
                }
            }
            for (TensorProto initializer : graph.getInitializerList()) {
                tensor(initializer, "initializer '" + initializer.getName() + "'");
                // an initializer may also be listed as a graph input (its overridable default, IR < 4)
                if (!defined.add(initializer.getName()) && !isInput(graph, initializer.getName())) {
                    throw bad(file, "initializer '" + initializer.getName() + "' is defined twice");
                }
            }
            for (SparseTensorProto sparse : graph.getSparseInitializerList()) {
                defined.add(sparse.getValues().getName());
            }
            visible.addAll(defined);
            Set<String> producedLater = new HashSet<>();
            for (NodeProto node : graph.getNodeList()) {
                node.getOutputList().stream().filter(n -> !n.isEmpty()).forEach(producedLater::add);
            }
            for (NodeProto node : graph.getNodeList()) {
                String where = "node '" + node.getName() + "' (" + node.getOpType() + ")";
                if (!domains.contains(OnnxModel.normalizeDomain(node.getDomain()))) {
                    throw bad(file, where + " is in domain '" + node.getDomain()
                            + "', which the model does not import");
                }
                for (String input : node.getInputList()) {
                    if (input.isEmpty() || visible.contains(input)) {
                        continue; // "" is an omitted optional input
                    }
                    throw bad(file, where + " reads '" + input + "', " + (producedLater.contains(input)
                            ? "which a later node produces: the nodes are not in topological order"
                            : "which no node produces and which is neither a graph input nor an initializer"));
                }
                for (AttributeProto attribute : node.getAttributeList()) {
                    if (attribute.hasT()) {
                        tensor(attribute.getT(), where + " attribute '" + attribute.getName() + "'");
                    }
                    if (attribute.hasG()) {
                        graph(attribute.getG(), visible, false);
                    }
                    for (GraphProto body : attribute.getGraphsList()) {
                        graph(body, visible, false);
                    }
                }
                for (String output : node.getOutputList()) {
                    if (output.isEmpty()) {
                        continue;
                    }
                    if (!defined.add(output)) {
                        throw bad(file, where + " produces '" + output + "', which is already defined (by another"
                                + " node, a graph input or an initializer)");
                    }
                    visible.add(output);
                }
            }
            for (ValueInfoProto output : graph.getOutputList()) {
                if (!visible.contains(output.getName())) {
                    throw bad(file, "graph output '" + output.getName() + "' is produced by no node");
                }
            }
        }

        private static boolean isInput(GraphProto graph, String name) {
            return graph.getInputList().stream().anyMatch(i -> i.getName().equals(name));
        }

        /** A tensor input of the main graph: known element type, dims that a tensor here can have. */
        private void checkInput(ValueInfoProto input) {
            if (!input.getType().hasTensorType()) {
                return;
            }
            String where = "input '" + input.getName() + "'";
            int type = input.getType().getTensorType().getElemType();
            if (DataType.of(type) == DataType.UNDEFINED) {
                throw bad(file, where + " has unknown element type " + type);
            }
            for (TensorShapeProto.Dimension dim : input.getType().getTensorType().getShape().getDimList()) {
                // array sizes are ints: larger dims cannot be fed, and 0 would fail later without a reason
                if (dim.hasDimValue() && (dim.getDimValue() < 0 || dim.getDimValue() > Integer.MAX_VALUE)) {
                    throw bad(file, where + " has dim " + dim.getDimValue() + ", outside 0.." + Integer.MAX_VALUE);
                }
            }
        }

        /** Element type known, dims valid, and as many values stored as the dims say. */
        private void tensor(TensorProto tensor, String where) {
            DataType type = DataType.of(tensor.getDataType());
            if (type == DataType.UNDEFINED) {
                throw bad(file, where + " has unknown element type " + tensor.getDataType());
            }
            long count = 1;
            for (long dim : tensor.getDimsList()) {
                if (dim < 0) {
                    throw bad(file, where + " has negative dim " + dim + " in " + tensor.getDimsList());
                }
                try {
                    count = Math.multiplyExact(count, dim);
                } catch (ArithmeticException e) {
                    throw bad(file, where + " has dims " + tensor.getDimsList() + " whose product overflows");
                }
            }
            boolean packed = type == DataType.INT4 || type == DataType.UINT4;
            if (tensor.hasRawData()) {
                long need = packed ? (count + 1) / 2 : type.size() == 0 ? -1 : multiply(count, type.size(), where);
                if (need >= 0 && tensor.getRawData().size() != need) {
                    throw bad(file, where + " holds " + tensor.getRawData().size() + " bytes, but " + type
                            + " dims " + tensor.getDimsList() + " need " + need);
                }
                return;
            }
            long values = stored(tensor, type);
            long need = packed ? (count + 1) / 2
                    : type == DataType.COMPLEX64 || type == DataType.COMPLEX128 ? multiply(count, 2, where) : count;
            if (values != need) {
                throw bad(file, where + " holds " + values + " values, but " + type + " dims " + tensor.getDimsList()
                        + " need " + need);
            }
        }

        private long multiply(long count, int factor, String where) {
            try {
                return Math.multiplyExact(count, factor);
            } catch (ArithmeticException e) {
                throw bad(file, where + " is too large (" + count + " elements)");
            }
        }

        /** Values in the typed field the ONNX format stores {@code type} in. */
        private static long stored(TensorProto tensor, DataType type) {
            return switch (type) {
                case FLOAT, COMPLEX64 -> tensor.getFloatDataCount();
                case DOUBLE, COMPLEX128 -> tensor.getDoubleDataCount();
                case INT64 -> tensor.getInt64DataCount();
                case UINT32, UINT64 -> tensor.getUint64DataCount();
                case STRING -> tensor.getStringDataCount();
                default -> tensor.getInt32DataCount();
            };
        }
    }
}
