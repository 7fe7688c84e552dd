"""Scoring a recommender (scratchvae.analysis.recommendation): the baselines against hand
computations and a direct least-squares solve, the cold-start rule, the clipped RMSE, and
top-k lists that never recommend what a user already rated."""
import numpy as np
import pytest

from scratchvae.analysis import recommendation as rec
from scratchvae.data.ratings import make_ratings, split_ratings
from scratchvae.errors import ConfigError, ShapeError

# 3 items × 4 users; item 2 and user 3 have no training rating
R = np.array([[5, 3, 0, 0],
              [4, 0, 1, 0],
              [0, 0, 0, 2]], dtype=np.float32)
T = np.array([[1, 1, 0, 0],
              [1, 0, 1, 0],
              [0, 0, 0, 0]], dtype=bool)


def test_the_means_read_training_entries_only():
    assert rec.global_mean(R, T) == pytest.approx(13 / 4)
    np.testing.assert_allclose(rec.item_means(R, T), [4.0, 2.5, 13 / 4])    # cold item: μ
    with pytest.raises(ShapeError, match="no rating"):
        rec.global_mean(R, np.zeros_like(T))
    with pytest.raises(ShapeError, match="one shape"):
        rec.item_means(R, T[:, :3])


def test_the_biases_solve_the_regularised_least_squares_problem():
    rng = np.random.default_rng(0)
    I, U, lam = 7, 9, 2.0
    Rr = rng.integers(1, 6, (I, U)).astype(np.float32)
    Tr = rng.uniform(size=(I, U)) < 0.5
    Tr[3] = False                                                  # a cold item
    mu, b_i, b_u = rec.fit_biases(Rr, Tr, l2=lam, iterations=500)
    items, users = np.nonzero(Tr)                                  # the direct solve
    A = np.zeros((len(items), I + U))
    A[np.arange(len(items)), items] = 1
    A[np.arange(len(items)), I + users] = 1
    A = np.vstack([A, np.sqrt(lam) * np.eye(I + U)])
    r = Rr[Tr].astype(np.float64)
    y = np.r_[r - r.mean(), np.zeros(I + U)]
    b = np.linalg.lstsq(A, y, rcond=None)[0]
    assert mu == pytest.approx(r.mean(), rel=1e-15)
    np.testing.assert_allclose(np.r_[b_i, b_u], b, atol=1e-9)
    assert b_i[3] == 0.0
    pred = rec.bias_predictions(Rr, Tr, l2=lam, iterations=500)
    np.testing.assert_allclose(pred, mu + b_i[:, None] + b_u[None, :])
    with pytest.raises(ConfigError, match="l2"):
        rec.fit_biases(Rr, Tr, l2=0)


def test_cold_entries_get_the_default_whatever_the_model_says():
    cold = rec.cold_entries(T)
    assert cold[2].all() and cold[:, 3].all() and cold.sum() == 3 * 1 + 4 - 1
    out = rec.apply_cold_start(np.full(R.shape, 9.0), T, default=3.25)
    assert (out[cold] == 3.25).all() and (out[~cold] == 9.0).all()
    with pytest.raises(ShapeError):
        rec.apply_cold_start(np.zeros((2, 2)), T, 3.0)


def test_the_rmse_clips_predictions_to_the_rating_range():
    pred = np.array([[6.0, 0.0, 9, 9], [4.5, 9, 1.5, 9], [9, 9, 9, 9]])
    # clipped: 5 − 5 = 0, 1 − 3 = −2, 4.5 − 4 = 0.5, 1.5 − 1 = 0.5
    assert rec.rating_rmse(pred, R, T) == pytest.approx(np.sqrt((0 + 4 + 0.25 + 0.25) / 4))
    assert rec.rating_rmse(pred, R, T, rating_range=(-np.inf, np.inf)) == pytest.approx(
        np.sqrt((1 + 9 + 0.25 + 0.25) / 4))


def test_top_k_skips_rated_items_breaks_ties_by_index_and_pads():
    scores = np.array([3.0, 5.0, 5.0, 1.0, 4.0])
    rated = np.array([0, 1, 0, 0, 0], dtype=bool)
    assert rec.top_k(scores, rated, 3).tolist() == [2, 4, 0]
    assert rec.top_k(scores, ~np.eye(5, dtype=bool)[0], 2).tolist() == [0, -1]
    rng = np.random.default_rng(1)
    S, X = rng.normal(size=(6, 4)), rng.uniform(size=(6, 4)) < 0.3
    top = rec.top_k(S, X, 3)
    assert top.shape == (3, 4)
    for u in range(4):
        assert top[:, u].tolist() == rec.top_k(S[:, u], X[:, u], 3).tolist()
        assert not X[top[:, u][top[:, u] >= 0], u].any()
    with pytest.raises(ConfigError, match="k must"):
        rec.top_k(scores, rated, 0)


def test_hits_count_relevant_items_of_each_list():
    top = np.array([[0, 1], [2, -1]])
    relevant = np.array([[1, 0], [0, 1], [1, 1]], dtype=bool)      # (3 items, 2 users)
    assert rec.hits(top, relevant).tolist() == [2, 1]
    assert rec.hits(np.array([2, 1]), relevant[:, 0]) == 1


def test_the_biases_beat_the_means_on_synthetic_ratings():
    Rs, M = make_ratings(n_users=200, n_items=150, density=0.1, seed=3)
    train, test = split_ratings(M, 0.1, seed=3)
    mu = rec.global_mean(Rs, train)
    errors = [rec.rating_rmse(rec.apply_cold_start(p, train, mu), Rs, test) for p in (
        np.full(Rs.shape, mu), np.repeat(rec.item_means(Rs, train)[:, None], 200, axis=1),
        rec.bias_predictions(Rs, train))]
    assert errors[0] > errors[1] > errors[2], errors
