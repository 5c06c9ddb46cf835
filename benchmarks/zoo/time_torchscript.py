#!/usr/bin/python3
"""Median time per call of TorchScript models in the torch that made them (Debian's), for benchmarks/zoo/torchao.sh.

Usage: time_torchscript.py THREADS N,C,H,W RUNS MODEL.pt...  -> one line per model: "NAME MS" (median of RUNS calls
after 20 warm-up calls; seeded Gaussian input, as InterleavedLatency's).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "calibration-data"))
import make_fixtures as fx  # noqa: E402  (its latency_ms: the timing loop the fixture baselines use)


def main():
    threads, shape, runs = int(sys.argv[1]), [int(d) for d in sys.argv[2].split(",")], int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    for path in sys.argv[4:]:
        model = torch.jit.load(path).eval()
        print(path.rsplit("/", 1)[-1], f"{fx.latency_ms(model, x, runs):.3f}", flush=True)


if __name__ == "__main__":
    main()
