"""Synthetic speech-like audio for silero VAD, as .npy folders `compress` reads (docs/cli.md, --batch-axis).

Not recorded speech: 8 s at 16 kHz of alternating 'voiced' stretches (a 110-220 Hz glottal-like pulse train through
three formant resonators, syllable-rate 4 Hz amplitude modulation) and near-silence (white noise at -60 dB), seed 0.
Each sample is one 512-sample chunk starting a stream: the recurrent state is zeros.

    python3 make_chunks.py OUT [v5|legacy]
"""
import os
import sys

import numpy as np

out, kind = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "v5")
rate, chunk, seconds = 16000, 512, 8
rng = np.random.default_rng(0)
t = np.arange(rate * seconds) / rate
f0 = 110 + 110 * (0.5 + 0.5 * np.sin(2 * np.pi * 0.3 * t))
pulses = np.sign(np.sin(2 * np.pi * np.cumsum(f0) / rate)) * 0.5 + rng.normal(0, 0.05, t.size)
voiced = np.zeros_like(t)
for formant, width in ((700, 80), (1200, 90), (2600, 120)):  # a two-pole resonator per formant
    r = np.exp(-np.pi * width / rate)
    a1, a2 = 2 * r * np.cos(2 * np.pi * formant / rate), -r * r
    y = np.zeros_like(t)
    for i in range(2, t.size):
        y[i] = pulses[i] + a1 * y[i - 1] + a2 * y[i - 2]
    voiced += y / np.abs(y).max()
envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) * ((t % 2) < 1.2)  # speech 1.2 s, pause 0.8 s
audio = (0.3 * voiced / np.abs(voiced).max() * envelope + rng.normal(0, 0.001, t.size)).astype(np.float32)

state = {"v5": {"state": (2, 128)}, "legacy": {"h": (2, 64), "c": (2, 64)}}[kind]
for name in ["input", "sr", *state]:
    os.makedirs(os.path.join(out, name), exist_ok=True)
for k in range(audio.size // chunk):
    name = f"c{k:03d}.npy"
    np.save(os.path.join(out, "input", name), audio[k * chunk:(k + 1) * chunk])
    np.save(os.path.join(out, "sr", name), np.array(rate, dtype=np.int64))
    for s, shape in state.items():
        np.save(os.path.join(out, s, name), np.zeros(shape, dtype=np.float32))
