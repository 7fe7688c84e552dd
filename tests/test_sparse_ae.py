"""Sparse autoencoder: the KL and L1 sparsity penalties (values, gradients, the clamp,
errors) and the model (loss decomposition, gradient checks, golden run, the penalty
actually pulling the mean activation to ρ, config round trip)."""
import math

import numpy as np
import pytest

from scratchvae.errors import NonFiniteError, ShapeError
from scratchvae.functional import sparsity as S
from scratchvae.gradcheck.suite import _model_check
from scratchvae.models import Autoencoder
from scratchvae.models import sparse_ae as sparse_module
from scratchvae.models.sparse_ae import SparseAutoencoder
from golden import adam_losses

SEEDS = (0, 1, 2)


# ------------------------------------------------------------------ the penalties
def test_kl_penalty_matches_hand_computed_value():
    rho = 0.1
    h = np.array([[0.1, 0.3, 0.02],
                  [0.3, 0.1, 0.02]])                  # column means 0.2, 0.2, 0.02
    p, cache = S.kl_sparsity_forward(h, rho)
    kl = lambda r: rho * math.log(rho / r) + (1 - rho) * math.log((1 - rho) / (1 - r))
    assert p == pytest.approx(2 * kl(0.2) + kl(0.02), rel=1e-12)
    dh = S.kl_sparsity_backward(2.0, cache)
    d = lambda r: -rho / r + (1 - rho) / (1 - r)      # ∂KL/∂ρ̂
    expect = 2.0 / 2 * np.array([d(0.2), d(0.2), d(0.02)])
    np.testing.assert_allclose(dh, np.tile(expect, (2, 1)), rtol=1e-12)
    assert dh[0, 2] < 0 < dh[0, 0]      # below ρ: pushed up; above ρ: pushed down


def test_kl_penalty_is_zero_with_zero_gradient_at_the_target():
    h = np.full((4, 3), 0.05)
    p, cache = S.kl_sparsity_forward(h, 0.05)
    assert abs(p) < 1e-15
    np.testing.assert_allclose(S.kl_sparsity_backward(1.0, cache), 0, atol=1e-12)
    p2, _ = S.kl_sparsity_forward(np.full((4, 3), 0.5), 0.05)
    assert p2 > 0


def test_kl_penalty_clamp_keeps_saturated_units_finite():
    h = np.full((5, 3), 0.2)
    h[:, 0] = 0.0                       # a unit that never fires (sigmoid underflow)
    h[:, 1] = 1.0                       # a unit saturated on (float32 sigmoid rounds to 1)
    assert math.isfinite(S.kl_sparsity_forward(h.astype(np.float32), 0.05)[0])
    p, cache = S.kl_sparsity_forward(h, 0.05)
    expect = S.bernoulli_kl(0.05, np.array([S.RHO_HAT_MIN, 1 - S.RHO_HAT_MIN, 0.2])).sum()
    assert p == pytest.approx(expect, rel=1e-12)
    dh = S.kl_sparsity_backward(1.0, cache)
    assert np.isfinite(dh).all()
    assert (dh[:, :2] == 0).all() and (dh[:, 2] != 0).all()   # the clipped function is flat


def test_l1_penalty_value_and_gradient():
    h = np.array([[1.0, -2.0], [-0.5, 0.0]])
    p, cache = S.l1_sparsity_forward(h)
    assert p == pytest.approx((1 + 2 + 0.5 + 0) / 2)
    np.testing.assert_array_equal(S.l1_sparsity_backward(3.0, cache),
                                  3.0 / 2 * np.array([[1, -1], [-1, 0]]))


def test_penalty_errors_name_the_problem():
    with pytest.raises(ValueError, match="rho must lie strictly between 0 and 1"):
        S.kl_sparsity_forward(np.full((2, 2), 0.5), 0.0)
    with pytest.raises(ValueError, match="rho"):
        S.check_rho(1.5)
    with pytest.raises(ValueError, match=r"codes in \[0, 1\].*sigmoid"):
        S.kl_sparsity_forward(np.array([[0.5, -0.1]]), 0.05)
    with pytest.raises(ShapeError, match="2 dimensions"):
        S.l1_sparsity_forward(np.ones(3))
    with pytest.raises(NonFiniteError):
        S.kl_sparsity_forward(np.array([[0.5, np.nan]]), 0.05)
    with pytest.raises(ValueError, match="unknown sparsity penalty 'l2'"):
        S.sparsity_forward("l2", np.ones((2, 2)))


# ---------------------------------------------------------------------- the model
D, L, N = 12, 6, 5


def batch(n=N, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).uniform(0, 1, (n, D)).astype(dtype)


