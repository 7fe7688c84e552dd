"""The direct conv's task count: the 32→64 conv of the conv VAE (batch 128), forward and
input gradient, with the driver's task count forced to 1, 2, 4, 8, 16 and left to
``kernels.conv_direct.task_count`` (docs/kernels/conv.md, "Tasks sized by the L2").

    python benchmarks/conv_tasks.py --threads 1        # run it in 3 fresh processes

Prints the median of 25 calls per setting (5 rounds of 5, the settings interleaved).
"""
from __future__ import annotations

import argparse
import time

import numba
import numpy as np


def conv_vae_calls():
    """{"forward", "input gradient"}: the conv VAE's 32→64 conv at batch 128, as calls."""
    from scratchvae.functional import conv  # noqa: PLC0415 - after the threads are set

    rng = np.random.default_rng(0)
    x = rng.random((128, 14, 14, 32), np.float32)
    W = rng.random((64, 32, 4, 4), np.float32) - 0.5
    b = np.zeros(64, np.float32)
    dy = rng.random((128, 7, 7, 64), np.float32)
    return {"forward": lambda: conv.conv2d_nhwc(x, W, b, 2, 2, 1, 1),
            "input gradient": lambda: conv.conv2d_input_grad_nhwc(dy, W, 14, 14, 2, 2, 1, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    numba.set_num_threads(args.threads)
    import kernels.conv_direct as direct  # noqa: PLC0415

    calls = conv_vae_calls()
    real = direct.task_count
    settings = (1, 2, 4, 8, 16, None)
    samples = {}
    for _ in range(5):
        for n in settings:
            direct.task_count = real if n is None else (lambda a, f, t, n=n: max(n, t))
            for name, fn in calls.items():
                fn()
                for _ in range(5):
                    t0 = time.perf_counter()
                    fn()
                    samples.setdefault((name, n), []).append(time.perf_counter() - t0)
    direct.task_count = real
    padded = 128 * 16 * 16 * 32 * 4                   # the forward's zero-padded input, bytes
    print(f"threads {args.threads}; task_count gives "
          f"{real(padded, 2 * 128 * 49 * 512 * 64, args.threads)} tasks for the forward")
    for name in calls:
        print(f"{name:15s} " + "  ".join(
            f"{'task_count' if n is None else n}: {np.median(samples[(name, n)]) * 1e3:.2f} ms"
            for n in settings))


if __name__ == "__main__":
    main()
