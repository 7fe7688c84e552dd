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
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

from conv_vae import BATCH, _copy_params, _torch_vae_loss, build_model, torch_model
from gpu_report import (  # the pure helpers, re-exported: gpu.X keeps working
    BEGIN, DOCS, END, ROOT, TOL_FACTOR, Mismatch, _ms, _pct, _version, check_close,
    command_line, conv_flops, conv_layer_specs, conv_table, cudnn_version, gemm_flops,
    layer_gemms, layer_name, markdown_table, new_results, param_layers, render_markdown,
    replace_marked_block, roundoff_ratio, sgemm_table, steps_table, unique_shapes,
    vae_gemm_shapes, vae_models, write_docs)
from scratchvae.nn import ConvTranspose2d

SQUARES = (512, 1024, 2048, 4096, 8192)
QUICK_SQUARES = (512, 1024)
NAIVE_MAX = 2048           # v1_naive above this takes minutes per call: skipped
STEP_MODELS = ("MLP VAE", "conv VAE")

__all__ = [  # the script's own names, then the helpers it re-exports from gpu_report
    "main", "probe_gpu", "time_cuda", "bench_sgemm", "bench_conv", "bench_steps",
    "conv_reference", "TorchCudnn", "CupyxCudnn", "ours_step", "torch_step", "step_batch",
    "gpu_info", "SQUARES", "QUICK_SQUARES", "NAIVE_MAX", "STEP_MODELS",
    "BEGIN", "DOCS", "END", "ROOT", "TOL_FACTOR", "Mismatch", "check_close", "command_line",
    "conv_flops", "conv_layer_specs", "conv_table", "cudnn_version", "gemm_flops",
    "layer_gemms", "layer_name", "markdown_table", "new_results", "param_layers",
    "render_markdown", "replace_marked_block", "roundoff_ratio", "sgemm_table",
    "steps_table", "unique_shapes", "vae_gemm_shapes", "vae_models", "write_docs"]


# ================================================================ the GPU parts
def probe_gpu(import_module=importlib.import_module):
    """(cupy, None) when CuPy imports and sees a CUDA device, else (None, one-line reason)."""
    try:
        cp = import_module("cupy")
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken CUDA install
        return None, (f"CuPy is not installed or does not import ({type(exc).__name__}: {exc}); "
                      "this benchmark needs CuPy and an NVIDIA GPU (pip install -e '.[gpu]')")
    try:
        n = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - CUDARuntimeError without a driver or device
        return None, f"no CUDA GPU usable by CuPy ({type(exc).__name__}: {exc})"
    if n < 1:
        return None, "no CUDA GPU: CuPy sees 0 devices"
    return cp, None


class _Clock:
    """CUDA events of one library: ``event()`` and ``elapsed_s(start, end)``."""

    def __init__(self, lib, name):
        self.lib, self.name = lib, name

    def event(self):
        if self.name == "torch":
            return self.lib.cuda.Event(enable_timing=True)
        return self.lib.cuda.Event()

    def elapsed_s(self, a, b):
        b.synchronize()
        if self.name == "torch":
            return a.elapsed_time(b) / 1e3
        return self.lib.cuda.get_elapsed_time(a, b) / 1e3


def time_cuda(fn, clock, cfg):
    """Median and best seconds per call of fn on the GPU.

    Warm-up (``cfg["warmup"]`` calls: kernels compile, pools fill), one call to size
    the samples, then samples of ``calls`` back-to-back calls (≥ cfg["sample_s"]) each
    between two events, as many as fit in cfg["target_s"] (cfg["min"]…cfg["max"]).
    """
    a, b = clock.event(), clock.event()
    for _ in range(cfg["warmup"]):
        fn()
    a.record()
    fn()
    b.record()
    t1 = max(clock.elapsed_s(a, b), 1e-7)
    calls = max(1, math.ceil(cfg["sample_s"] / t1))
    n = int(min(max(cfg["target_s"] / (calls * t1), cfg["min"]), cfg["max"]))
    samples = []
    for _ in range(n):
        a.record()
        for _ in range(calls):
            fn()
        b.record()
        samples.append(clock.elapsed_s(a, b) / calls)
    return {"median_s": statistics.median(samples), "best_s": min(samples),
            "samples": n, "calls_per_sample": calls}


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
    clock = _Clock(cp, "cupy")
    for name, fn in fns.items():
        row["times"][name] = time_cuda(fn, clock, cfg)
    return row


