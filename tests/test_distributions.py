"""Samplers, KL divergences, likelihoods and the stable numerics under them.

Statistical checks use a tolerance of 5 standard errors computed from the sample
size; each one is shown to reject the bug it exists for (e.g. std = exp(logvar)).
"""
import math

import numpy as np
import pytest

from scratchvae.distributions import (
    bernoulli_nll, check_targets, gaussian_nll, kl_diag_gaussians, kl_per_dimension,
    kl_standard_normal, reparameterize_backward, reparameterize_forward, squared_error,
)
from scratchvae.errors import DTypeError, NonFiniteError, ShapeError
from scratchvae.functional import log_sigmoid, logsumexp, sigmoid, softplus

N_SAMPLES = 200_000
Z = 5.0                                   # standard errors allowed


def moments_ok(z, mean, var):
    """Per column: sample mean and variance within Z standard errors of (mean, var).

    SE(mean) = sqrt(var / n); SE(sample variance) of a Gaussian = var * sqrt(2 / (n - 1)).
    """
    n = z.shape[0]
    m, s2 = z.mean(axis=0), z.var(axis=0, ddof=1)
    mean_ok = np.abs(m - mean) <= Z * np.sqrt(var / n)
    var_ok = np.abs(s2 - var) <= Z * var * np.sqrt(2 / (n - 1))
    return mean_ok & var_ok


# ----------------------------------------------------------- reparameterization
MU = np.array([0.0, 1.5, -0.7, 2.0, -3.0])
LOGVAR = np.array([0.0, -2.0, 1.3, 0.5, -0.8])


def test_reparameterize_moments():
    mu, logvar = np.tile(MU, (N_SAMPLES, 1)), np.tile(LOGVAR, (N_SAMPLES, 1))
    z, (eps, std) = reparameterize_forward(mu, logvar, rng=np.random.default_rng(0))
    assert z.shape == mu.shape and z.dtype == np.float64
    ok = moments_ok(z, MU, np.exp(LOGVAR))
    assert ok.all(), f"moment test failed for (mu, logvar) = {list(zip(MU[~ok], LOGVAR[~ok]))}"
    np.testing.assert_allclose(std[0], np.exp(LOGVAR / 2), rtol=1e-15)

    # the planted bug, std = exp(logvar), with the same noise: rejected wherever logvar != 0
    z_bad = mu + np.exp(logvar) * eps
    bad_ok = moments_ok(z_bad, MU, np.exp(LOGVAR))
    assert bad_ok[LOGVAR == 0].all()          # indistinguishable only at logvar = 0
    assert not bad_ok[LOGVAR != 0].any()


def test_reparameterize_float32_moments():
    mu = np.full((N_SAMPLES, 1), 0.5, np.float32)
    logvar = np.full((N_SAMPLES, 1), -1.0, np.float32)
    z, _ = reparameterize_forward(mu, logvar, rng=np.random.default_rng(1))
    assert z.dtype == np.float32
    assert moments_ok(z.astype(np.float64), 0.5, math.exp(-1.0)).all()


