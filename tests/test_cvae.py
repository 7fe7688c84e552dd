"""The conditional VAE: shapes, the loss, gradient checks of x and every parameter (and
that they catch planted bugs), the label routing, sampling moments, training with the
Trainer on (x, y) batches, and input errors. Its golden run is in tests/golden.py."""
import dataclasses
import math

import numpy as np
import pytest

import scratchvae.models.vae_base as vae_base_module
from scratchvae.distributions import LIKELIHOODS, bernoulli_nll, kl_standard_normal
from scratchvae.errors import DataError, DTypeError, ShapeError
from scratchvae.gradcheck import suite_cvae
from scratchvae.gradcheck.suite import CHECKS
from scratchvae.models import MODELS, build_model
from scratchvae.models.cvae import CVAE, one_hot
from scratchvae.train import TrainConfig, Trainer

D, K, H, L, N = 12, 3, (10,), 2, 6
Z = 5.0                                   # standard errors allowed in moment tests
CVAE_CHECKS = [n for n in CHECKS if n.startswith("CVAE")]


def data(n=N, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, D)).astype(dtype), np.arange(n) % K


def make(**kw):
    return CVAE(D, K, H, L, **kw)


# ---------------------------------------------------------------------- shapes
def test_shapes():
    m, (x, y) = make(), data()
    mu, logvar = m.encode(x, y)
    assert mu.shape == logvar.shape == (N, L)
    assert m.decode(mu, y).shape == (N, D)
    assert m.reconstruct(x, y).shape == (N, D)
    assert m.sample(5, 2).shape == (5, D) and m.sample(3, np.array([0, 1, 2])).shape == (3, D)
    res = m.loss_and_grads(x, y, input_grad=True)
    assert set(res) >= {"loss", "recon", "kl", "mu", "logvar", "dx"} and res["dx"].shape == (N, D)
    assert m.name == "cvae" and m.config["model"] == "cvae" and m.config["n_classes"] == K


def test_one_hot():
    c = one_hot(np.array([2, 0, 1, 2]), 3)
    np.testing.assert_array_equal(c, np.eye(3, dtype=np.float32)[[2, 0, 1, 2]])
    assert one_hot([1], 3).dtype == np.float32


# -------------------------------------------------------------------- the loss
@pytest.mark.parametrize("beta", [1.0, 4.0])
def test_loss_is_recon_plus_beta_kl_of_the_conditioned_nets(beta):
    m = make(beta=beta, dtype=np.float64)
    x, y = data(dtype=np.float64)
    eps = np.random.default_rng(1).standard_normal((N, L))
    res = m.loss_and_grads(x, y, eps=eps, compute_grads=False)
    c = np.eye(K)[y]
    h = m.encoder(np.concatenate([x, c], axis=1))
    mu, logvar = h[:, :L], h[:, L:]
    z = mu + np.exp(logvar / 2) * eps
    recon = bernoulli_nll(m.decoder(np.concatenate([z, c], axis=1)), x)[0]
    kl = kl_standard_normal(mu, logvar)[0]
    assert res["recon"] == pytest.approx(recon, rel=1e-12)
    assert res["kl"] == pytest.approx(kl, rel=1e-12)
    assert res["loss"] == pytest.approx(recon + beta * kl, rel=1e-12)


def test_the_label_changes_the_loss_and_the_decoding():
    m, (x, y) = make(dtype=np.float64), data(dtype=np.float64)
    eps = np.zeros((N, L))
    other = (y + 1) % K
    assert m.loss_and_grads(x, y, eps=eps)["loss"] != m.loss_and_grads(x, other, eps=eps)["loss"]
    z = np.zeros((1, L))
    assert not np.allclose(m.decode(z, [0]), m.decode(z, [1]))


