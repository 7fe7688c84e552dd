"""VAE and Autoencoder: shapes, the loss decomposition, gradient bookkeeping, a golden
training run, dtypes, input errors, and the moments of the model's own sampling."""
import math

import numpy as np
import pytest

from scratchvae.distributions import bernoulli_nll, kl_standard_normal
from scratchvae.errors import DTypeError, NonFiniteError, ShapeError
from scratchvae.models import VAE, Autoencoder, build_model

D, H, L, N = 12, (10,), 3, 5
Z = 5.0                                 # standard errors allowed in moment tests


def batch(n=N, d=D, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).uniform(0, 1, (n, d)).astype(dtype)


def make(kind, **kw):
    cls = {"vae": VAE, "ae": Autoencoder}[kind]
    return cls(D, H, L, **kw)


# ---------------------------------------------------------------------- shapes
def test_vae_shapes():
    m, x = make("vae"), batch()
    mu, logvar = m.encode(x)
    assert mu.shape == (N, L) and logvar.shape == (N, L)
    out = m.decode(mu)
    assert out.shape == (N, D) and ((out > 0) & (out < 1)).all()    # Bernoulli means
    assert m.reconstruct(x).shape == (N, D)
    assert m.sample(7).shape == (7, D)
    res = m.loss_and_grads(x)
    assert set(res) >= {"loss", "recon", "kl", "mu", "logvar"}
    assert res["mu"].shape == (N, L)


def test_autoencoder_shapes():
    m, x = make("ae"), batch()
    code = m.encode(x)
    assert code.shape == (N, L)
    assert m.decode(code).shape == (N, D)
    assert m.reconstruct(x).shape == (N, D)
    res = m.loss_and_grads(x)
    assert set(res) >= {"loss", "recon", "code"} and res["code"].shape == (N, L)


def test_gaussian_and_mse_decoders_output_means():
    x = batch()
    for lik in ("gaussian", "mse"):
        m = make("vae", likelihood=lik)
        mu, _ = m.encode(x)
        np.testing.assert_array_equal(m.decode(mu), m.decoder(mu))      # no squashing
    with pytest.raises(ValueError, match="likelihood"):
        make("vae", likelihood="poisson")


# -------------------------------------------------------------------- the loss
@pytest.mark.parametrize("beta", [1.0, 0.25, 4.0])
def test_vae_loss_is_recon_plus_beta_kl(beta):
    m = make("vae", beta=beta, dtype=np.float64)
    x = batch(dtype=np.float64)
    eps = np.random.default_rng(1).standard_normal((N, L))
    res = m.loss_and_grads(x, eps=eps)
    assert res["loss"] == pytest.approx(res["recon"] + beta * res["kl"], rel=1e-12)
    # recomputed here from the parts
    h = m.encoder(x)
    mu, logvar = h[:, :L], h[:, L:]
    z = mu + np.exp(logvar / 2) * eps
    recon = bernoulli_nll(m.decoder(z), x)[0]
    kl = kl_standard_normal(mu, logvar)[0]
    assert res["recon"] == pytest.approx(recon, rel=1e-12)
    assert res["kl"] == pytest.approx(kl, rel=1e-12)
    assert res["kl"] > 0


def test_autoencoder_loss_is_recon():
    m, x = make("ae", dtype=np.float64), batch(dtype=np.float64)
    res = m.loss_and_grads(x)
    assert res["loss"] == res["recon"]
    assert res["recon"] == pytest.approx(bernoulli_nll(m.decoder(m.encoder(x)), x)[0], rel=1e-12)


@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_compute_grads_false_leaves_grads_untouched(kind):
    m, x = make(kind), batch()
    for _, _, g in m.parameters():
        g.fill(7.0)
    m.loss_and_grads(x, compute_grads=False)
    assert all((g == 7.0).all() for _, _, g in m.parameters())
    m.loss_and_grads(x)                                     # and True does touch them
    assert any((g != 7.0).any() for _, _, g in m.parameters())


def test_grads_accumulate_until_zero_grad():
    m, x = make("vae", dtype=np.float64), batch(dtype=np.float64)
    eps = np.random.default_rng(2).standard_normal((N, L))
    m.zero_grad()
    m.loss_and_grads(x, eps=eps)
    once = {n: g.copy() for n, _, g in m.parameters()}
    m.loss_and_grads(x, eps=eps)
    for n, _, g in m.parameters():
        np.testing.assert_allclose(g, 2 * once[n], rtol=1e-12, atol=1e-15)
    m.zero_grad()
    assert not any(g.any() for _, _, g in m.parameters())


def test_evaluate_averages_over_batches():
    m, x = make("ae", dtype=np.float64), batch(n=10, dtype=np.float64)
    full = m.loss_and_grads(x, compute_grads=False)["loss"]
    ev = m.evaluate(x, batch_size=3)                          # uneven batches 3,3,3,1
    assert ev["loss"] == pytest.approx(full, rel=1e-12)


# ---------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_float64_model(kind):
    m = make(kind, dtype=np.float64)
    assert m.dtype == np.float64
    assert all(p.dtype == np.float64 and g.dtype == np.float64 for _, p, g in m.parameters())
    res = m.loss_and_grads(batch(dtype=np.float64))
    assert math.isfinite(res["loss"])
    out = res["mu"] if kind == "vae" else res["code"]
    assert out.dtype == np.float64
    assert all(np.isfinite(g).all() and g.any() for _, _, g in m.parameters())


