"""Benchmark on a CUDA GPU: our SGEMM kernels against cuBLAS, our convolutions against
cuDNN, and whole training steps against PyTorch CUDA, every number in one run.

Run from the repository root on a machine with an NVIDIA GPU, CuPy and, for sections 2
and 3, PyTorch with CUDA (3 to 5 minutes on an H100, a minute of it NVRTC compiling the
kernels on a first run; --quick 1 to 2 minutes):

    PYTHONPATH=. python benchmarks/gpu.py --json gpu.json
    PYTHONPATH=. python benchmarks/gpu.py --quick
    python benchmarks/gpu.py --from-json gpu.json --write-docs    # no GPU needed

``--write-docs`` replaces the block between ``<!-- gpu.py:begin -->`` and
``<!-- gpu.py:end -->`` in docs/benchmarks.md; ``--from-json`` renders a saved run, so
the numbers taken on a lent GPU can be written into the docs anywhere.

Sections (C (M, N) = A (M, K) · B (K, N); a GEMM is 2·M·K·N floating-point operations):

    1 sgemm  ``kernels.cuda.gemm.sgemm`` in each version (v1_naive … v5_vectorized)
             against ``cupy.matmul`` (cuBLAS), at square 512…8192 (v1_naive skipped
             above 2048: minutes per call) and at every GEMM of one training step of
             the MLP VAE 784-400-20 and of the conv VAE, batch 128 (forward, dX and dW
             of each layer, shapes computed from the models' layers by
             :func:`vae_gemm_shapes`, operands laid out as the layers pass them: Wᵀ,
             xᵀ as transposed views); GFLOP/s and % of cuBLAS.
    2 conv   each conv layer of the conv VAE through our layer code
             (``scratchvae.functional.conv``: im2col/col2im kernels + SGEMM) against
             cuDNN — through ``cupyx.cudnn`` when it works, else PyTorch's own cuDNN
             calls (``aten.convolution`` / ``aten.convolution_backward``): forward,
             backward for every gradient (dx, dW, db), and backward for dW, db alone
             (what a first layer does); % of cuDNN.
    3 steps  one training step (zero grads, forward, loss, backward, Adam), batch 128,
             of the MLP VAE and the conv VAE: ours on the GPU with our SGEMM, ours with
             cuBLAS GEMMs (``backend.set_gpu_gemm("cublas")``, what
             ``SCRATCHVAE_GPU_GEMM=cublas`` selects: the same framework, so what is left
             against PyTorch is framework overhead), and PyTorch CUDA with the same
             architecture, initial weights and loss (the three losses are checked equal on
             one batch first).

Precision: FP32 everywhere, TF32 off. ``CUPY_TF32=0`` and ``NVIDIA_TF32_OVERRIDE=0`` are
set before CuPy or PyTorch is imported (CuPy uses TF32 only with CUPY_TF32=1; the second
variable switches TF32 off in cuBLAS and cuDNN whatever the caller asks), and PyTorch's
``allow_tf32`` flags are cleared. A TF32 reference would fail the checks below.

Checks before any timing: every SGEMM result and every conv output and gradient is
compared with the reference entry by entry, |ours − ref| ≤ 4·√K·ε₃₂·(|A|·|B|) with
|A|·|B| the same product of absolute values (a bound on float32 round-off in a sum of K
terms, far above what correct code produces and far below a missed term); the script
aborts (exit 1) at the first mismatch, naming it.

Timing: CUDA events. A warm-up (which compiles the kernels), then samples of back-to-back
calls of at least ~1 ms each, between an event pair; the median per-call time of the
samples is reported (and the best). Ours are timed with CuPy's events, PyTorch with its
own; both run on the legacy default stream. Without CuPy or a GPU the script exits with
status 2 and a one-line message.

This file holds the three sections and the command line; the helpers are beside it and
re-exported here (``gpu.X``): ``gpu_device.py`` (probe, versions, CUDA-event timing),
``cudnn_reference.py`` (the two ways to reach cuDNN), ``shapes.py`` (the steps' GEMM and
conv shapes, FLOPs), ``contenders.py`` (the models and their PyTorch twins) and
``gpu_report.py`` (the round-off check, the tables, the docs block).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from contenders import BATCH, build_model, copy_params, torch_model, torch_vae_loss
from cudnn_reference import CupyxCudnn, TorchCudnn, conv_reference
from docs_block import replace_marked_block
from gpu_device import (Clock, cuda_version, cudnn_version, gpu_info, import_torch_cuda,
                        probe_gpu, time_cuda)
from gpu_report import (  # the pure helpers, re-exported: gpu.X keeps working
    BEGIN, DOCS, END, ROOT, TOL_FACTOR, Mismatch, _ms, _pct, check_close, command_line,
    conv_table, markdown_table, new_results, render_markdown, sgemm_table, steps_table,
    write_docs)
from scratchvae.nn import ConvTranspose2d
from shapes import (conv_flops, conv_layer_specs, gemm_flops, layer_gemms, layer_name,
                    param_layers, unique_shapes, vae_gemm_shapes, vae_models)

SQUARES = (512, 1024, 2048, 4096, 8192)
QUICK_SQUARES = (512, 1024)
NAIVE_MAX = 2048           # v1_naive above this takes minutes per call: skipped
STEP_MODELS = ("MLP VAE", "conv VAE")

__all__ = [  # the script's own names, then the helpers it re-exports
    "main", "bench_sgemm", "bench_conv", "bench_steps", "ours_step", "torch_step",
    "step_batch", "SQUARES", "QUICK_SQUARES", "NAIVE_MAX", "STEP_MODELS",
    "probe_gpu", "time_cuda", "Clock", "gpu_info", "cuda_version", "cudnn_version",
    "conv_reference", "TorchCudnn", "CupyxCudnn",
    "BEGIN", "DOCS", "END", "ROOT", "TOL_FACTOR", "Mismatch", "check_close", "command_line",
    "conv_table", "markdown_table", "new_results", "render_markdown", "replace_marked_block",
    "sgemm_table", "steps_table", "write_docs",
    "conv_flops", "conv_layer_specs", "gemm_flops", "layer_gemms", "layer_name",
    "param_layers", "unique_shapes", "vae_gemm_shapes", "vae_models"]


# ================================================================ the GPU parts
def _uniform(cp, shape, seed, low=-1.0, high=1.0):
    rs = cp.random.RandomState(seed)
    return (rs.random_sample(shape, dtype=cp.float32) * (high - low) + low).astype(cp.float32)


TF32_HINT = ("If the reference ran in TF32 (CUPY_TF32/NVIDIA_TF32_OVERRIDE/allow_tf32), fix "
             "that first; otherwise the kernel is wrong.")


# ------------------------------------------------------------------- 1. SGEMM
def _operand(cp, rows, cols, transposed, seed):
    """A (rows, cols) float32 operand, U(-1, 1); a transposed view of a C-order
    (cols, rows) array when ``transposed`` (how the layers pass Wᵀ and xᵀ)."""
    return _uniform(cp, (cols, rows), seed).T if transposed else _uniform(cp, (rows, cols), seed)


def bench_sgemm(cp, squares, cfg_square, cfg_vae, log, batch=BATCH):
    """Section 1: every SGEMM version and cuBLAS at the square sizes and the VAE's shapes."""
    from kernels.cuda.gemm import VERSIONS  # noqa: PLC0415
    shapes = [(f"{n}", "square", n, n, n, "NN") for n in squares]
    shapes += [(label, "vae", *rest) for label, *rest in unique_shapes(vae_gemm_shapes(batch))]
    rows = []
    for seed, (label, group, M, K, N, layout) in enumerate(shapes):
        row = _bench_gemm(cp, label, group, M, K, N, layout, 2 * seed,
                          cfg_square if group == "square" else cfg_vae)
        t_ref = row["times"]["cublas"]["median_s"]
        log(f"sgemm {M}×{K}×{N} {layout} [{label[:60]}]: " + ", ".join(
            f"{k} {row['flops'] / t['median_s'] / 1e9:,.0f} GFLOP/s"
            + ("" if k == "cublas" else f" ({100 * t_ref / t['median_s']:.0f}%)")
            for k, t in row["times"].items()))
        rows.append(row)
        cp.get_default_memory_pool().free_all_blocks()   # the 8192² operands are 256 MiB each
    return {"versions": list(VERSIONS), "rows": rows}


