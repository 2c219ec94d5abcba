#!/usr/bin/env python3
"""float32 matrix-multiply peak of this CPU under PyTorch: the roofline the feature computation is held to.

Usage: python3 matmul_peak.py N THREADS SECONDS
Multiplies two random N×N float32 matrices with THREADS intra-op threads, repeatedly for about
SECONDS after a warm-up, and prints {"gflops": best over 5 timed slices, "threads", "n", "blas", "torch"}.
"""

import json
import os
import sys
import time

import torch


def main(argv):
    n, threads, seconds = int(argv[0]), int(argv[1]), float(argv[2])
    torch.set_num_interop_threads(1)
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    torch.mm(a, b, out=out)  # warm-up: thread pool, page faults
    best = 0.0
    for _ in range(5):
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 5:
            torch.mm(a, b, out=out)
            reps += 1
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - start) / 1e9)
    with open("/proc/self/maps") as f:
        blas = sorted({line.split()[-1] for line in f if "blas" in line.lower()})
    json.dump({"gflops": best, "threads": torch.get_num_threads(), "n": n, "blas": ", ".join(blas), "torch": torch.__version__}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
