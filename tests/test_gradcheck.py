"""The gradient checker itself: it passes correct backwards and fails planted bugs.

A checker that passes everything is worse than none, so every kind of bug the
project worries about is planted here and must FAIL at the project tolerance
(rtol = 1e-6, eps = 1e-6, float64, random upstream gradient). The tolerance is
never loosened in this file.
"""
import re

import numpy as np
import pytest

from scratchvae import nn
from scratchvae.distributions import (
    kl_standard_normal, reparameterize_backward, reparameterize_forward,
)
from scratchvae.functional.linear import linear_backward
from scratchvae.gradcheck import MODES, GradcheckError, check_function, check_module
from scratchvae.gradcheck import core

RTOL = 1e-6      # the project tolerance; never raise it to make something pass


# ----------------------------------------------------------- known functions
def cube_case(rng, bug=None):
    """f(a) = a**3 elementwise, df/da = 3 a^2."""
    a = rng.uniform(0.5, 1.5, (4, 5)) * rng.choice([-1.0, 1.0], (4, 5))

    def forward():
        return a ** 3

    def backward(dy):
        g = 3 * a ** 2 * dy
        return {"a": bug(g) if bug else g}

    return forward, backward, {"a": a}


def matmul_case(rng, bug=None):
    """f(A, B) = A @ B: dA = dy B^T, dB = A^T dy."""
    A, B = rng.normal(size=(3, 4)), rng.normal(size=(4, 5))

    def forward():
        return A @ B

    def backward(dy):
        grads = {"A": dy @ B.T, "B": A.T @ dy}
        return bug(grads) if bug else grads

    return forward, backward, {"A": A, "B": B}


def sum_sin_case(rng, bug=None):
    """f(a) = sum(sin(a)) (a scalar output), df/da = cos(a)."""
    a = rng.normal(size=(6,))

    def forward():
        return float(np.sin(a).sum())

    def backward(dy):
        g = dy * np.cos(a)
        return {"a": bug(g) if bug else g}

    return forward, backward, {"a": a}


CASES = {"cube": cube_case, "matmul": matmul_case, "sum_sin": sum_sin_case}


def assert_fails_loudly(report):
    """The report fails, and raise_if_failed raises with the worst index and both values."""
    assert not report.passed, str(report)
    assert report.max_rel_error > RTOL
    with pytest.raises(GradcheckError) as info:
        report.raise_if_failed()
    msg = str(info.value)
    assert "FAIL" in msg
    assert f"eps={report.eps:g}" in msg and f"rtol={report.rtol:g}" in msg
    for r in report.results:
        if r.passed:
            continue
        where = "direction" if r.worst_index is None else f"index {r.worst_index}"
        assert where in msg
        assert f"analytic={r.analytic:+.12e}" in msg
        assert f"numeric={r.numeric:+.12e}" in msg
    return msg


# ----------------------------------------------------------------- passes
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("seed", [0, 1])
def test_known_functions_pass_in_every_mode(case, mode, seed):
    forward, backward, inputs = CASES[case](np.random.default_rng(seed))
    report = check_function(forward, backward, inputs, op=case, mode=mode, n_samples=4, seed=seed)
    assert report.passed, str(report)
    assert report.max_rel_error <= RTOL
    assert report.rtol == RTOL and report.eps == 1e-6 and report.mode == mode
    assert {r.name for r in report.results} == set(inputs)
    assert report.raise_if_failed() is report
    assert "PASS" in str(report)


def test_inputs_are_restored_after_the_check(rng):
    forward, backward, inputs = matmul_case(rng)
    before = {k: v.copy() for k, v in inputs.items()}
    for mode in MODES:
        check_function(forward, backward, inputs, mode=mode)
        for k in inputs:
            np.testing.assert_array_equal(inputs[k], before[k])


def test_parameters_are_checked_like_inputs(rng):
    layer = nn.Linear(5, 3, rng=rng).astype(np.float64)
    report = check_module(layer, rng.normal(size=(4, 5)))
    assert report.passed, str(report)
    assert {r.name: r.n_checked for r in report.results} == {"x": 20, "W": 15, "b": 3}


# ------------------------------------------------------------- planted bugs
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_backward_scaled_by_1e_4_fails(case, mode, rng):
    scale = 1 + 1e-4

    def bug(g):
        return {k: v * scale for k, v in g.items()} if isinstance(g, dict) else g * scale

    forward, backward, inputs = CASES[case](rng, bug)
    report = check_function(forward, backward, inputs, op=case, mode=mode, n_samples=4)
    assert_fails_loudly(report)
    assert report.max_rel_error == pytest.approx(1e-4, rel=1e-2)   # the planted error, measured


