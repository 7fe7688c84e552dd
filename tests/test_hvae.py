"""The two-level hierarchical VAE: its objective, its samplers' moments, its importance weights (exact on a linear-Gaussian model whose
posterior it represents exactly), its VampPrior over z₂ and its errors. The whole-model
gradient checks are registry entries (``gradcheck/suite_hvae.py``), run with every other
entry by tests/test_suite_gradcheck.py."""
from __future__ import annotations

import math

import numpy as np
import pytest

from scratchvae.errors import ConfigError, ShapeError
from scratchvae.models.hvae import HVAE


def tiny(**kw):
    return HVAE(6, (5, 4), (2, 3), seed=3, dtype=np.float64, **kw)


def test_objective_is_recon_plus_beta_kls():
    rng = np.random.default_rng(0)
    model = tiny(beta=0.3)
    x = rng.uniform(0, 1, (4, 6))
    eps = rng.standard_normal((4, 5))
    r = model.loss_and_grads(x, eps=eps, compute_grads=False)
    assert r["kl"] == pytest.approx(r["kl_z1"] + r["kl_z2"], rel=1e-15)
    assert r["loss"] == pytest.approx(r["recon"] + 0.3 * r["kl"], rel=1e-15)
    assert r["kl_z1"] >= 0 and r["kl_z2"] >= 0
    assert r["mu"].shape == r["logvar"].shape == (4, 5)
    again = model.loss_and_grads(x, eps=eps, compute_grads=False)
    assert again["loss"] == r["loss"]                      # frozen ε: the same function


def test_kl_z2_is_the_closed_form_of_the_top_posterior():
    rng = np.random.default_rng(1)
    model = tiny()
    x = rng.uniform(0, 1, (3, 6))
    r = model.loss_and_grads(x, eps=rng.standard_normal((3, 5)), compute_grads=False)
    mu2, lv2 = r["mu"][:, 2:], r["logvar"][:, 2:]
    kl2 = 0.5 * np.sum(mu2 ** 2 + np.exp(lv2) - 1 - lv2, axis=1).mean()
    assert r["kl_z2"] == pytest.approx(kl2, rel=1e-12)


def test_ancestral_sampler_moments():
    """z₂ ~ N(0, I) and z₁ | z₂ ~ N(m₁(z₂), e^{s₁(z₂)}): checked on 200,000 draws."""
    model = HVAE(6, (5,), (2, 3), seed=0, dtype=np.float64)                    # gated
    z = model.sample_latents(200_000, rng=0)
    z1, z2 = z[:, :2], z[:, 2:]
    assert np.abs(z2.mean(0)).max() < 0.01
    assert np.abs(z2.std(0) - 1).max() < 0.01
    m1, s1 = model._z1_prior(z2)
    standardized = (z1 - m1) / np.exp(s1 / 2)              # must be N(0, 1), independent of z₂
    assert np.abs(standardized.mean(0)).max() < 0.01
    assert np.abs(standardized.std(0) - 1).max() < 0.01
    assert np.abs(np.corrcoef(standardized[:, 0], z2[:, 0])[0, 1]) < 0.01
    assert model.sample(5, rng=1).shape == (5, 6)


def test_training_noise_comes_from_the_models_generator():
    model = tiny()
    x = np.random.default_rng(0).uniform(0, 1, (2, 6))
    a = model.loss_and_grads(x, rng=7, compute_grads=False)["loss"]
    b = model.loss_and_grads(x, rng=7, compute_grads=False)["loss"]
    c = model.loss_and_grads(x, compute_grads=False)["loss"]
    d = model.loss_and_grads(x, compute_grads=False)["loss"]
    assert a == b and c != d


# ------------------------------------------------------- exact importance weights
def _set_affine(seq_or_net, maps):
    """Set a chain of Linear layers (identity activations) to the given (W, b) list."""
    linears = [layer for layer in seq_or_net.layers if "W" in layer.params]
    assert len(linears) == len(maps)
    for layer, (W, b) in zip(linears, maps):
        layer.params["W"][...] = W
        layer.params["b"][...] = b