# -------------------------------------------------------------------- 2. conv
class TorchCudnn:
    """cuDNN as PyTorch calls it: ``aten.convolution`` and ``aten.convolution_backward``
    (the ops autograd runs for conv2d and conv_transpose2d). Takes and returns CuPy
    arrays (zero-copy through DLPack)."""

    def __init__(self, torch, cp):
        self.torch, self.cp = torch, cp
        self.name = f"cuDNN {cudnn_version(torch.backends.cudnn.version())} via PyTorch"

    def _t(self, a):
        return self.torch.from_dlpack(self.cp.ascontiguousarray(a))

    def prepare(self, *arrays):
        return [self._t(a) for a in arrays]

    def fwd(self, x, W, b, stride, padding, transposed):
        return self.torch.ops.aten.convolution(x, W, b, [stride] * 2, [padding] * 2, [1, 1],
                                               transposed, [0, 0], 1)

    def bwd(self, dy, x, W, stride, padding, transposed, input_grad):
        C_out = W.shape[1] if transposed else W.shape[0]
        return self.torch.ops.aten.convolution_backward(
            dy, x, W, [C_out], [stride] * 2, [padding] * 2, [1, 1], transposed, [0, 0], 1,
            [bool(input_grad), True, True])

    def to_cupy(self, t):
        return None if t is None else self.cp.asarray(t)


