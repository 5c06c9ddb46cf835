#!/usr/bin/python3
"""How fast could the INT8 model of a SiLU or hard-swish network be? Writes copies of a QDQ model without the
multiplies of its activations or without its squeeze-excite, to time against the fp32 model (InterleavedLatency).

The copies compute something else: they bound what any QDQ placement can reach on ONNX Runtime's kernels, they are
not models to deploy. In a QDQ model from `compress quantize`:

- `act`: each x * f(x) multiply of an activation (SiLU's x * Sigmoid(x), hard-swish's x * Clip(x + 3, 0, 6) / 6) is
  bypassed (its consumers read f(x)'s 8-bit output), as if ONNX Runtime had one integer kernel for the activation
  instead of QLinearSigmoid or QLinearAdd followed by QLinearMul;
- `gate`: each squeeze-excite multiply (a map times a gate of spatial size 1x1, found by ONNX's shape inference) is
  bypassed, which leaves the whole squeeze-excite branch (pooling, two 1x1 Convs, activations) unused, and it is
  removed.

Usage (Debian's interpreter with python3-onnx):
    /usr/bin/python3 benchmarks/zoo/bound.py INT8.onnx OUT.onnx act|gate|act,gate
"""
import sys
from collections import defaultdict

import onnx
import onnx.shape_inference


def bypass(model, modes):
    graph = model.graph
    inferred = onnx.shape_inference.infer_shapes(model).graph
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.value_info) + list(inferred.input) + list(inferred.output)}
    producer = {o: n for n in graph.node for o in n.output}
    consumers = defaultdict(list)
    for n in graph.node:
        for i in n.input:
            consumers[i].append(n)

    def quantized_source(tensor):
        """The QuantizeLinear output a DequantizeLinear output comes from, else None."""
        dq = producer.get(tensor)
        return dq.input[0] if dq is not None and dq.op_type == "DequantizeLinear" else None

    def one_by_one(tensor):
        shape = shapes.get(tensor)
        return shape is not None and len(shape) == 4 and shape[2:] == [1, 1]

    rename = {}
    for n in graph.node:
        if n.op_type != "Mul" or len(consumers[n.output[0]]) != 1:
            continue
        q = consumers[n.output[0]][0]
        a, b = quantized_source(n.input[0]), quantized_source(n.input[1])
        if q.op_type != "QuantizeLinear" or a is None or b is None:
            continue
        for x, s in ((a, b), (b, a)):
            gate = one_by_one(s) and not one_by_one(x)
            sq = producer.get(s)
            f = producer.get(sq.input[0]) if sq is not None else None
            act = f is not None and any(quantized_source(i) == x for i in f.input)
            if act and "act" in modes:
                rename[q.output[0]] = s
            elif gate and "gate" in modes:
                rename[q.output[0]] = x
            else:
                continue
            break
    for n in graph.node:
        for k, t in enumerate(n.input):
            while t in rename:
                t = rename[t]
            n.input[k] = t
    # drop what no output needs any more
    live = {o.name for o in graph.output}
    kept = []
    for n in reversed(list(graph.node)):
        if any(o in live for o in n.output):
            kept.append(n)
            live.update(n.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    initializers = [i for i in graph.initializer if i.name in live]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    return len(rename)


def main():
    if len(sys.argv) != 4 or not set(sys.argv[3].split(",")) <= {"act", "gate"}:
        sys.exit(__doc__)
    try:
        model = onnx.load(sys.argv[1])
    except Exception as e:  # a missing file, or bytes that are no ONNX protobuf
        sys.exit(f"error: {sys.argv[1]}: cannot read an ONNX model ({e})")
    count = bypass(model, set(sys.argv[3].split(",")))
    onnx.save(model, sys.argv[2])
    print(f"{sys.argv[2]}: {count} multiplies bypassed, {len(model.graph.node)} nodes")


if __name__ == "__main__":
    main()
