#!/usr/bin/python3
"""Build the Fashion-MNIST test fixtures used by the `compress` toolkit.

Produces (under --out, default: the folder holding this script):
  models/{cnn,resnet}-fp32.onnx   fp32 ONNX (opset 13, dynamic batch, BN folded)
  models/{cnn,resnet}-fp32.pt     fp32 TorchScript (traced)
  models/fixtures.json            measured figures, incl. a torch.ao INT8 peer baseline
  fashion-mnist/calib/<class>/train-NNNNN.png    500 calibration images (train set)
  fashion-mnist/heldout/<class>/test-NNNNN.png   2000 held-out images (test set)
  fashion-mnist/labels.txt, labels-zh.txt
  README.md                       provenance + figures (generated from fixtures.json)

Needs only Debian packages:
  apt-get install -y python3-torch python3-torchvision python3-onnx dataset-fashion-mnist
Run with Debian's interpreter: /usr/bin/python3 calibration-data/make_fixtures.py
"""
import argparse
import copy
import gzip
import json
import os
import platform
import random
import shutil
import statistics
import struct
import tempfile
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper
from PIL import Image

# The Java side hard-codes these; keep them in sync with compress.preprocess.
MEAN = 0.2860
STD = 0.3530
SEED = 20240601
# Folder-safe English names ('/' replaced by '_'), standard Fashion-MNIST index order.
LABELS = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
LABELS_ZH = ["T恤上衣", "裤子", "套头衫", "连衣裙", "外套",
             "凉鞋", "衬衫", "运动鞋", "包", "短靴"]
CALIB_PER_CLASS = 50
HELDOUT_PER_CLASS = 200
MAX_FILE_BYTES = 2 * 1024 * 1024


