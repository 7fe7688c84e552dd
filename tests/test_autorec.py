"""Item-based AutoRec and its pieces: the masked loss (missing entries ignored, NaN
included), the synthetic ratings and their splits, the model's loss, and that it learns
with the Trainer on (ratings, mask) batches. The gradient checks are registered
(``masked_squared_error``, ``AutoRec(masked, l2)``) and run in test_suite_gradcheck.py."""
import numpy as np
import pytest

from scratchvae.data.ratings import make_ratings, split_ratings
from scratchvae.distributions import masked_squared_error, squared_error
from scratchvae.errors import ConfigError, ShapeError
from scratchvae.models import AutoRec
from scratchvae.train import TrainConfig, Trainer


def test_the_masked_loss_is_the_squared_error_of_the_observed_entries():
    rng = np.random.default_rng(0)
    pred, x = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
    mask = rng.uniform(size=(5, 8)) > 0.5
    loss, grads = masked_squared_error(pred, np.where(mask, x, np.nan), mask)
    full, _ = squared_error(np.where(mask, pred, 0.0), np.where(mask, x, 0.0))
    assert loss == pytest.approx(full, rel=1e-14)
    assert np.isfinite(grads["pred"]).all() and not grads["pred"][~mask].any()
    ones = masked_squared_error(pred, x, np.ones((5, 8)))
    np.testing.assert_allclose(ones[0], squared_error(pred, x)[0], rtol=1e-14)
    with pytest.raises(ShapeError, match="mask"):
        masked_squared_error(pred, x, mask[:, :3])


def test_synthetic_ratings_look_like_ratings():
    R, M = make_ratings(n_users=300, n_items=200, density=0.06, seed=1)
    assert R.shape == M.shape == (200, 300) and R.dtype == np.float32
    assert set(np.unique(R[M])) <= {1, 2, 3, 4, 5} and not R[~M].any()
    assert M.any(axis=0).all() and M.any(axis=1).all()        # everyone rated, every item seen
    assert 0.03 < M.mean() < 0.12
    counts = M.sum(axis=1)
    assert counts.max() > 5 * np.median(counts)               # a few popular items
    R2, M2 = make_ratings(n_users=300, n_items=200, density=0.06, seed=1)
    np.testing.assert_array_equal(R, R2)
    np.testing.assert_array_equal(M, M2)
    with pytest.raises(ConfigError, match="density"):
        make_ratings(density=0)


def test_splits_hold_out_observed_ratings_only():
    _, M = make_ratings(n_users=100, n_items=80, seed=2)
    train, test = split_ratings(M, 0.2, seed=3)
    assert not (train & test).any() and ((train | test) == M).all()
    assert test.sum() == round(0.2 * M.sum())
    with pytest.raises(ConfigError, match="test_fraction"):
        split_ratings(M, 1.0)


def test_the_loss_is_masked_error_plus_weight_decay():
    rng = np.random.default_rng(4)
    model = AutoRec(n_users=9, hidden=4, l2=0.5, seed=0, dtype=np.float64)
    mask = rng.uniform(size=(6, 9)) > 0.5
    x = np.where(mask, rng.integers(1, 6, (6, 9)), 0).astype(np.float64)
    out = model.loss_and_grads(x, mask, compute_grads=False)
    r_hat = model.predict(x)
    W1, W2 = model.encoder[0].params["W"], model.decoder[0].params["W"]
    expected = ((r_hat - x) ** 2 * mask).sum(axis=1).mean() + 0.25 * ((W1 ** 2).sum()
                                                                       + (W2 ** 2).sum())
    assert out["loss"] == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ShapeError, match="9 users"):
        model.loss_and_grads(x[:, :5], mask[:, :5])
    with pytest.raises(ConfigError, match="hidden"):
        AutoRec(n_users=9, hidden=0)


def rmse(pred, R, mask):
    return float(np.sqrt(((pred - R)[mask] ** 2).mean()))


def test_it_learns_from_observed_ratings_with_the_trainer():
    R, M = make_ratings(n_users=200, n_items=150, density=0.1, noise=0.3, seed=5)
    train, test = split_ratings(M, 0.1, seed=5)
    x = np.where(train, R, 0).astype(np.float32)
    model = AutoRec(n_users=200, hidden=40, l2=0.05, seed=0)
    config = TrainConfig(epochs=60, batch_size=16, lr=3e-3, progress=False)
    history = Trainer(model, (x, train), config=config).fit()
    assert history[-1]["train_recon"] < 0.5 * history[0]["train_recon"]
    global_mean = np.full(R.shape, R[train].mean())
    ours = rmse(model.predict(x), R, test)
    assert ours < rmse(global_mean, R, test), (ours, rmse(global_mean, R, test))


def test_matrix_factorization_learns_and_beats_the_mean():
    from scratchvae.analysis.matrix_factorization import MatrixFactorization
    R, M = make_ratings(n_users=200, n_items=150, density=0.1, noise=0.3, seed=5)
    train, test = split_ratings(M, 0.1, seed=5)
    mf = MatrixFactorization(rank=6, l2=5.0, iterations=10, seed=0)
    history = mf.fit(R, train)
    assert history[-1] < history[0] and len(history) == 10
    assert mf.rmse(R, test) < rmse(np.full(R.shape, R[train].mean()), R, test)
    again = MatrixFactorization(rank=6, l2=5.0, iterations=10, seed=0)
    again.fit(R, train)
    np.testing.assert_array_equal(again.predict(), mf.predict())     # deterministic
    with pytest.raises(ConfigError, match="not fitted"):
        MatrixFactorization().predict()
    with pytest.raises(ConfigError, match="l2"):
        MatrixFactorization(l2=0)


def test_matrix_factorization_predicts_the_mean_for_a_cold_item_or_user():
    from scratchvae.analysis.matrix_factorization import MatrixFactorization
    R, M = make_ratings(n_users=60, n_items=40, density=0.2, seed=6)
    train = M.copy()
    train[5] = False                                           # item 5: no training rating
    train[:, 7] = False                                        # user 7: none either
    mf = MatrixFactorization(rank=4, l2=2.0, iterations=5, seed=0)
    mf.fit(R, train)
    mu = R[train].astype(np.float64).mean()
    np.testing.assert_allclose(mf.predict()[5], mu, rtol=1e-12)
    np.testing.assert_allclose(mf.predict()[:, 7], mu, rtol=1e-12)
    with pytest.raises(ShapeError, match="no observed rating"):
        mf.fit(R, np.zeros_like(M))


def test_the_synthetic_truth_is_the_noise_free_preference_behind_the_stars():
    R, M = make_ratings(n_users=80, n_items=50, seed=7)
    R2, M2, truth = make_ratings(n_users=80, n_items=50, seed=7, return_truth=True)
    np.testing.assert_array_equal(R, R2)                       # the same draws
    np.testing.assert_array_equal(M, M2)
    assert truth.shape == R.shape and truth.dtype == np.float32
    R0, M0, truth0 = make_ratings(n_users=80, n_items=50, noise=0.0, seed=7, return_truth=True)
    np.testing.assert_array_equal(R0[M0], np.clip(np.rint(truth0[M0]), 1, 5))
    assert np.corrcoef(truth[M], R[M])[0, 1] > 0.7              # the stars follow the truth
