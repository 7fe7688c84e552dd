"""Fused elementwise kernels (Numba): ReLU forward/backward, the gate of the gated layers,
stable BCE from logits with its gradient, and the Adam update — each one pass over memory
instead of NumPy's three to eight, with a NumPy reference beside it.

Why fuse: on the CPU these ops are bound by memory traffic, not arithmetic. NumPy
evaluates ``(sigmoid(l) − x) * scale`` as separate passes, each reading and writing a
whole temporary array; a fused loop reads each input once and writes each output
once. Parallel over the flat index (``prange``) with static chunks per thread.

Layout: the kernels take flat 1-D views. :func:`flat_views` finds them for arrays that
share one memory order — also for the NCHW views of NHWC memory the convolutions
return — and returns None when the arrays' layouts differ (callers then fall back to
NumPy). Outputs are allocated with ``np.empty_like``, which keeps the input's memory
order, so the flat views line up element for element.

Loop nests
----------
    relu_forward:   for i in prange(n): m[i] = x[i] > 0; y[i] = x[i] if m[i] else 0
    relu_backward:  for i in prange(n): dx[i] = dy[i] if m[i] else 0
    bce_logits:     for row in prange(N): s = 0 (float64)
                        for d: l = logits[row, d]; t = x[row, d]
                               s += max(l, 0) − t·l + log1p(exp(−|l|))
                               dl[row, d] = (σ(l) − t) · scale
                        rowsum[row] = s
    gate:           for i in prange(n): g[i] = σ(p[i]) from e[i] = exp(−|p[i]|); h[i] = a[i]·g[i]
                    (backward: da[i] = dh[i]·g[i]; dp[i] = dh[i]·a[i]·g[i]·(1 − g[i]))
    adam:           for i in prange(n): (the four updates of optim/adam.py for element i)

References: each kernel has a NumPy reference beside it -- ``relu_forward_reference``,
``relu_backward_reference``, ``bce_logits_reference``, ``adam_update_reference`` -- which
``tests/test_kernels_elementwise.py`` compares it with (and checks that the library's BCE
and Adam give the same numbers on its "numba" and "numpy" CPU paths).

Fallback: plain Python bodies ``_*_py`` compiled under second names, so
``NUMBA_DISABLE_JIT=1`` runs them as Python.
Measurements: docs/kernels/elementwise.md.
"""
from __future__ import annotations

import math

import numpy as np
from . import target as _target  # noqa: F401 - sets the vector width before anything compiles
from numba import njit, prange

__all__ = ["flat_views", "relu_forward", "relu_backward", "bce_logits", "adam_update",
           "column_sums", "relu_forward_reference", "relu_backward_reference",
           "bce_logits_reference", "adam_update_reference", "column_sums_reference",
           "adam_constants", "gate_forward", "gate_backward", "gate_forward_reference",
           "gate_backward_reference", "exp_minus_abs"]


# ------------------------------------------------------------------------ layout
def flat_views(*arrays):
    """1-D views of arrays that share one memory order, or None if there is none.

    Every array must have the same shape and be a permutation of a C-contiguous
    block (no gaps, no broadcasting), the same permutation for all (axes of length 1
    do not count: their strides are arbitrary).
    """
    shape = arrays[0].shape
    if all(a.shape == shape and a.flags.c_contiguous for a in arrays):
        return [a.reshape(-1) for a in arrays]    # the common case, without the sorting
    order = None
    views = []
    for a in arrays:
        if a.shape != shape:
            return None
        big = sorted((i for i in range(a.ndim) if a.shape[i] > 1), key=lambda i: -a.strides[i])
        t = a.transpose(big + [i for i in range(a.ndim) if a.shape[i] == 1])
        if not t.flags.c_contiguous:
            return None
        if order is None:
            order = big
        elif big != order:
            return None                   # same shape, different memory order
        views.append(t.reshape(-1))       # a view: t is C-contiguous
    return views


# -------------------------------------------------------------------------- ReLU
def relu_forward_reference(x):
    """y = max(x, 0) and the mask x > 0 (the NumPy path)."""
    mask = x > 0
    return x * mask, mask


