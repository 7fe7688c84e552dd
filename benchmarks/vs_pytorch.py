"""Benchmark: scratchvae against PyTorch CPU on the MLP VAE and the conv VAE: step time,
the FLOP floor, test −ELBO after equal epochs, and the Numba GEMM against OpenBLAS on
every GEMM of the two training steps, in one run.

Run from the repository root (full: about 8 minutes; --quick: about a minute):

    python benchmarks/vs_pytorch.py --quick
    python benchmarks/vs_pytorch.py --json vs_pytorch.json
    python benchmarks/vs_pytorch.py --write-docs   # replaces its block in docs/benchmarks.md

PyTorch (``pip install torch==2.13.0``, CPU build) is a benchmark-only dependency;
without it the script times scratchvae's two paths and marks PyTorch's figures "not
measured". Every contender runs with --threads threads (default 2).

What is measured, all float32, batch 128 (B), Adam lr 1e-3, Bernoulli likelihood:

    steps    one training step (zero grads, forward, loss, backward, Adam) on a fixed
             batch, for the Numba path, the NumPy path and PyTorch, timed interleaved
             (``common.time_side_by_side``): medians of --repeats samples. The step
             closures, the PyTorch models and the equal-loss check come from contenders.py.
    floor    the time the step's GEMMs alone take in ``numpy.matmul`` (OpenBLAS):
             Σ_i FLOPs_i ÷ GFLOP/s_i over the GEMMs of one step, GFLOP/s_i measured on
             each exact shape and layout in this run, with the same threads.
    GEMMs    ``kernels.matmul.matmul_numba`` against ``numpy.matmul`` on each of those
             shapes, interleaved; the FLOP-weighted aggregate is Σ t_OpenBLAS ÷ Σ t_Numba
             over all GEMMs of a step, each counted as often as the step runs it.
    −ELBO    both libraries trained for E epochs from the same initial weights, on the
             same batches (same order; each batch binarized once in NumPy and the same
             array fed to both) with the same ε per step (drawn in NumPy); then the
             test −ELBO (nats, mean over images) on the fixed-seed binarized test set,
             with one ε per test image drawn in NumPy and fed to both.

GEMM FLOPs of one step: C (M, N) = A (M, K) @ B (K, N) is 2·M·K·N FLOPs, and the GEMMs of
each layer's forward, dx and dW are counted by hand in ``step_gemms.py`` (its docstring
has the table). The first layer of each encoder takes data, so its dx is not computed:
scratchvae skips it (``backward(input_grad=False)``), and so does PyTorch, whose autograd
computes no gradient for an input that does not require one. Before timing, the script
traces the GEMMs a real step runs and checks them against this count
(``check_gemm_count``).

The models, their PyTorch twins and the step closures come from ``contenders.py``, the
interleaved timing and the machine's description from ``common.py``, the docs block is
written by ``docs_block.py``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from common import machine_info, make_operands, set_threads, time_side_by_side
from contenders import (BATCH, build_model, check_same_loss, copy_params, import_torch,
                        step_contenders, torch_model, torch_vae_loss)
from docs_block import write_block
from kernels.matmul import matmul_numba
from scratchvae.backend import use_cpu_kernels
from scratchvae.data import BatchIterator, binarize, binarize_fixed, load_dataset
from scratchvae.errors import DataError
from scratchvae.optim import Adam
from step_gemms import STEP_GEMMS, check_gemm_count, gemm_flops, gemm_key, unique_shapes

KINDS = ("MLP VAE", "conv VAE")        # the names contenders.build_model knows
BEGIN, END = "<!-- vs_pytorch.py:begin -->", "<!-- vs_pytorch.py:end -->"
HEADING = "## scratchvae vs PyTorch (benchmarks/vs_pytorch.py)"


# ----------------------------------------------------------------- GEMM timings
def time_gemms(shapes, repeats, target_s, pause_s, rng):
    """Median seconds of numpy.matmul and matmul_numba on each shape, interleaved."""
    rows = {}
    for key in shapes:
        M, K, N, layout = key
        A, B = make_operands(M, K, N, layout[0], layout[1], np.float32, rng)
        out = np.empty((M, N), dtype=np.float32)
        ref = A.astype(np.float64) @ B.astype(np.float64)
        err = float(np.abs(matmul_numba(A, B, out=out) - ref).max() / max(np.abs(ref).max(), 1e-30))
        med, best = time_side_by_side({"openblas": lambda: np.matmul(A, B, out=out),
                                    "numba": lambda: matmul_numba(A, B, out=out)},
                                   repeats, target_s, pause_s)
        flops = 2.0 * M * K * N
        rows[key] = {"M": M, "K": K, "N": N, "layout": layout, "flops": flops,
                     "openblas_s": med["openblas"], "numba_s": med["numba"],
                     "openblas_gflops": flops / med["openblas"] / 1e9,
                     "numba_gflops": flops / med["numba"] / 1e9,
                     "numba_vs_openblas": med["openblas"] / med["numba"],
                     "openblas_best_s": best["openblas"], "numba_best_s": best["numba"],
                     "max_rel_err": err}
    return rows


def gemm_aggregate(gemms, rows):
    """FLOP-weighted figures over a list of GEMMs (repeats count): Σ FLOPs ÷ Σ time."""
    flops = sum(gemm_flops(g) for g in gemms)
    t_blas = sum(rows[gemm_key(g)]["openblas_s"] for g in gemms)
    t_numba = sum(rows[gemm_key(g)]["numba_s"] for g in gemms)
    best_blas = sum(rows[gemm_key(g)].get("openblas_best_s", math.nan) for g in gemms)
    return {"flops": flops, "openblas_s": t_blas, "numba_s": t_numba, "openblas_best_s": best_blas,
            "openblas_gflops": flops / t_blas / 1e9, "numba_gflops": flops / t_numba / 1e9,
            "numba_vs_openblas": t_blas / t_numba}


# --------------------------------------------------------------- equal epochs
def load_data(train_images=None):
    """Fashion-MNIST flattened to (N, 784) in [0, 1]; sprites (with a warning) if missing."""
    try:
        name = "fashion-mnist"
        train, test = (load_dataset(name, split, download=False) for split in ("train", "test"))
    except DataError as exc:
        print(f"WARNING: Fashion-MNIST not found ({exc}); using the sprites data set instead",
              flush=True)
        name = "sprites"
        train, test = (load_dataset(name, split) for split in ("train", "test"))
    train_x, test_x = train.x.reshape(len(train.x), -1), test.x.reshape(len(test.x), -1)
    return train_x[:train_images], test_x, name


def train_batches(train_x, epochs, L, seed=0, batch=BATCH):
    """Yield (xb (B, D), ε (B, L)) for every step of ``epochs`` epochs: a pure function
    of the arguments, so each library replays exactly the same batches."""
    it = BatchIterator(len(train_x), batch, seed=seed)
    eps_rng = np.random.default_rng([seed, 3])
    for e in range(epochs):
        bin_rng = np.random.default_rng([seed, e, 1])       # as the Trainer's
        for idx in it.epoch(e):
            yield binarize(train_x[idx], bin_rng), \
                eps_rng.standard_normal((len(idx), L), dtype=np.float32)


def neg_elbo_ours(model, x, eps, batch=1000):
    """Test −ELBO (nats, mean over the N images of x (N, D)) with the given ε (N, L)."""
    total = sum(model.loss_and_grads(x[i:i + batch], eps=eps[i:i + batch],
                                     compute_grads=False)["loss"] * len(x[i:i + batch])
                for i in range(0, len(x), batch))
    return total / len(x)


def neg_elbo_torch(torch, forward, L, x, eps, batch=1000):
    """The same −ELBO through PyTorch's model."""
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            tx, te = torch.from_numpy(x[i:i + batch]), torch.from_numpy(eps[i:i + batch])
            h, logits = forward(tx, te)
            total += float(torch_vae_loss(torch, h, logits, tx, L)[0]) * len(tx)
    return total / len(x)


