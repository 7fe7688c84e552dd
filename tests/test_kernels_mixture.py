"""kernels/mixture.py: the mixture's log terms and gradients against their naive loop
references (float64 to 1e-12, float32 to round-off) and the library's NumPy path, on
awkward shapes, far codes and both thread counts' order-independence."""
import numpy as np
import pytest

from kernels.mixture import (mixture_grads, mixture_grads_reference, mixture_log_terms,
                             mixture_log_terms_reference)
from scratchvae.backend import kernel, use_cpu_kernels
from scratchvae.distributions.vampprior import (mixture_log_density_backward,
                                                mixture_log_density_forward)

SHAPES = [(1, 1, 1), (3, 1, 7), (1, 5, 2), (7, 13, 3), (17, 31, 40), (100, 50, 40)]


def _operands(N, K, L, dtype, seed=0, spread=1.0):
    rng = np.random.default_rng(seed)
    z = (spread * rng.standard_normal((N, L))).astype(dtype)
    mu = rng.standard_normal((K, L)).astype(dtype)
    logvar = rng.uniform(-3, 1, (K, L)).astype(dtype)
    w = rng.standard_normal((N, K)).astype(dtype)
    return w, z, mu, logvar


@pytest.mark.parametrize("N,K,L", SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernels_match_the_naive_loops(N, K, L, dtype):
    w, z, mu, logvar = _operands(N, K, L, dtype, seed=N + K + L)
    ell = mixture_log_terms(z, mu, logvar)
    assert ell.dtype == dtype and ell.shape == (N, K)
    ref = mixture_log_terms_reference(z, mu, logvar)
    grads = mixture_grads(w, z, mu, logvar)
    refs = mixture_grads_reference(w, z, mu, logvar)
    if dtype == np.float64:
        np.testing.assert_allclose(ell, ref, rtol=1e-12, atol=1e-12)
        for g, r in zip(grads, refs):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12 * (1 + np.abs(r).max()))
    else:              # round-off: sums of L (or K, N) float32 terms, relative to their size
        scale = np.abs(ref).max() + 1
        np.testing.assert_allclose(ell, ref, rtol=0, atol=2e-6 * L * scale)
        for g, r in zip(grads, refs):
            np.testing.assert_allclose(g, r, rtol=0,
                                       atol=2e-6 * max(N, K) * (np.abs(r).max() + 1))
    for g, x in zip(grads, (z, mu, logvar)):
        assert g.dtype == dtype and g.shape == x.shape


def test_far_codes_stay_finite_and_exact():
    # codes 1e3 away from every component: ℓ ~ −1e6..−1e8, no NaN, still equal to the loops
    w, z, mu, logvar = _operands(5, 9, 4, np.float64, spread=1e3)
    np.testing.assert_allclose(mixture_log_terms(z, mu, logvar),
                               mixture_log_terms_reference(z, mu, logvar), rtol=1e-12)
    assert np.all(np.isfinite(np.concatenate([g.ravel() for g in mixture_grads(w, z, mu, logvar)])))


def test_strided_inputs_and_refusals():
    w, z, mu, logvar = _operands(8, 6, 5, np.float64)
    zt = np.asfortranarray(z)                                      # another layout: same numbers
    np.testing.assert_array_equal(mixture_log_terms(zt, mu, logvar), mixture_log_terms(z, mu, logvar))
    assert mixture_log_terms(z, mu.astype(np.float32), logvar) is None        # mixed dtypes
    assert mixture_log_terms(z, mu[:, :4], logvar[:, :4]) is None             # L mismatch
    assert mixture_grads(w[:, :5], z, mu, logvar) is None                     # w not (N, K)
    assert mixture_log_terms(z.astype(np.float16), mu, logvar) is None


def test_the_library_runs_the_kernel_on_the_numba_path_and_agrees_with_numpy():
    w, z, mu, logvar = _operands(30, 20, 8, np.float64, seed=3)
    dlog_p = w[:, 0].copy()
    with use_cpu_kernels("numba"):
        assert kernel("mixture_log_terms", z, mu, logvar) is mixture_log_terms
        assert kernel("mixture_grads", w, z, mu, logvar) is mixture_grads
        lp, cache = mixture_log_density_forward(z, mu, logvar)
        fast = (lp, *mixture_log_density_backward(dlog_p, cache))
    with use_cpu_kernels("numpy"):
        assert kernel("mixture_log_terms", z, mu, logvar) is None
        lp, cache = mixture_log_density_forward(z, mu, logvar)
        slow = (lp, *mixture_log_density_backward(dlog_p, cache))
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
