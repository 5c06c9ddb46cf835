#!/usr/bin/python3
"""How fast could the INT8 model of a SiLU network be? Writes copies of a QDQ model without its SiLU multiplies or
without its squeeze-excite, to time against the fp32 model (InterleavedLatency).

The copies compute something else: they bound what any QDQ placement can reach on ONNX Runtime's kernels, they are
not models to deploy. In a QDQ model from `compress quantize`:

- `silu`: each x * Sigmoid(x) multiply is bypassed (its consumers read the Sigmoid's 8-bit output), as if ONNX
  Runtime had one integer kernel for SiLU instead of QLinearSigmoid + QLinearMul;
- `gate`: each squeeze-excite gate multiply x * Sigmoid(fc2(...)) is bypassed, which leaves the whole squeeze-excite
  branch (pooling, two 1x1 Convs, activations) unused, and it is removed.

Usage (Debian's interpreter with python3-onnx):
    /usr/bin/python3 benchmarks/zoo/bound.py INT8.onnx OUT.onnx silu|gate|silu,gate
"""
import sys
from collections import defaultdict

import onnx


def bypass(model, modes):
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    consumers = defaultdict(list)
    for n in graph.node:
        for i in n.input:
            consumers[i].append(n)

    def quantized_source(tensor):
        """The QuantizeLinear output a DequantizeLinear output comes from, else None."""
        dq = producer.get(tensor)
        return dq.input[0] if dq is not None and dq.op_type == "DequantizeLinear" else None

    rename = {}
    for n in graph.node:
        if n.op_type != "Mul" or len(consumers[n.output[0]]) != 1:
            continue
        q = consumers[n.output[0]][0]
        a, b = quantized_source(n.input[0]), quantized_source(n.input[1])
        if q.op_type != "QuantizeLinear" or a is None or b is None:
            continue
        for x, s in ((a, b), (b, a)):
            sq = producer.get(s)
            sigmoid = producer.get(sq.input[0]) if sq is not None else None
            if sigmoid is None or sigmoid.op_type != "Sigmoid":
                continue
            silu = quantized_source(sigmoid.input[0]) == x
            if silu and "silu" in modes:
                rename[q.output[0]] = s
            elif not silu and "gate" in modes:
                rename[q.output[0]] = x
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
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    model = onnx.load(sys.argv[1])
    count = bypass(model, set(sys.argv[3].split(",")))
    onnx.save(model, sys.argv[2])
    print(f"{sys.argv[2]}: {count} multiplies bypassed, {len(model.graph.node)} nodes")


if __name__ == "__main__":
    main()
