"""The direct conv's driver on one thread: its parallel=False build against its
parallel=True build run with one thread, on the conv VAE's 32→64 conv (batch 128),
forward and input gradient (docs/kernels/conv.md, "The serial build").

    python benchmarks/conv_serial_build.py            # run it in 3 fresh processes

Prints the median of 25 calls per build (5 rounds of 5, the builds interleaved).
"""
from __future__ import annotations

import time

import numba
import numpy as np


def main():
    numba.set_num_threads(1)
    import kernels.conv_direct as direct  # noqa: PLC0415
    from conv_tasks import conv_vae_calls  # noqa: PLC0415 - this folder is on sys.path

    calls = conv_vae_calls()
    builds = {"parallel=False": direct._direct_serial, "parallel=True, 1 thread":
              direct._direct_parallel}
    saved = direct._direct_parallel
    samples = {}
    for _ in range(5):
        for label, build in builds.items():
            direct._direct_parallel = build          # what _run calls above the threshold
            for name, fn in calls.items():
                fn()
                for _ in range(5):
                    t0 = time.perf_counter()
                    fn()
                    samples.setdefault((name, label), []).append(time.perf_counter() - t0)
    direct._direct_parallel = saved
    for name in calls:
        print(f"{name:15s} " + "  ".join(f"{label}: {np.median(samples[(name, label)]) * 1e3:.2f} ms"
                                         for label in builds))


if __name__ == "__main__":
    main()
