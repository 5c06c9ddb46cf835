package dev.compress.graph;

import com.google.protobuf.ByteString;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.AttributeProto.AttributeType;
import dev.compress.onnx.proto.Onnx.GraphProto;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A node attribute: a name and one value (a number, string, tensor, subgraph or a list of one of those). The value is
 * fixed; subgraphs ({@link #graphs()}) are live {@link Graph}s, so passes rewrite If/Loop/Scan bodies in place.
 */
public final class Attribute {
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

    public String name() {
        return rest.getName();
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

    public boolean hasTensor() {
        return rest.hasT();
    }

    /** A TENSOR value. */
    public Tensor tensor() {
        return new Tensor(rest.getT());
    }

    /** The subgraphs this attribute holds (GRAPH or GRAPHS), live; empty for other kinds. */
    public List<Graph> graphs() {
        return graphs;
    }

    public static Attribute of(String name, long value) {
        return new Attribute(AttributeProto.newBuilder().setName(name).setType(AttributeType.INT).setI(value).build());
    }

    public static Attribute of(String name, long[] values) {
        return new Attribute(AttributeProto.newBuilder().setName(name).setType(AttributeType.INTS)
                .addAllInts(Arrays.stream(values).boxed().toList()).build());
    }

    public static Attribute of(String name, float[] values) {
        List<Float> boxed = new ArrayList<>(values.length);
        for (float v : values) {
            boxed.add(v);
        }
        return new Attribute(AttributeProto.newBuilder().setName(name).setType(AttributeType.FLOATS)
                .addAllFloats(boxed).build());
    }

    public static Attribute of(String name, String value) {
        return new Attribute(AttributeProto.newBuilder().setName(name).setType(AttributeType.STRING)
                .setS(ByteString.copyFromUtf8(value)).build());
    }

    @Override
    public String toString() {
        return name();
    }
}
