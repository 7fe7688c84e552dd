"""The VampPrior: the mixture log-density against independent computations and far from
every component (no inf/nan), the sampled KL against the closed form for K = 1, the
mixture sampler's moments, the gradient checks (and that they catch planted bugs), the
one encoder pass on [x; u] against two separate passes, the batch mean over the data rows
only, the IWAE estimate exact on a linear-Gaussian model with a VampPrior, training,
checkpoints and the one-line errors."""
import math

import numpy as np
import pytest

import scratchvae.models.pseudo_inputs as pseudo_module
import scratchvae.models.vampprior_vae as vamp_module
from scratchvae import cli
from scratchvae.distributions import kl_diag_gaussians
from scratchvae.distributions.vampprior import (
    mixture_log_density, mixture_log_density_backward, mixture_log_density_forward,
    mixture_sample, sampled_kl,
)
from scratchvae.errors import ConfigError, DataError, ShapeError
from scratchvae.evaluation import evaluate_model, iwae_nll
from scratchvae.gradcheck.suite import CHECKS
from scratchvae.models import MODELS, VampPriorVAE, build_model
from scratchvae.models.base import join_halves, split_halves
from scratchvae.train import TrainConfig, Trainer, load_model, save_checkpoint

D, L, K, N = 6, 2, 3, 5
Z = 5.0                                   # standard errors allowed in statistical tests
LOG_2PI = math.log(2 * math.pi)
VAMP_CHECKS = ["hardtanh", "mixture_log_density", "sampled_kl(vampprior)",
               "VampPriorVAE(bernoulli, gated)",
               "VampPriorVAE(gaussian, tanh, unclipped, beta=0.7)"]


def components(seed=0, k=K, lat=L):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(k, lat)), rng.uniform(-1.0, 0.5, (k, lat))


