"""The GEMMs of one training step of each VAE, counted by hand, and the check that a real
step runs exactly those.

Notation: C (M, N) = A (M, K) @ B (K, N), 2·M·K·N FLOPs; the layout says which operand
is a transposed view ("t") rather than C-contiguous ("n").

    Linear(D→F), x (B, D), W (D, F):     forward  x @ W          B×D×F   nn
                                         dx       dy @ W.T       B×F×D   nt
                                         dW       x.T @ dy       D×B×F   tn
    Conv2d(C→F, k, s, p), R = B·OH·OW rows, Kc = k·k·C (im2col; functional/conv.py):
                                         forward  cols @ Wmat.T  R×Kc×F  nt
                                         dW       dy2.T @ cols   F×R×Kc  tn
                                         dx       dy2 @ Wmat     R×F×Kc  nn   (then col2im)
    ConvTranspose2d(Ci→Co), R = B·H·W input pixels, Kt = k·k·Co:
                                         forward  x2 @ Wmat      R×Ci×Kt nn   (then col2im)
                                         dx       dcols @ Wmat.T R×Kt×Ci nt
                                         dW       x2.T @ dcols   Ci×R×Kt tn

The first layer of each encoder takes data, so its dx is not computed. The count is
written from the architectures, independently of the layer code, so that
``check_gemm_count`` can catch a step that runs other GEMMs than the FLOP floor of
``vs_pytorch.py`` assumes (``trace_gemms`` records the GEMMs a real step runs).
"""
from __future__ import annotations

from collections import Counter, namedtuple

import numpy as np

import shapes
from contenders import BATCH, build_model
from scratchvae.backend import reference_ops, use_cpu_kernels
from scratchvae.functional.conv import NHWC_CONV_OPS

__all__ = ["Gemm", "gemm_flops", "linear_gemms", "conv_gemms", "conv_transpose_gemms",
           "mlp_vae_gemms", "conv_vae_gemms", "STEP_GEMMS", "gemm_key", "unique_shapes",
           "trace_gemms", "check_gemm_count"]

Gemm = namedtuple("Gemm", "layer role M K N layout")   # C (M, N) = A (M, K) @ B (K, N)


def gemm_flops(g) -> int:
    """2·M·K·N for a :class:`Gemm` (``shapes.gemm_flops``)."""
    return shapes.gemm_flops(g.M, g.K, g.N)


def linear_gemms(B, D, F, input_grad=True):
    """The GEMMs of Linear(D→F) on a batch of B: forward, dx (unless skipped), dW."""
    name = f"Linear({D},{F})"
    return [Gemm(name, "fwd", B, D, F, "nn")] \
        + ([Gemm(name, "dx", B, F, D, "nt")] if input_grad else []) \
        + [Gemm(name, "dW", D, B, F, "tn")]


def conv_gemms(B, C, H, W, F, k=4, s=2, p=1, input_grad=True):
    """The im2col GEMMs of Conv2d(C→F, k, s, p) on (B, C, H, W)."""
    OH, OW = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    R, Kc, name = B * OH * OW, k * k * C, f"Conv2d({C},{F}) {H}×{W}"
    return [Gemm(name, "fwd", R, Kc, F, "nt"), Gemm(name, "dW", F, R, Kc, "tn")] \
        + ([Gemm(name, "dx", R, F, Kc, "nn")] if input_grad else [])


def conv_transpose_gemms(B, Ci, H, W, Co, k=4, input_grad=True):
    """The GEMMs of ConvTranspose2d(Ci→Co, kernel k) on (B, Ci, H, W): R = B·H·W rows."""
    R, Kt, name = B * H * W, k * k * Co, f"ConvT({Ci},{Co}) {H}×{W}"
    return [Gemm(name, "fwd", R, Ci, Kt, "nn")] \
        + ([Gemm(name, "dx", R, Kt, Ci, "nt")] if input_grad else []) \
        + [Gemm(name, "dW", Ci, R, Kt, "tn")]