def _bench_gemm(cp, label, group, M, K, N, layout, seed, cfg):
    """One shape: check every version against cuBLAS, then time them all."""
    from kernels.cuda.gemm import VERSIONS, sgemm  # noqa: PLC0415 - needs CuPy and a GPU
    a = _operand(cp, M, K, layout[0] == "T", seed)             # (M, K)
    b = _operand(cp, K, N, layout[1] == "T", seed + 1)         # (K, N)
    out = cp.empty((M, N), dtype=cp.float32)
    ref = cp.matmul(a, b)
    abs_ref = cp.matmul(cp.abs(a), cp.abs(b))                  # Σ|a||b|: the round-off scale
    row = dict(label=label, group=group, M=M, K=K, N=N, layout=layout,
               flops=gemm_flops(M, K, N), times={}, skipped={}, worst_error_ratio={})
    fns = {"cublas": lambda: cp.matmul(a, b, out=out)}
    for v in VERSIONS:
        if v == "v1_naive" and group == "square" and max(M, N, K) > NAIVE_MAX:
            row["skipped"][v] = f"above {NAIVE_MAX}: minutes per call"
            continue
        row["worst_error_ratio"][v] = check_close(
            f"sgemm {v} {M}×{K}×{N} {layout} ({label})", sgemm(a, b, version=v), ref,
            abs_ref, K, TF32_HINT)
        fns[v] = (lambda v=v: sgemm(a, b, version=v, out=out))
    clock = Clock(cp, "cupy")
    for name, fn in fns.items():
        row["times"][name] = time_cuda(fn, clock, cfg)
    return row


