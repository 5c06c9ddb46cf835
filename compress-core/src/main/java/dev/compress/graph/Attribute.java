package dev.compress.graph;

import com.google.protobuf.ByteString;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.AttributeProto.AttributeType;
import dev.compress.onnx.proto.Onnx.GraphProto;
import java.util.ArrayList;
import java.util.List;

/**
 * A node attribute: a name and one value (a number, string, tensor, subgraph or a list of one of those). The value is
 * fixed; subgraphs ({@link #graphs()}) are live {@link Graph}s, so passes rewrite If/Loop/Scan bodies in place.
 */
public final class Attribute {
    /** The kind of value, as ONNX names it. */
    public enum Kind {
        UNDEFINED, FLOAT, INT, STRING, TENSOR, GRAPH, FLOATS, INTS, STRINGS, TENSORS, GRAPHS, SPARSE_TENSOR,
        SPARSE_TENSORS, TYPE_PROTO, TYPE_PROTOS
    }

    /** The value without its subgraphs, which live in {@link #graphs}. */
    private final AttributeProto rest;
    private final List<Graph> graphs;
    /** Whether the subgraph is the single {@code g} field rather than the {@code graphs} list. */
    private final boolean single;

    Attribute(AttributeProto proto) {
        this.single = proto.hasG();
        this.graphs = new ArrayList<>();
        if (single) {
            graphs.add(new Graph(proto.getG()));
        }
        for (GraphProto g : proto.getGraphsList()) {
            graphs.add(new Graph(g));
        }
        this.rest = graphs.isEmpty() ? proto : proto.toBuilder().clearG().clearGraphs().build();
    }

    private Attribute(AttributeProto rest, List<Graph> graphs, boolean single) {
        this.rest = rest;
        this.graphs = graphs;
        this.single = single;
    }

    AttributeProto toProto() {
        if (graphs.isEmpty()) {
            return rest;
        }
        AttributeProto.Builder builder = rest.toBuilder();
        if (single) {
            builder.setG(graphs.get(0).toProto());
            graphs.subList(1, graphs.size()).forEach(g -> builder.addGraphs(g.toProto()));
        } else {
            graphs.forEach(g -> builder.addGraphs(g.toProto()));
        }
        return builder.build();
    }

    /** A deep copy (subgraphs are copied too). */
    public Attribute copy() {
        return graphs.isEmpty() ? this : new Attribute(toProto());
    }

    public String name() {
        return rest.getName();
    }

    /** The same value under another name. */
    public Attribute withName(String name) {
        return new Attribute(rest.toBuilder().setName(name).build(), graphs, single);
    }

    public Kind kind() {
        if (rest.getType() != AttributeType.UNDEFINED) {
            return Kind.valueOf(rest.getType().name());
        }
        // IR version 1 files may omit the type; infer it from the field that is set
        if (single) {
            return Kind.GRAPH;
        }
        if (!graphs.isEmpty()) {
            return Kind.GRAPHS;
        }
        if (rest.hasT()) {
            return Kind.TENSOR;
        }
        if (rest.hasS()) {
            return Kind.STRING;
        }
        if (rest.hasF()) {
            return Kind.FLOAT;
        }
        if (rest.hasI()) {
            return Kind.INT;
        }
        return rest.getIntsCount() > 0 ? Kind.INTS : rest.getFloatsCount() > 0 ? Kind.FLOATS : Kind.UNDEFINED;
    }

    public long i() {
        return rest.getI();
    }

    public float f() {
        return rest.getF();
    }

    /** A STRING value, decoded as UTF-8. */
    public String s() {
        return rest.getS().toStringUtf8();
    }

    public long[] ints() {
        return rest.getIntsList().stream().mapToLong(Long::longValue).toArray();
    }

    public float[] floats() {
        float[] values = new float[rest.getFloatsCount()];
        for (int i = 0; i < values.length; i++) {
            values[i] = rest.getFloats(i);
        }
        return values;
    }

    public List<String> strings() {
        return rest.getStringsList().stream().map(ByteString::toStringUtf8).toList();
    }

    public boolean hasTensor() {
        return rest.hasT();
    }

    /** A TENSOR value. */
    public Tensor tensor() {
        return new Tensor(rest.getT());
    }

    public List<Tensor> tensors() {
        return Tensor.wrap(rest.getTensorsList());
    }

    /** The subgraphs this attribute holds (GRAPH or GRAPHS), live; empty for other kinds. */
    public List<Graph> graphs() {
        return graphs;
    }

    public static Attribute of(String name, long value) {
        return new Attribute(AttributeProto.newBuilder().setName(name).setType(AttributeType.INT).setI(value).build());
    }

    public static Attribute of(String name, float value) {
        return new Attribute(AttributeProto.newBuilder().setName(name).setType(AttributeType.FLOAT).setF(value)
                .build());
    }

    public static Attribute of(String name, String value) {
        return new Attribute(AttributeProto.newBuilder().setName(name).setType(AttributeType.STRING)
                .setS(ByteString.copyFromUtf8(value)).build());
    }

    public static Attribute of(String name, Tensor value) {
        return new Attribute(AttributeProto.newBuilder().setName(name).setType(AttributeType.TENSOR)
                .setT(value.proto()).build());
    }

    public static Attribute ofInts(String name, long... values) {
        AttributeProto.Builder builder = AttributeProto.newBuilder().setName(name).setType(AttributeType.INTS);
        for (long v : values) {
            builder.addInts(v);
        }
        return new Attribute(builder.build());
    }

    public static Attribute ofFloats(String name, float... values) {
        AttributeProto.Builder builder = AttributeProto.newBuilder().setName(name).setType(AttributeType.FLOATS);
        for (float v : values) {
            builder.addFloats(v);
        }
        return new Attribute(builder.build());
    }

    @Override
    public String toString() {
        return name() + ":" + kind();
    }
}