def linear_gaussian_hvae():
    """D = 2, L₁ = L₂ = 1, identity activations, every network set by hand:

        z₂ ~ N(0, 1),  z₁ | z₂ ~ N(a z₂ + a₀, e^{s₁}),  x | z ~ N(B z₁ + C z₂ + c, e^{sₓ} I)

    and q(z₂|x), q(z₁|x, z₂) set to the exact posteriors (Gaussian conditioning of the
    joint (z₂, z₁, x)). Returns the model, μₓ and Σₓ of the marginal p(x)."""
    a, a0, s1 = 0.8, -0.3, math.log(0.5)
    B, C, c, sx = np.array([1.2, -0.7]), np.array([0.4, 0.9]), np.array([0.1, -0.2]), \
        math.log(0.3)
    model = HVAE(2, (2,), (1, 1), likelihood="gaussian", logvar_x=sx, activation="identity", gated=False,
                 seed=0, dtype=np.float64)
    # the joint of (z₂, z₁, x₁, x₂): means and covariance
    v1, vx = math.exp(s1), math.exp(sx)
    A = np.array([[1, 0], [a, 1], [C[0] + B[0] * a, B[0]], [C[1] + B[1] * a, B[1]]])
    cov = A @ np.diag([1, v1]) @ A.T + np.diag([0, 0, vx, vx])
    mean = np.array([0, a0, B[0] * a0 + c[0], B[1] * a0 + c[1]])
    # q(z₂|x) = p(z₂|x): z₂ index 0 given x indices 2, 3
    K2 = cov[0, 2:] @ np.linalg.inv(cov[2:, 2:])                    # (2,)
    var2 = cov[0, 0] - K2 @ cov[2:, 0]
    I2, zero = np.eye(2), np.zeros(2)
    _set_affine(model.encoder_z2, [(I2, zero),
                                   (np.array([[K2[0], 0], [K2[1], 0]]),
                                    np.array([-K2 @ mean[2:], math.log(var2)]))])
    # q(z₁|x, z₂) = p(z₁|z₂, x): z₁ index 1 given indices 0, 2, 3
    idx = [0, 2, 3]
    K1 = cov[1, idx] @ np.linalg.inv(cov[np.ix_(idx, idx)])          # (3,): z₂, x₁, x₂
    var1 = cov[1, 1] - K1 @ cov[idx, 1]
    e = model.encoder_z1
    _set_affine(e.branch_a, [(I2, zero)])                              # h_a = x
    _set_affine(e.branch_b, [(np.array([[1.0, 0.0]]), zero)])          # h_b = (z₂, 0)
    Wn = np.zeros((4, 2))
    Wn[0, 0], Wn[1, 0], Wn[2, 0] = K1[1], K1[2], K1[0]
    _set_affine(e.net, [(Wn, np.array([mean[1] - K1 @ mean[idx], math.log(var1)]))])
    # p(z₁|z₂) and p(x|z₁, z₂)
    _set_affine(model.prior_z1, [(np.array([[1.0, 0.0]]), zero),
                                 (np.array([[a, 0.0], [0.0, 0.0]]), np.array([a0, s1]))])
    d = model.decoder
    _set_affine(d.branch_a, [(np.array([[1.0, 0.0]]), zero)])          # h_a = (z₁, 0)
    _set_affine(d.branch_b, [(np.array([[1.0, 0.0]]), zero)])          # h_b = (z₂, 0)
    Wd = np.zeros((4, 2))
    Wd[0], Wd[2] = B, C
    _set_affine(d.net, [(Wd, c)])
    return model, mean[2:], cov[2:, 2:]


def test_importance_weights_are_exact_when_q_is_the_posterior():
    """With q(z₁, z₂|x) = p(z₁, z₂|x), every weight equals p(x): log w is log p(x) for
    every sample, so each of the five log-density terms is checked, constants included."""
    model, mu_x, cov_x = linear_gaussian_hvae()
    rng = np.random.default_rng(0)
    x = rng.normal(mu_x, 1.0, (5, 2))
    d = x - mu_x
    log_px = -0.5 * (np.einsum("nd,de,ne->n", d, np.linalg.inv(cov_x), d)
                     + np.log(np.linalg.det(cov_x)) + 2 * math.log(2 * math.pi))
    mu, logvar = model.encode(x)
    eps = rng.standard_normal((5, 7, 2))
    log_w, log_px_z = model.log_weights_chunk(x, mu, logvar, eps)
    assert log_w.shape == log_px_z.shape == (5, 7)
    np.testing.assert_allclose(log_w, np.repeat(log_px[:, None], 7, axis=1), rtol=0, atol=1e-10)
    assert np.ptp(log_px_z, axis=1).min() > 0.01            # the parts vary, the sum does not


def test_importance_weights_detect_a_wrong_posterior():
    """The same model with q(z₂|x)'s variance off: the weights stop being constant."""
    model, _, _ = linear_gaussian_hvae()
    model.encoder_z2.layers[-1].params["b"][1] += 0.5
    x = np.random.default_rng(1).normal(0, 1, (3, 2))
    mu, logvar = model.encode(x)
    log_w, _ = model.log_weights_chunk(x, mu, logvar,
                                       np.random.default_rng(2).standard_normal((3, 6, 2)))
    assert np.ptp(log_w, axis=1).min() > 1e-3