def test_one_wrong_entry_fails_and_is_named(rng):
    wrong = (2, 3)

    def bug(g):
        g = g.copy()
        g[wrong] += 1e-3
        return g

    forward, backward, inputs = cube_case(rng, bug)
    report = check_function(forward, backward, inputs, op="cube")
    msg = assert_fails_loudly(report)
    (res,) = report.results
    assert res.worst_index == wrong
    assert f"index {wrong}" in msg
    # the numeric value is the true derivative, the analytic one is the planted value
    fwd_ok, bwd_ok, _ = cube_case(np.random.default_rng(0))
    true = bwd_ok(core._random_like(fwd_ok(), np.random.default_rng(0)))["a"][wrong]
    assert res.numeric == pytest.approx(true, rel=1e-8)
    assert res.analytic == pytest.approx(true + 1e-3, rel=1e-12)


def test_transposed_gradient_fails(rng):
    A, C = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))

    def forward():
        return A @ C

    def backward(dy):
        return {"A": (dy @ C.T).T}                     # right shape, transposed

    report = check_function(forward, backward, {"A": A})
    assert_fails_loudly(report)


class LinearNoBiasGrad(nn.Linear):
    def backward(self, dy):
        dx, dW, _ = linear_backward(dy, self._pop_cache())
        self.grads["W"] += dW                          # bug: the bias gradient is dropped
        return dx


class LinearWNotTransposed(nn.Linear):
    def backward(self, dy):
        x, W, _ = self._pop_cache()
        self.grads["W"] += x.T @ dy
        self.grads["b"] += dy.sum(axis=0)
        return dy @ W                                  # bug: W instead of W.T (square W)


@pytest.mark.parametrize("cls, bad", [(LinearNoBiasGrad, "b"), (LinearWNotTransposed, "x")])
def test_buggy_linear_layers_fail(cls, bad, rng):
    layer = cls(4, 4, rng=rng).astype(np.float64)
    report = check_module(layer, rng.normal(size=(3, 4)))
    assert_fails_loudly(report)
    failed = {r.name for r in report.results if not r.passed}
    assert bad in failed
    # the same check on the real layer passes: the failure is the planted bug
    good = nn.Linear(4, 4, rng=np.random.default_rng(0)).astype(np.float64)
    assert check_module(good, rng.normal(size=(3, 4))).passed


def test_reparameterization_missing_half_fails(rng):
    mu, logvar, eps = rng.normal(size=(4, 3)), rng.normal(0, 0.7, (4, 3)), rng.normal(size=(4, 3))

    def forward():
        return reparameterize_forward(mu, logvar, eps)[0]

    def backward(dz):
        eps_, std = reparameterize_forward(mu, logvar, eps)[1]
        return {"mu": dz, "logvar": dz * eps_ * std}    # bug: missing the factor 0.5

    def backward_ok(dz):
        dmu, dlv = reparameterize_backward(dz, reparameterize_forward(mu, logvar, eps)[1])
        return {"mu": dmu, "logvar": dlv}

    inputs = {"mu": mu, "logvar": logvar}
    for mode in MODES:
        report = check_function(forward, backward, inputs, mode=mode)
        assert_fails_loudly(report)
        assert [r.name for r in report.results if not r.passed] == ["logvar"]
        assert check_function(forward, backward_ok, inputs, mode=mode).passed


def test_kl_gradient_with_wrong_sign_fails(rng):
    mu, logvar = rng.normal(size=(4, 3)), rng.normal(0, 0.7, (4, 3))

    def forward():
        return kl_standard_normal(mu, logvar)[0]

    def backward(dy):
        g = kl_standard_normal(mu, logvar)[1]
        return {"mu": -dy * g["mu"], "logvar": dy * g["logvar"]}    # bug: sign of dKL/dmu

    for mode in MODES:
        report = check_function(forward, backward, {"mu": mu, "logvar": logvar}, mode=mode)
        assert_fails_loudly(report)
        assert [r.name for r in report.results if not r.passed] == ["mu"]


# ------------------------------------------------------------ input checks
def test_float32_input_is_rejected(rng):
    forward, backward, inputs = cube_case(rng)
    with pytest.raises(TypeError, match="float64"):
        check_function(forward, backward, {"a": inputs["a"].astype(np.float32)})


def test_non_array_input_is_rejected():
    with pytest.raises(TypeError):
        check_function(lambda: 0.0, lambda dy: {"a": 0.0}, {"a": [1.0, 2.0]})


def test_unknown_mode_is_rejected(rng):
    forward, backward, inputs = cube_case(rng)
    with pytest.raises(ValueError, match="mode"):
        check_function(forward, backward, inputs, mode="exhaustive")


