"""Fused elementwise CUDA kernels (numba.cuda): stable BCE from logits with its gradient,
the reparameterization trick forward and backward, the standard-normal KL with its
gradients, and the Adam update -- each one pass over memory, each beside (or importing)
its NumPy reference.

Why numba.cuda and not CUDA C: these kernels are elementwise (plus one row sum), so they
need no shared-memory tiling, no warp shuffles and no hand-placed loads -- the things CUDA
C is for. Written as numba.cuda they stay readable Python that mirrors the CPU kernels of
``kernels/elementwise.py`` line by line, and Numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``) runs them on NumPy arrays on any CPU, so CI checks their
indexing, grid-stride loops and block reductions without a GPU
(``tests/test_cuda_fused_sim.py``). On a GPU they take CuPy arrays directly through
``__cuda_array_interface__`` and run on CuPy's current stream.

Notation: N batch (rows), D data dimensions, L latent dimensions, n = number of elements.

Launch shapes
-------------
* elementwise kernels (reparameterization, Adam): a 1-D grid-stride loop over the n
  elements, ``blocks = min(ceil(n / threads), MAX_BLOCKS)`` of ``threads = THREADS``;
* row-reduction kernels (BCE, KL): a grid-stride loop over rows, one row per block at a
  time; the block's threads stride over the row's columns, accumulate in float64 and
  combine by a shared-memory tree (``threads`` a power of two, ≤ MAX_THREADS).

Determinism: no float atomics anywhere. A row's sum is the same tree over the same
thread-to-column assignment on every run; the library reduces the (N,) row sums over the
batch itself, as on the CPU. Results depend only on the launch shape, which the launchers
fix from the array shapes.

Loop nests
----------
    bce_logits:  for row in grid-stride(N): s = 0 (float64)
                     for d in thread-stride(D): l = logits[row, d]; t = x[row, d]
                         s += max(l, 0) − t·l + log1p(exp(−|l|))
                         dl[row, d] = (σ(l) − t)·scale
                     rowsum[row] = tree-sum of s over the block
    reparam:     for i in grid-stride(N·L): σ = exp(½·logvar); z = μ + σ·ε
    reparam bwd: for i in grid-stride(N·L): dlogvar = dz·ε·(½σ)        (dμ = dz, no copy)
    kl:          for row in grid-stride(N): s = 0 (float64)
                     for j in thread-stride(L): s += μ² + (expm1(logvar) − logvar)
                         dμ = μ·scale;  dlogvar = (½·scale)·expm1(logvar)
                     rows[row] = ½ · tree-sum of s
    adam:        for i in grid-stride(n): the four updates of optim/adam.py for element i

Every launcher takes the arguments of the library op it stands in for and returns that
op's result, or None when it cannot take the arrays -- wrong rank, mixed dtypes, a layout
with gaps, or no working numba.cuda toolchain -- and the library (the device gateway,
``scratchvae.backend``) then runs the op's plain CuPy expressions, the same numbers.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from numba import cuda, float64

from ..elementwise import (adam_constants, adam_update_reference, bce_logits_reference,
                           flat_views)
from .build import array_module

__all__ = ["THREADS", "MAX_THREADS", "MAX_BLOCKS", "usable", "bce_logits",
           "reparameterize", "reparameterize_backward", "kl_standard_normal", "adam_update",
           "bce_logits_reference", "reparameterize_reference", "reparameterize_backward_reference",
           "kl_standard_normal_reference", "adam_update_reference"]

THREADS = 256        # threads per block of the elementwise kernels
MAX_THREADS = 256    # the largest block of the row-reduction kernels (= shared buffer size)
MAX_BLOCKS = 1024    # grid cap: beyond it the grid-stride loops take over


# ----------------------------------------------------------------- launch helpers
def _elementwise_grid(n, threads=None, blocks=None):
    threads = threads or THREADS
    return blocks or max(1, min(-(-n // threads), MAX_BLOCKS)), threads


def _row_grid(rows, cols, threads=None, blocks=None):
    """One block per row (up to MAX_BLOCKS), a power-of-two block that covers the row."""
    if threads is None:
        threads = 32                                  # one warp at least
        while threads < min(cols, MAX_THREADS):
            threads *= 2
    if threads & (threads - 1) or threads > MAX_THREADS:
        raise ValueError(f"a row-reduction block must be a power of two ≤ {MAX_THREADS}, "
                         f"got {threads}")
    return blocks or max(1, min(rows, MAX_BLOCKS)), threads


def _stream(xp):
    """CuPy's current stream as a Numba stream, so kernels queue behind CuPy's work."""
    if xp is np:
        return 0                                      # the simulator: host arrays
    ptr = xp.cuda.get_current_stream().ptr
    return cuda.external_stream(ptr) if ptr else 0    # 0: the legacy default (null) stream


def _same_float(*arrays, ndim=None):
    """Arrays of one float dtype (float32/float64) and one array module, optionally of rank ndim."""
    dtype, xp = arrays[0].dtype, array_module(arrays[0])
    return (dtype in (np.float32, np.float64)
            and all(a.dtype == dtype and array_module(a) is xp for a in arrays)
            and (ndim is None or all(a.ndim == ndim for a in arrays)))


@cuda.jit(device=True)
def _block_tree_sum(buf, tid):
    """buf[0] ← Σ buf[0:blockDim] by halving; every thread must call it (it synchronises)."""
    cuda.syncthreads()
    step = cuda.blockDim.x // 2
    while step > 0:
        if tid < step:
            buf[tid] += buf[tid + step]
        cuda.syncthreads()
        step //= 2


# ------------------------------------------------------------------ toolchain probe
_USABLE = None


@cuda.jit
def _probe_kernel(a):
    i = cuda.grid(1)
    if i < a.shape[0]:
        a[i] = i


def usable(xp) -> bool:
    """Can numba.cuda compile and launch here? Checked once (a tiny probe kernel); when it
    cannot -- no NVVM/libdevice next to CuPy, a driver Numba does not support -- warn once,
    naming the cause, and let every caller take its CuPy fallback."""
    global _USABLE
    if _USABLE is None:
        try:
            a = xp.zeros(4, dtype=np.float64)
            _probe_kernel[1, 32, _stream(xp)](a)
            _USABLE = bool(float(a[3]) == 3.0)
        except Exception as exc:   # NvvmSupportError, CudaSupportError, ... -- all mean "no"
            _USABLE = False
            warnings.warn(f"numba.cuda cannot launch kernels here ({type(exc).__name__}: {exc}); "
                          "the fused GPU kernels are off and CuPy expressions are used instead "
                          "(install numba-cuda's toolchain, e.g. the cuda-nvcc wheel, to enable "
                          "them)", RuntimeWarning, stacklevel=2)
    return _USABLE


# ========================================================= 1. BCE from logits
@cuda.jit
def _bce_logits_kernel(logits, x, scale, rowsum, dlogits):
    """rowsum[n] = Σ_d [max(l, 0) − x·l + log1p(exp(−|l|))];  dl = (σ(l) − x)·scale."""
    buf = cuda.shared.array(MAX_THREADS, float64)
    tid = cuda.threadIdx.x
    N, D = logits.shape
    for row in range(cuda.blockIdx.x, N, cuda.gridDim.x):   # the same count for all threads
        s = 0.0                                              # float64 accumulator
        for d in range(tid, D, cuda.blockDim.x):
            l = logits[row, d]
            t = x[row, d]
            e = math.exp(-abs(l))                            # in (0, 1]: never overflows
            s += max(l, 0.0) - t * l + math.log1p(e)
            sig = 1.0 / (1.0 + e) if l >= 0 else e / (1.0 + e)    # σ(l), stable both sides
            dlogits[row, d] = (sig - t) * scale
        buf[tid] = s
        _block_tree_sum(buf, tid)
        if tid == 0:
            rowsum[row] = buf[0]
        cuda.syncthreads()                                   # buf is reused by the next row


def bce_logits(logits, x, scale, threads=None, blocks=None):
    """Stable binary cross-entropy from logits and its gradient in one pass.

    Args:
        logits, x: (N, D) device arrays of one float dtype, any strides (x ∈ [0, 1]).
        scale: the factor the batch reduction puts on each gradient (1/N for a mean).
        threads, blocks: override the launch shape (tests use it to force grid-striding).
    Returns:
        ``(rowsum, dlogits)``: rowsum (N,) float64, each example's loss summed over D in a
        fixed order (a shared-memory tree, no atomics), in nats; dlogits (N, D) =
        (σ(l) − x)·scale, C-contiguous, in the logits' dtype. None if the arrays do not
        fit (the library then runs its CuPy expressions).
    """
    if not (_same_float(logits, x, ndim=2) and logits.shape == x.shape):
        return None
    xp = array_module(logits)
    if not usable(xp):
        return None
    N, D = logits.shape
    rowsum = xp.empty(N, dtype=np.float64)
    dlogits = xp.empty((N, D), dtype=logits.dtype)
    grid, block = _row_grid(N, D, threads, blocks)
    stream = _stream(xp)
    _bce_logits_kernel[grid, block, stream](logits, x, float(scale), rowsum, dlogits)
    return rowsum, dlogits


# =============================================== 2. reparameterization and KL
def reparameterize_reference(mu, logvar, eps):
    """z = μ + σ·ε, σ = exp(logvar/2) (the NumPy path of distributions/reparam.py)."""
    std = np.exp(0.5 * logvar)
    return mu + std * eps, std


def reparameterize_backward_reference(dz, eps, std):
    """dμ = dz,  dlogvar = dz·ε·σ/2."""
    return dz, dz * eps * (0.5 * std)


def kl_standard_normal_reference(mu, logvar, scale):
    """Per-row KL ½ Σ_j (μ² + expm1(logvar) − logvar) (N,), dμ = μ·scale,
    dlogvar = ½·scale·expm1(logvar) (the NumPy path of distributions/kl.py)."""
    var_m1 = np.expm1(logvar)
    rows = 0.5 * (mu * mu + (var_m1 - logvar)).sum(axis=1)
    return rows, mu * scale, (0.5 * scale) * var_m1


@cuda.jit
def _reparam_kernel(mu, logvar, eps, half, z, std):
    """σ = exp(½·logvar); z = μ + σ·ε, elementwise over (N, L)."""
    N, L = mu.shape
    for i in range(cuda.grid(1), N * L, cuda.gridsize(1)):
        r = i // L
        j = i - r * L
        s = math.exp(half * logvar[r, j])        # half has the arrays' dtype: float32 math
        std[r, j] = s                            # stays float32, as CuPy's would
        z[r, j] = mu[r, j] + s * eps[r, j]


@cuda.jit
def _reparam_backward_kernel(dz, eps, std, half, dlogvar):
    """dlogvar = dz·ε·(½σ) (∂z/∂logvar = ε·σ/2), elementwise over (N, L)."""
    N, L = dz.shape
    for i in range(cuda.grid(1), N * L, cuda.gridsize(1)):
        r = i // L
        j = i - r * L
        dlogvar[r, j] = dz[r, j] * eps[r, j] * (half * std[r, j])


@cuda.jit
def _kl_kernel(mu, logvar, scale, half_scale, half, rows, dmu, dlogvar):
    """rows[n] = ½ Σ_j (μ² + expm1(logvar) − logvar);
    dμ = μ·scale;  dlogvar = ½·scale·(v − 1)."""
    buf = cuda.shared.array(MAX_THREADS, float64)
    tid = cuda.threadIdx.x
    N, L = mu.shape
    for row in range(cuda.blockIdx.x, N, cuda.gridDim.x):
        s = 0.0
        for j in range(tid, L, cuda.blockDim.x):
            m = mu[row, j]
            lv = logvar[row, j]
            var_m1 = math.expm1(lv)                  # v − 1, accurate near 0 (kl.py: why)
            s += m * m + (var_m1 - lv)
            dmu[row, j] = m * scale                  # ∂KL_n/∂μ = μ
            dlogvar[row, j] = half_scale * var_m1    # ∂KL_n/∂logvar = ½ (v − 1)
        buf[tid] = s
        _block_tree_sum(buf, tid)
        if tid == 0:
            rows[row] = half * buf[0]
        cuda.syncthreads()


def reparameterize(mu, logvar, eps, threads=None, blocks=None):
    """z = μ + exp(logvar/2)·ε in one pass.

    Args:
        mu, logvar, eps: (N, L) device arrays of one float dtype, any strides (μ and
            logvar are usually the two halves of the encoder's (N, 2L) output).
    Returns:
        ``(z, std)``, each (N, L) C-contiguous in that dtype; None if the arrays do not fit.
    """
    if not (_same_float(mu, logvar, eps, ndim=2) and mu.shape == logvar.shape == eps.shape):
        return None
    xp = array_module(mu)
    if not usable(xp):
        return None
    z, std = xp.empty(mu.shape, mu.dtype), xp.empty(mu.shape, mu.dtype)
    grid, block = _elementwise_grid(mu.size, threads, blocks)
    _reparam_kernel[grid, block, _stream(xp)](mu, logvar, eps, mu.dtype.type(0.5), z, std)
    return z, std


def reparameterize_backward(dz, eps, std, threads=None, blocks=None):
    """``(dμ, dlogvar)`` = (dz, dz·ε·σ/2): dμ is dz itself (no copy), dlogvar one pass.
    None if the arrays do not fit."""
    if not (_same_float(dz, eps, std, ndim=2) and dz.shape == eps.shape == std.shape):
        return None
    xp = array_module(dz)
    if not usable(xp):
        return None
    dlogvar = xp.empty(dz.shape, dz.dtype)
    grid, block = _elementwise_grid(dz.size, threads, blocks)
    _reparam_backward_kernel[grid, block, _stream(xp)](dz, eps, std, dz.dtype.type(0.5), dlogvar)
    return dz, dlogvar


def kl_standard_normal(mu, logvar, scale, threads=None, blocks=None):
    """KL(N(μ, exp(logvar)) || N(0, I)) per row and its gradients, in one pass.

    Args:
        mu, logvar: (N, L) device arrays of one float dtype, any strides.
        scale: the batch reduction's factor on each gradient (1/N for a mean).
    Returns:
        ``(rows, dmu, dlogvar)``: rows (N,) float64, each example's KL in nats (summed in
        a fixed order); dmu = μ·scale and dlogvar = ½·scale·expm1(logvar), (N, L) in the
        input dtype. None if they do not fit.
    """
    if not (_same_float(mu, logvar, ndim=2) and mu.shape == logvar.shape):
        return None
    xp = array_module(mu)
    if not usable(xp):
        return None
    N, L = mu.shape
    rows = xp.empty(N, dtype=np.float64)
    dmu, dlogvar = xp.empty((N, L), mu.dtype), xp.empty((N, L), mu.dtype)
    grid, block = _row_grid(N, L, threads, blocks)
    stream = _stream(xp)
    t = mu.dtype.type
    _kl_kernel[grid, block, stream](mu, logvar, t(scale), t(0.5 * scale), 0.5, rows, dmu, dlogvar)
    return rows, dmu, dlogvar


# ====================================================================== 3. Adam
@cuda.jit
def _adam_kernel(p, g, m, v, b1, omb1, b2, omb2, eps, step, sqrt_bc2, decay, use_decay):
    """The update of kernels/elementwise.py's ``_adam_py`` for element i, in place, in
    p's dtype (the scalars come from ``adam_constants``)."""
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
        gi = g[i]
        mi = b1 * m[i] + omb1 * gi                          # first moment
        vi = b2 * v[i] + omb2 * (gi * gi)                   # second moment
        m[i] = mi
        v[i] = vi
        pi = p[i] * decay if use_decay else p[i]            # decoupled weight decay
        p[i] = pi - step * (mi / (math.sqrt(vi) / sqrt_bc2 + eps))


def adam_update(p, g, m, v, lr, beta1, beta2, eps, bc1, bc2, weight_decay,
                threads=None, blocks=None):
    """One Adam/AdamW update of p, m, v in place, one pass, on the device.

    Args:
        p, g, m, v: device arrays of one shape, float dtype and memory order.
        bc1, bc2: the bias corrections 1 − β₁ᵗ, 1 − β₂ᵗ.
    Returns:
        p, updated; None when the layouts do not allow it (the library then runs the CuPy
        expressions of optim/adam.py).
    """
    if not (_same_float(p, g, m, v) and p.shape == g.shape == m.shape == v.shape):
        return None
    xp = array_module(p)
    views = flat_views(p, g, m, v)                       # works on CuPy arrays too
    if views is None or not usable(xp):
        return None
    grid, block = _elementwise_grid(p.size, threads, blocks)
    _adam_kernel[grid, block, _stream(xp)](*views, *adam_constants(
        p.dtype, lr, beta1, beta2, eps, bc1, bc2, weight_decay))
    return p
