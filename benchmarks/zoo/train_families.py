#!/usr/bin/python3
"""Train small Fashion-MNIST models of the op families of issue 12 and record a torch.ao INT8 peer baseline.

Families (each a few hundred thousand parameters at most, ONNX under 2 MB):
  mbv2      MobileNetV2-style: inverted residuals, depthwise 3x3, ReLU6, BatchNorm
  mbv3      MobileNetV3-style: inverted residuals, HardSwish, squeeze-excite with HardSigmoid
  effnet    EfficientNet-style: MBConv, SiLU, squeeze-excite with Sigmoid
  convnext  ConvNeXt-style: 4x4 patchify stem, depthwise 7x7, LayerNorm (channels-last), GELU, layer scale;
            pointwise layers as 1x1 convolutions (see ConvNeXtBlock)

Input: 1 channel, 28x28 as stored (no padding or resizing), normalized like calibration-data's fixtures
(pixel/255, mean 0.2860, std 0.3530): the project's IdxDataset feeds the 10,000 test images as they are.

Writes into calibration-data/models/families/ (committed: each ONNX under 2 MB):
  {name}-fp32.onnx   opset 13, dynamic batch, BatchNorm folded, compress.preprocess metadata
  families.json      per model: fp32 top-1 on the 10,000 test images, torch.ao FX post-training static
                     quantization (default qconfig mapping of the onednn engine, else fbgemm; calibrated on the 500
                     shipped calibration PNGs calibration-data/fashion-mnist/calib, the same the Java side uses)
                     top-1 and agreement, fp32/INT8 TorchScript latency at batch 1 and 32 (2 threads, as the
                     Java side; the key name latency_torchscript_2threads comes from make_fixtures)

Reuses calibration-data/make_fixtures.py (data loading, training loop, ONNX export, torch.ao baseline).
Fixed seed; training is deterministic for a given torch build and thread count.
Run: /usr/bin/python3 benchmarks/zoo/train_families.py [--epochs N] [--threads 1] [--only mbv2,...]
Takes about 2 minutes per model and epoch on one quiet core of the 2-core AMD EPYC machine, plus 1-4 minutes of
torch.ao quantization and latency runs; 6-18 minutes per epoch while other builds loaded the machine (2026-12-06,
families.json has the seconds of each).
Needs Debian packages: python3-torch python3-torchvision python3-onnx dataset-fashion-mnist.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "calibration-data"))
import make_fixtures as fx  # noqa: E402


def bn_act(cin, cout, k, stride, act, groups=1):
    return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)] + (
        [act()] if act else [])


class SqueezeExcite(nn.Module):
    def __init__(self, channels, squeeze, gate):
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeeze, 1)
        self.expand = nn.Conv2d(squeeze, channels, 1)
        self.act = nn.ReLU() if gate is nn.Hardsigmoid else nn.SiLU()
        self.gate = gate()

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.expand(self.act(self.reduce(s))))


class InvertedResidual(nn.Module):
    """MobileNetV2 block; with se_gate set, the MobileNetV3 / EfficientNet MBConv block."""

    def __init__(self, cin, cout, stride, expand, act, se_gate=None):
        super().__init__()
        hidden = cin * expand
        layers = bn_act(cin, hidden, 1, 1, act) if expand != 1 else []
        layers += bn_act(hidden, hidden, 3, stride, act, groups=hidden)
        if se_gate is not None:
            layers.append(SqueezeExcite(hidden, max(8, cin // 4), se_gate))
        layers += bn_act(hidden, cout, 1, 1, None)
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetStyle(nn.Module):
    # (out channels, stride, expand); stride-2 stem as in the real ones: 28x28 -> 14 -> 7 -> 4
    STAGES = [(16, 1, 1), (24, 2, 4), (24, 1, 4), (40, 2, 4), (40, 1, 4), (64, 1, 4)]

    def __init__(self, act, se_gate=None, width=128):
        super().__init__()
        layers = bn_act(1, 16, 3, 2, act)
        cin = 16
        for cout, stride, expand in self.STAGES:
            layers.append(InvertedResidual(cin, cout, stride, expand, act, se_gate))
            cin = cout
        layers += bn_act(cin, width, 1, 1, act)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, 10)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over channels of an NCHW tensor, as torchvision's ConvNeXt does it (permute, normalize, permute)."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block with its pointwise layers as 1x1 convolutions (the paper's equivalent form): torch here
    runs Linear through Debian's reference BLAS, about 10x slower to train. The Linear/MatMul form is in the zoo's
    convnext_tiny."""

    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.pw1 = nn.Conv2d(dim, 4 * dim, 1)
        self.act = nn.GELU()
        self.pw2 = nn.Conv2d(4 * dim, dim, 1)
        self.gamma = nn.Parameter(torch.full((dim, 1, 1), 0.1))

    def forward(self, x):
        y = self.pw2(self.act(self.pw1(self.norm(self.dwconv(x)))))
        return x + self.gamma * y


