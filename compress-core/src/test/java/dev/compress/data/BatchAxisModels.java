package dev.compress.data;

import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.quantize.TestGraphs;
import java.util.List;

/**
 * A model whose recurrent-style state has its batch axis second, like silero VAD's {@code h [2, batch, 64]}:
 * {@code y = concat(x, flatten(transpose(h, [1, 0, 2]))) . W} and {@code hn = relu(h)}, with x {@code [batch, 4]},
 * h {@code [2, batch, 3]}, W {@code [10, 2]} (a few hundred bytes).
 */
public final class BatchAxisModels {
    /** W's values, row-major [10, 2]: row k is (k + 1, -k / 2). */
    public static final float[] W = new float[20];

    static {
        for (int k = 0; k < 10; k++) {
            W[2 * k] = k + 1;
            W[2 * k + 1] = -k / 2f;
        }
    }

    private BatchAxisModels() {}

    /** With {@code named}, the batch dims are the symbol "batch" (found without help); else unnamed. */
    public static OnnxModel stateModel(boolean named) {
        Object batch = named ? "batch" : "";
        GraphProto graph = GraphProto.newBuilder().setName("state")
                .addInput(TestGraphs.value("x", TestGraphs.FLOAT, batch, 4L))
                .addInput(TestGraphs.value("h", TestGraphs.FLOAT, 2L, batch, 3L))
                .addOutput(TestGraphs.value("y", TestGraphs.FLOAT, batch, 2L))
                .addOutput(TestGraphs.value("hn", TestGraphs.FLOAT, 2L, batch, 3L))
                .addInitializer(Protos.floats("W", new long[] {10, 2}, W))
                .addNode(Protos.node("Transpose", "transpose", List.of("h"), List.of("t"))
                        .addAttribute(AttributeProto.newBuilder().setName("perm")
                                .setType(AttributeProto.AttributeType.INTS).addAllInts(List.of(1L, 0L, 2L))))
                .addNode(Protos.node("Flatten", "flatten", List.of("t"), List.of("f"))
                        .addAttribute(Protos.intAttribute("axis", 1)))
                .addNode(Protos.node("Concat", "concat", List.of("x", "f"), List.of("xf"))
                        .addAttribute(Protos.intAttribute("axis", 1)))
                .addNode(Protos.node("MatMul", "matmul", List.of("xf", "W"), List.of("y")))
                .addNode(Protos.node("Relu", "relu", List.of("h"), List.of("hn")))
                .build();
        return TestGraphs.model(graph, 13);
    }

    /** y of one sample: x [4] and h [2, 3] (row-major), as the model computes it. */
    public static float[] expectedY(float[] x, float[] h) {
        float[] xf = new float[10];
        System.arraycopy(x, 0, xf, 0, 4);
        System.arraycopy(h, 0, xf, 4, 6); // transpose then flatten of one sample: h[0][*], h[1][*]
        float[] y = new float[2];
        for (int k = 0; k < 10; k++) {
            y[0] += xf[k] * W[2 * k];
            y[1] += xf[k] * W[2 * k + 1];
        }
        return y;
    }
}