class CupyxCudnn:
    """cuDNN through ``cupyx.cudnn``: the three primitives of a convolution A —
    forward, backward data (Aᵀ) and backward filter — give both layers:

        Conv2d:  y = A x,   dx = Aᵀ dy,  dW = filter(x, dy)
        ConvT:   y = Aᵀ x,  dx = A dy,   dW = filter(dy, x)      (W read as A's weight)
    """

    def __init__(self, cudnn, cp):
        self.cudnn, self.cp = cudnn, cp
        self.name = f"cuDNN {cudnn_version(cp.cuda.cudnn.getVersion())} via cupyx.cudnn"

    def prepare(self, *arrays):
        return [None if a is None else self.cp.ascontiguousarray(a) for a in arrays]

    def _a(self, x, W, b, s, p, out_hw):
        y = self.cp.empty((x.shape[0], W.shape[0], *out_hw), dtype=x.dtype)
        self.cudnn.convolution_forward(x, W, b, y, (p, p), (s, s), (1, 1), 1,
                                       auto_tune=True, tensor_core="never")
        return y

    def _at(self, W, gy, b, s, p, out_hw):
        gx = self.cp.empty((gy.shape[0], W.shape[1], *out_hw), dtype=gy.dtype)
        self.cudnn.convolution_backward_data(W, gy, b, gx, (p, p), (s, s), (1, 1), 1,
                                             deterministic=False, auto_tune=True,
                                             tensor_core="never")
        return gx

    def _filter(self, x, gy, W_shape, s, p):
        gW = self.cp.empty(W_shape, dtype=x.dtype)
        self.cudnn.convolution_backward_filter(x, gy, gW, (p, p), (s, s), (1, 1), 1,
                                               deterministic=False, auto_tune=True,
                                               tensor_core="never")
        return gW

    def fwd(self, x, W, b, stride, padding, transposed):
        H, W_ = x.shape[2:]
        K = W.shape[2]
        if transposed:
            hw = ((H - 1) * stride - 2 * padding + K, (W_ - 1) * stride - 2 * padding + K)
            return self._at(W, x, b, stride, padding, hw)
        hw = ((H + 2 * padding - K) // stride + 1, (W_ + 2 * padding - K) // stride + 1)
        return self._a(x, W, b, stride, padding, hw)

    def bwd(self, dy, x, W, stride, padding, transposed, input_grad):
        db = dy.sum(axis=(0, 2, 3))
        hw = x.shape[2:]
        if transposed:
            dx = self._a(dy, W, None, stride, padding, hw) if input_grad else None
            return dx, self._filter(dy, x, W.shape, stride, padding), db
        dx = self._at(W, dy, None, stride, padding, hw) if input_grad else None
        return dx, self._filter(x, dy, W.shape, stride, padding), db

    def to_cupy(self, a):
        return a


def conv_reference(cp, torch, choice, log):
    """The cuDNN backend: cupyx.cudnn when it imports and runs a tiny conv, else PyTorch."""
    if choice in ("auto", "cupyx"):
        try:
            import cupyx.cudnn as cudnn  # noqa: PLC0415 - optional; gone in newer CuPy
            ref = CupyxCudnn(cudnn, cp)
            ref.fwd(cp.ones((1, 1, 4, 4), cp.float32), cp.ones((1, 1, 2, 2), cp.float32), None,
                    1, 0, False)
            return ref, None
        except Exception as exc:  # noqa: BLE001 - no cuDNN library, removed module, ...
            why = f"cupyx.cudnn unusable ({type(exc).__name__}: {str(exc)[:120]})"
            if choice == "cupyx":
                return None, why
            log(f"{why}; using PyTorch's cuDNN")
    if torch is None:
        return None, "no cuDNN reference: cupyx.cudnn unusable and PyTorch not importable"
    return TorchCudnn(torch, cp), None


def bench_conv(cp, ref, cfg, log, batch=BATCH):
    """Section 2: each conv layer of the conv VAE, ours against the cuDNN reference ``ref``."""
    from scratchvae.functional.conv import (  # noqa: PLC0415
        conv2d_backward, conv2d_forward, conv_transpose2d_backward, conv_transpose2d_forward)
    ours_clock = _Clock(cp, "cupy")
    ref_clock = _Clock(ref.torch, "torch") if isinstance(ref, TorchCudnn) else ours_clock
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
    _copy_params(torch, model, modules)
    for m in modules:
        m.cuda()
    tx, teps = torch.from_numpy(x_np).cuda(), torch.from_numpy(eps_np).cuda()
    with torch.no_grad():
        h, logits = forward(tx, teps)
        loss = float(_torch_vae_loss(torch, h, logits, tx, L)[0])
    topt = torch.optim.Adam([p for m in modules for p in m.parameters()], 1e-3)

    def step():
        topt.zero_grad(set_to_none=False)
        h, logits = forward(tx, teps)
        _torch_vae_loss(torch, h, logits, tx, L)[0].backward()
        topt.step()
    return step, loss


def bench_steps(cp, torch, cfg, log, notes):
    """Section 3: training steps, ours (our SGEMM / cuBLAS GEMMs) and PyTorch CUDA."""
    from scratchvae import backend  # noqa: PLC0415
    ours_clock = _Clock(cp, "cupy")
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
            clock = _Clock(torch, "torch") if name == "torch" else ours_clock
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


def gpu_info(cp, torch, ref):
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    info = {"gpu": name, "compute_capability": f"{props['major']}.{props['minor']}",
            "sms": props.get("multiProcessorCount"),
            "memory_gib": props.get("totalGlobalMem", 0) / 2 ** 30,
            "cuda_runtime": _version(cp.cuda.runtime.runtimeGetVersion()),
            "cuda_driver": _version(cp.cuda.runtime.driverGetVersion()),
            "cupy": cp.__version__, "torch": torch.__version__ if torch else "(not installed)",
            "cudnn": ref.name if ref else "(none)", "python": platform.python_version(),
            "numpy": np.__version__}
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        info["driver"] = out.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        info["driver"] = "?"
    return info


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


def _import_torch():
    """PyTorch with CUDA and TF32 off, or None."""
    try:
        import torch  # noqa: PLC0415 - optional: the reference of sections 2 and 3
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True          # cuDNN autotuned, as cupyx's auto_tune
    return torch


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
    torch = _import_torch() if {"conv", "steps"} & set(sections) else None
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