class ConvNeXtStyle(nn.Module):
    def __init__(self, dims=(48, 96), depths=(2, 2)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, dims[0], 4, 4), LayerNorm2d(dims[0], eps=1e-6))  # patchify: 28 -> 7
        self.stage1 = nn.Sequential(*[ConvNeXtBlock(dims[0]) for _ in range(depths[0])])
        self.down = nn.Sequential(LayerNorm2d(dims[0], eps=1e-6), nn.Conv2d(dims[0], dims[1], 2, 2))  # 7 -> 3
        self.stage2 = nn.Sequential(*[ConvNeXtBlock(dims[1]) for _ in range(depths[1])])
        self.norm = nn.LayerNorm(dims[1], eps=1e-6)
        self.head = nn.Linear(dims[1], 10)

    def forward(self, x):
        x = self.stage2(self.down(self.stage1(self.stem(x))))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.head(self.norm(x))


FAMILIES = {
    "mbv2": dict(ctor=lambda: MobileNetStyle(nn.ReLU6), opt="adam", lr=3e-3, wd=0.0),
    "mbv3": dict(ctor=lambda: MobileNetStyle(nn.Hardswish, nn.Hardsigmoid), opt="adam", lr=3e-3, wd=0.0),
    "effnet": dict(ctor=lambda: MobileNetStyle(nn.SiLU, nn.Sigmoid), opt="adam", lr=3e-3, wd=0.0),
    # one epoch left the ConvNeXt-style model at 84.5%: two
    "convnext": dict(ctor=ConvNeXtStyle, opt="adam", lr=2e-3, wd=0.0, epochs=2),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default=os.path.join(ROOT, "calibration-data/models/families"))
    ap.add_argument("--epochs", type=int, default=None, help="default: each family's own (1; convnext 2)")
    ap.add_argument("--threads", type=int, default=1, help="training threads (default 1)")
    ap.add_argument("--latency-threads", type=int, default=2, help="threads for the torch.ao latencies (default 2)")
    ap.add_argument("--only", default=None, help="comma-separated family names (default: all)")
    ap.add_argument("--save-torchscript", default=None, metavar="DIR",
                    help="also save each family's traced fp32 and torch.ao INT8 TorchScript here (not committed:"
                         " benchmarks/zoo/torchao.sh times them against ONNX Runtime in one process)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    np.random.seed(fx.SEED)
    engines = torch.backends.quantized.supported_engines
    engine = "onednn" if "onednn" in engines else "fbgemm"
    torch.backends.quantized.engine = engine
    os.makedirs(args.out, exist_ok=True)
    fx.RECIPES.update(FAMILIES)  # make_fixtures.train reads its recipe by name

    (xtr_u8, ytr), (xte_u8, yte) = fx.load_fashion_mnist(args.data_dir)
    x_train, y_train = fx.to_input(xtr_u8), torch.from_numpy(ytr)
    x_test, y_test = fx.to_input(xte_u8), torch.from_numpy(yte)
    calib_px, _, _ = fx.read_pngs(os.path.join(ROOT, "calibration-data/fashion-mnist/calib"), "train")
    x_calib = fx.to_input(calib_px)

    path = os.path.join(args.out, "families.json")
    results = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            results = json.load(f)
    results.update({"seed": fx.SEED, "input": "1x28x28 grayscale, (pixel/255 - 0.2860) / 0.3530",
                    "quantized_engine": engine, "torch_version": torch.__version__, "torch_threads": args.threads})
    results.setdefault("models", {})
    for name in (args.only.split(",") if args.only else list(FAMILIES)):
        torch.manual_seed(fx.SEED)
        epochs = args.epochs or FAMILIES[name].get("epochs", 1)
        model = FAMILIES[name]["ctor"]()
        params = sum(p.numel() for p in model.parameters())
        print(f"training {name} ({params} params, {epochs} epochs)", flush=True)
        secs = fx.train(name, model, x_train, y_train, x_test, y_test, epochs)
        model.eval()
        fp32_pred = fx.predict(model, x_test)
        onnx_path = os.path.join(args.out, f"{name}-fp32.onnx")
        ops = fx.export_onnx(model, onnx_path)
        assert os.path.getsize(onnx_path) < fx.MAX_FILE_BYTES, onnx_path
        print(f"  [{name}] quantizing with torch.ao ({engine})", flush=True)
        t0 = time.perf_counter()
        torch.set_num_threads(args.latency_threads)  # as ZooHarness's ONNX Runtime sessions
        try:
            save = os.path.join(args.save_torchscript, name) if args.save_torchscript else None
            if save:
                os.makedirs(args.save_torchscript, exist_ok=True)
            baseline = fx.torchao_baseline(model, x_calib, x_test, y_test, fp32_pred, engine, save)
        except Exception as e:  # a family torch.ao cannot quantize is a finding, not a crash
            baseline = {"error": f"{type(e).__name__}: {e}"[:500]}
        results["models"][name] = {
            "params": params,
            "onnx_bytes": os.path.getsize(onnx_path),
            "onnx_ops": ops,
            "train_epochs": epochs,
            "train_seconds": round(secs, 1),
            "fp32_top1_test10k": round(fx.accuracy(fp32_pred, y_test), 4),
            "torchao_int8": baseline,
            "torchao_seconds_incl_latency": round(time.perf_counter() - t0, 1),
            "torchao_latency_threads": args.latency_threads,
        }
        torch.set_num_threads(args.threads)
        print(json.dumps(results["models"][name], indent=2, sort_keys=True), flush=True)
        # Re-read before writing: several runs (--only) may train different families at the same time.
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                results["models"] = {**json.load(f).get("models", {}), name: results["models"][name]}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main()