def relu_backward_reference(dy, mask):
    """dx = dy · 1[x > 0]."""
    return dy * mask


def _relu_forward_py(x, y, mask):
    for i in prange(x.shape[0]):
        positive = x[i] > 0
        mask[i] = positive
        y[i] = x[i] if positive else x[i] * 0     # as NumPy's x·mask: NaN stays NaN


def _relu_backward_py(dy, mask, dx):
    for i in prange(dy.shape[0]):
        dx[i] = dy[i] if mask[i] else dy[i] * 0   # as NumPy's dy·mask


def _relu_backward_4d_py(dy, mask, dx):
    """dx = dy · mask on 4-D arrays of any strides, walked in dy's (and dx's) memory
    order: the axes arrive permuted so that the last one is dy's innermost."""
    A, B, C, D = dy.shape
    for a in prange(A):
        for b in range(B):
            for c in range(C):
                for d in range(D):
                    dx[a, b, c, d] = dy[a, b, c, d] if mask[a, b, c, d] else dy[a, b, c, d] * 0


_relu_forward = njit(parallel=True, cache=True)(_relu_forward_py)
_relu_backward = njit(parallel=True, cache=True)(_relu_backward_py)
_relu_backward_4d = njit(parallel=True, cache=True)(_relu_backward_4d_py)


def relu_forward(x):
    """ReLU in one pass: (y, mask) with x's shape and memory order; None if x's layout
    has gaps (the caller then uses the reference)."""
    y, mask = np.empty_like(x), np.empty_like(x, dtype=np.bool_)
    views = flat_views(x, y, mask)
    if views is None:
        return None
    _relu_forward(*views)
    return y, mask


def relu_backward(dy, mask):
    """dx = dy · mask in one pass, dx in dy's memory order.

    dy and mask in one memory order: one flat pass. In two orders (4-D only), a strided
    pass in dy's order: e.g. after an ``Unflatten`` the mask is NCHW (the dense layer's
    output) while dy comes back NHWC from the transposed conv, and NumPy's mixed-order
    multiply took 0.8 ms on the conv VAE's (128, 64, 7, 7). None for other layouts.
    """
    dx = np.empty_like(dy)
    views = flat_views(dy, mask, dx)
    if views is not None:
        _relu_backward(*views)
        return dx
    if dy.ndim != 4 or mask.shape != dy.shape or not flat_views(dy, dx):
        return None
    order = sorted(range(4), key=lambda i: -dy.strides[i])      # dy's axes, outer to inner
    _relu_backward_4d(dy.transpose(order), mask.transpose(order), dx.transpose(order))
    return dx


# ------------------------------------------------------------- column sums
#: Rows per block of ``column_sums``: blocks are summed in parallel, then in block order.
SUM_BLOCK = 512


def column_sums_reference(a):
    """Σ_rows a (F,) for a (R, F): a layer's bias gradient, NumPy's pairwise sum."""
    return a.sum(axis=0)


def _column_sums_py(a, partial, out):
    """out (F,) = Σ_r a[r]: fixed blocks of SUM_BLOCK rows summed in parallel (each row by
    row, a vector add over F), then the block sums added in block order. The order of
    every sum depends on R alone, not on the thread count: deterministic."""
    R, F = a.shape
    nb = partial.shape[0]
    for blk in prange(nb):
        acc = partial[blk]                       # (F,)
        for f in range(F):
            acc[f] = 0
        for r in range(blk * SUM_BLOCK, min(R, (blk + 1) * SUM_BLOCK)):
            row = a[r]
            for f in range(F):
                acc[f] += row[f]
    for f in range(F):
        out[f] = 0
    for blk in range(nb):
        acc = partial[blk]
        for f in range(F):
            out[f] += acc[f]


_column_sums = njit(parallel=True, cache=True)(_column_sums_py)


