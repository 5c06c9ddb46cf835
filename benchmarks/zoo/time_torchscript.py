#!/usr/bin/python3
"""Median time per call of TorchScript models in the torch that made them (Debian's), for benchmarks/zoo/torchao.sh.

Usage: time_torchscript.py THREADS N,C,H,W RUNS MODEL.pt...  -> one line per model: "NAME MS" (median of RUNS calls
after 20 warm-up calls; seeded Gaussian input, as InterleavedLatency's).
"""
import sys
import time

import torch


def main():
    threads, shape, runs = int(sys.argv[1]), [int(d) for d in sys.argv[2].split(",")], int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    for path in sys.argv[4:]:
        model = torch.jit.load(path).eval()
        with torch.no_grad():
            for _ in range(20):
                model(x)
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                model(x)
                times.append((time.perf_counter() - start) * 1e3)
        times.sort()
        print(path.rsplit("/", 1)[-1], f"{times[len(times) // 2]:.3f}", flush=True)


if __name__ == "__main__":
    main()
