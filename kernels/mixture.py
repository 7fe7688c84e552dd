"""The log-density terms of a diagonal-Gaussian mixture and their gradients (Numba): the
VampPrior's (N, K, L) arithmetic without its (N, K, L) temporaries.

Notation: z (N, L) codes; μ, logvar (K, L) the components; w (N, K) the upstream
gradient of the terms; n codes, k components, j latent dimensions; ι = e^{−logvar}
(K, L); d_nkj = z_nj − μ_kj.

    ℓ_nk = −½ ( Σ_j d_nkj² ι_kj + Σ_j logvar_kj + L log 2π )                     (N, K)

and, given w_nk = ∂loss/∂ℓ_nk (``distributions/vampprior.py`` turns the
responsibilities into it):

    dz_nj      = −Σ_k w_nk d_nkj ι_kj                      (N, L)
    dμ_kj      = +Σ_n w_nk d_nkj ι_kj                      (K, L)
    dlogvar_kj = ½ Σ_n w_nk (d_nkj² ι_kj − 1)               (K, L)

Why a kernel: NumPy (the reference, ``mixture_log_terms_reference``) broadcasts d
(N, K, L) and d²ι: with the VampPrior's N = 100, K = 500, L = 40 each is 2 M values,
8 MB at float32, and a forward and backward write and read about a dozen of them for
~10 flops per value: memory-bound, 20 ms of a 60 ms training step on one Zen 3 core.
Here d lives in registers and every sum runs over one axis in a fixed order:

    log_terms:  μᵀ, ιᵀ (L, K) transposed once
                for n in prange(N):
                    row (K,) = 0                               # out[n], in L1
                    for j < L:                                 # z_nj broadcast
                        for k < K:                             # unit stride: vectorised
                            d = z_nj − μᵀ[j, k];  row[k] += d·d·ιᵀ[j, k]
                    row[k] = −½ (row[k] + s_k + L log 2π),     s_k = Σ_j logvar_kj
    grads:      for n in prange(N):                            # dz: a sum over k
                    for k < K:  for j < L:  dz[n, j] −= w_nk d_nkj ι_kj
                for k in prange(K):                            # dμ, dlogvar: sums over n
                    for n < N:  for j < L:  dμ[k, j] += w_nk d ι;  a[k, j] += w_nk d² ι
                    dlogvar[k, j] = ½ (a[k, j] − Σ_n w_nk)

Each inner loop runs along a contiguous axis with one independent accumulator per
element (row[k], dz[n, j], dμ[k, j]), so LLVM vectorises it without reassociating a sum:
a result does not depend on the thread count. It differs from NumPy's, whose sums run
in other orders (pairwise, einsum), by round-off (tests/test_kernels_mixture.py).

Fallback: the plain-Python bodies ``_*_py`` are compiled under second names, so
``NUMBA_DISABLE_JIT=1`` runs them as Python. Measurements: docs/kernels/elementwise.md.
"""
from __future__ import annotations

import math

import numpy as np
from . import target as _target  # noqa: F401 - sets the vector width before anything compiles
from numba import njit, prange

__all__ = ["mixture_log_terms", "mixture_grads", "mixture_log_terms_reference",
           "mixture_grads_reference"]

LOG_2PI = math.log(2 * math.pi)


# ---------------------------------------------------------------- references
def mixture_log_terms_reference(z, mu, logvar):
    """ℓ (N, K) by the naive loop nest of the module docstring, in float64."""
    N, L = z.shape
    K = mu.shape[0]
    out = np.empty((N, K))
    for n in range(N):
        for k in range(K):
            quad = sum((float(z[n, j]) - float(mu[k, j])) ** 2 * math.exp(-float(logvar[k, j]))
                       for j in range(L))
            out[n, k] = -0.5 * (quad + float(np.sum(logvar[k], dtype=np.float64))
                                + L * LOG_2PI)
    return out


def mixture_grads_reference(w, z, mu, logvar):
    """(dz, dμ, dlogvar) by the naive loop nest of the module docstring, in float64."""
    N, L = z.shape
    K = mu.shape[0]
    dz, dmu, dlogvar = np.zeros((N, L)), np.zeros((K, L)), np.zeros((K, L))
    for n in range(N):
        for k in range(K):
            for j in range(L):
                iota = math.exp(-float(logvar[k, j]))
                d = float(z[n, j]) - float(mu[k, j])
                wnk = float(w[n, k])
                dz[n, j] -= wnk * d * iota
                dmu[k, j] += wnk * d * iota
                dlogvar[k, j] += 0.5 * wnk * (d * d * iota - 1.0)
    return dz, dmu, dlogvar