# ----------------------------------------------------------------------------- data
def read_idx(path):
    """Parse a gzipped IDX file into a numpy uint8 array (no torchvision downloader)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: size mismatch")
    return arr.reshape(dims)


def load_fashion_mnist(data_dir):
    def part(prefix):
        x = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
        return x, y.astype(np.int64)
    return part("train"), part("t10k")


def to_input(pixels_u8):
    """uint8 [N,28,28] -> normalized float [N,1,28,28], exactly as the Java side does."""
    x = torch.from_numpy(np.array(pixels_u8, dtype=np.uint8)).float().div_(255.0)
    return x.sub_(MEAN).div_(STD).unsqueeze(1)


def select_per_class(labels, per_class, seed):
    """First `per_class` indices of each class in a seeded permutation; returned sorted."""
    perm = np.random.default_rng(seed).permutation(len(labels))
    chosen = []
    for c in range(10):
        chosen.extend(perm[labels[perm] == c][:per_class].tolist())
    return sorted(chosen)


def write_pngs(images, labels, indices, folder, prefix):
    # Start clean so a rerun never leaves stale images from an older selection.
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    for name in LABELS:
        os.makedirs(os.path.join(folder, name))
    for i in indices:
        path = os.path.join(folder, LABELS[labels[i]], f"{prefix}-{i:05d}.png")
        Image.fromarray(images[i], mode="L").save(path, format="PNG", optimize=True)


def read_pngs(folder, prefix):
    """Read the PNG samples back -> (pixels, labels, original indices), ordered by index."""
    items = []
    for c, name in enumerate(LABELS):
        for fn in os.listdir(os.path.join(folder, name)):
            assert fn.startswith(prefix + "-") and fn.endswith(".png"), fn
            with Image.open(os.path.join(folder, name, fn)) as im:
                assert im.mode == "L" and im.size == (28, 28), (fn, im.mode, im.size)
                items.append((int(fn[len(prefix) + 1:-4]), c, np.array(im, dtype=np.uint8)))
    items.sort(key=lambda t: t[0])
    return (np.stack([t[2] for t in items]), np.array([t[1] for t in items]),
            np.array([t[0] for t in items]))


# ----------------------------------------------------------------------------- models
class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(32), nn.ReLU())
        self.layer1 = BasicBlock(32, 32, 1)
        self.layer2 = BasicBlock(32, 64, 2)
        self.layer3 = BasicBlock(64, 128, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


# Per-model training recipe. OneCycle gets good accuracy in few CPU epochs.
RECIPES = {
    "cnn": dict(ctor=CNN, opt="adam", lr=2e-3, wd=0.0),
    "resnet": dict(ctor=ResNet, opt="sgd", lr=0.1, wd=5e-4),
}


def train(name, model, x_train, y_train, x_test, y_test, epochs, batch=128):
    r = RECIPES[name]
    if r["opt"] == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=r["lr"], weight_decay=r["wd"])
    else:
        opt = torch.optim.SGD(model.parameters(), lr=r["lr"], momentum=0.9,
                              nesterov=True, weight_decay=r["wd"])
    steps = (len(x_train) + batch - 1) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=r["lr"], epochs=epochs,
                                                steps_per_epoch=steps)
    gen = torch.Generator().manual_seed(SEED + 1)
    t0 = time.perf_counter()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(x_train), generator=gen)
        total = 0.0
        for s in range(steps):
            idx = perm[s * batch:(s + 1) * batch]
            xb, yb = x_train[idx], y_train[idx]
            # Light augmentation: horizontal flip (garments are roughly mirror-symmetric).
            flip = torch.rand(len(idx), generator=gen) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        # Test accuracy is logged only; it is not used for model selection.
        acc = accuracy(predict(model, x_test), y_test)
        print(f"  [{name}] epoch {ep + 1}/{epochs} loss {total / steps:.4f} "
              f"test top1 {acc:.4f} ({time.perf_counter() - t0:.0f}s)", flush=True)
    return time.perf_counter() - t0


@torch.no_grad()
def predict(model, x, batch=1000):
    model.eval()
    return torch.cat([model(x[i:i + batch]).argmax(1) for i in range(0, len(x), batch)])


def accuracy(pred, y):
    return float((pred == torch.as_tensor(y)).float().mean())


# ----------------------------------------------------------------------------- export
def export_onnx(model, path):
    model.eval()
    dummy = torch.zeros(1, 1, 28, 28)
    torch.onnx.export(model, dummy, path, opset_version=13, input_names=["input"],
                      output_names=["logits"], do_constant_folding=True,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    m = onnx.load(path)
    preprocess = {"channels": 1, "mean": [MEAN], "std": [STD],
                  "layout": "NCHW", "scale": "0-1"}
    for key, value in (("compress.preprocess", json.dumps(preprocess)),
                       ("compress.labels", json.dumps(LABELS))):
        m.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(m)
    ops = sorted({n.op_type for n in m.graph.node})
    # The Java importer relies on BN having been folded into the convolutions.
    assert "BatchNormalization" not in ops, ops
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    onnx.save(m, path)
    return ops


def run_onnx_numpy(model_proto, x):
    """Tiny numpy interpreter for the few ops our exports use.

    onnxruntime is not packaged in Debian; this independently checks that the ONNX
    graph (weights + folded BN) computes the same logits as the torch model.
    """
    env = {t.name: numpy_helper.to_array(t) for t in model_proto.graph.initializer}
    env[model_proto.graph.input[0].name] = x.astype(np.float32)
    for n in model_proto.graph.node:
        a = {at.name: onnx.helper.get_attribute_value(at) for at in n.attribute}
        i = [env[name] for name in n.input if name]
        if n.op_type == "Conv":
            assert a.get("group", 1) == 1 and set(a.get("dilations", [1, 1])) == {1}
            w = i[1]
            kh, kw = w.shape[2:]
            sh, sw = a.get("strides", [1, 1])
            pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
            xp = np.pad(i[0], ((0, 0), (0, 0), (pt, pb), (pl, pr)))
            oh = (xp.shape[2] - kh) // sh + 1
            ow = (xp.shape[3] - kw) // sw + 1
            cols = np.stack([xp[:, :, r:r + sh * oh:sh, c:c + sw * ow:sw]
                             for r in range(kh) for c in range(kw)], axis=2)
            y = np.einsum("nckhw,ock->nohw", cols, w.reshape(w.shape[0], w.shape[1], -1),
                          optimize=True)
            if len(i) > 2:
                y = y + i[2][None, :, None, None]
        elif n.op_type == "Relu":
            y = np.maximum(i[0], 0)
        elif n.op_type == "Add":
            y = i[0] + i[1]
        elif n.op_type == "MaxPool":
            k, s = a["kernel_shape"], a.get("strides", [1, 1])
            assert k == s == [2, 2] and not any(a.get("pads", [0])), a
            t = i[0]
            y = t.reshape(t.shape[0], t.shape[1], t.shape[2] // 2, 2, t.shape[3] // 2, 2)
            y = y.max(axis=(3, 5))
        elif n.op_type == "GlobalAveragePool":
            y = i[0].mean(axis=(2, 3), keepdims=True)
        elif n.op_type == "Flatten":
            y = i[0].reshape(i[0].shape[0], -1)
        elif n.op_type == "Gemm":
            b = i[1].T if a.get("transB", 0) else i[1]
            y = a.get("alpha", 1.0) * (i[0] @ b) + a.get("beta", 1.0) * i[2]
        else:
            raise NotImplementedError(n.op_type)
        env[n.output[0]] = y.astype(np.float32)
    return env[model_proto.graph.output[0].name]


def save_torchscript(model, path):
    model.eval()
    with torch.no_grad():
        ts = torch.jit.trace(model, torch.zeros(1, 1, 28, 28))
    torch.jit.save(ts, path)
    return ts


# ----------------------------------------------------------------------------- peer baseline
def latency_ms(model, x, runs, warmup=20):
    with torch.no_grad():
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t) * 1000.0)
    return round(statistics.median(times), 4)


def torchao_baseline(model, calib_x, x_test, y_test, fp32_pred, engine, save_prefix=None):
    """save_prefix: also write the traced models as {save_prefix}-fp32.pt and -torchao-int8.pt (for timing elsewhere)."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    example = (calib_x[:1],)
    t0 = time.perf_counter()
    prepared = prepare_fx(copy.deepcopy(model).eval(),
                          get_default_qconfig_mapping(engine), example)
    with torch.no_grad():
        for i in range(0, len(calib_x), 50):
            prepared(calib_x[i:i + 50])
    qmodel = convert_fx(prepared)
    quant_seconds = time.perf_counter() - t0

    int8_pred = predict(qmodel, x_test)
    with torch.no_grad():
        q_ts = torch.jit.trace(qmodel, calib_x[:1])
        f_ts = torch.jit.trace(copy.deepcopy(model).eval(), calib_x[:1])
        # Plain traced fp32 falls back to im2col + system BLAS for small batches (Debian's
        # torch often sees reference BLAS), so also time the best-effort fp32 path.
        f_opt = torch.jit.optimize_for_inference(torch.jit.freeze(
            torch.jit.trace(copy.deepcopy(model).eval(), calib_x[:1])))
    # Size is measured on a temp file outside calibration-data (not committed).
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "q.pt")
        torch.jit.save(q_ts, p)
        q_size = os.path.getsize(p)
    if save_prefix:
        torch.jit.save(q_ts, save_prefix + "-torchao-int8.pt")
        torch.jit.save(f_ts, save_prefix + "-fp32.pt")
    lat = {}
    for label, m in (("fp32", f_ts), ("fp32_optimized", f_opt), ("int8", q_ts)):
        lat[f"{label}_batch1_ms"] = latency_ms(m, x_test[:1], runs=200)
        lat[f"{label}_batch32_ms"] = latency_ms(m, x_test[:32], runs=50)
    return {
        "engine": engine,
        "method": "torch.ao FX static PTQ: get_default_qconfig_mapping(engine), "
                  "prepare_fx, calibrate on the 500 calib images, convert_fx",
        "int8_top1_test10k": round(accuracy(int8_pred, y_test), 4),
        "top1_agreement_with_fp32_test10k": round(accuracy(int8_pred, fp32_pred), 4),
        "int8_torchscript_bytes": q_size,
        "quantize_seconds": round(quant_seconds, 2),
        "latency_torchscript_2threads": lat,
    }


