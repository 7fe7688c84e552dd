"""Benchmark: conv layers and whole training steps, scratchvae vs PyTorch CPU, side by side.

Run from the repository root (about 4 minutes; --quick about 40 s):

    python benchmarks/conv_vae.py
    python benchmarks/conv_vae.py --quick --json bench.json
    python benchmarks/conv_vae.py --write-docs     # replaces the table in docs/benchmarks.md

Contenders, timed interleaved in one process on the same inputs (float32, batch 128):

    numba    scratchvae on its default CPU path: the direct convolutions where they apply
             (kernels/conv_direct.py), else im2col/col2im and the Numba GEMM; fused kernels
    im2col   (layers only) the Numba path with the convolutions on their im2col path
             (``backend.reference_ops``): what the direct kernels replace
    numpy    scratchvae's NumPy reference path: the same layers with numpy.matmul (OpenBLAS)
             and NumPy im2col/col2im
    torch    PyTorch CPU (``pip install torch==2.13.0``), when it imports; same
             architecture, initial weights copied from scratchvae, same loss
    naive    the loop oracles ``conv2d_naive``/``conv_transpose2d_naive``: forward only,
             one call (they are there to show what the kernels buy, not to race)

What is timed:

    layers   forward + backward of each layer of the conv VAE at its own input size:
             Conv2d(1,32,4,2,1) 28×28, Conv2d(32,64,4,2,1) 14×14,
             ConvTranspose2d(64,32,4,2,1) 7×7, ConvTranspose2d(32,1,4,2,1) 14×14,
             each library's layer fed x and dy in the memory order its own model hands
             them over: PyTorch NCHW throughout; scratchvae NHWC memory (an NCHW view)
             where the neighbouring layer is a conv, NCHW after Unflatten / before Flatten
    steps    one full training step (zero grads, forward, loss, backward, Adam) of the
             conv VAE (2 conv + 2 transposed conv, k4 s2, latent 20) and of the MLP VAE
             784-400-20, Bernoulli likelihood, ε frozen per step

Every contender runs with the same number of threads (--threads, default 2). Between contenders the script sleeps --pause
seconds: OpenBLAS's and PyTorch's OpenMP workers spin for a while after a call, and a
Numba parallel region started in that window is slowed severalfold (docs/benchmarks.md).
Read the ratios (torch time ÷ our time: above 1 means scratchvae is faster); the
absolute numbers move with the machine's load.

The models, their PyTorch twins and the step closures come from ``contenders.py`` (shared
with ``vs_pytorch.py`` and ``gpu.py``); the docs block is written by ``docs_block.py``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from common import machine_info, set_threads, time_side_by_side
from contenders import BATCH, import_torch, step_contenders
from docs_block import DOCS, write_block
from scratchvae.backend import reference_ops, use_cpu_kernels
from scratchvae.functional.conv import NHWC_CONV_OPS
from scratchvae.functional.conv_reference import conv2d_naive, conv_transpose2d_naive
from scratchvae.nn.conv import Conv2d, ConvTranspose2d

LAYERS = {   # name -> (class, args, input shape (C, H, W), memory order of x and dy in the model)
    "Conv2d(1,32,4,2,1) 28×28": (Conv2d, (1, 32, 4, 2, 1), (1, 28, 28), ("nchw", "nhwc")),
    "Conv2d(32,64,4,2,1) 14×14": (Conv2d, (32, 64, 4, 2, 1), (32, 14, 14), ("nhwc", "nchw")),
    "ConvT(64,32,4,2,1) 7×7": (ConvTranspose2d, (64, 32, 4, 2, 1), (64, 7, 7), ("nchw", "nhwc")),
    "ConvT(32,1,4,2,1) 14×14": (ConvTranspose2d, (32, 1, 4, 2, 1), (32, 14, 14), ("nhwc", "nchw")),
}


def _in_memory_order(a, order):
    """a (N, C, H, W) with NCHW memory ("nchw") or as an NCHW view of NHWC memory ("nhwc")."""
    if order == "nchw":
        return np.ascontiguousarray(a)
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
BEGIN, END = "<!-- conv_vae.py:begin -->", "<!-- conv_vae.py:end -->"


# ------------------------------------------------------------------------ layers
def layer_contenders(name, torch, rng):
    """The closures to time for one layer of LAYERS (forward + backward on each path, and
    PyTorch's twin with the same weights), and the loop oracle's forward."""
    cls, args, (C, H, W), (x_order, dy_order) = LAYERS[name]
    layer = cls(*args, rng=0)
    x = rng.uniform(-1, 1, (BATCH, C, H, W)).astype(np.float32)
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    layer.backward(dy)
    # ours get x and dy in the memory order the model hands them over (module docstring)
    x_ours, dy_ours = _in_memory_order(x, x_order), _in_memory_order(dy, dy_order)

    def ours(path, im2col=False):
        def run():
            with use_cpu_kernels(path), reference_ops(*(NHWC_CONV_OPS if im2col else ())):
                layer.zero_grad()
                layer.forward(x_ours)
                layer.backward(dy_ours)
        return run

    fns = {"numba": ours("numba"), "im2col": ours("numba", im2col=True), "numpy": ours("numpy")}
    if torch is not None:
        tcls = torch.nn.Conv2d if cls is Conv2d else torch.nn.ConvTranspose2d
        tl = tcls(*args)
        with torch.no_grad():
            tl.weight.copy_(torch.from_numpy(layer.params["W"]))
            tl.bias.copy_(torch.from_numpy(layer.params["b"]))
        tx = torch.from_numpy(x).requires_grad_(True)
        tdy = torch.from_numpy(dy)

        def run_torch():
            tl.zero_grad(set_to_none=False)
            tx.grad = None
            tl(tx).backward(tdy)
        fns["torch"] = run_torch
    naive = conv2d_naive if cls is Conv2d else conv_transpose2d_naive
    return fns, (lambda: naive(x, layer.params["W"], layer.params["b"], stride=2, padding=1))


# ------------------------------------------------------------------------ report
def _ms(s):
    return f"{1e3 * s:.2f}"


def table(rows, contenders):
    head = "| | " + " | ".join(f"{c} (ms)" for c in contenders)
    ratio_cols = [c for c in contenders if c not in ("numba", "naive fwd")]
    head += "".join(f" | {c} ÷ numba" for c in ratio_cols) + " |"
    lines = [head, "|---" * (1 + len(contenders) + len(ratio_cols)) + "|"]
    for name, med in rows:
        cells = [_ms(med[c]) if c in med else "—" for c in contenders]
        ratios = [f"{med[c] / med['numba']:.2f}" if c in med else "—" for c in ratio_cols]
        lines.append(f"| {name} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter samples")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved samples per contender")
    ap.add_argument("--sample-ms", type=float, default=None, help="length of one sample")
    ap.add_argument("--pause", type=float, default=0.3, metavar="S",
                    help="sleep before each sample (thread pools go idle)")
    ap.add_argument("--threads", type=int, default=2,
                    help="threads for every contender (1 is steadier on a busy machine)")
    ap.add_argument("--no-naive", action="store_true", help="skip the loop oracles")
    ap.add_argument("--json", metavar="PATH", help="write the numbers as JSON")
    ap.add_argument("--write-docs", action="store_true",
                    help=f"replace the generated section of {DOCS.name}")
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 9)
    target = (args.sample_ms or (60 if args.quick else 250)) / 1e3
    torch = import_torch(args.threads)    # before Numba's threads start: see import_torch
    threads = set_threads(args.threads)
    rng = np.random.default_rng(0)
    info = machine_info()
    info["torch"] = torch.__version__ if torch is not None else "(not installed)"
    print(f"threads: {threads}; torch: {info['torch']}", flush=True)

    results = {"machine": info, "layers": {}, "steps": {}, "naive_forward_s": {},
               "repeats": repeats, "sample_s": target}
    layer_rows, step_rows = [], []
    for name in LAYERS:
        fns, naive = layer_contenders(name, torch, rng)
        med, best = time_side_by_side(fns, repeats, target, args.pause)
        if not args.no_naive and not args.quick:
            t0 = time.perf_counter()
            naive()
            med["naive fwd"] = results["naive_forward_s"][name] = time.perf_counter() - t0
        results["layers"][name] = {"median_s": med, "best_s": best}
        layer_rows.append((name, med))
        print(name, {k: _ms(v) for k, v in med.items()}, flush=True)
    for kind in ("conv VAE", "MLP VAE"):
        med, best = time_side_by_side(step_contenders(kind, torch, rng), repeats, target,
                                      args.pause)
        results["steps"][kind] = {"median_s": med, "best_s": best}
        step_rows.append((f"{kind} training step", med))
        print(kind, {k: _ms(v) for k, v in med.items()}, flush=True)

    contenders = ["numba", "numpy"] + (["torch"] if torch is not None else [])
    layer_contenders_cols = (["numba", "im2col"] + contenders[1:]
                             + (["naive fwd"] if results["naive_forward_s"] else []))
    text = ("Layers, forward + backward, batch 128, float32 (median of interleaved samples; "
            "`naive fwd` is one forward call of the loop oracle):\n\n"
            + table(layer_rows, layer_contenders_cols)
            + "\n\nWhole training steps (zero grads, forward, loss, backward, Adam), batch 128, "
              "float32:\n\n" + table(step_rows, contenders)
            + f"\n\nMachine: {info['cpu']}, {info['logical_cpus']} logical CPUs, Python "
              f"{info['python']}, NumPy {info['numpy']} ({info['blas']}), Numba {info['numba']}, "
              f"PyTorch {info['torch']}; {args.threads} thread(s) each; {repeats} interleaved "
              f"samples of ~{1e3 * target:.0f} ms per contender. Command: "
              f"`python benchmarks/conv_vae.py{' --quick' if args.quick else ''}"
              f"{f' --threads {args.threads}' if args.threads != 2 else ''}`.")
    print()
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if args.write_docs:
        write_block(text, BEGIN, END)
        print(f"\nwrote {DOCS}")
    ratios = [r["median_s"]["torch"] / r["median_s"]["numba"]
              for r in results["steps"].values() if "torch" in r["median_s"]]
    if ratios:
        print(f"torch ÷ numba on whole steps: {', '.join(f'{r:.2f}' for r in ratios)} "
              f"(geometric mean {statistics.geometric_mean(ratios):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
