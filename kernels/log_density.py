"""The Bernoulli log-likelihood of many decoder samples per image (Numba): the inner
loop of the importance-weighted evaluation (``scratchvae/evaluation/iwae.py``).

Notation: G images, S samples per image, D pixels; l (G, S, D) the decoder's logits for
the samples, x (G, D) the images (0/1 after binarization); e = exp(−|l|) ∈ (0, 1].

    log p(x_g | z_gs) = Σ_d [ x_gd l_gsd − softplus(l_gsd) ]                       (G, S)
    softplus(l) = max(l, 0) + log1p(e)                       stable for any l

Loop nest (one row r = (g, s) per iteration, static chunks per thread):

    e = exp(−|l|)                        ``elementwise.exp_minus_abs``: NumPy's SIMD exp
    for r in prange(G·S):                g = r // S
        for d < D:  lp[d] = log1p(e[d])  float32: ``elementwise._log1p_unit`` (vectorised);
                                         float64: NumPy's log1p before the pass
        acc = 0 (float64)
        for d < D:  acc += x_gd·l_d − max(l_d, 0) − lp[d]     in order: reproducible
        out[g, s] = acc

Why a kernel: the NumPy body (``distributions/likelihoods.bernoulli_log_density``, the
reference) spends most of its time in NumPy's float32 log1p, a scalar libm call per
element on AVX2 CPUs (17 ns each on a Zen 3 core): 5000 samples × 784 pixels took
74 ms per image, a third of a VampPrior VAE's evaluation (one profiled run). Here log1p is the vectorised
series of ``elementwise._log1p_unit`` and the rest is one pass; the image row x_g is
read once per sample from L1, where the NumPy body broadcast it.

Against the reference: the sum is in float64 term by term (the reference's data term is
a float32 einsum), so the two agree to float32 round-off of the sum
(tests/test_kernels_log_density.py). Fallback: ``_bernoulli_rows_py`` is the plain body.
Measurements: docs/kernels/elementwise.md, "The evaluation's Bernoulli term".
"""
from __future__ import annotations

import numpy as np
from . import target as _target  # noqa: F401 - sets the vector width before anything compiles
from numba import njit, prange

from .elementwise import _log1p_unit, exp_minus_abs

__all__ = ["bernoulli_log_density"]


def _bernoulli_rows_py(logits, x, e, out, own_log1p):
    """out[g, s] = Σ_d [x_gd l_gsd − max(l, 0) − log1p(e_gsd)] (module docstring); e is
    overwritten by log1p(e) when ``own_log1p`` (it already holds it otherwise)."""
    G, S, D = logits.shape
    for r in prange(G * S):
        g = r // S
        s = r - g * S
        l_r = logits[g, s]                          # (D,) views
        e_r = e[g, s]
        x_g = x[g]
        if own_log1p:                               # vectorised: no float64 store
            for d in range(D):
                e_r[d] = _log1p_unit(np.float64(e_r[d]))
        acc = 0.0                                   # float64, summed in order
        for d in range(D):
            l = np.float64(l_r[d])
            acc += np.float64(x_g[d]) * l - max(l, 0.0) - np.float64(e_r[d])
        out[g, s] = acc


_bernoulli_rows = njit(parallel=True, cache=True)(_bernoulli_rows_py)


def bernoulli_log_density(logits, x, logvar=0.0):
    """log p(x_g | z_gs) (G, S) float64 for logits (G, S, D) and images x (G, D) of one
    float dtype; None where the kernel does not apply (the NumPy reference runs).
    ``logvar`` is the likelihood interface's argument, unused by a Bernoulli."""
    if not (isinstance(logits, np.ndarray) and isinstance(x, np.ndarray)):
        return None
    if logits.dtype not in (np.float32, np.float64) or x.dtype != logits.dtype:
        return None
    if logits.ndim != 3 or x.shape != (logits.shape[0], logits.shape[2]):
        return None
    logits, x = np.ascontiguousarray(logits), np.ascontiguousarray(x)
    e = exp_minus_abs(logits)                       # exp(−|l|), SIMD, the logits' dtype
    own = logits.dtype == np.float32                # float64: NumPy's log1p, to the bit
    if not own:
        np.log1p(e, out=e)
    out = np.empty(logits.shape[:2])
    if out.size:
        _bernoulli_rows(logits, x, e, out, own)
    return out
