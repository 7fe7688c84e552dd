"""PCA by SVD against answers known in closed form: data built from a chosen SVD,
planted low rank, the covariance eigendecomposition, Eckart–Young optimality against
random projections, and the errors for bad input."""
import numpy as np
import pytest

from scratchvae.analysis import PCA, NotFittedError, mean_squared_error, principal_angle_cosines
from scratchvae.distributions import squared_error
from scratchvae.errors import DataError, DTypeError, ShapeError

N, D = 50, 6
S = np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.1])          # distinct singular values, known


def orthonormal(rng, rows, cols):
    """(rows, cols) with orthonormal columns."""
    return np.linalg.qr(rng.standard_normal((rows, cols)))[0]


def data_with_svd(seed=0):
    """X = U diag(S) Vᵀ + m with U orthonormal and centred: its PCA is known exactly."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((N, D))
    u -= u.mean(axis=0)                                   # columns ⟂ 1: X − m = U S Vᵀ
    u = np.linalg.qr(u)[0]                                # still ⟂ 1 (combinations of them)
    v = orthonormal(rng, D, D)                            # (D, D)
    m = rng.normal(0, 3, D)
    return u * S @ v.T + m, u, v, m


def sign_fixed(rows):
    """The convention PCA uses: the largest-magnitude entry of each row is positive."""
    idx = np.abs(rows).argmax(axis=1)
    return rows * np.sign(rows[np.arange(len(rows)), idx])[:, None]


# ------------------------------------------------------------------ known SVD
@pytest.mark.parametrize("k", [1, 3, 6])
def test_recovers_a_known_svd(k):
    x, _, v, m = data_with_svd()
    pca = PCA(k).fit(x)
    np.testing.assert_allclose(pca.mean, m, atol=1e-12)
    np.testing.assert_allclose(pca.singular_values, S[:k], rtol=1e-12)
    np.testing.assert_allclose(pca.components, sign_fixed(v[:, :k].T), atol=1e-10)
    np.testing.assert_allclose(pca.explained_variance, S[:k] ** 2 / (N - 1), rtol=1e-12)
    total = np.sum(S ** 2) / (N - 1)
    assert pca.total_variance == pytest.approx(total, rel=1e-12)
    np.testing.assert_allclose(pca.explained_variance_ratio, S[:k] ** 2 / np.sum(S ** 2),
                               rtol=1e-12)
    # Eckart–Young: the error is exactly the left-out energy, (1/N) Σ_{k' > k} s_k'²
    assert pca.reconstruction_error(x) == pytest.approx(np.sum(S[k:] ** 2) / N, abs=1e-12)


def test_truncate_equals_a_smaller_fit():
    x, _, _, _ = data_with_svd(4)
    big = PCA(5).fit(x)
    for k in (1, 3, 5):
        small, fresh = big.truncate(k), PCA(k).fit(x)
        assert small.n_components == k
        for key in ("components", "singular_values", "explained_variance",
                    "explained_variance_ratio", "mean"):
            np.testing.assert_allclose(getattr(small, key), getattr(fresh, key), atol=1e-12)
        assert small.reconstruction_error(x) == pytest.approx(fresh.reconstruction_error(x))
    assert big.components.shape == (5, D)                               # the original is intact
    with pytest.raises(ValueError, match="1..5"):
        big.truncate(6)
    with pytest.raises(NotFittedError):
        PCA(2).truncate(1)


def test_codes_are_centred_and_decorrelated_with_variance_lambda():
    x, u, _, _ = data_with_svd(1)
    pca = PCA(4).fit(x)
    c = pca.transform(x)                                               # (N, 4)
    np.testing.assert_allclose(c.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(np.cov(c, rowvar=False), np.diag(pca.explained_variance),
                               atol=1e-12)
    np.testing.assert_allclose(np.abs(c), np.abs(u[:, :4] * S[:4]), atol=1e-10)   # c = U_K S_K


def test_matches_the_covariance_eigendecomposition():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 5)) @ rng.standard_normal((5, 5)) + rng.normal(size=5)
    lam, vecs = np.linalg.eigh(np.cov(x, rowvar=False))                # ascending
    lam, vecs = lam[::-1], vecs[:, ::-1]
    pca = PCA(5).fit(x)
    np.testing.assert_allclose(pca.explained_variance, lam, rtol=1e-10)
    np.testing.assert_allclose(pca.components, sign_fixed(vecs.T), atol=1e-8)
    np.testing.assert_allclose(pca.explained_variance_ratio.sum(), 1.0, rtol=1e-12)


def test_orthonormal_components_and_full_rank_round_trip():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((30, 8)).astype(np.float32)
    pca = PCA(8).fit(x)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(8), atol=1e-12)
    np.testing.assert_allclose(pca.reconstruct(x), x, atol=1e-5)      # K = D: nothing lost
    assert pca.reconstruction_error(x) < 1e-10
    assert np.all(np.diff(pca.explained_variance) <= 0)               # sorted, largest first


def test_planted_low_rank_is_found():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, 10))                                   # the planted 2-D subspace
    x = rng.standard_normal((100, 2)) @ a + rng.normal(size=10)       # rank 2 after centring
    pca = PCA(2).fit(x)
    assert pca.reconstruction_error(x) < 1e-20 * np.sum(x ** 2)
    np.testing.assert_allclose(principal_angle_cosines(pca.components, a), [1, 1], atol=1e-10)
    assert PCA(3).fit(x).explained_variance[2] < 1e-20                  # nothing beyond rank 2
    # with one component, the left-out variance is the second one
    one = PCA(1).fit(x)
    assert one.reconstruction_error(x) == pytest.approx(
        pca.explained_variance[1] * (len(x) - 1) / len(x), rel=1e-10)


def test_beats_every_random_projection():
    """Eckart–Young: no other rank-K projection through the mean reconstructs better."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((300, 7)) * np.array([4.0, 3.0, 2.5, 1.0, 0.7, 0.3, 0.1])
    x = x @ orthonormal(rng, 7, 7).T                                     # rotated: not axis-aligned
    k = 3
    pca = PCA(k).fit(x)
    best = pca.reconstruction_error(x)
    xc = x - x.mean(axis=0)
    for _ in range(200):
        q = orthonormal(rng, 7, k)                                       # a random K-dim subspace
        err = mean_squared_error(xc, xc @ q @ q.T)
        assert err > best
    # and a random projection's error is not merely close: PCA keeps the large variances
    assert mean_squared_error(xc, xc @ q @ q.T) > 1.05 * best