# ------------------------------------------------------------------ bad input
def test_bad_arguments_name_the_fix():
    with pytest.raises(ConfigError, match="latent_dims"):
        HVAE(6, (5,), (2,))
    with pytest.raises(ConfigError, match="activation"):
        HVAE(6, (5,), (2, 2), activation="nope")
    model = tiny()
    x = np.random.default_rng(0).uniform(0, 1, (4, 6))
    with pytest.raises(ShapeError, match=r"eps must be \(N, L1\+L2\)"):
        model.loss_and_grads(x, eps=np.zeros((4, 4)))
    with pytest.raises(ShapeError, match="expects inputs of shape"):
        model.loss_and_grads(x[:, :5])
    with pytest.raises(ShapeError, match=r"z must be \(N, 5\)"):
        model.decode(np.zeros((2, 3)))


def test_iwae_estimator_and_report_are_exact_on_the_closed_form_case():
    """The chunked estimator (K = 9 in chunks of 4) through the model's own weights: NLL_K
    is −log p(x) for every image and every K, and the ELBO is tight (gap 0)."""
    from scratchvae.evaluation import evaluate_model
    from scratchvae.evaluation.iwae import importance_sample
    model, mu_x, cov_x = linear_gaussian_hvae()
    x = np.random.default_rng(3).normal(mu_x, 1.0, (6, 2))
    d = x - mu_x
    nll = 0.5 * (np.einsum("nd,de,ne->n", d, np.linalg.inv(cov_x), d)
                 + np.log(np.linalg.det(cov_x)) + 2 * math.log(2 * math.pi))
    res = importance_sample(model, x, 9, batch_size=4, sample_chunk=4, rng=0)
    np.testing.assert_allclose(res.nll, nll, rtol=0, atol=1e-10)
    np.testing.assert_allclose(res.neg_elbo, nll, rtol=0, atol=1e-10)
    np.testing.assert_allclose(res.ess, 9, rtol=1e-12)          # equal weights: ESS = K
    report = evaluate_model(model, x, k=9, rng=0)
    assert report.nll == pytest.approx(nll.mean(), abs=1e-10)
    assert abs(report.gap) < 1e-10
    assert report.kl == pytest.approx(report.neg_elbo - report.recon, abs=1e-12)
    assert report.active_per_level == {"z1": [report.active_per_level["z1"][0], 1],
                                       "z2": [report.active_per_level["z2"][0], 1]}


def test_report_elbo_matches_the_training_objective():
    """The evaluation's −ELBO (K-sample average of −log w) against the training loss
    averaged over many ε: the same quantity, two estimators."""
    from scratchvae.evaluation import evaluate_model
    model = HVAE(6, (5,), (2, 2), seed=0, dtype=np.float64)
    x = (np.random.default_rng(0).uniform(0, 1, (4, 6)) > 0.5).astype(np.float64)
    report = evaluate_model(model, x, k=4000, rng=0)
    many = model.loss_and_grads(np.repeat(x, 4000, axis=0), rng=1, compute_grads=False)
    assert report.neg_elbo == pytest.approx(many["loss"], abs=0.02)    # both over 4000 ε
    assert report.recon == pytest.approx(many["recon"], abs=0.02)
    assert report.nll <= report.neg_elbo


# ------------------------------------------------------------- VampPrior over z₂
def vamp_pair(K=4):
    """An HVAE with a VampPrior and one with N(0, I), sharing every network weight."""
    vamp = HVAE(6, (5,), (2, 3), prior="vampprior", n_pseudo=K, seed=2, dtype=np.float64)
    plain = HVAE(6, (5,), (2, 3), seed=2, dtype=np.float64)
    plain.load_state_dict({k: v for k, v in vamp.state_dict().items()
                           if k in plain.state_dict()})
    return vamp, plain


