#!/usr/bin/python3
"""Speech for audio models, made offline: Debian's espeak-ng speaks ten assistant-style sentences in three voices,
sox resamples them to 16 kHz mono int16 (no dither), and each whole second becomes one .npy file of 16,000 float32 samples at
int16 scale (what openWakeWord's melspectrogram.onnx reads). One second in five is scaled to -40 dB, as far-field or
quiet speech is, and a faint Gaussian floor (sigma 3) is added to all. Deterministic (fixed texts, voices, rates and
seed).

    apt-get install -y espeak-ng sox python3-numpy
    /usr/bin/python3 benchmarks/audio/make_speech.py OUT_DIR      # -> OUT_DIR/a000.npy ... (58 files)
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

SENTENCES = [
    "hey jarvis what is the weather like today", "set a timer for ten minutes",
    "alexa play some music in the kitchen", "turn off the lights in the living room",
    "the quick brown fox jumps over the lazy dog", "remind me to call my mother tomorrow morning",
    "how far is it to the nearest train station", "please read me the news headlines",
    "hey mycroft tell me a joke", "what time does the bakery open on sunday",
]
VOICES = ["en-us", "en-gb+f3", "en-us+m5"]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"error: {' and '.join(missing)} not found; apt-get install -y espeak-ng sox")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    k = 0
    i = 0
    with tempfile.TemporaryDirectory() as tmp:
        for text in SENTENCES:
            for voice in VOICES:
                i += 1
                wav = os.path.join(tmp, f"s{i}.wav")
                subprocess.run(["espeak-ng", "-v", voice, "-s", str(130 + 3 * i), "-w", wav, text], check=True,
                               stderr=subprocess.DEVNULL)
                raw = subprocess.run(["sox", "-D", wav, "-t", "raw", "-r", "16000", "-b", "16", "-e", "signed", "-c", "1",
                                      "-"], check=True, capture_output=True).stdout
                x = np.frombuffer(raw, dtype=np.int16).astype(np.float32)
                for start in range(0, len(x) - 16000 + 1, 16000):
                    chunk = x[start:start + 16000].copy()
                    if k % 5 == 4:
                        chunk *= 0.01
                    chunk += rng.normal(0, 3, chunk.shape).astype(np.float32)
                    np.save(os.path.join(out, f"a{k:03d}.npy"), chunk.astype(np.float32))
                    k += 1
    print(f"{k} one-second clips in {out}")


if __name__ == "__main__":
    main()