def test_float32_model_casts_float64_input():
    m = make("vae")
    mu, _ = m.encode(batch(dtype=np.float64))
    assert mu.dtype == np.float32


def test_astype_float64_changes_nothing_but_precision():
    m32 = make("ae")
    m64 = make("ae").astype(np.float64)
    x = batch()
    np.testing.assert_allclose(m64.reconstruct(x.astype(np.float64)), m32.reconstruct(x),
                               rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_input_errors_say_what_to_fix(kind):
    m = make(kind)
    with pytest.raises(ShapeError, match=rf"\(N, {D}\).*reshape"):
        m.loss_and_grads(batch(d=D + 1))
    with pytest.raises(ShapeError, match="2 dimensions"):
        m.loss_and_grads(batch().reshape(N, 3, 4))
    with pytest.raises(ShapeError, match="2 dimensions"):
        m.encode(batch()[0])
    with pytest.raises(DTypeError, match="255"):
        m.loss_and_grads((batch() * 255).astype(np.uint8))
    x = batch()
    x[2, 4] = np.nan
    with pytest.raises(NonFiniteError, match=r"1 NaN/Inf.*\(2, 4\)"):
        m.loss_and_grads(x)
    with pytest.raises(ValueError, match=r"\[0, 1\].*gaussian"):
        m.loss_and_grads(batch() * 2 - 0.5)
    with pytest.raises(DTypeError, match="array"):
        m.loss_and_grads(batch().tolist())
    # the same out-of-range data is fine for a Gaussian likelihood
    assert math.isfinite(make(kind, likelihood="gaussian").loss_and_grads(batch() * 2 - 0.5)["loss"])


# ----------------------------------------------------------- sampling moments
def identity_vae(latent=4, logvar=0.0):
    """A VAE whose encoder outputs μ = 0, logvar = const and whose decoder is z ↦ z."""
    m = VAE(latent, (), latent, likelihood="mse", seed=0, dtype=np.float64)
    enc, dec = m.encoder[0], m.decoder[0]
    enc.params["W"][...] = 0
    enc.params["b"][...] = np.r_[np.zeros(latent), np.full(latent, logvar)]
    dec.params["W"][...] = np.eye(latent)
    dec.params["b"][...] = 0
    return m


def test_sample_draws_standard_normal_latents():
    n, m = 100_000, identity_vae()
    z = m.sample(n, rng=0)                                  # = the latent draws
    assert z.shape == (n, 4)
    se_mean, se_var = math.sqrt(1 / n), math.sqrt(2 / (n - 1))
    assert (np.abs(z.mean(axis=0)) <= Z * se_mean).all()
    assert (np.abs(z.var(axis=0, ddof=1) - 1) <= Z * se_var).all()
    np.testing.assert_array_equal(m.sample(5, rng=3), m.sample(5, rng=3))


@pytest.mark.parametrize("logvar", [-1.5, 0.0, 1.0])
def test_training_noise_has_variance_exp_logvar(logvar):
    # with x = 0, μ = 0 and an identity decoder the MSE recon is (1/n) Σ_n ||z_n||²,
    # an estimate of L · Var(z) = L · exp(logvar) through the model's own ε
    n, lat = 50_000, 4
    m = identity_vae(lat, logvar)
    recon = m.loss_and_grads(np.zeros((n, lat)), compute_grads=False)["recon"]
    var = math.exp(logvar)
    se = math.sqrt(2 * lat * var ** 2 / n)                 # Var(z²) = 2σ⁴ per dimension
    assert abs(recon - lat * var) <= Z * se, (recon, lat * var, se)
    # the std = exp(logvar) bug would give L·exp(2·logvar): rejected unless logvar = 0
    if logvar != 0.0:
        assert abs(recon - lat * math.exp(2 * logvar)) > Z * se


# ----------------------------------------------------------------- diagnostics
def test_kl_per_dimension():
    m, x = make("vae"), batch(n=10)
    kl = m.kl_per_dimension(x, batch_size=3)
    assert kl.shape == (L,)
    assert (kl >= 0).all()
    np.testing.assert_allclose(kl, m.kl_per_dimension(x), rtol=1e-5)      # batching-independent
    mu, logvar = (a.astype(np.float64) for a in m.encode(x))
    np.testing.assert_allclose(kl.sum(), kl_standard_normal(mu, logvar)[0], rtol=1e-5)


@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_build_model_from_config_round_trips(kind):
    m = make(kind, seed=3)
    m2 = build_model(m.config)
    assert type(m2) is type(m)
    m2.load_state_dict(m.state_dict())
    x = batch()
    np.testing.assert_array_equal(m2.reconstruct(x), m.reconstruct(x))


def test_loss_and_grads_accepts_an_int_seed():
    x = batch()
    for seed in (0, 3):
        by_seed = make("vae").loss_and_grads(x, rng=seed, compute_grads=False)["loss"]
        by_gen = make("vae").loss_and_grads(x, rng=np.random.default_rng(seed),
                                            compute_grads=False)["loss"]
        assert by_seed == by_gen