def test_vampprior_changes_exactly_the_top_prior_term_of_the_weights():
    """log w of the VampPrior model − log w of the N(0, I) model, same weights and noise,
    is log p_vamp(z₂) − log N(z₂; 0, I): the only term that differs."""
    from scratchvae.distributions.vampprior import mixture_log_density_forward
    vamp, plain = vamp_pair()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (3, 6))
    eps = rng.standard_normal((3, 5, 5))
    mu, logvar = vamp.encode(x)
    lw_vamp, lpx_vamp = vamp.log_weights_chunk(x, mu, logvar, eps)
    lw_plain, lpx_plain = plain.log_weights_chunk(x, mu, logvar, eps)
    np.testing.assert_array_equal(lpx_vamp, lpx_plain)
    z2 = mu[:, None, 2:] + np.exp(0.5 * logvar[:, None, 2:]) * eps[..., 2:]      # (3, 5, 3)
    log_vamp = mixture_log_density_forward(z2.reshape(-1, 3), *vamp.prior_components())[0]
    log_normal = -0.5 * (z2 * z2 + math.log(2 * math.pi)).sum(-1)
    np.testing.assert_allclose(lw_vamp - lw_plain, log_vamp.reshape(3, 5) - log_normal,
                               rtol=0, atol=1e-10)


def test_vampprior_kl_is_the_sampled_estimate_and_training_terms_add_up():
    vamp, plain = vamp_pair()
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (4, 6))
    eps = rng.standard_normal((4, 5))
    rv = vamp.loss_and_grads(x, eps=eps, compute_grads=False)
    rp = plain.loss_and_grads(x, eps=eps, compute_grads=False)
    assert rv["recon"] == rp["recon"] and rv["kl_z1"] == rp["kl_z1"]       # z₂'s prior only
    assert rv["kl_z2"] != rp["kl_z2"]
    assert rv["loss"] == pytest.approx(rv["recon"] + rv["kl"], rel=1e-15)


def test_vampprior_sampler_draws_z2_from_the_mixture():
    """z₂ of the ancestral sampler: its mean and covariance are the mixture's,
    (1/K) Σ μ_k and (1/K) Σ (diag σ_k² + μ_k μ_kᵀ) − m mᵀ (200,000 draws)."""
    vamp, _ = vamp_pair()
    vamp.set_pseudo_inputs(np.random.default_rng(5).uniform(0, 1, (4, 6)))
    mu_p, lv_p = vamp.prior_components()
    m = mu_p.mean(0)
    cov = (np.einsum("ki,kj->ij", mu_p, mu_p) + np.diag(np.exp(lv_p).sum(0))) / 4 - np.outer(m, m)
    z2 = vamp.sample_latents(200_000, rng=0)[:, 2:]
    assert np.abs(z2.mean(0) - m).max() < 0.01 * np.sqrt(cov.diagonal().max()) * 3
    np.testing.assert_allclose(np.cov(z2.T), cov, atol=0.02 * cov.diagonal().max())


def test_vampprior_options_are_checked_and_rebuilt():
    from scratchvae.models import build_model
    with pytest.raises(ConfigError, match="prior must be one of"):
        HVAE(6, (5,), (2, 3), prior="mixture")
    with pytest.raises(ConfigError, match="n_pseudo"):
        HVAE(6, (5,), (2, 3), prior="vampprior", n_pseudo=0)
    vamp, _ = vamp_pair(K=3)
    again = build_model(vamp.config, dtype=np.float64)
    assert again.params["pseudo_inputs"].shape == (3, 6)
    np.testing.assert_array_equal(again.params["pseudo_inputs"], vamp.params["pseudo_inputs"])
    assert np.isnan(vamp.kl_per_unit(np.full((2, 6), 0.5))[:, 2:]).all()   # no per-unit split


# ------------------------------------------------------------------- ConvHVAE
def test_conv_hvae_takes_images_or_flat_batches_and_shares_the_core():
    from scratchvae.models import ConvHVAE
    model = ConvHVAE((1, 8, 8), (2, 3), hidden=5, latent_dims=(3, 2), prior="vampprior",
                     n_pseudo=4, seed=0, dtype=np.float64)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (3, 1, 8, 8))
    eps = rng.standard_normal((3, 5))
    a = model.loss_and_grads(images, eps=eps, compute_grads=False)
    b = model.loss_and_grads(images.reshape(3, 64), eps=eps, compute_grads=False)
    assert a["loss"] == b["loss"] and set(model.terms) <= set(a)
    mu, logvar = model.encode(images.reshape(3, 64))
    log_w, _ = model.log_weights_chunk(images.reshape(3, 64), mu, logvar,
                                       rng.standard_normal((3, 4, 5)))
    assert log_w.shape == (3, 4) and np.isfinite(log_w).all()
    assert model.sample(2, rng=1).shape == (2, 64)
    with pytest.raises(ShapeError, match="channels last"):
        model.loss_and_grads(images.transpose(0, 2, 3, 1))
    with pytest.raises(ShapeError, match="divisible by 4"):
        ConvHVAE((1, 6, 6))