def column_sums(a):
    """Σ_rows a (F,) for a C-contiguous 2-D a (R, F), in one parallel pass; None for
    other layouts and for F < 8 (the reference runs: 8 against 58 us at (25088, 1)). NumPy's ``a.sum(axis=0)`` walks the rows one
    short vector at a time: 0.9 ms for the first conv's (25088, 32) bias gradient, where
    this takes about a tenth (docs/kernels/elementwise.md)."""
    if a.ndim != 2 or not a.flags.c_contiguous or a.shape[1] < 8:
        return None                      # (a few columns: NumPy's contiguous reduction wins)
    R, F = a.shape
    out = np.empty(F, dtype=a.dtype)
    nb = max(1, -(-R // SUM_BLOCK))
    _column_sums(a, np.empty((nb, F), dtype=a.dtype), out)
    return out


# ------------------------------------------------------------------ the gate
def gate_forward_reference(a, p):
    """h = a ⊙ σ(p) and the gate g = σ(p) (the NumPy path: ``functional.gated``)."""
    e = np.exp(-np.abs(p))
    g = np.where(p >= 0, 1 / (1 + e), e / (1 + e))
    return a * g, g


def gate_backward_reference(dh, a, g):
    """(da, dp) = (dh ⊙ g, dh ⊙ a ⊙ g (1 − g))."""
    return dh * g, dh * a * g * (1 - g)


def _gate_forward_py(a, p, e, h, g):
    """Given e = exp(−|p|): g = σ(p), h = a·g, in a's dtype, as the reference rounds."""
    one = a.dtype.type(1)
    zero = a.dtype.type(0)
    for i in prange(a.shape[0]):
        d = one + e[i]
        gi = one / d if p[i] >= zero else e[i] / d      # σ(p), stable both sides
        g[i] = gi
        h[i] = a[i] * gi


def _gate_backward_py(dh, a, g, da, dp):
    one = dh.dtype.type(1)
    for i in prange(dh.shape[0]):
        gi = g[i]
        da[i] = dh[i] * gi                               # ∂h/∂a = g
        dp[i] = dh[i] * a[i] * gi * (one - gi)           # ∂h/∂p = a·g(1 − g)


_gate_forward = njit(parallel=True, cache=True)(_gate_forward_py)
_gate_backward = njit(parallel=True, cache=True)(_gate_backward_py)


def _one_float_dtype(*arrays):
    dtype = arrays[0].dtype
    return dtype in (np.float32, np.float64) and all(x.dtype == dtype for x in arrays)


def gate_forward(a, p):
    """The gate h = a ⊙ σ(p) in two steps, as ``bce_logits``: NumPy's SIMD exp gives
    e = exp(−|p|), one Numba pass the rest (NumPy's σ alone is six passes with
    temporaries). Returns ``functional.gated.gate_forward``'s (h, (a, g)), or None for
    other dtypes or layouts (the reference then runs)."""
    if a.shape != p.shape or not _one_float_dtype(a, p):
        return None
    h, g = np.empty_like(a), np.empty_like(a)
    views = flat_views(a, p, h, g)
    if views is None:
        return None
    e = exp_minus_abs(p)                                 # exp(−|p|) ∈ (0, 1]
    fe = flat_views(p, e)
    if fe is None:
        return None
    _gate_forward(views[0], views[1], fe[1], views[2], views[3])
    return h, (a, g)


def gate_backward(dh, a, g):
    """(da, dp) = (dh ⊙ g, dh ⊙ a ⊙ g (1 − g)) in one pass; None for other dtypes or
    layouts."""
    if not (dh.shape == a.shape == g.shape) or not _one_float_dtype(dh, a, g):
        return None
    da, dp = np.empty_like(dh), np.empty_like(dh)
    views = flat_views(dh, a, g, da, dp)
    if views is None:
        return None
    _gate_backward(*views)
    return da, dp


# ---------------------------------------------------------- BCE from logits
def bce_logits_reference(logits, x, scale):
    """Per-row Σ_d [max(l, 0) − x·l + log1p(exp(−|l|))] (N,) and dl = (σ(l) − x)·scale."""
    elem = np.maximum(logits, 0) - x * logits + np.log1p(np.exp(-np.abs(logits)))
    sig = np.where(logits >= 0, 1 / (1 + np.exp(-np.abs(logits))),
                   np.exp(-np.abs(logits)) / (1 + np.exp(-np.abs(logits))))
    return elem.sum(axis=1), ((sig - x) * scale).astype(logits.dtype)


def exp_minus_abs(logits):
    """e = exp(−|l|) ∈ (0, 1], a new array in the logits' dtype, by NumPy's ufuncs (SIMD
    exp; Numba would call scalar libm): the first step of the sigmoid, softplus and BCE
    kernels."""
    e = np.abs(logits)
    np.negative(e, out=e)
    np.exp(e, out=e)
    return e


def _log1p_unit_py(e):
    """log1p(e) for e in [0, 1], vectorisable: 2·atanh(s) with s = e/(2 + e) in [0, 1/3],

        log1p(e) = 2 (s + s³/3 + s⁵/5 + … + s¹⁷/17)    truncation < 2e-10 · log1p(e),

    in float64 (a float32 result is within one rounding of the exact value). Only
    multiplications, additions and one division: LLVM vectorises it, where math.log1p
    is a scalar libm call (17 ns an element on a Zen 3 core, NumPy's float32 log1p too).
    No cancellation anywhere: for a tiny e, s = e/(2 + e) and the sum is 2s(1 + …).
    """
    s = e / (2.0 + e)
    q = s * s
    p = 1.0 / 17.0
    p = p * q + 1.0 / 15.0
    p = p * q + 1.0 / 13.0
    p = p * q + 1.0 / 11.0
    p = p * q + 1.0 / 9.0
    p = p * q + 1.0 / 7.0
    p = p * q + 1.0 / 5.0
    p = p * q + 1.0 / 3.0
    p = p * q + 1.0
    return 2.0 * s * p


_log1p_unit = njit(inline="always")(_log1p_unit_py)


def _bce_combine_py(logits, x, e, lp, scale, rowsum, dlogits, own_log1p):
    """The arithmetic of BCE and its gradient, given e = exp(−|l|) (and lp = log1p(e),
    unless ``own_log1p``: then this pass writes lp with ``_log1p_unit``).

    Two loops over each row: the gradient (and lp) in the logits' dtype (``scale``
    arrives in it, so no float64 enters the stores and LLVM vectorises the loop), then
    the loss summed in float64 -- a sequential sum, which stays scalar: without
    reassociation LLVM does not vectorise it, and the order is what makes it
    reproducible.
    """
    N, D = logits.shape
    one = logits.dtype.type(1)
    zero = logits.dtype.type(0)
    for row in prange(N):
        l_r = logits[row]                          # (D,) views of the row
        x_r = x[row]
        e_r = e[row]                               # in (0, 1]: never overflows
        dl_r = dlogits[row]
        lp_r = lp[row]
        for d in range(D):
            r = one / (one + e_r[d])
            sig = r if l_r[d] >= zero else e_r[d] * r    # σ(l), stable both sides
            dl_r[d] = (sig - x_r[d]) * scale
            if own_log1p:
                lp_r[d] = _log1p_unit(np.float64(e_r[d]))
        s = 0.0                                    # float64 accumulator
        for d in range(D):
            l = np.float64(l_r[d])
            s += max(l, 0.0) - np.float64(x_r[d]) * l + np.float64(lp_r[d])
        rowsum[row] = s


_bce_combine = njit(parallel=True, cache=True)(_bce_combine_py)


def bce_logits(logits, x, scale):
    """Stable binary cross-entropy from logits and its gradient.

        loss_nd = max(l, 0) − x·l + log1p(e),   e = exp(−|l|) ∈ (0, 1]
        dl_nd   = (σ(l) − x)·scale,             σ(l) = 1/(1+e) for l ≥ 0, e/(1+e) otherwise

    Two steps: NumPy's ufunc computes e (it has a SIMD exp), then one Numba pass does
    the rest and the row sums -- log1p(e) too, for float32, as a polynomial that
    vectorises (``_log1p_unit``). A single Numba pass calling math.exp/log1p is
    slower: without Intel's SVML, Numba calls scalar libm (docs/kernels/elementwise.md).

    Args:
        logits, x: (N, D) of one float dtype, C-contiguous (x ∈ [0, 1]).
        scale: the factor the batch reduction puts on each gradient (1/N for a mean).
    Returns:
        rowsum (N,) float64, the loss of each example summed over D, in nats;
        dlogits (N, D) = (σ(l) − x)·scale in the logits' dtype.
    """
    e = exp_minus_abs(logits)                       # exp(−|l|), SIMD, logits' dtype
    # float32: log1p(e) in the Numba pass (NumPy's float32 log1p is scalar libm on
    # AVX2 CPUs); float64, the gradient checks' dtype: NumPy's, to the last bit
    own = logits.dtype == np.float32
    lp = np.empty_like(e) if own else np.log1p(e)
    rowsum = np.empty(logits.shape[0], dtype=np.float64)
    dlogits = np.empty_like(logits)
    _bce_combine(logits, x, e, lp, logits.dtype.type(scale), rowsum, dlogits, own)
    return rowsum, dlogits


# ------------------------------------------------------------------------- Adam
def adam_update_reference(p, g, m, v, lr, beta1, beta2, eps, bc1, bc2, weight_decay):
    """The update of ``scratchvae.optim.Adam`` in place (NumPy), for element-wise checks."""
    if weight_decay:
        p *= 1 - lr * weight_decay
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * (g * g)
    denom = np.sqrt(v) / math.sqrt(bc2) + eps
    p -= (lr / bc1) * (m / denom)


def adam_constants(dtype, lr, beta1, beta2, eps, bc1, bc2, weight_decay):
    """The scalars of one Adam step, each rounded once to the parameters' dtype.

    The kernels then compute in that dtype alone, operation for operation as
    ``adam_update_reference`` does in NumPy (where a Python float meets a float32 array it
    is rounded to float32 first), so the two agree to the last bit. Computing a float32
    update in float64 instead, as the kernel once did, needs float64 divides and square
    roots: half the vector lanes and several times the cycles of each (docs/kernels/
    elementwise.md, "Adam in the parameters' dtype").

    Returns (β₁, 1 − β₁, β₂, 1 − β₂, ε, lr / bc1, √bc2, 1 − lr·λ, λ ≠ 0): the first eight
    as ``dtype`` scalars, the last a bool.
    """
    t = np.dtype(dtype).type
    return (t(beta1), t(1 - beta1), t(beta2), t(1 - beta2), t(eps), t(lr / bc1),
            t(math.sqrt(bc2)), t(1 - lr * weight_decay), bool(weight_decay != 0))


def _adam_py(p, g, m, v, b1, omb1, b2, omb2, eps, step, sqrt_bc2, decay, use_decay):
    # all arithmetic in p's dtype: every scalar comes from adam_constants
    for i in prange(p.shape[0]):
        gi = g[i]
        mi = b1 * m[i] + omb1 * gi                   # m ← β₁ m + (1 − β₁) g
        vi = b2 * v[i] + omb2 * (gi * gi)            # v ← β₂ v + (1 − β₂) g²
        m[i] = mi
        v[i] = vi
        pi = p[i] * decay if use_decay else p[i]     # decoupled weight decay (AdamW)
        p[i] = pi - step * (mi / (math.sqrt(vi) / sqrt_bc2 + eps))


_adam = njit(parallel=True, cache=True)(_adam_py)


def adam_update(p, g, m, v, lr, beta1, beta2, eps, bc1, bc2, weight_decay):
    """One Adam/AdamW update of p, m, v in place, one pass; returns p, or None if the
    layouts or dtypes do not allow it (the caller then runs the reference)."""
    if not p.dtype == g.dtype == m.dtype == v.dtype:
        return None
    views = flat_views(p, g, m, v)
    if views is None:
        return None
    _adam(*views, *adam_constants(p.dtype, lr, beta1, beta2, eps, bc1, bc2, weight_decay))
    return p
