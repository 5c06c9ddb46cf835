#!/usr/bin/python3
"""Peer baseline for `compress prune`: torch.nn.utils.prune.l1_unstructured masks and accuracies.

Loads the shipped fp32 ONNX fixtures (it does not retrain anything), applies PyTorch's
`torch.nn.utils.prune.l1_unstructured` per layer at 30% and 50% to the very tensors the ONNX
graph holds (the weight input of every Conv, Gemm and MatMul; BatchNorm is already folded into
the convolutions there), and writes `models/prune-peer.json`:

- masks: per model, sparsity and weight name, the pruned elements as a bit set, row-major,
  packed little-endian (numpy.packbits(bitorder="little")), base64; bit = 1 means pruned;
- heldoutTop1: top-1 accuracy on the 2000 held-out PNGs of the model with those weights,
  computed by running the ONNX graph with torch.nn.functional (torch is the peer here).

Run with Debian's torch: /usr/bin/python3 calibration-data/export_prune_masks.py
"""

import argparse
import base64
import json
import os

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from PIL import Image
from torch.nn.utils import prune

HERE = os.path.dirname(os.path.abspath(__file__))
MEAN, STD = 0.2860, 0.3530
SPARSITIES = (0.3, 0.5)
PRUNABLE = ("Conv", "Gemm", "MatMul")


def prunable_weights(model):
    """Weight initializer names of Conv/Gemm/MatMul, in graph order (as compress finds them)."""
    inits = {t.name for t in model.graph.initializer}
    names = []
    for node in model.graph.node:
        if node.op_type in PRUNABLE and len(node.input) > 1 and node.input[1] in inits:
            names.append(node.input[1])
    return names


def module_holding(weight):
    """A module whose parameter `weight` is a copy of `weight`, for torch.nn.utils.prune to act on."""
    holder = torch.nn.Module()
    holder.weight = torch.nn.Parameter(torch.from_numpy(weight.copy()))
    return holder


def pack(pruned):
    bits = np.packbits(pruned.reshape(-1).astype(np.uint8), bitorder="little")
    return base64.b64encode(bits.tobytes()).decode("ascii")


def run(model, weights, x):
    """The ONNX graph in torch.nn.functional, for the ops the fixtures use."""
    env = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
    env.update(weights)
    env[model.graph.input[0].name] = x
    for n in model.graph.node:
        a = {at.name: onnx.helper.get_attribute_value(at) for at in n.attribute}
        i = [env[name] for name in n.input if name]
        if n.op_type == "Conv":
            pads = a.get("pads", [0, 0, 0, 0])
            assert pads[0] == pads[2] and pads[1] == pads[3], pads
            y = F.conv2d(i[0], i[1], i[2] if len(i) > 2 else None, stride=a.get("strides", [1, 1]),
                         padding=pads[:2], dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))
        elif n.op_type == "Relu":
            y = F.relu(i[0])
        elif n.op_type == "Add":
            y = i[0] + i[1]
        elif n.op_type == "MaxPool":
            assert not any(a.get("pads", [0])), a
            y = F.max_pool2d(i[0], a["kernel_shape"], a.get("strides", a["kernel_shape"]))
        elif n.op_type == "GlobalAveragePool":
            y = i[0].mean(dim=(2, 3), keepdim=True)
        elif n.op_type == "Flatten":
            y = torch.flatten(i[0], a.get("axis", 1))
        elif n.op_type == "Gemm":
            b = i[1].t() if a.get("transB", 0) else i[1]
            y = a.get("alpha", 1.0) * (i[0] @ b) + a.get("beta", 1.0) * i[2]
        else:
            raise NotImplementedError(n.op_type)
        env[n.output[0]] = y
    return env[model.graph.output[0].name]


def heldout(data_dir):
    labels = open(os.path.join(data_dir, "labels.txt"), encoding="utf-8").read().split("\n")
    labels = [l for l in labels if l]
    xs, ys = [], []
    for c, name in enumerate(labels):
        folder = os.path.join(data_dir, "heldout", name)
        for fn in sorted(os.listdir(folder)):
            with Image.open(os.path.join(folder, fn)) as im:
                xs.append(np.array(im, dtype=np.uint8))
            ys.append(c)
    x = torch.from_numpy(np.stack(xs)).float().div_(255.0).sub_(MEAN).div_(STD).unsqueeze(1)
    return x, torch.tensor(ys)


def top1(model, weights, x, y):
    with torch.no_grad():
        pred = torch.cat([run(model, weights, x[s:s + 500]).argmax(1) for s in range(0, len(x), 500)])
    return round(float((pred == y).float().mean()), 6)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(HERE, "models", "prune-peer.json"))
    args = p.parse_args()
    torch.set_num_threads(2)
    x, y = heldout(os.path.join(HERE, "fashion-mnist"))
    result = {
        "generator": "calibration-data/export_prune_masks.py",
        "method": "torch.nn.utils.prune.l1_unstructured, per tensor, amount = sparsity",
        "maskEncoding": "bit set of pruned elements, row-major, numpy.packbits(bitorder='little'), base64",
        "torch": torch.__version__,
        "models": {},
    }
    for name in ("cnn", "resnet"):
        model = onnx.load(os.path.join(HERE, "models", f"{name}-fp32.onnx"))
        inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        entry = {"weights": prunable_weights(model), "heldoutTop1": {"0.0": top1(model, {}, x, y)}, "masks": {}}
        for sparsity in SPARSITIES:
            key = f"{sparsity:.1f}"
            masks, pruned_weights = {}, {}
            for w in entry["weights"]:
                holder = module_holding(inits[w])
                prune.l1_unstructured(holder, "weight", amount=sparsity)
                mask = holder.weight_mask.detach().numpy()
                masks[w] = pack(mask == 0)
                pruned_weights[w] = holder.weight.detach().clone()
            entry["masks"][key] = masks
            entry["heldoutTop1"][key] = top1(model, pruned_weights, x, y)
            print(f"{name} {key}: top-1 {entry['heldoutTop1'][key]}")
        result["models"][name] = entry
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()