def test_transform_of_new_data_uses_the_fitted_mean():
    x, _, _, m = data_with_svd(2)
    pca = PCA(2).fit(x)
    np.testing.assert_allclose(pca.transform(m[None, :]), 0, atol=1e-12)     # the mean → code 0
    np.testing.assert_allclose(pca.inverse_transform(np.zeros((1, 2))), m[None, :], atol=1e-12)


def test_sign_convention_is_reproducible():
    x, _, _, _ = data_with_svd(3)
    a, b = PCA(3).fit(x), PCA(3).fit(x[::-1].copy())                   # same data, other order
    np.testing.assert_allclose(a.components, b.components, atol=1e-10)
    rows = np.arange(3)
    assert (a.components[rows, np.abs(a.components).argmax(axis=1)] > 0).all()


# ---------------------------------------------------------------- the helpers
def test_mean_squared_error_is_the_mse_likelihood_value():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(9, 4)), rng.normal(size=(9, 4))
    assert mean_squared_error(x, y) == pytest.approx(squared_error(y, x)[0], rel=1e-12)
    with pytest.raises(ShapeError, match="same shape"):
        mean_squared_error(x, y[:, :3])


def test_principal_angle_cosines_known_cases():
    e = np.eye(4)
    basis = np.array([[1.0, 1, 0, 0], [1, -1, 0, 0]])                   # span{e1, e2}, other basis
    np.testing.assert_allclose(principal_angle_cosines(e[:2], basis), [1, 1], atol=1e-12)
    np.testing.assert_allclose(principal_angle_cosines(e[:2], e[2:]), [0, 0], atol=1e-12)
    tilted = np.array([[1.0, 0, 1, 0]])                                  # 45° from span{e1, e2}
    np.testing.assert_allclose(principal_angle_cosines(tilted, e[:2]), [2 ** -0.5], atol=1e-12)
    with pytest.raises(ShapeError, match=r"\(K, D\)"):
        principal_angle_cosines(e[:2], np.ones((2, 3)))


# --------------------------------------------------------------------- errors
def test_bad_input_is_named():
    x = np.random.default_rng(0).normal(size=(5, 3))
    with pytest.raises(NotFittedError, match="fit"):
        PCA(2).transform(x)
    with pytest.raises(NotFittedError, match="fit"):
        PCA(2).inverse_transform(x[:, :2])
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="positive int"):
            PCA(bad)
    with pytest.raises(ShapeError, match=r"min\(N, D\)"):
        PCA(4).fit(x)
    with pytest.raises(DataError, match="at least 2 samples"):
        PCA(1).fit(x[:1])
    with pytest.raises(DTypeError, match="floating"):
        PCA(1).fit(np.ones((5, 3), dtype=np.int64))
    with pytest.raises(ShapeError, match="2 dimensions"):
        PCA(1).fit(x[0])
    pca = PCA(2).fit(x)
    with pytest.raises(ShapeError, match="fitted on 3 features"):
        pca.transform(x[:, :2])
    with pytest.raises(ShapeError, match="2 components"):
        pca.inverse_transform(x)
