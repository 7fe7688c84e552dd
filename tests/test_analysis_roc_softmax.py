"""ROC curves and AUC (hand-computed cases, ties, the rank statistic against the pairwise
definition and the trapezoid area), softmax regression (stable cross-entropy, gradient
checks, fitting), and the per-example anomaly scores (their means are the models' losses)."""
import itertools
import math

import numpy as np
import pytest

from scratchvae.analysis.anomaly_scores import ae_scores, vae_scores
from scratchvae.analysis.roc import rankdata, roc_auc, roc_curve, tpr_at_fpr, trapezoid_area
from scratchvae.analysis.softmax_regression import (
    SoftmaxRegression, fit_and_score, softmax_cross_entropy,
)
from scratchvae.distributions import bernoulli_nll
from scratchvae.errors import DataError, NonFiniteError, ShapeError
from scratchvae.models import VAE, Autoencoder

SEEDS = (0, 1, 2)


# ============================================================================ ROC
def pairwise_auc(s, y):
    """The definition: P(s₊ > s₋) + ½ P(s₊ = s₋) over all positive-negative pairs."""
    pos, neg = s[y == 1], s[y == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_rankdata_gives_mid_ranks():
    np.testing.assert_array_equal(rankdata(np.array([3.0, 1.0, 4.0, 1.0, 5.0])),
                                  [3, 1.5, 4, 1.5, 5])
    np.testing.assert_array_equal(rankdata(np.array([2.0, 2.0, 2.0])), [2, 2, 2])


def test_hand_computed_curve_and_auc():
    s, y = np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])
    fpr, tpr, thr = roc_curve(s, y)
    np.testing.assert_array_equal(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_array_equal(tpr, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_array_equal(thr, [np.inf, 0.8, 0.4, 0.35, 0.1])
    assert roc_auc(s, y) == 0.75                       # 3 of the 4 pairs ordered right


@pytest.mark.parametrize("s, y, auc", [
    ([1.0, 1.0, 2.0, 2.0], [0, 1, 0, 1], 0.5),          # ½ + 0 + 1 + ½ over 4 pairs
    ([0.5, 0.5, 0.5, 0.9], [0, 1, 1, 1], 2 / 3),       # ½ + ½ + 1 over 3 pairs
    ([3.0, 3.0, 3.0, 3.0], [0, 1, 0, 1], 0.5),          # everything tied: chance
    ([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1], 1.0),          # perfect
    ([0.1, 0.2, 0.3, 0.4], [1, 1, 0, 0], 0.0),          # perfectly wrong
])
def test_hand_computed_aucs_with_ties(s, y, auc):
    s, y = np.array(s), np.array(y)
    assert roc_auc(s, y) == pytest.approx(auc, abs=1e-15)
    assert trapezoid_area(*roc_curve(s, y)[:2]) == pytest.approx(auc, abs=1e-15)


def test_tie_between_classes_is_one_diagonal_step():
    fpr, tpr, _ = roc_curve(np.array([1.0, 1.0]), np.array([0, 1]))
    np.testing.assert_array_equal(fpr, [0, 1])
    np.testing.assert_array_equal(tpr, [0, 1])


@pytest.mark.parametrize("seed", range(5))
def test_rank_auc_equals_pairwise_definition_and_trapezoid(seed):
    rng = np.random.default_rng(seed)
    n = 60
    s = rng.integers(0, 8, n).astype(float)            # few distinct values: many ties
    y = (rng.uniform(size=n) < 0.4 + 0.05 * s).astype(int)
    auc = roc_auc(s, y)
    assert auc == pytest.approx(pairwise_auc(s, y), abs=1e-12)
    fpr, tpr, thr = roc_curve(s, y)
    assert auc == pytest.approx(trapezoid_area(fpr, tpr), abs=1e-12)
    assert len(thr) == 1 + len(np.unique(s))
    assert (np.diff(fpr) >= 0).all() and (np.diff(tpr) >= 0).all()
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    # AUC only depends on the order of the scores
    assert roc_auc(np.exp(s / 3), y) == pytest.approx(auc, abs=1e-12)
    assert roc_auc(-s, y) == pytest.approx(1 - auc, abs=1e-12)


def test_bool_and_float_labels_and_tpr_at_fpr():
    s, y = np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])
    assert roc_auc(s, y.astype(bool)) == roc_auc(s, y.astype(float)) == 0.75
    fpr, tpr, _ = roc_curve(s, y)
    assert tpr_at_fpr(fpr, tpr, 0.0) == 0.5
    assert tpr_at_fpr(fpr, tpr, 0.5) == 1.0


