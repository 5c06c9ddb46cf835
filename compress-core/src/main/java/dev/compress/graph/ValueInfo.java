package dev.compress.graph;

import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import dev.compress.onnx.proto.Onnx.TypeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.StringJoiner;

/** What a graph declares about a value (graph input, output or value info): name, type, shape. Immutable. */
public final class ValueInfo {
    /** One dimension: a size, a symbolic name, or neither (unknown). */
    public record Dim(long value, String param) {
        public boolean isKnown() {
            return value >= 0;
        }

        @Override
        public String toString() {
            return value >= 0 ? Long.toString(value) : param.isEmpty() ? "?" : param;
        }
    }

    private final ValueInfoProto proto;

    ValueInfo(ValueInfoProto proto) {
        this.proto = proto;
    }

    ValueInfoProto proto() {
        return proto;
    }

    /** Just a name, as when asking ONNX Runtime for an intermediate output (it infers the type). */
    public static ValueInfo named(String name) {
        return new ValueInfo(ValueInfoProto.newBuilder().setName(name).build());
    }

    /** A tensor of {@code type} with the given dimensions (a {@link Dim} with value -1 and a param is symbolic). */
    public static ValueInfo tensor(String name, DataType type, List<Dim> shape) {
        TensorShapeProto.Builder dims = TensorShapeProto.newBuilder();
        for (Dim d : shape) {
            TensorShapeProto.Dimension.Builder dim = dims.addDimBuilder();
            if (d.isKnown()) {
                dim.setDimValue(d.value());
            } else if (!d.param().isEmpty()) {
                dim.setDimParam(d.param());
            }
        }
        return new ValueInfo(ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(type.number()).setShape(dims))).build());
    }

    public String name() {
        return proto.getName();
    }

    /** The same declaration under another name. */
    public ValueInfo withName(String name) {
        return new ValueInfo(proto.toBuilder().setName(name).build());
    }

    /** Whether the value is declared a (dense) tensor. */
    public boolean isTensor() {
        return proto.getType().getValueCase() == TypeProto.ValueCase.TENSOR_TYPE;
    }

    /** Whether the value is declared a sparse tensor. */
    public boolean isSparseTensor() {
        return proto.getType().getValueCase() == TypeProto.ValueCase.SPARSE_TENSOR_TYPE;
    }

    /** The element type of a tensor or sparse tensor; {@link DataType#UNDEFINED} when none is recorded. */
    public DataType elementType() {
        return DataType.of(isSparseTensor()
                ? proto.getType().getSparseTensorType().getElemType()
                : proto.getType().getTensorType().getElemType());
    }

    /** The dimensions of a tensor, if a shape is recorded. */
    public Optional<List<Dim>> shape() {
        TypeProto type = proto.getType();
        TensorShapeProto shape;
        if (isTensor() && type.getTensorType().hasShape()) {
            shape = type.getTensorType().getShape();
        } else if (isSparseTensor() && type.getSparseTensorType().hasShape()) {
            shape = type.getSparseTensorType().getShape();
        } else {
            return Optional.empty();
        }
        return Optional.of(shape.getDimList().stream()
                .map(d -> new Dim(d.hasDimValue() ? d.getDimValue() : -1, d.hasDimParam() ? d.getDimParam() : ""))
                .toList());
    }

    /** The kind of value: tensor, sparse_tensor, sequence, map, optional, opaque, or unknown when none is declared. */
    public String kind() {
        TypeProto.ValueCase kind = proto.getType().getValueCase();
        return kind == TypeProto.ValueCase.VALUE_NOT_SET ? "unknown"
                : kind.name().substring(0, kind.name().length() - "_TYPE".length()).toLowerCase(Locale.ROOT);
    }

    /**
     * The value for messages, e.g. {@code input FLOAT [batch,1,28,28]}: {@code ?} for a dimension with neither a
     * size nor a name; no shape when none is recorded.
     */
    public String describe() {
        if (!isTensor()) {
            return name() + " " + kind();
        }
        String text = name() + " " + elementType();
        return shape().map(dims -> {
            StringJoiner joined = new StringJoiner(",", "[", "]");
            dims.forEach(d -> joined.add(d.toString()));
            return text + " " + joined;
        }).orElse(text);
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof ValueInfo v && proto.equals(v.proto);
    }

    @Override
    public int hashCode() {
        return proto.hashCode();
    }

    @Override
    public String toString() {
        return describe();
    }
}
