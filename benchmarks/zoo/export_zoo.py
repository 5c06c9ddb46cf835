#!/usr/bin/python3
"""Export the real-architecture zoo of issue 12 to ONNX, plus image-like calibration and held-apart PNGs.

Untrained torchvision 0.14 architectures (weights=None: nothing is downloaded) at 1x3x224x224, opset 13, dynamic
batch axis (the ViT's zero-initialized head drawn from N(0, 0.02) instead), with BatchNorm statistics and affine parameters randomized to realistic values before model.eval():
running_mean ~ N(0, 0.1), running_var ~ U(0.5, 1.5), weight ~ U(0.5, 1.5), bias ~ N(0, 0.1). The exported
graphs are the real ones (torch's exporter folds BN into the convolutions); only the numbers are made up, so these
models measure coverage, size, speed and fidelity (INT8 vs fp32), never accuracy.

Each model carries `compress.preprocess` metadata (ImageNet mean/std, scale 0-1, NCHW) so the library and the CLI
read PNGs for it without flags.

Images (224x224 RGB PNGs, flat folders = unlabeled): each is a Fashion-MNIST garment (Debian's
dataset-fashion-mnist), upscaled, tinted and placed on a smooth random background (low-resolution noise upscaled
bicubically plus a colour gradient). calib/ from the training images, heldout/ from the test images, disjoint seeds.

Needs Debian packages only: apt-get install -y python3-torch python3-torchvision python3-onnx dataset-fashion-mnist
Run with Debian's interpreter (not a pyenv python3):
  /usr/bin/python3 benchmarks/zoo/export_zoo.py [OUT] [--calib 100] [--heldout 50] [--only resnet18,...]
OUT defaults to benchmarks/zoo/models/; images go to OUT/../images/{calib,heldout} unless --images is given.
Takes about a minute on 1 thread (2026-12-08); about 660 MB of models.
"""
import argparse
import gzip
import json
import os
import shutil
import struct
import time

import numpy as np
import onnx
import torch
import torchvision
from PIL import Image

SEED = 20261206
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def vit_small_l4():
    return torchvision.models.VisionTransformer(image_size=224, patch_size=16, num_layers=4, num_heads=6,
                                                hidden_dim=384, mlp_dim=1536)