def test_roc_errors_name_the_problem():
    with pytest.raises(DataError, match="both classes"):
        roc_auc(np.array([0.1, 0.2]), np.array([1, 1]))
    with pytest.raises(ShapeError, match=r"shape \(3,\)"):
        roc_auc(np.array([0.1, 0.2, 0.3]), np.array([0, 1]))
    with pytest.raises(DataError, match="binary"):
        roc_curve(np.array([0.1, 0.2]), np.array([0, 2]))
    with pytest.raises(NonFiniteError):
        roc_auc(np.array([0.1, np.nan]), np.array([0, 1]))
    with pytest.raises(ShapeError, match="1 dimensions"):
        roc_auc(np.ones((2, 2)), np.array([0, 1]))


# ============================================================ softmax regression
def test_cross_entropy_hand_values():
    loss, d = softmax_cross_entropy(np.zeros((3, 4)), np.array([0, 1, 3]))
    d = d["logits"]
    assert loss == pytest.approx(math.log(4), rel=1e-14)             # uniform over 4 classes
    np.testing.assert_allclose(d, (np.full((3, 4), 0.25) - np.eye(4)[[0, 1, 3]]) / 3)
    a = np.array([[2.0, 0.0]])
    assert softmax_cross_entropy(a, np.array([1]))[0] == pytest.approx(math.log(1 + math.e ** 2))


def test_cross_entropy_is_stable_for_huge_logits():
    a = np.array([[1000.0, 0.0, -1000.0], [5e3, 5e3, 0.0]])
    y = np.array([1, 0])
    loss, d = softmax_cross_entropy(a, y, reduction="none")
    d = d["logits"]
    np.testing.assert_allclose(loss, [1000.0, math.log(2)], rtol=1e-12)
    assert np.isfinite(d).all()
    np.testing.assert_allclose(d.sum(axis=1), 0, atol=1e-12)      # Σ_k (p_k − y_k) = 0
    # shifting a row by a constant changes nothing
    shifted = softmax_cross_entropy(a - 777.0, y, reduction="none")[0]
    np.testing.assert_allclose(shifted, loss, rtol=1e-12)


def test_cross_entropy_reductions_agree():
    rng = np.random.default_rng(0)
    a, y = rng.normal(size=(6, 5)), rng.integers(0, 5, 6)
    per, d_none = softmax_cross_entropy(a, y, "none")
    mean, d_mean = softmax_cross_entropy(a, y, "mean")
    total, d_sum = softmax_cross_entropy(a, y, "sum")
    assert mean == pytest.approx(per.mean()) and total == pytest.approx(per.sum())
    np.testing.assert_allclose(d_sum["logits"], d_none["logits"])
    np.testing.assert_allclose(d_mean["logits"], d_none["logits"] / 6)
    with pytest.raises(ValueError, match="reduction"):
        softmax_cross_entropy(a, y, "max")


def blobs(n, seed, k=3, f=5, sep=4.0):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(0, sep, (k, f))
    y = rng.integers(0, k, n)
    return centres[y] + rng.normal(size=(n, f)), y


@pytest.mark.parametrize("method", ["adam", "gd"])
def test_fit_separates_blobs(method):
    X, y = blobs(300, 0)
    Xt, yt = blobs(300, 1)
    clf = SoftmaxRegression(5, 3, l2=1e-3, seed=0)
    hist = clf.fit(X, y, method=method, epochs=100 if method == "gd" else 20)
    assert hist[-1] < 0.3 * hist[0]
    if method == "gd":                                     # convex + small step: monotone
        assert all(b <= a + 1e-12 for a, b in zip(hist, hist[1:]))
    assert clf.accuracy(Xt, yt) > 0.95
    p = clf.predict_proba(Xt)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-12)
    assert (p.argmax(axis=1) == clf.predict(Xt)).all()