# -------------------------------------------------------------------- 2. conv
def bench_conv(cp, ref, cfg, log, batch=BATCH):
    """Section 2: each conv layer of the conv VAE, ours against the cuDNN reference ``ref``."""
    from scratchvae.functional.conv import (  # noqa: PLC0415
        conv2d_backward, conv2d_forward, conv_transpose2d_backward, conv_transpose2d_forward)
    ours_clock = Clock(cp, "cupy")
    ref_clock = Clock(ref.torch, "torch") if isinstance(ref, TorchCudnn) else ours_clock
    rows = []
    for i, spec in enumerate(conv_layer_specs()):
        layer, (C, H, W_) = spec["layer"], spec["in_shape"]
        T = isinstance(layer, ConvTranspose2d)
        s, p = layer.stride[0], layer.padding[0]
        fwd_fn, bwd_fn = ((conv_transpose2d_forward, conv_transpose2d_backward) if T
                          else (conv2d_forward, conv2d_backward))
        x = _uniform(cp, (batch, C, H, W_), 100 + i)
        W, b = cp.asarray(layer.params["W"]), cp.asarray(layer.params["b"])
        y, cache = fwd_fn(x, W, b, s, p)
        dy = cp.random.RandomState(200 + i).standard_normal(y.shape, dtype=cp.float32)
        dx, dW, db = bwd_fn(dy, cache, True)
        # the reference on the same inputs, and on their absolute values (the error scale)
        rx, rW, rb, rdy = ref.prepare(x, W, b, dy)
        ax, aW, ab, ady = ref.prepare(cp.abs(x), cp.abs(W), cp.abs(b), cp.abs(dy))
        r_y = ref.to_cupy(ref.fwd(rx, rW, rb, s, p, T))
        a_y = ref.to_cupy(ref.fwd(ax, aW, ab, s, p, T))
        r_g = [ref.to_cupy(g) for g in ref.bwd(rdy, rx, rW, s, p, T, True)]
        a_g = [ref.to_cupy(g) for g in ref.bwd(ady, ax, aW, s, p, T, True)]
        KH, KW = layer.kernel_size
        F = layer.out_channels
        k_fwd, k_dx = C * KH * KW, F * KH * KW           # terms per output / per input pixel
        k_dw = batch * (H * W_ if T else y.shape[2] * y.shape[3])
        what = f"{spec['name']} {H}×{W_}"
        checks = (("forward y", y, r_y, a_y, k_fwd), ("dx", dx, r_g[0], a_g[0], k_dx),
                  ("dW", dW, r_g[1], a_g[1], k_dw), ("db", db, r_g[2], a_g[2], k_dw))
        for name, ours, r, a, k in checks:
            check_close(f"conv {what} {name} (ours vs {ref.name})", ours, r, a, k, TF32_HINT)
        flops = conv_flops(batch, C, F, KH, KW, H, W_, s, p, T)     # per GEMM-sized pass
        passes = [("forward", lambda: fwd_fn(x, W, b, s, p),
                   lambda: ref.fwd(rx, rW, rb, s, p, T), flops),
                  ("backward dx, dW, db", lambda: bwd_fn(dy, cache, True),
                   lambda: ref.bwd(rdy, rx, rW, s, p, T, True), 2 * flops),
                  ("backward dW, db", lambda: bwd_fn(dy, cache, False),
                   lambda: ref.bwd(rdy, rx, rW, s, p, T, False), flops)]
        for pname, ours_fn, ref_fn, fl in passes:
            row = {"layer": f"{spec['name']} {C}×{H}×{W_}", "where": spec["where"],
                   "pass": pname, "flops": fl, "ours": time_cuda(ours_fn, ours_clock, cfg),
                   "ref": time_cuda(ref_fn, ref_clock, cfg)}
            rows.append(row)
            log(f"conv {row['layer']} {pname}: ours {_ms(row['ours']['median_s'])} ms, cuDNN "
                f"{_ms(row['ref']['median_s'])} ms "
                f"({_pct(row['ref']['median_s'], row['ours']['median_s'])} of cuDNN)")
    return {"reference": ref.name, "rows": rows}