def test_loss_is_recon_plus_beta_penalty():
    m = SparseAutoencoder(D, (8,), L, rho=0.1, beta=2.5, dtype=np.float64)
    x = batch(dtype=np.float64)
    res = m.loss_and_grads(x)
    h = m.encoder(x)
    p, _ = S.kl_sparsity_forward(h, 0.1)
    assert res["sparsity"] == pytest.approx(p, rel=1e-12)
    assert res["loss"] == pytest.approx(res["recon"] + 2.5 * p, rel=1e-12)
    np.testing.assert_allclose(res["rho_hat"], h.mean(axis=0), rtol=1e-12)
    assert set(m.terms) == {"loss", "recon", "sparsity"}


def test_beta_zero_is_the_plain_autoencoder():
    sp = SparseAutoencoder(D, (8,), L, beta=0.0, seed=3, dtype=np.float64)
    ae = Autoencoder(D, (8,), L, code_activation="sigmoid", seed=3, dtype=np.float64)
    x = batch(dtype=np.float64)
    sp.zero_grad()
    ae.zero_grad()
    assert sp.loss_and_grads(x)["loss"] == pytest.approx(ae.loss_and_grads(x)["loss"], rel=1e-12)
    for (n1, _, g1), (n2, _, g2) in zip(sp.parameters(), ae.parameters()):
        assert n1 == n2
        np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-15)


def test_model_check_catches_a_dropped_penalty_gradient(monkeypatch):
    """The penalty's gradient matters in the whole-model check: drop it and the check fails."""
    make = lambda lik: SparseAutoencoder(7, (5,), 4, likelihood=lik, rho=0.2, beta=1.5,
                                         activation="tanh", seed=1)
    assert _model_check("ok", make, "bernoulli", 0).passed
    monkeypatch.setattr(sparse_module, "sparsity_backward", lambda name, dp, cache: 0.0)
    assert not _model_check("planted bug", make, "bernoulli", 0).passed


def test_diagnostics_shapes_and_values():
    m = SparseAutoencoder(D, (), L, seed=0)
    x = batch(n=7)
    rho_hat = m.mean_activation(x, batch_size=3)            # uneven batches 3, 3, 1
    assert rho_hat.shape == (L,)
    np.testing.assert_allclose(rho_hat, m.encode(x).mean(axis=0), rtol=1e-5)
    f = m.features()
    assert f.shape == (L, D)
    np.testing.assert_array_equal(f, m.encoder[0].params["W"].T)


def test_model_errors():
    with pytest.raises(ValueError, match="code_activation='sigmoid'"):
        SparseAutoencoder(D, (), L, penalty="kl", code_activation="relu")
    with pytest.raises(ValueError, match="unknown sparsity penalty"):
        SparseAutoencoder(D, (), L, penalty="entropy")
    with pytest.raises(ValueError, match="beta must be ≥ 0"):
        SparseAutoencoder(D, (), L, beta=-1)
    with pytest.raises(ValueError, match="rho"):
        SparseAutoencoder(D, (), L, rho=0)
    with pytest.raises(ShapeError, match=rf"\(N, {D}\)"):
        SparseAutoencoder(D, (), L).loss_and_grads(np.ones((2, D + 1), np.float32))
    # L1 works with any code activation
    m = SparseAutoencoder(D, (), L, penalty="l1", code_activation="relu", beta=0.1)
    assert math.isfinite(m.loss_and_grads(batch())["loss"])


def test_config_rebuilds_the_same_model():
    m = SparseAutoencoder(D, (8,), L, penalty="l1", code_activation="tanh", rho=0.1, beta=0.3,
                          seed=4)
    cfg = dict(m.config)
    assert cfg.pop("model") == "sparse-ae" == m.name
    m2 = SparseAutoencoder(**cfg)
    x = batch()
    assert m2.loss_and_grads(x)["loss"] == m.loss_and_grads(x)["loss"]
    assert (m2.penalty, m2.rho, m2.beta) == ("l1", 0.1, 0.3)


# ------------------------------------------------------------------- training
def train_on_one_batch(steps, beta, seed=0):
    """Adam on one fixed batch; the mean code activation afterwards."""
    x = np.random.default_rng(123).uniform(0, 1, (16, 64)).astype(np.float32)
    model = SparseAutoencoder(64, (), 32, rho=0.05, beta=beta, seed=seed)
    return adam_losses(model, x, steps, 1e-3), model.mean_activation(x)


def test_penalty_pulls_the_mean_activation_to_rho():
    _, rho_sparse = train_on_one_batch(300, beta=3.0)
    _, rho_dense = train_on_one_batch(300, beta=0.0)
    assert abs(rho_sparse.mean() - 0.05) < 0.02, rho_sparse.mean()
    assert rho_dense.mean() > 0.2, rho_dense.mean()