def test_reparameterize_frozen_noise_and_seed():
    rng = np.random.default_rng(0)
    mu, logvar, eps = rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    z, _ = reparameterize_forward(mu, logvar, eps)
    np.testing.assert_allclose(z, mu + np.exp(logvar / 2) * eps, rtol=1e-15)
    z1, _ = reparameterize_forward(mu, logvar, rng=np.random.default_rng(5))
    z2, _ = reparameterize_forward(mu, logvar, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(z1, z2)
    with pytest.raises(ValueError, match="eps"):
        reparameterize_forward(mu, logvar)
    with pytest.raises(ShapeError):
        reparameterize_forward(mu, logvar, eps[:2])
    with pytest.raises(ShapeError):
        reparameterize_forward(mu, logvar[:, :1], eps)


def test_reparameterize_backward_formula():
    rng = np.random.default_rng(0)
    mu, logvar, eps, dz = (rng.normal(size=(4, 3)) for _ in range(4))
    _, cache = reparameterize_forward(mu, logvar, eps)
    dmu, dlogvar = reparameterize_backward(dz, cache)
    np.testing.assert_array_equal(dmu, dz)
    np.testing.assert_allclose(dlogvar, dz * eps * 0.5 * np.exp(logvar / 2), rtol=1e-14)


# ------------------------------------------------------------------------- KL
def test_kl_standard_normal_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mu, logvar = np.array([[0.3, -1.2, 0.0]]), np.array([[-0.5, 0.8, 0.0]])
    var = np.exp(logvar)
    z = mu + np.sqrt(var) * rng.standard_normal((N_SAMPLES, 3))
    log_q = -0.5 * ((z - mu) ** 2 / var + logvar + math.log(2 * math.pi)).sum(axis=1)
    log_p = -0.5 * (z ** 2 + math.log(2 * math.pi)).sum(axis=1)
    d = log_q - log_p
    mc, se = d.mean(), d.std(ddof=1) / math.sqrt(N_SAMPLES)
    kl = kl_standard_normal(mu, logvar)[0]
    assert abs(kl - mc) <= Z * se, (kl, mc, se)
    assert abs(2 * kl - mc) > Z * se and abs(0.5 * kl - mc) > Z * se   # the test has power


def test_kl_standard_normal_equals_kl_diag_with_standard_prior():
    rng = np.random.default_rng(1)
    mu, logvar = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    zeros = np.zeros_like(mu)
    for reduction in ("mean", "sum", "none"):
        kl, g = kl_standard_normal(mu, logvar, reduction)
        kl2, g2 = kl_diag_gaussians(mu, logvar, zeros, zeros, reduction)
        np.testing.assert_allclose(kl, kl2, rtol=1e-13)
        np.testing.assert_allclose(g["mu"], g2["mu_q"], rtol=1e-13)
        np.testing.assert_allclose(g["logvar"], g2["logvar_q"], rtol=1e-13, atol=1e-15)


def test_kl_closed_form_values():
    mu, logvar = np.array([[1.0, -2.0]]), np.array([[0.5, -1.0]])
    expected = 0.5 * ((1 + math.exp(0.5) - 1 - 0.5) + (4 + math.exp(-1) - 1 + 1))
    assert kl_standard_normal(mu, logvar)[0] == pytest.approx(expected, rel=1e-14)
    # KL between two 1-D Gaussians, written out
    mq, lq, mp, lp = 0.3, -0.4, -1.1, 0.9
    exp = 0.5 * (lp - lq + (math.exp(lq) + (mq - mp) ** 2) / math.exp(lp) - 1)
    kl, _ = kl_diag_gaussians(*(np.array([[v]]) for v in (mq, lq, mp, lp)))
    assert kl == pytest.approx(exp, rel=1e-14)


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    zeros = np.zeros((3, 4))
    kl, g = kl_standard_normal(zeros, zeros)
    assert kl == 0.0 and not g["mu"].any() and not g["logvar"].any()
    rng = np.random.default_rng(2)
    mu, logvar = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    kl_q, _ = kl_diag_gaussians(mu, logvar, mu, logvar, reduction="none")
    np.testing.assert_allclose(kl_q, 0.0, atol=1e-14)
    for _ in range(5):
        mu_q, lv_q, mu_p, lv_p = (rng.normal(0, 1, (50, 4)) for _ in range(4))
        assert (kl_standard_normal(mu_q, lv_q, "none")[0] > 0).all()
        assert (kl_diag_gaussians(mu_q, lv_q, mu_p, lv_p, "none")[0] > 0).all()
        assert (kl_per_dimension(mu_q, lv_q) > 0).all()


# Regression: exp(logvar) − 1 − logvar cancels near q = p and used to round below 0;
# the expm1 forms keep KL ≥ 0 in floating point.
def test_kl_standard_normal_is_not_negative_near_the_prior():
    logvar = np.array([[-3e-9], [3e-9], [-1e-9], [1e-9]])          # one sample per row
    kl = kl_standard_normal(np.zeros_like(logvar), logvar, "none")[0]
    assert (kl >= 0).all(), kl


def test_kl_diag_gaussians_is_not_negative_for_q_equal_p():
    rng = np.random.default_rng(0)
    mu, lv = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    kl = kl_diag_gaussians(mu, lv, mu, lv, "none")[0]
    assert (kl >= 0).all(), kl


def test_kl_per_dimension_sums_to_kl():
    rng = np.random.default_rng(4)
    mu, logvar = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    per_dim = kl_per_dimension(mu, logvar)
    assert per_dim.shape == (3,)
    assert per_dim.sum() == pytest.approx(kl_standard_normal(mu, logvar)[0], rel=1e-13)


# ------------------------------------------------------------------ reductions
def _losses(rng):
    """Each loss as ``reduction -> (value, {input: gradient})``, on one fixed random batch:
    every loss follows the same contract, so one table holds them all."""
    a, b, c, d = (rng.normal(size=(5, 4)) for _ in range(4))
    x01 = rng.uniform(0, 1, (5, 4))
    lv = rng.normal(0, 0.5, (4,))
    return {
        "kl_standard_normal": lambda r: kl_standard_normal(a, b, r),
        "kl_diag_gaussians": lambda r: kl_diag_gaussians(a, b, c, d, r),
        "bernoulli_nll": lambda r: bernoulli_nll(a, x01, r),
        "gaussian_nll": lambda r: gaussian_nll(a, c, lv, r),
        "squared_error": lambda r: squared_error(a, c, r),
    }


@pytest.mark.parametrize("name", list(_losses(np.random.default_rng(0))))
def test_reduction_relationships(name):
    fn = _losses(np.random.default_rng(0))[name]
    n = 5
    mean, g_mean = fn("mean")
    total, g_sum = fn("sum")
    none, g_none = fn("none")
    assert np.ndim(mean) == 0 and np.ndim(total) == 0 and np.shape(none) == (n,)
    assert total == pytest.approx(n * mean, rel=1e-13)
    assert none.sum() == pytest.approx(total, rel=1e-13)
    assert g_mean.keys() == g_sum.keys() == g_none.keys()
    for k in g_mean:
        np.testing.assert_allclose(g_sum[k], n * g_mean[k], rtol=1e-13)   # d(sum) = N d(mean)
        np.testing.assert_allclose(g_none[k], g_sum[k], rtol=1e-13)       # "none": d(sum)
    with pytest.raises(ValueError, match="reduction"):
        fn("avg")


# ----------------------------------------------------------------- likelihoods
def test_bernoulli_nll_matches_naive_formula():
    rng = np.random.default_rng(0)
    logits, x = rng.normal(0, 4, (6, 10)), rng.uniform(0, 1, (6, 10))
    s = 1 / (1 + np.exp(-logits))
    naive = -(x * np.log(s) + (1 - x) * np.log(1 - s)).sum(axis=1).mean()
    loss, grads = bernoulli_nll(logits, x)
    dlogits = grads["logits"]
    assert loss == pytest.approx(naive, rel=1e-12)
    np.testing.assert_allclose(dlogits, (s - x) / 6, rtol=1e-12, atol=1e-16)
    # binary targets too
    xb = (x > 0.5).astype(np.float64)
    naive_b = -(xb * np.log(s) + (1 - xb) * np.log(1 - s)).sum(axis=1).mean()
    assert bernoulli_nll(logits, xb)[0] == pytest.approx(naive_b, rel=1e-12)


def test_bernoulli_nll_stable_at_extreme_logits():
    logits = np.array([[1000.0, -1000.0, 1000.0, -1000.0, 1000.0, -1000.0]])
    x = np.array([[1.0, 0.0, 0.0, 1.0, 0.3, 0.3]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grads = bernoulli_nll(logits, x, reduction="none")
    dlogits = grads["logits"]
    # analytic limit: softplus(l) - x l -> max(l, 0) - x l (log1p(e^-1000) is 0 in float64)
    limit = np.maximum(logits, 0) - x * logits
    np.testing.assert_allclose(loss, limit.sum(axis=1), rtol=1e-15)
    assert np.isfinite(dlogits).all()
    np.testing.assert_allclose(dlogits, (logits > 0) - x, rtol=1e-15, atol=0)


def test_gaussian_nll_fixed_and_learned_variance():
    rng = np.random.default_rng(1)
    mean, x = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    log2pi = math.log(2 * math.pi)

    # fixed variance (a float): no variance gradient
    s = -0.7
    loss, grads = gaussian_nll(mean, x, s)
    closed = 0.5 * ((x - mean) ** 2 / math.exp(s) + s + log2pi).sum(axis=1).mean()
    assert loss == pytest.approx(closed, rel=1e-13) and set(grads) == {"mean"}
    np.testing.assert_allclose(grads["mean"], (mean - x) / math.exp(s) / 4, rtol=1e-13)

    # learned per-dimension variance (D,)
    lv = rng.normal(0, 0.5, (6,))
    loss, grads = gaussian_nll(mean, x, lv)
    dmean, dlv = grads["mean"], grads["logvar"]
    sq = (x - mean) ** 2 / np.exp(lv)
    assert loss == pytest.approx((0.5 * (sq + lv + log2pi)).sum(axis=1).mean(), rel=1e-13)
    np.testing.assert_allclose(dmean, (mean - x) / np.exp(lv) / 4, rtol=1e-13)
    assert dlv.shape == (6,)
    np.testing.assert_allclose(dlv, (0.5 * (1 - sq)).sum(axis=0) / 4, rtol=1e-12)

    # learned per-element variance (N, D)
    lv2 = rng.normal(0, 0.5, (4, 6))
    loss, grads = gaussian_nll(mean, x, lv2)
    dlv2 = grads["logvar"]
    sq2 = (x - mean) ** 2 / np.exp(lv2)
    assert loss == pytest.approx((0.5 * (sq2 + lv2 + log2pi)).sum(axis=1).mean(), rel=1e-13)
    np.testing.assert_allclose(dlv2, 0.5 * (1 - sq2) / 4, rtol=1e-12)


def test_gaussian_unit_variance_is_half_squared_error_plus_constant():
    rng = np.random.default_rng(2)
    mean, x = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    g = gaussian_nll(mean, x, 0.0)[0]
    assert g == pytest.approx(0.5 * squared_error(mean, x)[0] + 2.5 * math.log(2 * math.pi),
                              rel=1e-13)


def test_squared_error_is_sum_of_squares():
    rng = np.random.default_rng(3)
    pred, x = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    loss, grads = squared_error(pred, x)
    dpred = grads["pred"]
    assert loss == pytest.approx(((pred - x) ** 2).sum() / 4, rel=1e-13)
    np.testing.assert_allclose(dpred, 2 * (pred - x) / 4, rtol=1e-13)
    with pytest.raises(ShapeError):
        squared_error(pred, x[:, :2])


def test_check_targets():
    ok = np.array([[0.0, 0.5, 1.0]])
    assert check_targets(ok, "bernoulli") is ok
    for bad in (np.array([[-0.1, 0.5]]), np.array([[0.5, 1.1]])):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            check_targets(bad, "bernoulli")
        assert check_targets(bad, "gaussian") is bad          # any real value is fine there
    with pytest.raises(DTypeError, match="255"):
        check_targets(np.array([[0, 255]], dtype=np.uint8), "bernoulli")
    with pytest.raises(NonFiniteError):
        check_targets(np.array([[0.5, np.nan]]), "gaussian")


# -------------------------------------------------------------------- numerics
SAFE = np.linspace(-30, 30, 601)
EXTREME = np.array([-1000.0, -800.0, 800.0, 1000.0])


def test_stable_functions_match_naive_in_safe_range():
    np.testing.assert_allclose(softplus(SAFE), np.log1p(np.exp(SAFE)), rtol=1e-14)
    np.testing.assert_allclose(sigmoid(SAFE), 1 / (1 + np.exp(-SAFE)), rtol=1e-14)
    # log(sigmoid(x)) = -log(1 + e^{-x}); log1p keeps the naive form accurate near 0
    np.testing.assert_allclose(log_sigmoid(SAFE), -np.log1p(np.exp(-SAFE)), rtol=1e-14)


def test_stable_functions_at_extremes():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        sp, sg, ls = softplus(EXTREME), sigmoid(EXTREME), log_sigmoid(EXTREME)
    for a in (sp, sg, ls):
        assert np.isfinite(a).all()
    np.testing.assert_array_equal(sp, [0.0, 0.0, 800.0, 1000.0])
    np.testing.assert_array_equal(sg, [0.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(ls, [-1000.0, -800.0, 0.0, 0.0])
    # sigmoid(-x) = 1 - sigmoid(x) and softplus(x) - softplus(-x) = x hold everywhere
    x = np.concatenate([SAFE, EXTREME])
    np.testing.assert_allclose(sigmoid(-x), 1 - sigmoid(x), atol=1e-15)
    np.testing.assert_allclose(softplus(x) - softplus(-x), x, rtol=1e-14, atol=1e-14)


def test_logsumexp():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 5))
    naive = lambda v, **k: np.log(np.exp(v).sum(**k))
    assert logsumexp(a) == pytest.approx(naive(a), rel=1e-14)
    assert np.shape(logsumexp(a)) == ()
    for axis in (0, 1):
        np.testing.assert_allclose(logsumexp(a, axis=axis), naive(a, axis=axis), rtol=1e-14)
        out = logsumexp(a, axis=axis, keepdims=True)
        np.testing.assert_allclose(out, naive(a, axis=axis, keepdims=True), rtol=1e-14)

    big = np.array([[1000.0, 1000.0, 999.0], [-1000.0, -1000.0, -1001.0]])
    with np.errstate(over="raise", invalid="raise"):
        out = logsumexp(big, axis=1)
    expected = np.log(2 + math.exp(-1))
    np.testing.assert_allclose(out, [1000 + expected, -1000 + expected], rtol=1e-15)

    rows = np.array([[-np.inf, -np.inf, -np.inf], [-np.inf, 0.0, 0.0], [1.0, 2.0, 3.0]])
    with np.errstate(divide="ignore"):                 # log(0) for the all -inf row
        out = logsumexp(rows, axis=1)
    assert out[0] == -np.inf and not np.isnan(out).any()
    assert out[1] == pytest.approx(math.log(2), rel=1e-15)
    assert out[2] == pytest.approx(naive(rows[2]), rel=1e-15)