def test_backward_missing_a_key_raises_key_error(rng):
    forward, backward, inputs = matmul_case(rng)

    def partial(dy):
        return {"A": backward(dy)["A"]}

    with pytest.raises(KeyError, match="B"):
        check_function(forward, partial, inputs)


def test_gradient_of_wrong_shape_raises(rng):
    forward, backward, inputs = cube_case(rng)
    with pytest.raises(ValueError, match="shape"):
        check_function(forward, lambda dy: {"a": backward(dy)["a"].T}, inputs)


# ---------------------------------------------- the random upstream gradient
def _cancelling_linear_bug(variant):
    """y = x @ W with a backward whose error vanishes when dy is all ones.

    "rows":    dx = dy[perm] @ W.T   — permuting the rows of ones changes nothing.
    "columns": dx = dy @ W[:, perm].T — ones @ W[:, perm].T has the row sums of W,
               which a column shuffle keeps.
    """
    rng = np.random.default_rng(0)
    x, W = rng.normal(size=(4, 5)), rng.normal(size=(5, 3))
    rows, cols = np.array([1, 2, 3, 0]), np.array([2, 0, 1])

    def forward():
        return x @ W

    def backward(dy):
        dx = dy[rows] @ W.T if variant == "rows" else dy @ W[:, cols].T
        return {"x": dx, "W": x.T @ dy}

    # the error really does cancel under a ones upstream gradient
    ones = np.ones((4, 3))
    np.testing.assert_allclose(backward(ones)["x"], ones @ W.T, rtol=1e-14)
    return forward, backward, {"x": x, "W": W}


@pytest.mark.parametrize("variant", ["rows", "columns"])
def test_random_upstream_gradient_catches_cancelling_bug(variant, monkeypatch):
    forward, backward, inputs = _cancelling_linear_bug(variant)
    for mode in MODES:
        report = check_function(forward, backward, inputs, mode=mode)
        assert_fails_loudly(report)
        assert [r.name for r in report.results if not r.passed] == ["x"]
    # the same checker with a ones upstream gradient is blind to it
    monkeypatch.setattr(core, "_random_like",
                        lambda y, rng: 1.0 if np.ndim(y) == 0 else np.ones(np.shape(y)))
    assert check_function(forward, backward, inputs).passed


def test_upstream_gradient_is_not_ones(rng):
    seen = []
    forward, backward, inputs = cube_case(rng)

    def spy(dy):
        seen.append(np.array(dy))
        return backward(dy)

    check_function(forward, spy, inputs)
    (dy,) = seen
    assert dy.shape == (4, 5)
    assert np.unique(dy).size == dy.size           # random, not a constant


# ------------------------------------------------------------- sampled mode
@pytest.mark.parametrize("seed", range(5))
def test_sampled_mode_always_includes_the_largest_gradient(seed):
    rng = np.random.default_rng(100 + seed)
    a = rng.uniform(0.5, 1.5, (20, 20))

    def forward():
        return a ** 3

    def backward(dy):
        g = 3 * a ** 2 * dy
        k = np.unravel_index(np.argmax(np.abs(g)), g.shape)
        g[k] *= 1 + 1e-3           # bug only at the largest entry (it stays the largest)
        return {"a": g}

    report = check_function(forward, backward, {"a": a}, mode="sampled", n_samples=8, seed=seed)
    (res,) = report.results
    assert res.n_checked in (8, 9)                 # n_samples, plus the largest if not drawn
    assert not report.passed, str(report)
    dy = core._random_like(a ** 3, np.random.default_rng(seed))
    assert res.worst_index == np.unravel_index(np.argmax(np.abs(3 * a ** 2 * dy)), a.shape)


def test_sampled_mode_checks_n_samples_entries(rng):
    a, b = rng.normal(size=(10, 10)), rng.normal(size=(3,))

    def forward():
        return (np.sin(a).sum(), np.cos(b))

    def backward(dy):
        return {"a": dy[0] * np.cos(a), "b": -dy[1] * np.sin(b)}

    report = check_function(forward, backward, {"a": a, "b": b}, mode="sampled", n_samples=12)
    assert report.passed, str(report)
    counts = {r.name: r.n_checked for r in report.results}
    assert counts["a"] >= 12 and counts["a"] <= 13
    assert counts["b"] == 3                        # small arrays are checked in full


def test_directional_mode_reports_no_index(rng):
    forward, backward, inputs = cube_case(rng)
    report = check_function(forward, backward, inputs, mode="directional")
    (res,) = report.results
    assert res.worst_index is None and res.n_checked == inputs["a"].size
    assert re.search(r"at direction", str(report))
