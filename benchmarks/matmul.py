"""Benchmark: numpy.matmul (OpenBLAS) vs kernels.matmul.matmul_numba, side by side.

Run from the repository root (takes ~3 minutes; --quick ~20 s):

    python benchmarks/matmul.py                 # float32, the VAE's default dtype
    python benchmarks/matmul.py --dtype float64
    python benchmarks/matmul.py --quick --json bench.json --fail-below 0.8

Shapes are the GEMMs of one MLP-VAE training step at batch 128 (notation as in the
kernels: C (M, N) = A (M, K) @ B (K, N); layers store W as (in, out)):

    forward  y  = x  @ W      (B, in)  @ (in, out)    A, B C-contiguous
    dx       dx = dy @ W.T    (B, out) @ (out, in)    B is a transposed view
    dW       dW = x.T @ dy    (in, B)  @ (B, out)     A is a transposed view

for Linear(784, 400), Linear(400, 784), Linear(400, 40), Linear(20, 400), plus
square 256/512/1024. The two backends are timed interleaved on the same inputs
(the order alternates every repeat) and the median per-call time is reported, so
that load from other processes on a shared machine hits both alike; read the
ratio column (BLAS time / numba time: > 1 means numba is faster), not the
absolute numbers.

Between switching backends the script sleeps --pause seconds (default 0.2): after
a call, OpenBLAS's worker threads busy-wait for ~0.1 s (THREAD_TIMEOUT 2^28
cycles) before sleeping, and on a 2-core machine a Numba parallel call inside
that window took 16 ms instead of 0.4 ms (measured). Without the pause the
benchmark measures that interference, not the kernels. The same applies to real
code that alternates OpenBLAS GEMMs with Numba parallel kernels: use one or the
other in a hot loop, or OPENBLAS_NUM_THREADS=1.

The kernel's speed is fragile to small rewrites (the list is in kernels/gemm_tiles.py;
the measurements in docs/kernels/gemm.md): ``--fail-below R`` exits 1 when any ratio
drops below R, to notice a regression. ``--threads N`` sets both Numba's and OpenBLAS's
thread counts (1 gives steadier numbers on a busy machine).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys

import numpy as np

from common import machine_info as common_machine_info
from common import make_operands, set_threads, time_side_by_side
from kernels.matmul import KC, MC, MR, NR, matmul_numba

# name -> (M, K, N, layout of A, layout of B); "t" = a transposed view of a C array
VAE_SHAPES = {
    "Linear(784,400) fwd": (128, 784, 400, "n", "n"),
    "Linear(784,400) dx": (128, 400, 784, "n", "t"),
    "Linear(784,400) dW": (784, 128, 400, "t", "n"),
    "Linear(400,784) fwd": (128, 400, 784, "n", "n"),
    "Linear(400,784) dx": (128, 784, 400, "n", "t"),
    "Linear(400,784) dW": (400, 128, 784, "t", "n"),
    "Linear(400,40) fwd": (128, 400, 40, "n", "n"),
    "Linear(400,40) dx": (128, 40, 400, "n", "t"),
    "Linear(400,40) dW": (400, 128, 40, "t", "n"),
    "Linear(20,400) fwd": (128, 20, 400, "n", "n"),
    "Linear(20,400) dx": (128, 400, 20, "n", "t"),
    "Linear(20,400) dW": (20, 128, 400, "t", "n"),
}
SQUARE_SHAPES = {f"square {n}": (n, n, n, "n", "n") for n in (256, 512, 1024)}
QUICK = ("Linear(784,400) fwd", "Linear(784,400) dx", "Linear(784,400) dW",
         "Linear(400,40) fwd", "square 512")


def machine_info():
    """The shared description plus this kernel's tile constants."""
    return {**common_machine_info(), "tiles": {"MR": MR, "NR": NR, "KC": KC, "MC": MC}}