def equal_epochs(kind, torch, train_x, test_x, epochs, seed=0):
    """Train scratchvae (Numba path), then PyTorch, from the same weights on the same
    batches; return both test −ELBOs. Run one after the other, not interleaved per
    step: each library's idle thread pool would slow the other (docs/benchmarks.md)."""
    model = build_model(kind)
    L = model.latent_dim
    x_test = binarize_fixed(test_x, seed)                                  # (Nt, D)
    eps_test = np.random.default_rng([seed, 2]).standard_normal(
        (len(test_x), L), dtype=np.float32)                               # (Nt, L)
    if torch is not None:
        modules, forward = torch_model(torch, kind, L)
        copy_params(torch, model, modules)
        check_same_loss(torch, kind, model, forward, x_test[:BATCH], eps_test[:BATCH])
        topt = torch.optim.Adam([p for m in modules for p in m.parameters()], 1e-3)
    steps = epochs * math.ceil(len(train_x) / BATCH)
    res = {"epochs": epochs, "train_images": len(train_x), "test_images": len(test_x),
           "steps": steps}
    opt = Adam(model.parameters(), 1e-3)
    t0 = time.perf_counter()
    with use_cpu_kernels("numba"):
        for xb, eb in train_batches(train_x, epochs, L, seed):
            model.zero_grad()
            model.loss_and_grads(xb, eps=eb)
            opt.step()
        res["ours_train_s"] = time.perf_counter() - t0
        res["ours_neg_elbo"] = neg_elbo_ours(model, x_test, eps_test)
    if torch is None:
        return res
    time.sleep(0.3)                               # let Numba's workers go idle
    t0 = time.perf_counter()
    for xb, eb in train_batches(train_x, epochs, L, seed):
        tx = torch.from_numpy(xb)
        topt.zero_grad(set_to_none=False)
        h, logits = forward(tx, torch.from_numpy(eb))
        torch_vae_loss(torch, h, logits, tx, L)[0].backward()
        topt.step()
    res["torch_train_s"] = time.perf_counter() - t0
    res["torch_neg_elbo"] = neg_elbo_torch(torch, forward, L, x_test, eps_test)
    res["ours_minus_torch"] = res["ours_neg_elbo"] - res["torch_neg_elbo"]
    return res