# ---------------------------------------------------------------- kernels
def _log_terms_py(z, muT, ivT, s, log_2pi_l, out):
    """out[n, k] = −½ (Σ_j (z_nj − μᵀ_jk)² ιᵀ_jk + s_k + L log 2π); see the loop nest."""
    N, L = z.shape
    K = muT.shape[1]
    half = z.dtype.type(-0.5)
    for n in prange(N):
        row = out[n]                                   # (K,)
        for k in range(K):
            row[k] = 0
        for j in range(L):
            zj = z[n, j]
            m = muT[j]                                 # (K,) unit stride
            iv = ivT[j]
            for k in range(K):
                d = zj - m[k]
                row[k] += d * d * iv[k]
        for k in range(K):
            row[k] = half * (row[k] + s[k] + log_2pi_l)


def _grad_z_py(w, z, mu, iv, dz):
    """dz[n, j] = −Σ_k w_nk (z_nj − μ_kj) ι_kj, summed over k in order."""
    N, L = z.shape
    K = mu.shape[0]
    for n in prange(N):
        zn = z[n]                                      # (L,)
        acc = dz[n]
        for j in range(L):
            acc[j] = 0
        for k in range(K):
            wnk = w[n, k]
            mk = mu[k]
            ik = iv[k]
            for j in range(L):
                acc[j] -= wnk * ((zn[j] - mk[j]) * ik[j])


def _grad_components_py(w, z, mu, iv, dmu, dlogvar):
    """dμ[k, j] = Σ_n w_nk d ι and dlogvar[k, j] = ½ (Σ_n w_nk d² ι − Σ_n w_nk)."""
    N, L = z.shape
    K = mu.shape[0]
    half = z.dtype.type(0.5)
    for k in prange(K):
        mk = mu[k]                                     # (L,)
        ik = iv[k]
        gm = dmu[k]
        gv = dlogvar[k]
        for j in range(L):
            gm[j] = 0
            gv[j] = 0
        wsum = z.dtype.type(0)
        for n in range(N):
            wnk = w[n, k]
            wsum += wnk
            zn = z[n]
            for j in range(L):
                p = (zn[j] - mk[j]) * ik[j]            # d ι
                gm[j] += wnk * p
                gv[j] += wnk * (p * (zn[j] - mk[j]))   # w d² ι
        for j in range(L):
            gv[j] = half * (gv[j] - wsum)


_log_terms = njit(parallel=True, cache=True)(_log_terms_py)
_grad_z = njit(parallel=True, cache=True)(_grad_z_py)
_grad_components = njit(parallel=True, cache=True)(_grad_components_py)


def _operands(z, mu, logvar, *more):
    """C-ordered float copies/views of one float dtype, or None where the kernel does not
    apply (shapes that do not fit together, other dtypes: the reference then runs)."""
    arrays = (z, mu, logvar, *more)
    if not all(isinstance(a, np.ndarray) for a in arrays):
        return None
    dtype = z.dtype
    if dtype not in (np.float32, np.float64) or any(a.dtype != dtype for a in arrays):
        return None
    if z.ndim != 2 or mu.ndim != 2 or mu.shape != logvar.shape or mu.shape[1] != z.shape[1]:
        return None
    return tuple(np.ascontiguousarray(a) for a in arrays)


def mixture_log_terms(z, mu, logvar):
    """ℓ_nk (N, K) for codes z (N, L) and components μ, logvar (K, L), in their dtype;
    None for operands the kernel does not take (the reference runs)."""
    ops = _operands(z, mu, logvar)
    if ops is None:
        return None
    z, mu, logvar = ops
    N, L = z.shape
    out = np.empty((N, mu.shape[0]), dtype=z.dtype)
    if out.size == 0:
        return out
    muT = np.ascontiguousarray(mu.T)                   # (L, K)
    ivT = np.ascontiguousarray(np.exp(-logvar).T)      # ι (L, K)
    s = logvar.sum(axis=1)                             # (K,)
    _log_terms(z, muT, ivT, s, z.dtype.type(L * LOG_2PI), out)
    return out


def mixture_grads(w, z, mu, logvar):
    """(dz (N, L), dμ (K, L), dlogvar (K, L)) from w = ∂loss/∂ℓ (N, K); None for operands
    the kernel does not take."""
    ops = _operands(z, mu, logvar, w)
    if ops is None or w.shape != (z.shape[0], mu.shape[0]):
        return None
    z, mu, logvar, w = ops
    iv = np.exp(-logvar)                               # ι (K, L)
    dz = np.empty_like(z)
    dmu, dlogvar = np.empty_like(mu), np.empty_like(mu)
    if z.size:
        _grad_z(w, z, mu, iv, dz)
    if mu.size:
        _grad_components(w, z, mu, iv, dmu, dlogvar)
    return dz, dmu, dlogvar