def run(shapes, dtype, repeats, target_s, pause_s, rng):
    rows = []
    for name, (M, K, N, la, lb) in shapes.items():
        A, B = make_operands(M, K, N, la, lb, dtype, rng)
        out = np.empty((M, N), dtype=dtype)
        ref = A.astype(np.float64) @ B.astype(np.float64)
        got = matmul_numba(A, B, out=out)           # also compiles on first use
        err = float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30))
        med, best = time_side_by_side({"blas": lambda: np.matmul(A, B, out=out),
                                       "numba": lambda: matmul_numba(A, B, out=out)},
                                      repeats, target_s, pause_s)
        flops = 2.0 * M * N * K
        row = {"name": name, "M": M, "K": K, "N": N, "layout": la + lb,
               "blas_us": med["blas"] * 1e6, "numba_us": med["numba"] * 1e6,
               "blas_gflops": flops / med["blas"] / 1e9,
               "numba_gflops": flops / med["numba"] / 1e9,
               "ratio": med["blas"] / med["numba"],
               "best_blas_gflops": flops / best["blas"] / 1e9,
               "best_numba_gflops": flops / best["numba"] / 1e9,
               "best_ratio": best["blas"] / best["numba"], "max_rel_err": err}
        rows.append(row)
        print(f"{name:20s} {M:5d} {K:5d} {N:5d} {la + lb:>3s} "
              f"{row['blas_gflops']:7.1f} {row['numba_gflops']:7.1f} {row['ratio']:6.2f}"
              f"   {row['best_blas_gflops']:7.1f} {row['best_numba_gflops']:7.1f}"
              f" {row['best_ratio']:6.2f}", flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 shapes, fewer repeats")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--only", metavar="TEXT", default=None,
                    help="only the shapes whose name contains TEXT, e.g. 'Linear(20,'")
    ap.add_argument("--repeats", type=int, default=None,
                    help="interleaved samples per backend (default 15, quick 5)")
    ap.add_argument("--sample-ms", type=float, default=None,
                    help="target length of one timed sample (default 40 ms, quick 20 ms)")
    ap.add_argument("--pause", type=float, default=0.2, metavar="S",
                    help="sleep before each sample so the other thread pool idles")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for both Numba and OpenBLAS (default: as configured)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--fail-below", type=float, metavar="R", default=None,
                    help="exit 1 if any median ratio BLAS/numba time is below R")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    repeats = args.repeats or (5 if args.quick else 15)
    target_s = (args.sample_ms or (20.0 if args.quick else 40.0)) / 1e3
    shapes = {**VAE_SHAPES, **SQUARE_SHAPES}
    if args.quick:
        shapes = {k: v for k, v in shapes.items() if k in QUICK}
    if args.only:
        shapes = {k: v for k, v in shapes.items() if args.only in k}
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(args.seed)

    threads = set_threads(args.threads) if args.threads else "as configured"
    print(f"matmul benchmark: {dtype}, threads {threads}; {repeats} interleaved samples of"
          f" ~{target_s * 1e3:.0f} ms per backend, {args.pause:g} s pause before each")
    print(f"{'':20s} {'':5s} {'':5s} {'':5s} {'':>3s} {'median GFLOP/s':^22s}"
          f"   {'best GFLOP/s':^22s}")
    print(f"{'shape':20s} {'M':>5s} {'K':>5s} {'N':>5s} {'AB':>3s} "
          f"{'BLAS':>7s} {'numba':>7s} {'ratio':>6s}   {'BLAS':>7s} {'numba':>7s} {'ratio':>6s}")
    rows = run(shapes, dtype, repeats, target_s, args.pause, rng)
    info = machine_info()
    print("\nmachine: " + "; ".join(f"{k}={v}" for k, v in info.items()))
    vae = [r["ratio"] for r in rows if r["name"].startswith("Linear")]
    if vae:
        print(f"VAE shapes: geometric-mean ratio (BLAS time / numba time) "
              f"{statistics.geometric_mean(vae):.2f}, min {min(vae):.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "dtype": str(dtype), "threads": threads,
                       "repeats": repeats, "sample_s": target_s, "pause_s": args.pause,
                       "results": rows}, f, indent=2)
        print(f"wrote {args.json}")
    if args.fail_below is not None:
        bad = [r for r in rows if r["ratio"] < args.fail_below]
        for r in bad:
            print(f"REGRESSION? {r['name']}: ratio {r['ratio']:.2f} < {args.fail_below}",
                  file=sys.stderr)
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