class Crnn(torch.nn.Module):
    """A CRNN text recognizer (PaddleOCR v2's and most OCR engines' before SVTR): a Conv backbone that halves the
    height five times and the width twice, the height averaged away, two bidirectional LSTMs over the 56 columns and a
    per-column classifier, [N, 56, 100] logits for CTC. Built from torch.nn (torchvision has no recognizer)."""

    def __init__(self):
        super().__init__()
        layers = []
        for cin, cout, stride in [(3, 32, 2), (32, 64, 2), (64, 128, (2, 1)), (128, 128, (2, 1)), (128, 256, (2, 1))]:
            layers += [torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False), torch.nn.BatchNorm2d(cout),
                       torch.nn.ReLU(inplace=True)]
        self.cnn = torch.nn.Sequential(*layers, torch.nn.AvgPool2d((7, 1)))
        self.rnn = torch.nn.LSTM(256, 128, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = torch.nn.Linear(256, 100)

    def forward(self, x):
        columns = self.cnn(x).squeeze(2).permute(0, 2, 1)
        return self.fc(self.rnn(columns)[0])


M = torchvision.models
ZOO = {
    "mobilenet_v2": lambda: M.mobilenet_v2(weights=None),
    "mobilenet_v3_large": lambda: M.mobilenet_v3_large(weights=None),
    "mobilenet_v3_small": lambda: M.mobilenet_v3_small(weights=None),
    "efficientnet_b0": lambda: M.efficientnet_b0(weights=None),
    "resnet18": lambda: M.resnet18(weights=None),
    "resnet50": lambda: M.resnet50(weights=None),
    "convnext_tiny": lambda: M.convnext_tiny(weights=None),
    "shufflenet_v2_x1_0": lambda: M.shufflenet_v2_x1_0(weights=None),
    "squeezenet1_1": lambda: M.squeezenet1_1(weights=None),
    "regnet_y_400mf": lambda: M.regnet_y_400mf(weights=None),
    "vit_small_l4": vit_small_l4,
    # beyond the list (stop 24): pre-activation BatchNorms, AvgPool2d exported as Pad + AveragePool,
    # inception blocks, MNASNet's 5x5 depthwise Convs and mean pooling
    "densenet121": lambda: M.densenet121(weights=None),
    "googlenet": lambda: M.googlenet(weights=None, aux_logits=False, init_weights=True),
    "mnasnet1_0": lambda: M.mnasnet1_0(weights=None),
    "crnn": Crnn,
    # stop 25: 32 groups of 4 channels (ResNeXt), shifted windows padded and masked from shapes at every call (Swin)
    "resnext50_32x4d": lambda: M.resnext50_32x4d(weights=None),
    "swin_t": lambda: M.swin_t(weights=None),
}


def randomize_batchnorm(model, gen):
    n = 0
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                    m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
                n += 1
    return n


def export(name, path, gen):
    model = ZOO[name]()
    bns = randomize_batchnorm(model, gen)
    if isinstance(model, torchvision.models.VisionTransformer):
        # torchvision zero-initializes the ViT head: all logits would be 0 and the output SQNR undefined
        torch.nn.init.normal_(model.heads.head.weight, std=0.02)
    model.eval()
    x = torch.randn(1, 3, 224, 224, generator=gen)
    torch.onnx.export(model, x, path, opset_version=13, input_names=["input"], output_names=["logits"],
                      do_constant_folding=True, dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    m = onnx.load(path)
    preprocess = {"channels": 3, "mean": MEAN, "std": STD, "layout": "NCHW", "scale": "0-1"}
    m.metadata_props.add(key="compress.preprocess", value=json.dumps(preprocess))
    m.metadata_props.add(key="compress.zoo", value=json.dumps(
        {"architecture": name, "torchvision": torchvision.__version__, "weights": None,
         "batchnorm": "randomized (mean N(0,0.1), var U(0.5,1.5), weight U(0.5,1.5), bias N(0,0.1))",
         "seed": SEED}))
    onnx.save(m, path)
    ops = sorted({n.op_type for n in m.graph.node})
    return bns, ops


# ----------------------------------------------------------------------------- images
def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    _, _, ndim = struct.unpack(">HBB", data[:4])
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def image_like(garment, rng):
    """A 224x224 RGB image: smooth background + gradient, a tinted upscaled garment pasted at a random place."""
    low = rng.uniform(0, 255, size=(rng.integers(3, 9), rng.integers(3, 9), 3)).astype(np.uint8)
    bg = np.asarray(Image.fromarray(low, "RGB").resize((224, 224), Image.BICUBIC), dtype=np.float32)
    ramp = np.linspace(0, 1, 224, dtype=np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    grad = np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
    bg = 0.7 * bg + 60 * grad[..., None] * rng.uniform(-1, 1, size=3)
    size = int(rng.integers(112, 225))
    g = np.asarray(Image.fromarray(garment, "L").resize((size, size), Image.BICUBIC), dtype=np.float32) / 255.0
    tint = rng.uniform(40, 255, size=3)
    y, x = rng.integers(0, 225 - size, size=2)
    out = bg.copy()
    region = out[y:y + size, x:x + size]
    region[:] = region * (1 - g[..., None]) + tint * g[..., None]
    noise = rng.normal(0, 4, size=out.shape)
    return np.clip(out + noise, 0, 255).astype(np.uint8)


def write_images(images, folder, count, seed, prefix):
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(images), size=count, replace=False)
    for k, i in enumerate(sorted(picks)):
        Image.fromarray(image_like(images[i], rng), "RGB").save(os.path.join(folder, f"{prefix}-{k:04d}.png"))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?", default=os.path.join(here, "models"))
    ap.add_argument("--images", default=None, help="image root (default: OUT/../images)")
    ap.add_argument("--calib", type=int, default=100, help="calibration images (default 100)")
    ap.add_argument("--heldout", type=int, default=50, help="held-apart images (default 50)")
    ap.add_argument("--only", default=None, help="comma-separated model names (default: all)")
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    os.makedirs(args.out, exist_ok=True)
    images = args.images or os.path.join(os.path.dirname(os.path.abspath(args.out)), "images")

    train = read_idx(os.path.join(args.data_dir, "train-images-idx3-ubyte.gz"))
    test = read_idx(os.path.join(args.data_dir, "t10k-images-idx3-ubyte.gz"))
    write_images(train, os.path.join(images, "calib"), args.calib, SEED + 1, "calib")
    write_images(test, os.path.join(images, "heldout"), args.heldout, SEED + 2, "heldout")
    print(f"images: {args.calib} calib, {args.heldout} heldout in {images}", flush=True)

    names = args.only.split(",") if args.only else list(ZOO)
    for name in names:
        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(SEED + sum(map(ord, name)))
        torch.manual_seed(SEED + sum(map(ord, name)))  # the architectures' own weight init
        path = os.path.join(args.out, name + ".onnx")
        bns, ops = export(name, path, gen)
        print(f"{name}: {os.path.getsize(path) / 1e6:.1f} MB, {bns} BatchNorms randomized, "
              f"{time.perf_counter() - t0:.0f} s, ops {' '.join(ops)}", flush=True)


if __name__ == "__main__":
    main()