# ----------------------------------------------------------------------------- README
def write_readme(path, fx):
    m = fx["models"]
    lines = [
        "# calibration-data",
        "",
        "Test fixtures for `compress`: two small Fashion-MNIST classifiers (fp32 ONNX and",
        "TorchScript), calibration / held-out image samples, and a PyTorch INT8 peer baseline.",
        "Everything here is generated by `make_fixtures.py`; this README too (do not edit by hand).",
        "",
        "## Provenance",
        "",
        "- Data: **Fashion-MNIST** by Zalando Research (Xiao, Rasul, Vollgraf, 2017),",
        "  MIT license, read from the IDX files of the Debian package `dataset-fashion-mnist`",
        "  (`/usr/share/datasets/fashion-mnist`).",
        "- Models: trained from scratch by `make_fixtures.py` with Debian's PyTorch "
        f"{fx['machine']['torch_version']} on CPU, fixed seed {fx['seed']}.",
        "",
        "## Regenerate",
        "",
        "```sh",
        "apt-get install -y python3-torch python3-torchvision python3-onnx dataset-fashion-mnist"
        " && /usr/bin/python3 calibration-data/make_fixtures.py",
        "```",
        "",
        "Options: `--data-dir` (IDX folder), `--out` (output root, default: this folder),",
        "`--epochs-cnn`, `--epochs-resnet`. Use Debian's `/usr/bin/python3` (it has torch).",
        "",
        "## Files",
        "",
        "| path | content |",
        "|---|---|",
        "| `models/cnn-fp32.onnx` | plain CNN (conv16-pool-conv32-pool-fc64-fc10), fp32 ONNX |",
        "| `models/resnet-fp32.onnx` | small ResNet (stem 32, blocks 32/64/128 with 1x1 shortcuts, "
        "GAP, fc10), BN folded into Conv, fp32 ONNX |",
        "| `models/*-fp32.pt` | the same models as traced TorchScript (`torch.jit.load`) |",
        "| `models/fixtures.json` | all measured figures (below) |",
        "| `fashion-mnist/calib/<class>/train-NNNNN.png` | 500 calibration images from the "
        "training set, 50 per class |",
        "| `fashion-mnist/heldout/<class>/test-NNNNN.png` | 2000 held-out images from the "
        "test set, 200 per class |",
        "| `fashion-mnist/labels.txt` | English class names, one per line, index order "
        "(= folder names) |",
        "| `fashion-mnist/labels-zh.txt` | Chinese class names, same order |",
        "| `make_fixtures.py` | the generator |",
        "",
        "ONNX details: opset 13, input `input` `[batch,1,28,28]` float32, output `logits`",
        "`[batch,10]`, `batch` is a dynamic dimension. Metadata (`metadata_props`):",
        "",
        f"- `compress.preprocess` = `{m['cnn']['onnx_metadata']['compress.preprocess']}`",
        f"- `compress.labels` = `{m['cnn']['onnx_metadata']['compress.labels']}`",
        "",
        "Preprocessing: 8-bit gray pixel / 255, then `(x - 0.2860) / 0.3530`, 1 channel, NCHW.",
        "It is stored in the ONNX metadata key `compress.preprocess`.",
        "",
        "## Sample selection",
        "",
        "`NNNNN` is the zero-based index of the image in the original IDX file (5 digits).",
        f"Calibration: `numpy.random.default_rng({fx['samples']['calib_seed']}).permutation(60000)`"
        " over the training set; the first 50 indices of each class in that order.",
        f"Held-out: `numpy.random.default_rng({fx['samples']['heldout_seed']}).permutation(10000)`"
        " over the test set; the first 200 indices of each class in that order.",
        "PNGs are 8-bit grayscale (mode L); the generator asserts that they read back",
        "bit-identical to the IDX bytes.",
        "",
        "## Measured figures",
        "",
        f"Machine: {fx['machine']['cpu_model']}, {fx['machine']['cpu_count']} CPUs, "
        f"torch {fx['machine']['torch_version']}, {fx['machine']['torch_threads']} threads.",
        f"Total training time: {fx['training_seconds_total']} s.",
        "",
        "| | cnn | resnet |",
        "|---|---|---|",
    ]

    def row(label, fn):
        lines.append(f"| {label} | {fn(m['cnn'])} | {fn(m['resnet'])} |")

    row("parameters", lambda d: d["params"])
    row("ONNX bytes", lambda d: d["onnx_bytes"])
    row("TorchScript bytes", lambda d: d["torchscript_bytes"])
    row("training (epochs / s)", lambda d: f"{d['train_epochs']} / {d['train_seconds']}")
    row("fp32 top-1, 10k test", lambda d: d["fp32_top1_test10k"])
    row("fp32 top-1, 2000 held-out PNGs", lambda d: d["fp32_top1_heldout2000"])
    row("ONNX (numpy ref.) top-1, held-out", lambda d: d["onnx_numpy_top1_heldout2000"])
    row("torch.ao INT8 top-1, 10k test", lambda d: d["torchao_int8"]["int8_top1_test10k"])
    row("torch.ao INT8 agreement w/ fp32, 10k",
        lambda d: d["torchao_int8"]["top1_agreement_with_fp32_test10k"])
    row("torch.ao INT8 TorchScript bytes", lambda d: d["torchao_int8"]["int8_torchscript_bytes"])
    row("torch.ao quantize s (prepare+calib+convert)",
        lambda d: d["torchao_int8"]["quantize_seconds"])
    for k in ("fp32_batch1_ms", "fp32_optimized_batch1_ms", "int8_batch1_ms",
              "fp32_batch32_ms", "fp32_optimized_batch32_ms", "int8_batch32_ms"):
        row(f"latency {k} (median)", lambda d, k=k: d["torchao_int8"]["latency_torchscript_2threads"][k])
    lines += [
        "",
        f"Peer baseline: PyTorch post-training static quantization, engine "
        f"`{fx['quantized_engine']}` (FX graph mode, default qconfig mapping, calibrated on the",
        "same 500 calibration images). Latencies are medians of traced TorchScript at 2 threads",
        "(200 runs at batch 1, 50 at batch 32, after 20 warm-up runs). `fp32` is the plain traced",
        "model (as in `models/*-fp32.pt`); `fp32_optimized` is the same after `torch.jit.freeze` +",
        "`torch.jit.optimize_for_inference` (BN folded, oneDNN convolutions). Plain fp32 at batch 1",
        "uses im2col + the system BLAS, which is slow with Debian's reference BLAS",
        f"(`{fx['machine']['blas']}`), so compare INT8 against `fp32_optimized`.",
        "The INT8 TorchScript is only measured, not stored here. All times are wall-clock on",
        "a shared 2-core machine and vary with load; accuracies and sizes are deterministic.",
        "",
    ]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