def mlp_vae_gemms(B=BATCH, D=784, hidden=400, L=20):
    """One step of the MLP VAE D-hidden-L: encoder D→h→2L (no dx for x), decoder L→h→D."""
    return (linear_gemms(B, D, hidden, input_grad=False) + linear_gemms(B, hidden, 2 * L)
            + linear_gemms(B, L, hidden) + linear_gemms(B, hidden, D))


def conv_vae_gemms(B=BATCH, C=1, H=28, W=28, c1=32, c2=64, L=20):
    """One step of the conv VAE (k4 s2 p1): H → H/2 → H/4 and back (models/conv_vae.py)."""
    h2, w2, h4, w4 = H // 2, W // 2, H // 4, W // 4
    inner = c2 * h4 * w4
    return (conv_gemms(B, C, H, W, c1, input_grad=False) + conv_gemms(B, c1, h2, w2, c2)
            + linear_gemms(B, inner, 2 * L) + linear_gemms(B, L, inner)
            + conv_transpose_gemms(B, c2, h4, w4, c1) + conv_transpose_gemms(B, c1, h2, w2, C))


STEP_GEMMS = {"MLP VAE": mlp_vae_gemms, "conv VAE": conv_vae_gemms}


def gemm_key(g):
    return (g.M, g.K, g.N, g.layout)


def unique_shapes(gemms_by_kind):
    """{(M, K, N, layout): {"uses": [(kind, layer, role)], "count": {kind: n}}}, each shape once."""
    merged = {}
    for kind, gemms in gemms_by_kind.items():
        for g in gemms:
            entry = merged.setdefault(gemm_key(g), {"uses": [], "count": Counter()})
            entry["uses"].append((kind, g.layer, g.role))
            entry["count"][kind] += 1
    return merged


def trace_gemms(model, x, eps):
    """(M, K, N, layout) of every GEMM one Numba-path step of ``model`` runs on (x, ε).

    Wraps the ``matmul`` that Linear and the convolutions call, and the ``matmul_add``
    (C += A @ B) that Linear's weight gradient goes through (functional/gemm.py). The
    convolutions run on their im2col path here: on the Numba path their forward and input
    gradient are direct convolutions (kernels/conv_direct.py), which run no GEMM but the
    same multiply-adds, and the FLOP floor counts them as these GEMMs.
    """
    import scratchvae.functional.conv as conv_mod  # noqa: PLC0415
    import scratchvae.functional.linear as linear_mod  # noqa: PLC0415

    def layout(a):
        return "n" if a.flags.c_contiguous else "t" if a.flags.f_contiguous else "s"

    seen = []
    saved = {(m, "matmul"): m.matmul for m in (linear_mod, conv_mod)}
    saved[linear_mod, "matmul_add"] = linear_mod.matmul_add

    def record(a, b):
        seen.append((a.shape[0], a.shape[1], b.shape[1], layout(a) + layout(b)))

    def recording(name, original):
        if name == "matmul_add":
            def matmul_add(c, a, b):
                record(a, b)
                return original(c, a, b)
            return matmul_add

        def matmul(a, b):
            record(a, b)
            return original(a, b)
        return matmul
    try:
        for (m, name), original in saved.items():
            setattr(m, name, recording(name, original))
        with use_cpu_kernels("numba"), reference_ops(*NHWC_CONV_OPS):
            model.zero_grad()
            model.loss_and_grads(x, eps=eps)
    finally:
        for (m, name), original in saved.items():
            setattr(m, name, original)
    return seen


def check_gemm_count(kind, batch=8):
    """Raise unless the GEMMs a real step runs are exactly those STEP_GEMMS[kind] counts."""
    model = build_model(kind)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (batch, model.input_dim)).astype(np.float32)
    eps = rng.standard_normal((batch, model.latent_dim)).astype(np.float32)
    traced = Counter(trace_gemms(model, x, eps))
    counted = Counter(gemm_key(g) for g in STEP_GEMMS[kind](batch))
    if traced != counted:
        raise AssertionError(f"{kind}: the step runs GEMMs {sorted(traced.elements())} but the "
                             f"FLOP count assumes {sorted(counted.elements())}")
