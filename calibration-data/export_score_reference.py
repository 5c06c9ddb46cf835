#!/usr/bin/python3
"""Reference figures for `compress score`, computed with PyTorch from the shipped fixtures.

Loads the shipped TorchScript models (it does not retrain anything; never rerun make_fixtures.py for this) and
scores two teacher-student pairs on all 2000 held-out images:

  resnet-vs-cnn        teacher models/resnet-fp32.pt, student models/cnn-fp32.pt
  resnet-vs-torchao    teacher models/resnet-fp32.pt, student: the same ResNet quantized to INT8 with torch.ao FX
                       static PTQ (default qconfig mapping, calibrated on the 500 calib images)

and writes models/score-reference.json: the sample (file paths relative to fashion-mnist/heldout, in the order
the Java ImageDataset reads them, and labels), each model's logits ([2000, 10] float32 little-endian, base64) and
each pair's metrics at T=1 and T=4. Metric definitions, as in dev.compress.score (all per sample in float64, then averaged):

  kl          sum_c p_t(c) (log p_t(c) - log p_s(c)), p = softmax(logits / T)   (teacher -> student)
  klScaled    T^2 * kl (the scaling distillation losses use)
  agreement   argmax(teacher) == argmax(student), first index wins ties
  top5Overlap |top5(teacher) & top5(student)| / 5, ranking by score then lower index
  cosine      <t, s> / (|t| |s|) of the raw logits; mean and minimum
  mse         mean over classes of (t - s)^2

Run: /usr/bin/python3 calibration-data/export_score_reference.py
"""
import base64
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_fixtures as mf  # noqa: E402  (model classes and constants only; main() is not run)

TEMPERATURES = [1.0, 4.0]
OUT = os.path.join(HERE, "models", "score-reference.json")


def class_folders(root):
    # Java's ImageDataset: class folders sorted by Unicode code point, files by path inside each
    return sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))


def read_sample(root, labels):
    files, y, pixels = [], [], []
    for folder in class_folders(root):
        for fn in sorted(os.listdir(os.path.join(root, folder))):
            if fn.startswith(".") or not fn.lower().endswith(".png"):
                continue
            with Image.open(os.path.join(root, folder, fn)) as im:
                pixels.append(np.array(im.convert("L"), dtype=np.uint8))
            files.append(folder + "/" + fn)
            y.append(labels.index(folder))
    return files, np.array(y), np.stack(pixels)


def to_input(pixels_u8):
    # as the Java preprocessing: float32 pixel / 255, minus mean, over std
    x = pixels_u8.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(mf.MEAN)) / np.float32(mf.STD)
    return torch.from_numpy(x[:, None, :, :].astype(np.float32))


def log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def top_k(z, k):
    # stable sort on -score: equal scores keep index order, so the lower index ranks first
    return np.argsort(-z, axis=1, kind="stable")[:, :k]


def metrics(teacher, student, labels):
    t = teacher.astype(np.float64)
    s = student.astype(np.float64)
    out = {"samples": int(len(t))}
    for temp in TEMPERATURES:
        lt, ls = log_softmax(t / temp), log_softmax(s / temp)
        kl = (np.exp(lt) * (lt - ls)).sum(axis=1)
        out[f"T{temp:g}"] = {"kl": float(kl.mean()), "klScaled": float(temp * temp * kl.mean())}
    agree = t.argmax(axis=1) == s.argmax(axis=1)
    out["agreement"] = int(agree.sum())
    tk, sk = top_k(t, 5), top_k(s, 5)
    overlap = np.array([len(set(a) & set(b)) / 5.0 for a, b in zip(tk, sk)])
    out["top5Overlap"] = float(overlap.mean())
    cos = (t * s).sum(axis=1) / (np.linalg.norm(t, axis=1) * np.linalg.norm(s, axis=1))
    out["cosineMean"] = float(cos.mean())
    out["cosineMin"] = float(cos.min())
    out["mse"] = float(((t - s) ** 2).mean(axis=1).mean())
    out["agreementPerClass"] = [int(agree[labels == c].sum()) for c in range(len(mf.LABELS))]
    out["teacherTop1"] = int((t.argmax(axis=1) == labels).sum())
    out["studentTop1"] = int((s.argmax(axis=1) == labels).sum())
    return out


def b64(logits):
    return base64.b64encode(logits.astype("<f4").tobytes()).decode("ascii")


def torchao_int8(teacher_ts, calib_x):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    engines = torch.backends.quantized.supported_engines
    engine = "onednn" if "onednn" in engines else "fbgemm"
    torch.backends.quantized.engine = engine
    model = mf.ResNet()
    # traced TorchScript keeps the module's parameter and buffer names, so its state_dict fits the Python class
    model.load_state_dict(teacher_ts.state_dict())
    model.eval()
    prepared = prepare_fx(model, get_default_qconfig_mapping(engine), (calib_x[:1],))
    with torch.no_grad():
        for i in range(0, len(calib_x), 50):
            prepared(calib_x[i:i + 50])
    return convert_fx(prepared), engine


def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    fm = os.path.join(HERE, "fashion-mnist")
    with open(os.path.join(fm, "labels.txt"), encoding="utf-8") as f:
        labels = [line.strip() for line in f if line.strip()]
    assert labels == mf.LABELS, labels
    files, y, pixels = read_sample(os.path.join(fm, "heldout"), labels)
    _, _, calib_pixels = read_sample(os.path.join(fm, "calib"), labels)
    x = to_input(pixels)
    teacher = torch.jit.load(os.path.join(HERE, "models", "resnet-fp32.pt")).eval()
    student = torch.jit.load(os.path.join(HERE, "models", "cnn-fp32.pt")).eval()
    int8, engine = torchao_int8(teacher, to_input(calib_pixels))
    with torch.no_grad():
        t = teacher(x).numpy()
        s = student(x).numpy()
        q = int8(x).numpy()
    result = {
        "generator": "calibration-data/export_score_reference.py",
        "torch": torch.__version__,
        "quantizedEngine": engine,
        "temperatures": TEMPERATURES,
        "sample": {"folder": "fashion-mnist/heldout", "files": files, "labels": y.tolist()},
        "pairs": {
            "resnet-vs-cnn": {
                "teacher": "models/resnet-fp32.pt",
                "student": "models/cnn-fp32.pt",
                "metrics": metrics(t, s, y),
            },
            "resnet-vs-torchao-int8": {
                "teacher": "models/resnet-fp32.pt",
                "student": "torch.ao FX static PTQ INT8 of models/resnet-fp32.pt (not shipped)",
                "metrics": metrics(t, q, y),
            },
        },
        "logits": {"resnet-fp32": b64(t), "cnn-fp32": b64(s), "resnet-torchao-int8": b64(q)},
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")
    for name, pair in result["pairs"].items():
        m = pair["metrics"]
        print(f"  {name}: agreement {m['agreement']}/{m['samples']}, KL(T=1) {m['T1']['kl']:.6g}, "
              f"KL(T=4) {m['T4']['kl']:.6g}, cosine {m['cosineMean']:.6g}")


if __name__ == "__main__":
    main()