# ----------------------------------------------------------------------------- main
def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default=here, help="output root (default: %(default)s)")
    ap.add_argument("--epochs-cnn", type=int, default=5)
    ap.add_argument("--epochs-resnet", type=int, default=5)
    args = ap.parse_args()

    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    random.seed(SEED)
    np.random.seed(SEED)
    engines = torch.backends.quantized.supported_engines
    engine = "onednn" if "onednn" in engines else "fbgemm"
    torch.backends.quantized.engine = engine

    models_dir = os.path.join(args.out, "models")
    fm_dir = os.path.join(args.out, "fashion-mnist")
    os.makedirs(models_dir, exist_ok=True)
    os.makedirs(fm_dir, exist_ok=True)

    (xtr_u8, ytr), (xte_u8, yte) = load_fashion_mnist(args.data_dir)
    assert xtr_u8.shape == (60000, 28, 28) and xte_u8.shape == (10000, 28, 28)
    print(f"data: train {xtr_u8.shape}, test {xte_u8.shape}; quantized engine {engine}")

    # ---- image samples + labels
    calib_seed, heldout_seed = SEED + 10, SEED + 20
    calib_idx = select_per_class(ytr, CALIB_PER_CLASS, calib_seed)
    heldout_idx = select_per_class(yte, HELDOUT_PER_CLASS, heldout_seed)
    write_pngs(xtr_u8, ytr, calib_idx, os.path.join(fm_dir, "calib"), "train")
    write_pngs(xte_u8, yte, heldout_idx, os.path.join(fm_dir, "heldout"), "test")
    for fn, names in (("labels.txt", LABELS), ("labels-zh.txt", LABELS_ZH)):
        with open(os.path.join(fm_dir, fn), "w", encoding="utf-8") as f:
            f.write("\n".join(names) + "\n")

    # PNG round trip must be lossless: the Java side reads these PNGs.
    calib_px, calib_y, calib_i = read_pngs(os.path.join(fm_dir, "calib"), "train")
    held_px, held_y, held_i = read_pngs(os.path.join(fm_dir, "heldout"), "test")
    assert list(calib_i) == calib_idx and list(held_i) == heldout_idx
    assert np.array_equal(calib_px, xtr_u8[calib_idx]) and np.array_equal(calib_y, ytr[calib_idx])
    assert np.array_equal(held_px, xte_u8[heldout_idx]) and np.array_equal(held_y, yte[heldout_idx])
    print(f"wrote {len(calib_idx)} calib + {len(heldout_idx)} held-out PNGs (lossless round trip)")

    x_train, y_train = to_input(xtr_u8), torch.from_numpy(ytr)
    x_test, y_test = to_input(xte_u8), torch.from_numpy(yte)
    x_calib, x_held = to_input(calib_px), to_input(held_px)

    fixtures = {
        "seed": SEED,
        "dataset": "Fashion-MNIST (Zalando Research, MIT), Debian dataset-fashion-mnist",
        "preprocess": {"scale": "pixel/255", "mean": MEAN, "std": STD,
                       "channels": 1, "layout": "NCHW"},
        "labels": LABELS,
        "labels_zh": LABELS_ZH,
        "samples": {"calib_count": len(calib_idx), "calib_per_class": CALIB_PER_CLASS,
                    "calib_seed": calib_seed, "heldout_count": len(heldout_idx),
                    "heldout_per_class": HELDOUT_PER_CLASS, "heldout_seed": heldout_seed},
        "quantized_engine": engine,
        "models": {},
    }
    epochs = {"cnn": args.epochs_cnn, "resnet": args.epochs_resnet}
    train_total = 0.0
    for name in ("cnn", "resnet"):
        # Seed per model so each result does not depend on the other model's training.
        torch.manual_seed(SEED)
        model = RECIPES[name]["ctor"]()
        params = sum(p.numel() for p in model.parameters())
        print(f"training {name} ({params} params, {epochs[name]} epochs)", flush=True)
        secs = train(name, model, x_train, y_train, x_test, y_test, epochs[name])
        train_total += secs
        model.eval()

        fp32_pred = predict(model, x_test)
        held_pred = predict(model, x_held)

        onnx_path = os.path.join(models_dir, f"{name}-fp32.onnx")
        ts_path = os.path.join(models_dir, f"{name}-fp32.pt")
        ops = export_onnx(model, onnx_path)
        ts = save_torchscript(model, ts_path)
        proto = onnx.load(onnx_path)
        onnx_logits = np.concatenate([run_onnx_numpy(proto, x_held[i:i + 100].numpy())
                                      for i in range(0, len(x_held), 100)])
        with torch.no_grad():
            torch_logits = model(x_held).numpy()
            ts_diff = float((ts(x_held) - model(x_held)).abs().max())
        onnx_diff = float(np.abs(onnx_logits - torch_logits).max())
        assert onnx_diff < 1e-3 and ts_diff < 1e-4, (onnx_diff, ts_diff)
        for p in (onnx_path, ts_path):
            assert os.path.getsize(p) < MAX_FILE_BYTES, p

        print(f"  [{name}] quantizing with torch.ao ({engine})", flush=True)
        baseline = torchao_baseline(model, x_calib, x_test, y_test, fp32_pred, engine)
        fixtures["models"][name] = {
            "params": params,
            "onnx_bytes": os.path.getsize(onnx_path),
            "onnx_ops": ops,
            "onnx_metadata": {p.key: p.value for p in proto.metadata_props},
            "torchscript_bytes": os.path.getsize(ts_path),
            "train_epochs": epochs[name],
            "train_seconds": round(secs, 1),
            "fp32_top1_test10k": round(accuracy(fp32_pred, y_test), 4),
            "fp32_top1_heldout2000": round(accuracy(held_pred, held_y), 4),
            "onnx_numpy_top1_heldout2000": round(accuracy(
                torch.from_numpy(onnx_logits.argmax(1)), held_y), 4),
            "onnx_numpy_max_abs_logit_diff": float(f"{onnx_diff:.3g}"),
            "torchao_int8": baseline,
        }
        print(json.dumps(fixtures["models"][name], indent=2, sort_keys=True), flush=True)

    fixtures["training_seconds_total"] = round(train_total, 1)
    cpu_model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu_model = next((ln.split(":", 1)[1].strip() for ln in f
                              if ln.startswith("model name")), "")
    except OSError:
        pass
    fixtures["machine"] = {"processor": platform.processor(), "cpu_count": os.cpu_count(),
                           "cpu_model": cpu_model, "torch_version": torch.__version__,
                           "torch_threads": torch.get_num_threads(),
                           "blas": os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3"),
                           "python": platform.python_version()}
    with open(os.path.join(models_dir, "fixtures.json"), "w", encoding="utf-8") as f:
        json.dump(fixtures, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    write_readme(os.path.join(args.out, "README.md"), fixtures)
    print(f"total training time {train_total:.1f} s")


if __name__ == "__main__":
    main()