# ------------------------------------------------------------------- 3. steps
def step_batch():
    """The step benchmark's batch: x (B, 784) in [0, 1), ε (B, 20), from a fixed seed."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (BATCH, 784)).astype(np.float32)
    eps = rng.standard_normal((BATCH, 20)).astype(np.float32)
    return x, eps


def ours_step(cp, kind, gemm):
    """Our training step of ``kind`` on the GPU with GPU GEMM path ``gemm`` ("custom" or
    "cublas", ``backend.set_gpu_gemm``): returns (step, loss before any step)."""
    from scratchvae import backend  # noqa: PLC0415
    from scratchvae.optim import Adam  # noqa: PLC0415
    x_np, eps_np = step_batch()
    model = build_model(kind).to("cuda")
    opt = Adam(model.parameters(), 1e-3)           # after the move: it keeps the arrays
    x, eps = cp.asarray(x_np), cp.asarray(eps_np)
    previous = backend.set_gpu_gemm(gemm)
    try:
        loss = float(model.loss_and_grads(x, eps=eps, compute_grads=False)["loss"])
    finally:
        backend.set_gpu_gemm(previous)

    def step():
        before = backend.set_gpu_gemm(gemm)
        try:
            model.zero_grad()
            model.loss_and_grads(x, eps=eps)
            opt.step()
        finally:
            backend.set_gpu_gemm(before)
    return step, loss


def torch_step(torch, kind):
    """The same step in PyTorch CUDA, weights copied from ours: (step, loss before any step)."""
    x_np, eps_np = step_batch()
    model = build_model(kind)
    L = model.latent_dim
    modules, forward = torch_model(torch, kind, L)
    copy_params(torch, model, modules)
    for m in modules:
        m.cuda()
    tx, teps = torch.from_numpy(x_np).cuda(), torch.from_numpy(eps_np).cuda()
    with torch.no_grad():
        h, logits = forward(tx, teps)
        loss = float(torch_vae_loss(torch, h, logits, tx, L)[0])
    topt = torch.optim.Adam([p for m in modules for p in m.parameters()], 1e-3)

    def step():
        topt.zero_grad(set_to_none=False)
        h, logits = forward(tx, teps)
        torch_vae_loss(torch, h, logits, tx, L)[0].backward()
        topt.step()
    return step, loss


def bench_steps(cp, torch, cfg, log, notes):
    """Section 3: training steps, ours (our SGEMM / cuBLAS GEMMs) and PyTorch CUDA."""
    from scratchvae import backend  # noqa: PLC0415
    ours_clock = Clock(cp, "cupy")
    cublas = hasattr(backend, "set_gpu_gemm")
    if not cublas:
        notes.append("no backend.set_gpu_gemm: the 'cuBLAS GEMMs' column is missing")
    if torch is None:
        notes.append("PyTorch CUDA not importable: no PyTorch column")
    rows = []
    for kind in STEP_MODELS:
        contenders = {"ours": ours_step(cp, kind, "custom")}
        if cublas:
            contenders["ours_cublas"] = ours_step(cp, kind, "cublas")
        if torch is not None:
            contenders["torch"] = torch_step(torch, kind)
        loss = contenders["ours"][1]
        for name, (_, other) in contenders.items():     # the same work, or no timing
            if abs(loss - other) > 1e-4 * abs(other):
                raise Mismatch(f"{kind}: our GPU loss {loss} != {name} loss {other} on the same "
                               "batch and weights; the timing would compare different work")
        row = {"model": kind, "loss": loss, "ours_cublas": None, "torch": None}
        for name, (step, _) in contenders.items():
            clock = Clock(torch, "torch") if name == "torch" else ours_clock
            row[name] = time_cuda(step, clock, cfg)
        rows.append(row)
        log(f"step {kind}: " + ", ".join(f"{k} {_ms(row[k]['median_s'])} ms"
                                         for k in contenders) + f" (loss {loss:.4f})")
    return {"rows": rows}


# ------------------------------------------------------------------------ main
def _configs(quick):
    """Timing settings per section (see :func:`time_cuda`)."""
    if quick:
        c = dict(warmup=1, sample_s=1e-3, target_s=0.05, min=3, max=20)
        return {"square": c, "vae": c, "conv": c, "steps": dict(c, target_s=0.2)}
    return {"square": dict(warmup=2, sample_s=1e-3, target_s=0.5, min=5, max=100),
            "vae": dict(warmup=3, sample_s=2e-3, target_s=0.25, min=10, max=100),
            "conv": dict(warmup=3, sample_s=2e-3, target_s=0.3, min=10, max=100),
            "steps": dict(warmup=5, sample_s=5e-3, target_s=1.5, min=15, max=200)}


def _parser():
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()),
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:13]))
    ap.add_argument("--quick", action="store_true",
                    help=f"squares {QUICK_SQUARES} only, few short samples (~1 min)")
    ap.add_argument("--sections", default="sgemm,conv,steps",
                    help="comma-separated subset of sgemm,conv,steps (default: all)")
    ap.add_argument("--sizes", type=int, nargs="+", metavar="N",
                    help=f"square SGEMM sizes (default {SQUARES}; --quick {QUICK_SQUARES})")
    ap.add_argument("--cudnn", choices=("auto", "cupyx", "torch"), default="auto",
                    help="cuDNN reference for section 2: cupyx.cudnn if it works, else PyTorch")
    ap.add_argument("--json", metavar="PATH", help="write every number as JSON")
    ap.add_argument("--write-docs", action="store_true",
                    help=f"replace the block between {BEGIN} and {END} in docs/benchmarks.md")
    ap.add_argument("--docs", type=Path, default=DOCS, help=argparse.SUPPRESS)
    ap.add_argument("--from-json", metavar="PATH",
                    help="render a saved run (no GPU needed), e.g. with --write-docs")
    return ap


def _finish(results, args):
    text = render_markdown(results)
    print("\n" + text)
    if args.json and not args.from_json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    if args.write_docs:
        write_docs(text, args.docs)
        print(f"wrote {args.docs}")
    return 0


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.from_json:
        return _finish(json.loads(Path(args.from_json).read_text()), args)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - {"sgemm", "conv", "steps"}
    if unknown:
        raise SystemExit(f"gpu.py: unknown section(s) {sorted(unknown)}; use sgemm, conv, steps")
    # FP32 only, set before CuPy or PyTorch loads cuBLAS/cuDNN (see the module docstring)
    for var in ("CUPY_TF32", "NVIDIA_TF32_OVERRIDE"):
        if os.environ.get(var, "0") != "0":
            print(f"gpu.py: overriding {var}={os.environ[var]} with 0 (FP32 only)", file=sys.stderr)
        os.environ[var] = "0"
    if "cupy" in sys.modules or "torch" in sys.modules:
        print("gpu.py: CuPy/PyTorch imported before main(): TF32 may not be off", file=sys.stderr)
    cp, why = probe_gpu()
    if cp is None:
        print(f"gpu.py: {why}", file=sys.stderr)
        return 2
    try:
        importlib.import_module("kernels.cuda.gemm").VERSIONS  # noqa: B018 - the API is there
    except Exception as exc:  # noqa: BLE001
        print(f"gpu.py: the custom CUDA kernels are missing: kernels.cuda.gemm "
              f"({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    if args.write_docs and BEGIN not in Path(args.docs).read_text():
        print(f"gpu.py: warning: {args.docs} has no {BEGIN} … {END} markers; the run goes on, "
              "--write-docs will fail at the end (use --json and --from-json)", file=sys.stderr)

    def log(msg):
        print(msg, flush=True)

    cfgs = _configs(args.quick)
    torch = import_torch_cuda() if {"conv", "steps"} & set(sections) else None
    notes = []
    ref = None
    if "conv" in sections:
        ref, why = conv_reference(cp, torch, args.cudnn, log)
        if why:
            notes.append(f"conv section skipped: {why}")
            log(notes[-1])
        else:
            notes.append("cuDNN autotuned (torch.backends.cudnn.benchmark / cupyx auto_tune)")
    results = new_results(gpu_info(cp, torch, ref),
                          command_line(args.quick, args.sections, args.sizes),
                          args.quick, cfgs, notes)
    m = results["machine"]
    log(f"GPU: {m['gpu']}, CUDA {m['cuda_runtime']}, CuPy {m['cupy']}, PyTorch {m['torch']}, "
        f"{m['cudnn']}")
    try:
        if "sgemm" in sections:
            squares = args.sizes or (QUICK_SQUARES if args.quick else SQUARES)
            results["sgemm"] = bench_sgemm(cp, squares, cfgs["square"], cfgs["vae"], log)
        if ref is not None:
            results["conv"] = bench_conv(cp, ref, cfgs["conv"], log)
        if "steps" in sections:
            results["steps"] = bench_steps(cp, torch, cfgs["steps"], log, notes)
    except Mismatch as exc:
        print(f"\ngpu.py: RESULT MISMATCH, aborting before timing it: {exc}", file=sys.stderr)
        return 1
    return _finish(results, args)


if __name__ == "__main__":
    sys.exit(main())