def gaussian_log_density(z, mu, logvar):
    """log N(z; μ, diag e^logvar) of each row, written out: (N,)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 / np.exp(logvar)).sum(axis=-1)


def make(**kw):
    return VampPriorVAE(D, (5,), L, **{"n_pseudo": K, "dtype": np.float64, **kw})


def batch(n=N, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).uniform(0.05, 0.95, (n, D)).astype(dtype)


def grads_of(model):
    return {name: g.copy() for name, _, g in model.parameters()}


# ------------------------------------------------------------ the mixture density
def test_mixture_log_density_is_the_mean_of_the_component_densities():
    mu, logvar = components()
    z = np.random.default_rng(1).normal(size=(4, L))
    log_p, (*_, r) = mixture_log_density_forward(z, mu, logvar)
    each = np.stack([gaussian_log_density(z, mu[k], logvar[k]) for k in range(K)], axis=1)
    np.testing.assert_allclose(log_p, np.log(np.exp(each).mean(axis=1)), rtol=1e-13)
    np.testing.assert_allclose(r, np.exp(each) / np.exp(each).sum(axis=1, keepdims=True),
                               rtol=1e-12)
    one, _ = mixture_log_density_forward(z, mu[:1], logvar[:1])     # K = 1: one Gaussian
    np.testing.assert_allclose(one, gaussian_log_density(z, mu[0], logvar[0]), rtol=1e-14)
    # the forward-only density (evaluation): the same numbers, no responsibilities
    np.testing.assert_array_equal(mixture_log_density(z, mu, logvar), log_p)


def test_mixture_far_from_every_component_stays_finite():
    # every ℓ_nk ≈ −1e6: each e^ℓ underflows to 0, the unshifted log Σ e^ℓ would be −inf
    mu, logvar = components()
    logvar = np.full_like(logvar, -4.0)
    z = np.array([[80.0, -80.0], [1e3, 1e3]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):   # underflow is fine
        log_p, cache = mixture_log_density_forward(z, mu, logvar)
        dz, dmu, dlogvar = mixture_log_density_backward(np.ones(2), cache)
    each = np.stack([gaussian_log_density(z, mu[k], logvar[k]) for k in range(K)], axis=1)
    assert each.max() < -1e4 and np.all(np.exp(each) == 0)
    m = each.max(axis=1)                            # the shifted sum, by hand
    np.testing.assert_allclose(log_p, m + np.log(np.exp(each - m[:, None]).sum(axis=1))
                               - math.log(K), rtol=1e-14)
    for g in (dz, dmu, dlogvar):
        assert np.isfinite(g).all()
    np.testing.assert_allclose(cache[-1].sum(axis=1), 1.0, rtol=1e-14)  # Σ_k r_nk = 1


def test_sampled_kl_averages_to_the_closed_form_for_one_component():
    # K = 1: p is one Gaussian, and E_ε[log q(z|x) − log p(z)] is KL(q ‖ p) in closed form
    rng = np.random.default_rng(2)
    mu, logvar = rng.normal(size=(1, L)), rng.uniform(-1, 0.5, (1, L))
    mu_p, logvar_p = rng.normal(size=(1, L)), rng.uniform(-1, 0.5, (1, L))
    n = 40000
    z = mu + np.exp(logvar / 2) * rng.standard_normal((n, L))
    rows, _ = sampled_kl(z, np.repeat(mu, n, 0), np.repeat(logvar, n, 0), mu_p, logvar_p,
                         reduction="none")
    exact = float(kl_diag_gaussians(mu, logvar, mu_p, logvar_p)[0])
    assert abs(rows.mean() - exact) <= Z * rows.std(ddof=1) / math.sqrt(n), (rows.mean(), exact)
    np.testing.assert_allclose(rows, gaussian_log_density(z, mu, logvar)
                               - gaussian_log_density(z, mu_p, logvar_p), rtol=1e-10, atol=1e-12)


def test_sampled_kl_reductions_share_one_gradient_convention():
    mu_p, logvar_p = components()
    rng = np.random.default_rng(3)
    args = (rng.normal(size=(N, L)), rng.normal(size=(N, L)), rng.uniform(-1, 0, (N, L)),
            mu_p, logvar_p)
    mean, g_mean = sampled_kl(*args)
    total, g_sum = sampled_kl(*args, reduction="sum")
    rows, _ = sampled_kl(*args, reduction="none")
    assert mean == pytest.approx(rows.mean(), rel=1e-14) and total == pytest.approx(rows.sum())
    for name in g_mean:
        np.testing.assert_allclose(g_sum[name], N * g_mean[name], rtol=1e-12, err_msg=name)


# ----------------------------------------------------------------- the sampler
def test_mixture_samples_have_the_mixture_moments():
    mu, logvar = components(4, k=3, lat=2)
    n = 60000
    z = mixture_sample(mu, logvar, n, np.random.default_rng(5))
    var = np.exp(logvar)
    mean = mu.mean(axis=0)                                   # E z = (1/K) Σ μ_k
    second = (var + mu ** 2).mean(axis=0)                    # E z² = (1/K) Σ (σ_k² + μ_k²)
    total_var = second - mean ** 2
    assert (np.abs(z.mean(axis=0) - mean) <= Z * np.sqrt(total_var / n)).all()
    fourth = (3 * var ** 2 + 6 * var * mu ** 2 + mu ** 4).mean(axis=0)   # E z⁴
    se_second = np.sqrt((fourth - second ** 2) / n)
    assert (np.abs((z ** 2).mean(axis=0) - second) <= Z * se_second).all()
    # the std is e^{logvar/2}: the e^{logvar} bug's second moments lie outside Z SE
    wrong = (var ** 2 + mu ** 2).mean(axis=0)
    assert (np.abs(wrong - second) > Z * se_second).all()
    # each draw is one component's Gaussian, not the average of the means plus noise: the
    # nearest component of each sample is uniform over k (well-separated components)
    far = np.array([[-20.0, 0.0], [0.0, 20.0], [20.0, 0.0]])
    pick = mixture_sample(far, np.zeros((3, 2)), 3000, np.random.default_rng(6))
    counts = np.bincount(np.argmin(((pick[:, None] - far) ** 2).sum(-1), axis=1), minlength=3)
    assert (np.abs(counts - 1000) <= Z * math.sqrt(3000 * (1 / 3) * (2 / 3))).all()


def test_model_samples_come_from_its_prior_components():
    m = make(seed=2)
    mu_p, logvar_p = m.prior_components()
    z = m.prior_sample(4, np.random.default_rng(7))
    np.testing.assert_array_equal(z, mixture_sample(mu_p, logvar_p, 4, np.random.default_rng(7)))
    a = m.sample(5, rng=3)
    assert a.shape == (5, D) and ((a > 0) & (a < 1)).all()
    np.testing.assert_array_equal(a, m.sample(5, rng=3))


# ------------------------------------------------------------ gradient checks
@pytest.mark.parametrize("name", VAMP_CHECKS)
def test_gradient_checks_pass_and_cover_the_pseudo_inputs(name):
    report = CHECKS[name](seed=1)
    assert report.passed and report.max_rel_error <= 1e-6, str(report)
    if name.startswith("VampPriorVAE"):
        assert "pseudo_inputs" in {r.name for r in report.results}


def test_check_catches_a_prior_without_its_encoder_pass(monkeypatch):
    # the prior's gradients dropped before the second encoder pass: −log p then moves z
    # (through μ_n, logvar_n) but never the components — the pseudo-inputs get nothing
    real = vamp_module.sampled_kl

    def no_component_grads(*args, **kw):
        kl, grads = real(*args, **kw)
        return kl, {**grads, "mu_p": 0 * grads["mu_p"], "logvar_p": 0 * grads["logvar_p"]}

    monkeypatch.setattr(vamp_module, "sampled_kl", no_component_grads)
    report = CHECKS["VampPriorVAE(bernoulli, gated)"](seed=0)
    failed = {r.name for r in report.results if not r.passed}
    assert {"pseudo_inputs", "encoder.0.W"} <= failed, str(report)
    assert not any(n.startswith("decoder") for n in failed), str(report)


def test_check_catches_uniform_responsibilities(monkeypatch):
    # the mean of the components' gradients (r_nk = 1/K) instead of the softmax weights
    import scratchvae.gradcheck.suite_vampprior as suite
    real = suite.mixture_log_density_forward

    def uniform(z, mu, logvar):
        log_p, (*inputs, r) = real(z, mu, logvar)
        return log_p, (*inputs, np.full_like(r, 1 / r.shape[1]))

    monkeypatch.setattr(suite, "mixture_log_density_forward", uniform)
    report = CHECKS["mixture_log_density"](seed=0)
    assert {r.name for r in report.results if not r.passed} == {"z", "mu", "logvar"}, str(report)


# ------------------------------------------------- one encoder pass on [x; u]
def test_one_pass_on_x_and_u_equals_two_separate_passes():
    # the reference: the encoder run on the pseudo-inputs and on the data separately, each
    # forward followed by its own backward, the prior's rows first
    m = make(seed=4)
    x, eps = batch(), np.random.default_rng(8).standard_normal((N, L))
    m.zero_grad()
    res = m.loss_and_grads(x, eps=eps)
    stacked = grads_of(m)

    ref = make(seed=4)
    ref.zero_grad()
    u, mask = ref.pseudo_inputs()
    mu_p, logvar_p = split_halves(ref.encoder.forward(u), L)
    mu, logvar = split_halves(ref.encoder.forward(x), L)
    np.testing.assert_allclose(mu_p, res["mu_p"], rtol=1e-14)        # row by row
    np.testing.assert_allclose(mu, res["mu"], rtol=1e-14)
    z = mu + np.exp(logvar / 2) * eps
    out = ref.decoder.forward(z)
    drecon = ref.lik.nll(out, x, 0.0)[1]["out"]
    _, dkl = sampled_kl(z, mu, logvar, mu_p, logvar_p)
    dz = ref.decoder.backward(drecon) + dkl["z"]
    dmu, dlogvar = dz + dkl["mu"], dz * eps * np.exp(logvar / 2) / 2 + dkl["logvar"]
    ref.encoder.backward(join_halves(dmu, dlogvar))                  # the data rows
    ref.encoder.forward(u)                                           # again, for its cache
    du = ref.encoder.backward(join_halves(dkl["mu_p"], dkl["logvar_p"]))
    ref.grads["pseudo_inputs"] += du * mask
    for name, g in grads_of(ref).items():
        np.testing.assert_allclose(stacked[name], g, rtol=1e-10, atol=1e-14, err_msg=name)


def test_batch_mean_runs_over_the_data_rows_only():
    # the loss of a batch is the mean of its rows' losses, whatever N is next to K: the
    # pseudo rows are not examples
    m, x = make(seed=5), batch(4)
    eps = np.random.default_rng(9).standard_normal((4, L))
    whole = m.loss_and_grads(x, eps=eps, compute_grads=False)
    rows = [m.loss_and_grads(x[i:i + 1], eps=eps[i:i + 1], compute_grads=False)
            for i in range(4)]
    for term in ("loss", "recon", "kl"):
        assert whole[term] == pytest.approx(np.mean([r[term] for r in rows]), rel=1e-12)
    m.zero_grad()
    m.loss_and_grads(x, eps=eps)
    g_whole = grads_of(m)
    m.zero_grad()
    for i in range(4):
        m.loss_and_grads(x[i:i + 1], eps=eps[i:i + 1])
    for name, g in grads_of(m).items():                        # Σ of row grads = 4 × mean's
        np.testing.assert_allclose(g, 4 * g_whole[name], rtol=1e-10, atol=1e-14, err_msg=name)


def test_loss_is_recon_plus_beta_times_the_sampled_kl():
    m, x = make(beta=0.3, seed=6), batch()
    eps = np.random.default_rng(10).standard_normal((N, L))
    res = m.loss_and_grads(x, eps=eps, compute_grads=False)
    z = res["mu"] + np.exp(res["logvar"] / 2) * eps
    np.testing.assert_allclose(res["z"], z, rtol=1e-14)
    kl = (gaussian_log_density(z, res["mu"], res["logvar"])
          - mixture_log_density_forward(z, res["mu_p"], res["logvar_p"])[0]).mean()
    assert res["kl"] == pytest.approx(kl, rel=1e-12)
    assert res["loss"] == pytest.approx(res["recon"] + 0.3 * res["kl"], rel=1e-14)
    assert m.kl_weight == 0.3


def test_pseudo_inputs_are_clamped_to_the_unit_interval():
    m = make()
    a = np.random.default_rng(0).uniform(0.05, 0.95, (K, D))
    m.set_pseudo_inputs(a)
    m.params["pseudo_inputs"][0, 0] = 1.7                      # an optimizer step beyond 1
    u, mask = m.pseudo_inputs()
    assert u[0, 0] == 1.0 and not mask[0, 0] and mask.sum() == K * D - 1
    m.zero_grad()
    m.loss_and_grads(batch(), rng=0)
    assert m.grads["pseudo_inputs"][0, 0] == 0 and m.grads["pseudo_inputs"][0, 1] != 0
    free = make(pseudo_clip=False, likelihood="gaussian")
    assert free.config["pseudo_clip"] is False and make().config["pseudo_clip"] is True
    free.params["pseudo_inputs"][0, 0] = 1.7
    assert free.pseudo_inputs()[0][0, 0] == 1.7


# ---------------------------------------------------------- the IWAE estimate
def linear_gaussian_vampprior(seed=0):
    """A linear VampPrior VAE with K = 1 whose encoder is the exact posterior at the test
    points, and the test points' log p(x) in closed form.

    Prior N(m, diag e^s) = the encoder at the one pseudo-input u; decoder out = zW + b with
    unit Gaussian noise, W (L, D) with orthogonal rows. Then

        p(x) = N(x; m W + b, Wᵀ diag(e^s) W + I),
        p(z|x) = N(Σ ⊙ (e^{−s} ⊙ m + W (x − b)), Σ),   Σ = 1 / (e^{−s} + ‖w_j‖²)  diagonal,

    and a linear encoder (D → 2L) can take the value [m, s] at u and the exact posterior's
    [mean, log Σ] at the M < D test points at once: M + 1 points, D + 1 unknowns per
    output, solved exactly. With q(z|x) = p(z|x), every importance weight is p(x).
    """
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(D, D)))
    W = np.array([1.3, 0.6])[:, None] * q[:L]                           # (L, D)
    b, m, s = rng.normal(size=D), rng.normal(size=L), rng.uniform(-0.5, 0.5, L)
    cov = W.T @ (np.exp(s)[:, None] * W) + np.eye(D)
    x = rng.multivariate_normal(m @ W + b, cov, size=4)                  # (M, D) test points
    post_var = 1 / (np.exp(-s) + (W ** 2).sum(axis=1))                   # (L,)
    post_mean = post_var * (np.exp(-s) * m + (x - b) @ W.T)              # (M, L)
    u = rng.normal(size=(1, D))
    inputs = np.hstack([np.vstack([u, x]), np.ones((5, 1))])             # (M + 1, D + 1)
    targets = np.vstack([np.r_[m, s], np.hstack([post_mean, np.tile(np.log(post_var), (4, 1))])])
    solution = np.linalg.lstsq(inputs, targets, rcond=None)[0]           # exact: M + 1 ≤ D + 1
    model = VampPriorVAE(D, (), L, gated=False, n_pseudo=1, likelihood="gaussian",
                         pseudo_clip=False, dtype=np.float64)
    enc, dec = model.encoder[0], model.decoder[0]
    enc.params["W"][...], enc.params["b"][...] = solution[:D], solution[D]
    dec.params["W"][...], dec.params["b"][...] = W, b
    model.set_pseudo_inputs(u)
    diff = x - (m @ W + b)
    log_px = -0.5 * (D * LOG_2PI + np.linalg.slogdet(cov)[1]
                     + np.einsum("nd,de,ne->n", diff, np.linalg.inv(cov), diff))
    return model, x, log_px


@pytest.mark.parametrize("k", [1, 7])
def test_iwae_estimate_is_exact_with_the_models_own_prior(k):
    model, x, log_px = linear_gaussian_vampprior()
    mu_p, logvar_p = model.prior_components()
    assert np.abs(mu_p).max() > 0.1                   # far from N(0, I): the prior matters
    np.testing.assert_allclose(iwae_nll(model, x, k, rng=3), -log_px, rtol=1e-10)
    report = evaluate_model(model, x, k=k, rng=3)     # −ELBO from the samples: tight too
    assert report.nll == pytest.approx(-log_px.mean(), rel=1e-10)
    assert report.neg_elbo == pytest.approx(-log_px.mean(), rel=1e-10)


def test_log_prior_is_the_same_in_chunks(monkeypatch):
    m = make(seed=7)
    z = np.random.default_rng(11).normal(size=(3, 4, L))                 # (..., L)
    whole = m.log_prior(z)
    monkeypatch.setattr(pseudo_module, "PRIOR_CHUNK", 2 * K * L)           # 2 codes a chunk
    np.testing.assert_array_equal(m.log_prior(z), whole)
    assert whole.shape == (3, 4)
    np.testing.assert_allclose(whole, mixture_log_density_forward(
        z.reshape(-1, L), *m.prior_components())[0].reshape(3, 4), rtol=1e-14)


# ------------------------------------------------------ training, registry
def test_training_lowers_the_loss_and_moves_the_pseudo_inputs(tmp_path):
    rng = np.random.default_rng(0)                     # data on a 2-d manifold of [0, 1]^D
    x = (1 / (1 + np.exp(-rng.normal(size=(64, 2)) @ (2 * rng.normal(size=(2, D)))))) \
        .astype(np.float32)
    model = VampPriorVAE(D, (8,), L, n_pseudo=4)
    start = model.params["pseudo_inputs"].copy()
    cfg = TrainConfig(epochs=3, batch_size=16, lr=1e-2, progress=False)
    history = Trainer(model, x, x[:16], cfg, out_dir=tmp_path).fit()
    assert history[-1]["train_loss"] < history[0]["train_loss"] - 0.05
    assert not np.array_equal(model.params["pseudo_inputs"], start)


def test_build_model_and_checkpoint_round_trip(tmp_path):
    assert MODELS["vampprior-vae"] is VampPriorVAE
    m = build_model({"model": "vampprior-vae", "input_dim": D, "hidden": [5, 4],
                     "latent_dim": L, "n_pseudo": 3, "seed": 2})
    assert m.config["gated"] is True and m.params["pseudo_inputs"].shape == (3, D)
    m.loss_and_grads(batch(dtype=np.float32))
    m2, _ = load_model(save_checkpoint(tmp_path / "c.npz", m))
    assert type(m2) is VampPriorVAE and m2.config == m.config
    np.testing.assert_array_equal(m2.params["pseudo_inputs"], m.params["pseudo_inputs"])
    x = batch(dtype=np.float32)
    assert m2.loss_and_grads(x)["loss"] == m.loss_and_grads(x)["loss"]


def test_command_line_trains_it_with_its_options(tmp_path):
    out = tmp_path / "vamp"
    assert cli.main(["train", "--model", "vampprior-vae", "--n-pseudo", "7", "--hidden", "16",
                     "--latent-dim", "3", "--no-gated", "--epochs", "1", "--limit", "200",
                     "--batch-size", "64", "--out", str(out), "--quiet"]) == 0
    model, _ = load_model(out / "checkpoint.npz")
    assert model.config["n_pseudo"] == 7 and model.config["gated"] is False
    assert model.params["pseudo_inputs"].shape == (7, 784)


def test_paper_defaults():
    m = VampPriorVAE(784)
    assert m.latent_dim == 40 and m.n_pseudo == 500 and m.config["hidden"] == [300, 300]
    assert [type(layer).__name__ for layer in m.encoder.layers] == \
        ["GatedLinear", "GatedLinear", "Linear"]


# ---------------------------------------------------------------------- errors
def test_errors_are_one_line_and_name_the_fix():
    with pytest.raises(ConfigError, match="n_pseudo"):
        make(n_pseudo=0)
    with pytest.raises(ConfigError, match=r"pseudo_init .*\[0, 1\]"):
        make(pseudo_init=1.5)
    with pytest.raises(ConfigError, match="gated must be True or False"):
        make(gated="yes")
    m = make()
    with pytest.raises(ShapeError, match=r"\(K, D\) = \(3, 6\).*n_pseudo=3"):
        m.set_pseudo_inputs(np.full((4, D), 0.5))                 # one pseudo-input too many
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        m.set_pseudo_inputs(np.full((K, D), 2.0))
    with pytest.raises(ShapeError, match="eps must have mu's shape"):
        m.loss_and_grads(batch(), eps=np.zeros((N, L + 1)))
    with pytest.raises(ConfigError, match="does not factorise"):
        m.kl_per_dimension(batch())
    mu, logvar = components()
    with pytest.raises(ShapeError, match=r"components have 2 latent dimensions .* z have 3"):
        mixture_log_density_forward(np.zeros((4, 3)), mu, logvar)
    with pytest.raises(ShapeError, match="component logvar must have the shape"):
        mixture_log_density_forward(np.zeros((4, 2)), mu, logvar[:2])
    with pytest.raises(ShapeError, match="mu must have the shape of z"):
        sampled_kl(np.zeros((4, 2)), np.zeros((3, 2)), np.zeros((4, 2)), mu, logvar)
    with pytest.raises(ShapeError, match="dlog_p"):
        mixture_log_density_backward(np.zeros(5), mixture_log_density_forward(
            np.zeros((4, 2)), mu, logvar)[1])