def test_fit_is_reproducible_and_l2_shrinks_weights():
    X, y = blobs(200, 2)
    fit = lambda l2: SoftmaxRegression(5, 3, l2=l2, seed=0).fit(X, y, epochs=5)
    assert fit(1e-3) == fit(1e-3)
    weak, strong = SoftmaxRegression(5, 3, l2=0.0), SoftmaxRegression(5, 3, l2=1.0)
    weak.fit(X, y, method="gd", epochs=200)
    strong.fit(X, y, method="gd", epochs=200)
    assert np.linalg.norm(strong.params["W"]) < 0.5 * np.linalg.norm(weak.params["W"])


def test_constant_feature_column_is_harmless():
    X, y = blobs(100, 3)
    X[:, 2] = 7.0                                           # no variance
    clf = SoftmaxRegression(5, 3)
    clf.fit(X, y, epochs=3)
    assert np.isfinite(clf.params["W"]).all() and clf.buffers["scale"][2] == 1.0
    res = fit_and_score(X, y, X, y, 3, epochs=3)
    assert 0 <= res["test_accuracy"] <= 1


def test_softmax_regression_errors():
    clf = SoftmaxRegression(5, 3)
    X, y = blobs(10, 0)
    with pytest.raises(ShapeError, match=r"\(N, 5\)"):
        clf.fit(X[:, :4], y)
    with pytest.raises(ShapeError, match=r"shape \(10,\)"):
        clf.fit(X, y[:9])
    with pytest.raises(DataError, match="out of range for 3 classes"):
        clf.fit(X, y + 1)
    with pytest.raises(DataError, match="integers"):
        clf.fit(X, y.astype(float))
    with pytest.raises(ValueError, match="method"):
        clf.fit(X, y, method="lbfgs")
    with pytest.raises(ValueError, match="2 classes"):
        SoftmaxRegression(5, 1)


# ================================================================ anomaly scores
def test_vae_scores_average_to_the_vae_loss():
    rng = np.random.default_rng(0)
    m = VAE(10, (8,), 3, seed=0, dtype=np.float64)
    x = rng.uniform(0, 1, (7, 10))
    eps = rng.standard_normal((1, 7, 3))
    sc = vae_scores(m, x, eps=eps, batch_size=3)            # uneven batches 3, 3, 1
    ref = m.loss_and_grads(x, eps=eps[0], compute_grads=False)
    assert sc["neg_elbo"].shape == (7,)
    assert sc["neg_elbo"].mean() == pytest.approx(ref["loss"], rel=1e-12)
    assert sc["recon"].mean() == pytest.approx(ref["recon"], rel=1e-12)
    assert sc["kl"].mean() == pytest.approx(ref["kl"], rel=1e-12)
    np.testing.assert_allclose(sc["neg_elbo"], sc["recon"] + sc["kl"])
    at_mean = m.decoder(m.encode(x)[0])
    np.testing.assert_allclose(sc["recon_at_mean"], bernoulli_nll(at_mean, x, "none")[0])


def test_vae_scores_average_over_samples_and_are_seeded():
    rng = np.random.default_rng(1)
    m = VAE(10, (8,), 3, likelihood="gaussian", seed=0, dtype=np.float64)
    x = rng.uniform(0, 1, (5, 10))
    eps = rng.standard_normal((4, 5, 3))
    avg = vae_scores(m, x, eps=eps)["recon"]
    singles = [vae_scores(m, x, eps=eps[s:s + 1])["recon"] for s in range(4)]
    np.testing.assert_allclose(avg, np.mean(singles, axis=0), rtol=1e-12)
    np.testing.assert_array_equal(vae_scores(m, x, 3, rng=5)["neg_elbo"],
                                  vae_scores(m, x, 3, rng=5)["neg_elbo"])
    with pytest.raises(ShapeError, match=r"\(S, 5, 3\)"):
        vae_scores(m, x, eps=eps[:, :4])
    with pytest.raises(ValueError, match="n_samples"):
        vae_scores(m, x, n_samples=0)


def test_ae_scores_average_to_the_ae_loss():
    m = Autoencoder(10, (8,), 3, likelihood="mse", seed=0, dtype=np.float64)
    x = np.random.default_rng(2).uniform(0, 1, (7, 10))
    sc = ae_scores(m, x, batch_size=2)
    assert sc.shape == (7,) and sc.dtype == np.float64
    assert sc.mean() == pytest.approx(m.evaluate(x)["loss"], rel=1e-12)
    np.testing.assert_allclose(sc, ((m.reconstruct(x) - x) ** 2).sum(axis=1), rtol=1e-12)