def test_absent_class_rows_get_no_gradient():
    # the one-hot column of a class not in the batch multiplies zeros: its rows of the
    # first weight matrices must get exactly zero gradient, the others not
    m = make(dtype=np.float64)
    x, _ = data(dtype=np.float64)
    m.zero_grad()
    m.loss_and_grads(x, np.array([0, 2, 0, 2, 0, 2]))
    for net, offset in ((m.encoder, D), (m.decoder, L)):
        g = net[0].grads["W"]                               # (D+K or L+K, H)
        assert not g[offset + 1].any()                      # class 1: absent
        assert g[offset + 0].any() and g[offset + 2].any()


@pytest.mark.parametrize("kind", ["compute_grads", "input_grad"])
def test_grads_untouched_without_backward(kind):
    m, (x, y) = make(), data()
    for _, _, g in m.parameters():
        g.fill(7.0)
    res = m.loss_and_grads(x, y, compute_grads=False, input_grad=(kind == "input_grad"))
    assert all((g == 7.0).all() for _, _, g in m.parameters()) and "dx" not in res


def test_evaluate_and_kl_per_dimension():
    m, (x, y) = make(dtype=np.float64), data(n=10, dtype=np.float64)
    full = m.loss_and_grads(x, y, rng=3, compute_grads=False)
    ev = m.evaluate(x, y, batch_size=3, eps=None, rng=np.random.default_rng(3))
    assert ev["kl"] == pytest.approx(full["kl"], rel=1e-12)      # KL has no noise
    kl = m.kl_per_dimension(x, y, batch_size=4)
    assert kl.shape == (L,) and (kl >= 0).all()
    assert kl.sum() == pytest.approx(full["kl"], rel=1e-12)


# ----------------------------------------------------------- gradient checks


def test_suite_registers_all_three_likelihoods():
    assert len(CVAE_CHECKS) == 3 and suite_cvae.check_cvae is not None
    assert any("gaussian" in n for n in CVAE_CHECKS) and any("mse" in n for n in CVAE_CHECKS)


@pytest.mark.parametrize("name", CVAE_CHECKS)
def test_check_catches_a_missing_target_path(name, monkeypatch):
    # dropping ∂recon/∂x|_out (x as the target) must fail the check on x only
    for lik in LIKELIHOODS:
        monkeypatch.setitem(LIKELIHOODS, lik, dataclasses.replace(
            LIKELIHOODS[lik], target_grad=lambda out, x, lv=0.0: 0 * x))
    report = CHECKS[name](seed=0)
    failed = {r.name for r in report.results if not r.passed}
    assert failed == {"x"}, str(report)


def test_check_catches_a_wrong_reparameterization_backward(monkeypatch):
    def wrong(dz, cache):                    # ∂z/∂logvar = εσ instead of εσ/2
        eps, std = cache
        return dz, dz * eps * std
    monkeypatch.setattr(vae_base_module, "reparameterize_backward", wrong)
    assert not CHECKS["CVAE(bernoulli)"](seed=0).passed


# ----------------------------------------------------------- sampling moments
def identity_cvae(offsets, logvar=0.0):
    """A CVAE with linear nets: encoder μ = 0, logvar = const; decoder x = z + offsets[y]."""
    offsets = np.asarray(offsets, dtype=np.float64)                 # (K, L)
    k, lat = offsets.shape
    m = CVAE(lat, k, (), lat, likelihood="mse", seed=0, dtype=np.float64)
    enc, dec = m.encoder[0], m.decoder[0]
    enc.params["W"][...] = 0
    enc.params["b"][...] = np.r_[np.zeros(lat), np.full(lat, logvar)]
    dec.params["W"][...] = np.vstack([np.eye(lat), offsets])         # rows: z, then one-hot
    dec.params["b"][...] = 0
    return m


def test_sample_draws_standard_normal_latents_around_the_class():
    n, offsets = 100_000, np.array([[0.0, 0.0], [3.0, -1.0], [-2.0, 5.0]])
    m = identity_cvae(offsets)
    se_mean, se_var = math.sqrt(1 / n), math.sqrt(2 / (n - 1))
    for label in range(3):
        s = m.sample(n, label, rng=label)                           # = z + offsets[label]
        assert (np.abs(s.mean(axis=0) - offsets[label]) <= Z * se_mean).all()
        assert (np.abs(s.var(axis=0, ddof=1) - 1) <= Z * se_var).all()
    np.testing.assert_array_equal(m.sample(4, 1, rng=7), m.sample(4, 1, rng=7))