# --------------------------------------------------------------------- targets
TARGETS = (   # key, what (issue 6), comparison, threshold
    ("mlp_step_vs_torch", "MLP VAE step ≤ 0.6× PyTorch's time", "<=", 0.6),
    ("mlp_step_vs_floor", "MLP VAE step ≤ 1.5× the FLOP floor", "<=", 1.5),
    ("conv_step_vs_torch", "conv VAE step ≤ 1.0× PyTorch's time", "<=", 1.0),
    ("mlp_elbo_gap", "MLP VAE −ELBO within 1 nat of PyTorch's", "<=", 1.0),
    ("conv_elbo_gap", "conv VAE −ELBO within 1 nat of PyTorch's", "<=", 1.0),
    ("gemm_weighted", "Numba GEMM ≥ 0.9× OpenBLAS, FLOP-weighted over the steps' GEMMs",
     ">=", 0.9),
    ("gemm_worst", "Numba GEMM ≥ 0.9× OpenBLAS on every shape (stricter reading)", ">=", 0.9),
)


def target_met(value, op, threshold):
    """True/False, or None when the figure was not measured (None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value <= threshold if op == "<=" else value >= threshold


def evaluate_targets(figures):
    """One row per target: the figure (ours on the Numba path), threshold, met."""
    rows = []
    for key, what, op, threshold in TARGETS:
        value = figures.get(key)
        rows.append({"key": key, "target": what, "op": op, "threshold": threshold,
                     "value": value, "met": target_met(value, op, threshold)})
    return rows


def target_figures(results):
    """The figures the targets read, from a results dict (None where not measured)."""
    steps, elbo, gemm = results["steps"], results["elbo"], results["gemm"]

    def get(d, *keys):
        for k in keys:
            if not isinstance(d, dict) or k not in d:
                return None
            d = d[k]
        return d
    gap = {k: get(elbo, k, "ours_minus_torch") for k in KINDS}
    return {"mlp_step_vs_torch": get(steps, "MLP VAE", "vs_torch", "numba"),
            "mlp_step_vs_floor": get(steps, "MLP VAE", "vs_floor", "numba"),
            "conv_step_vs_torch": get(steps, "conv VAE", "vs_torch", "numba"),
            "mlp_elbo_gap": None if gap["MLP VAE"] is None else abs(gap["MLP VAE"]),
            "conv_elbo_gap": None if gap["conv VAE"] is None else abs(gap["conv VAE"]),
            "gemm_weighted": get(gemm, "aggregate", "both", "numba_vs_openblas"),
            "gemm_worst": min((r["numba_vs_openblas"] for r in gemm["shapes"]), default=None)}


# ------------------------------------------------------------------------- run
@dataclass
class Settings:
    repeats: int = 9                   # interleaved samples per contender
    sample_s: float = 0.25             # length of one step sample
    gemm_sample_s: float = 0.04        # length of one GEMM sample
    pause_s: float = 0.3               # sleep before each sample (thread pools go idle)
    warmup: int = 3                    # untimed steps per contender before timing
    epochs: dict = field(default_factory=lambda: {"MLP VAE": 10, "conv VAE": 3})
    train_images: int | None = None    # None: the whole training set
    threads: int = 2
    seed: int = 0

    @classmethod
    def quick(cls, **kw):
        return cls(**{**dict(repeats=3, sample_s=0.06, gemm_sample_s=0.01, pause_s=0.12,
                             epochs={"MLP VAE": 1, "conv VAE": 1}, train_images=5000), **kw})


def run(settings, torch, data=None, log=print):
    """Every figure of the benchmark as one JSON-able dict.

    ``data`` = (train_x (N, 784), test_x (Nt, 784), name) in [0, 1], or None to load
    Fashion-MNIST (sprites if missing). ``torch`` is the module or None.
    """
    s = settings
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1) / 2:
        log(f"WARNING: load average {load:.1f} on {os.cpu_count()} CPUs: other processes are "
            "running, and multi-threaded OpenBLAS and PyTorch slow down severalfold when a "
            "core is taken; the figures will not be representative", flush=True)
    gemms = {kind: STEP_GEMMS[kind]() for kind in KINDS}
    for kind in KINDS:
        check_gemm_count(kind)
    results = {"settings": asdict(s), "batch": BATCH, "load_average_start": load,
               "torch": torch.__version__ if torch is not None else None,
               "gemm": {}, "steps": {}, "elbo": {}}

    log("GEMMs: numpy.matmul (OpenBLAS) vs matmul_numba on every GEMM of both steps", flush=True)
    shapes = unique_shapes(gemms)
    rows = time_gemms(shapes, s.repeats, s.gemm_sample_s, s.pause_s,
                      np.random.default_rng(s.seed))
    for key, row in rows.items():
        row["uses"] = [f"{kind}: {layer} {role}" for kind, layer, role in shapes[key]["uses"]]
        row["per_step"] = dict(shapes[key]["count"])
        log(f"  {key[0]}×{key[1]}×{key[2]} {key[3]}: OpenBLAS {row['openblas_gflops']:.1f}, "
            f"Numba {row['numba_gflops']:.1f} GFLOP/s", flush=True)
    results["gemm"] = {"shapes": list(rows.values()), "aggregate": {
        **{kind: gemm_aggregate(gemms[kind], rows) for kind in KINDS},
        "both": gemm_aggregate(gemms["MLP VAE"] + gemms["conv VAE"], rows)}}

    rng = np.random.default_rng(s.seed)
    for kind in KINDS:
        fns = step_contenders(kind, torch, rng)
        for fn in fns.values():                       # warm-up: JIT loads, first allocations
            for _ in range(s.warmup):
                fn()
        med, best = time_side_by_side(fns, s.repeats, s.sample_s, s.pause_s)
        agg = results["gemm"]["aggregate"][kind]
        floor = agg["openblas_s"]
        entry = {"median_s": med, "best_s": best, "gemm_flops": sum(map(gemm_flops, gemms[kind])),
                 "floor_s": floor, "vs_floor": {c: t / floor for c, t in med.items()},
                 # the stricter floor: every GEMM at its best sample (not in the tables)
                 "floor_best_s": agg["openblas_best_s"]}
        if "torch" in med:
            entry["vs_torch"] = {c: t / med["torch"] for c, t in med.items() if c != "torch"}
        results["steps"][kind] = entry
        log(f"{kind} step: " + ", ".join(f"{c} {1e3 * t:.2f} ms" for c, t in med.items())
            + f"; floor {1e3 * floor:.2f} ms", flush=True)

    train_x, test_x, name = data if data is not None else load_data(s.train_images)
    train_x = train_x[:s.train_images]
    results["data"] = name
    for kind in KINDS:
        res = equal_epochs(kind, torch, train_x, test_x, s.epochs[kind], s.seed)
        results["elbo"][kind] = res
        log(f"{kind} after {res['epochs']} epoch(s) on {res['train_images']} {name} images: "
            f"test −ELBO scratchvae {res['ours_neg_elbo']:.2f}"
            + (f", PyTorch {res['torch_neg_elbo']:.2f}" if "torch_neg_elbo" in res else ""),
            flush=True)
    results["targets"] = evaluate_targets(target_figures(results))
    results["load_average_end"] = os.getloadavg()[0]
    return results


# ---------------------------------------------------------------------- report
def _f(v, fmt=".2f", none="—"):
    return none if v is None else format(v, fmt)


def _uses(uses):
    """["conv VAE: A fwd", "conv VAE: B dx"] → "conv VAE: A fwd, B dx" (one cell)."""
    by_kind = {}
    for use in uses:
        kind, what = use.split(": ", 1)
        by_kind.setdefault(kind, []).append(what)
    return "; ".join(f"{kind}: {', '.join(whats)}" for kind, whats in by_kind.items())


def report(results, machine, command):
    """The Markdown that --write-docs puts between the markers."""
    s, steps = results["settings"], results["steps"]
    has_torch = results["torch"] is not None
    out = ["Training steps (zero grads, forward, loss, backward, Adam) on a fixed batch of "
           f"{results['batch']}, float32; medians of {s['repeats']} interleaved samples. "
           "Ratios are **time ÷ PyTorch's time** (below 1: scratchvae is faster) and "
           "**time ÷ the FLOP floor** (the step's GEMMs alone in `numpy.matmul`, measured "
           "on each shape below):", "",
           "| model | GEMM GFLOP/step | floor (ms) | numba (ms) | numpy (ms) | torch (ms) "
           "| numba ÷ torch | numpy ÷ torch | numba ÷ floor | numpy ÷ floor | torch ÷ floor |",
           "|---" + "|---:" * 10 + "|"]
    for kind in KINDS:
        e = steps[kind]
        med, vt, vf = e["median_s"], e.get("vs_torch", {}), e["vs_floor"]
        ms = [_f(1e3 * med[c]) if c in med else "—" for c in ("numba", "numpy", "torch")]
        out.append(f"| {kind} | {e['gemm_flops'] / 1e9:.3f} | {1e3 * e['floor_s']:.2f} | "
                   + " | ".join(ms) + f" | {_f(vt.get('numba'))} | {_f(vt.get('numpy'))} | "
                   + " | ".join(_f(vf.get(c)) for c in ("numba", "numpy", "torch")) + " |")
    out += ["", "The floor counts 2·M·K·N FLOPs over the GEMMs listed further down (forward, "
            "dx and dW of every layer, except the dx of each encoder's first layer, which "
            "neither library computes: scratchvae skips it and PyTorch's autograd needs no "
            "gradient for the data) and divides each by `numpy.matmul`'s measured GFLOP/s on "
            "that exact shape and layout. The NumPy path runs the conv dx and the transposed "
            "conv forward as 16 GEMMs, one per kernel offset; the floor counts the one GEMM "
            "of the Numba path.", "",
            "Test −ELBO (nats) after equal epochs: same initial weights, batches, "
            "binarizations and ε for both; scratchvae on the Numba path:", "",
            "| model | data | epochs (steps) | scratchvae | PyTorch | scratchvae − PyTorch "
            "| training s, scratchvae | training s, PyTorch |",
            "|---|---|---:" + "|---:" * 5 + "|"]
    for kind in KINDS:
        r = results["elbo"][kind]
        out.append(f"| {kind} | {results['data']} ({r['train_images']} images) | {r['epochs']} "
                   f"({r['steps']}) | {r['ours_neg_elbo']:.2f} | {_f(r.get('torch_neg_elbo'))} | "
                   f"{_f(r.get('ours_minus_torch'), '+.2f')} | {r['ours_train_s']:.1f} | "
                   f"{_f(r.get('torch_train_s'), '.1f')} |")
    out += ["", "Every GEMM of the two training steps, Numba kernel vs OpenBLAS, float32, "
            "interleaved medians; ratio = OpenBLAS time ÷ Numba time (above 1: Numba faster):",
            "", "| M×K×N layout | used in | MFLOP | OpenBLAS GFLOP/s | Numba GFLOP/s | ratio |",
            "|---|---|---:|---:|---:|---:|"]
    for r in results["gemm"]["shapes"]:
        out.append(f"| {r['M']}×{r['K']}×{r['N']} {r['layout']} | {_uses(r['uses'])} | "
                   f"{r['flops'] / 1e6:.1f} | {r['openblas_gflops']:.1f} | "
                   f"{r['numba_gflops']:.1f} | {r['numba_vs_openblas']:.2f} |")
    for name, a in results["gemm"]["aggregate"].items():
        what = "one step of each" if name == "both" else "one step"
        out.append(f"| **{name}, FLOP-weighted** | all GEMMs of {what} | {a['flops'] / 1e6:.1f} "
                   f"| {a['openblas_gflops']:.1f} | {a['numba_gflops']:.1f} "
                   f"| **{a['numba_vs_openblas']:.2f}** |")
    out += ["", "Targets (issue 6), scratchvae on its default Numba path:", "",
            "| target | measured | |", "|---|---:|---|"]
    for t in results["targets"]:
        met = {True: "met", False: "missed", None: "not measured"}[t["met"]]
        out.append(f"| {t['target']} | {_f(t['value'])} | {met} |")
    out += ["", f"Machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, Python "
            f"{machine['python']}, NumPy {machine['numpy']} ({machine['blas']}), Numba "
            f"{machine['numba']}, PyTorch {results['torch'] or '(not installed)'}; "
            f"{s['threads']} thread(s) each; samples of ~{1e3 * s['sample_s']:.0f} ms (steps) "
            f"and ~{1e3 * s['gemm_sample_s']:.0f} ms (GEMMs), {s['pause_s']:g} s pause before "
            f"each; load average {results['load_average_start']:.1f} at the start, "
            f"{results['load_average_end']:.1f} at the end. Command: `{command}`."]
    if not has_torch:
        out.append("\nPyTorch was not installed: its columns and targets are not measured.")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer, shorter samples; 1 epoch on a 5k-image subset (~1 minute)")
    ap.add_argument("--threads", type=int, default=2, help="threads for every contender")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved samples per contender")
    ap.add_argument("--pause", type=float, default=None, metavar="S",
                    help="sleep before each sample (thread pools go idle)")
    ap.add_argument("--epochs-mlp", type=int, default=None, help="epochs for the MLP VAE")
    ap.add_argument("--epochs-conv", type=int, default=None, help="epochs for the conv VAE")
    ap.add_argument("--json", metavar="PATH", help="write every figure as JSON")
    ap.add_argument("--write-docs", action="store_true",
                    help="replace this script's block in docs/benchmarks.md")
    args = ap.parse_args(argv)
    s = Settings.quick(threads=args.threads) if args.quick else Settings(threads=args.threads)
    if args.repeats:
        s.repeats = args.repeats
    if args.pause is not None:
        s.pause_s = args.pause
    s.epochs = {"MLP VAE": args.epochs_mlp or s.epochs["MLP VAE"],
                "conv VAE": args.epochs_conv or s.epochs["conv VAE"]}
    # PyTorch first: it must load its own OpenMP runtime before Numba starts its threads
    # (see contenders.import_torch); the other order slowed PyTorch's steps 1.6-2.4x here.
    torch = import_torch(s.threads)
    threads = set_threads(s.threads)
    print(f"threads: {threads}; torch: {torch.__version__ if torch else 'not installed'}",
          flush=True)
    if torch is None:
        print("torch is missing (pip install torch==2.13.0): timing scratchvae's two paths "
              "only; PyTorch's figures and targets are 'not measured'", flush=True)
    t0 = time.perf_counter()
    results = run(s, torch)
    results["machine"] = machine_info()
    results["wall_s"] = time.perf_counter() - t0
    command = ("python benchmarks/vs_pytorch.py" + (" --quick" if args.quick else "")
               + (f" --threads {s.threads}" if s.threads != 2 else "")
               + (f" --repeats {args.repeats}" if args.repeats else ""))
    text = report(results, results["machine"], command)
    print("\n" + text)
    print(f"\n(whole run {results['wall_s']:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float) + "\n")
        print(f"wrote {args.json}")
    if args.write_docs:
        write_block(text, BEGIN, END, heading=HEADING)
        print("wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
