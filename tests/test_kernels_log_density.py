"""kernels/log_density.py: the evaluation's Bernoulli log-likelihood against its NumPy
reference (distributions/likelihoods.bernoulli_log_density) and a float64 oracle."""
import numpy as np
import pytest

from kernels.log_density import bernoulli_log_density
from scratchvae import backend
from scratchvae.distributions.likelihoods import bernoulli_log_density as op


def _operands(dtype, G=3, S=7, D=50, seed=0, scale=6.0):
    rng = np.random.default_rng(seed)
    logits = (scale * rng.standard_normal((G, S, D))).astype(dtype)
    logits[0, 0, :4] = [-80.0, 80.0, 0.0, -0.0]              # far tails and zero: stable
    x = (rng.uniform(size=(G, D)) < 0.4).astype(dtype)
    return logits, x


def _oracle(logits, x):
    l = logits.astype(np.float64)
    return (x.astype(np.float64)[:, None, :] * l - np.logaddexp(0.0, l)).sum(axis=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_matches_the_float64_oracle_and_the_reference(dtype):
    logits, x = _operands(dtype)
    keep = logits.copy()
    got = bernoulli_log_density(logits, x)
    np.testing.assert_array_equal(logits, keep)               # the logits are not touched
    assert got.shape == (3, 7) and got.dtype == np.float64
    want = _oracle(logits, x)
    # float32: log1p(e) is rounded to float32 per pixel (≤ 2⁻²⁴ · 0.7 each, 50 of them);
    # float64: NumPy's log1p, only the summation order differs
    tol = 50 * 2.0 ** -24 if dtype == np.float32 else 1e-13
    assert np.all(np.abs(got - want) <= tol * (1 + np.abs(want)))
    ref = op.reference(logits.copy(), x)                      # the NumPy body (overwrites)
    # the reference's data term is a float32 einsum: its own round-off on top
    ref_tol = 1e-6 if dtype == np.float32 else 1e-13
    assert np.all(np.abs(got - ref) <= ref_tol * (1 + np.abs(want)) * 50)

def test_the_library_runs_it_on_the_numba_path_and_the_reference_on_numpy(cpu_path):
    logits, x = _operands(np.float32, seed=1)
    got = op(logits.copy(), x)
    np.testing.assert_allclose(got, _oracle(logits, x), rtol=0, atol=1e-4)
    assert (backend.kernel("bernoulli_log_density", logits, x) is not None) == \
        (cpu_path == "numba")


def test_operands_it_does_not_take_go_to_the_reference():
    logits, x = _operands(np.float32)
    assert bernoulli_log_density(logits, x.astype(np.float64)) is None    # mixed dtypes
    assert bernoulli_log_density(logits[0], x) is None                    # not (G, S, D)
    assert bernoulli_log_density(logits, x[:, :10]) is None               # D mismatch
    empty = bernoulli_log_density(logits[:, :0], x)
    assert empty.shape == (3, 0)