@pytest.mark.parametrize("logvar", [-1.5, 1.0])
def test_training_noise_has_variance_exp_logvar(logvar):
    # x = 0, μ = 0, zero offsets: the MSE recon (1/n) Σ ||z||² estimates L·exp(logvar)
    n, lat = 50_000, 4
    m = identity_cvae(np.zeros((2, lat)), logvar)
    recon = m.loss_and_grads(np.zeros((n, lat)), np.arange(n) % 2, compute_grads=False)["recon"]
    se = math.sqrt(2 * lat * math.exp(logvar) ** 2 / n)
    assert abs(recon - lat * math.exp(logvar)) <= Z * se
    assert abs(recon - lat * math.exp(2 * logvar)) > Z * se     # the std = exp(logvar) bug


# ------------------------------------------------------------------- training
def test_the_trainer_trains_on_labelled_batches_reproducibly():
    x, y = data(n=64)
    runs = []
    for _ in range(2):
        m = make(seed=4)
        config = TrainConfig(epochs=6, batch_size=16, lr=3e-3, seed=2, progress=False)
        hist = Trainer(m, (x, y), (x, y), config).fit()
        runs.append((hist, m.state_dict()))
    (h1, s1), (h2, s2) = runs
    assert [r["train_loss"] for r in h1] == [r["train_loss"] for r in h2]
    assert all(np.array_equal(s1[k], s2[k]) for k in s1)
    assert {"epoch", "train_loss", "train_recon", "train_kl", "val_loss", "seconds"} <= set(h1[0])
    assert h1[-1]["val_loss"] < h1[0]["val_loss"]


def test_the_trainer_rejects_mismatched_or_missing_labels():
    x, y = data()
    with pytest.raises(ValueError, match="y has 5 rows but x has 6"):
        Trainer(make(), (x, y[:-1]))
    with pytest.raises(ValueError, match=r"batches of \('x', 'y'\)"):
        Trainer(make(), x)


# ----------------------------------------------------------------- rebuilding
def test_config_rebuilds_the_same_model():
    m = make(seed=3, beta=2.0)
    cfg = {k: v for k, v in m.config.items() if k != "model"}
    clone = CVAE(**cfg)
    for (n1, p1, _), (n2, p2, _) in zip(m.parameters(), clone.parameters()):
        assert n1 == n2
        np.testing.assert_array_equal(p1, p2)


@pytest.mark.skipif("cvae" not in MODELS, reason="CVAE not yet registered in models.MODELS")
def test_build_model_knows_cvae():
    m = make(seed=5)
    assert isinstance(build_model(m.config), CVAE)


# ---------------------------------------------------------------------- errors
def test_errors_name_the_problem():
    m, (x, y) = make(), data()
    with pytest.raises(DTypeError, match="integers"):
        m.loss_and_grads(x, y.astype(np.float32))
    with pytest.raises(DTypeError, match="integers"):
        m.loss_and_grads(x, one_hot(y, K))
    with pytest.raises(ShapeError, match="length 5 but x has 6"):
        m.loss_and_grads(x, y[:5])
    with pytest.raises(DataError, match=r"label 3 is outside \[0, 3\)"):
        m.loss_and_grads(x, np.r_[y[:-1], 3])
    with pytest.raises(DataError, match="outside"):
        m.sample(2, -1)
    with pytest.raises(ShapeError, match=rf"\(N, {D}\)"):
        m.loss_and_grads(x[:, :-1], y)
    with pytest.raises(ShapeError, match=rf"\(N, {L}\)"):
        m.decode(np.zeros((2, L + 1)), [0, 1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        m.loss_and_grads(x * 3, y)
    with pytest.raises(ValueError, match="n_classes"):
        CVAE(D, 0)
