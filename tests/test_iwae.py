"""The IWAE objective: gradient checks (and that they catch planted bugs), the bound
against independent computations (the single-sample ELBO at k = 1, the exact log p(x)
of a linear-Gaussian model), its growth with k, sample-order invariance, the max-shifted
weights, the model's own ε, training, the registry and checkpoints, and input errors."""
import math

import numpy as np
import pytest

import scratchvae.models.iwae as iwae_module
from scratchvae.distributions import bernoulli_nll, kl_standard_normal
from scratchvae.errors import ShapeError
from scratchvae.functional import logsumexp
from scratchvae.gradcheck.suite import CHECKS
from scratchvae.models import MODELS, ConvIWAE, IWAE, build_model
from scratchvae.models.iwae import importance_weights
from scratchvae.train import TrainConfig, Trainer, load_model, save_checkpoint

D, H, L, N = 12, (10,), 3, 5
Z = 5.0                                   # standard errors allowed in statistical tests
LOG_2PI = math.log(2 * math.pi)
IWAE_CHECKS = [n for n in CHECKS if "IWAE" in n]


def batch(n=N, d=D, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).uniform(0.05, 0.95, (n, d)).astype(dtype)


def make(k=5, **kw):
    return IWAE(D, H, L, activation="tanh", k=k, **{"dtype": np.float64, **kw})


def noise(k, n=N, seed=1):
    return np.random.default_rng(seed).standard_normal((k, n, L))      # (k, N, L)


def grads_of(model, x, **kw):
    model.zero_grad()
    model.loss_and_grads(x, **kw)
    return {name: g.copy() for name, _, g in model.parameters()}


# ---------------------------------------------------------------------- shapes
def test_shapes_config_and_terms():
    m, x, k = make(k=4), batch(), 4
    res = m.loss_and_grads(x)
    assert set(res) >= {"loss", "recon", "kl", "mu", "logvar", "z", "log_w", "weights"}
    assert res["mu"].shape == res["logvar"].shape == (N, L)
    assert res["z"].shape == (k, N, L) and res["log_w"].shape == res["weights"].shape == (k, N)
    np.testing.assert_allclose(res["weights"].sum(axis=0), 1.0, rtol=1e-14)
    assert m.terms == ("loss", "recon", "kl") and all(isinstance(res[t], float) for t in m.terms)
    assert m.config["model"] == "iwae" and m.config["k"] == 4 and "beta" not in m.config
    c = ConvIWAE((1, 8, 8), (2, 3), 2, k=3)
    assert c.config["model"] == "conv-iwae" and c.config["k"] == 3
    assert c.loss_and_grads(batch(2, 64, dtype=np.float32))["z"].shape == (3, 2, 2)


def test_decoder_runs_once_on_all_k_samples(monkeypatch):
    m, x, k = make(k=6), batch(), 6
    calls = []
    forward = m.decoder.forward
    monkeypatch.setattr(m.decoder, "forward", lambda z: calls.append(z.shape) or forward(z))
    m.loss_and_grads(x, eps=noise(k))
    assert calls == [(k * N, L)]


# -------------------------------------------------------------------- the bound
def single_sample_elbo(m, x, eps1):
    """log p(x|z) + log p(z) − log q(z|x) per row, written in z (not ε) from the parts."""
    h = m.encoder(x)
    mu, logvar = h[:, :L], h[:, L:]
    var = np.exp(logvar)
    z = mu + np.sqrt(var) * eps1
    log_px = -bernoulli_nll(m.decoder(z), x, reduction="none")[0]
    log_pz = -0.5 * (z ** 2 + LOG_2PI).sum(axis=1)
    log_qz = -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 / var).sum(axis=1)
    return log_px + log_pz - log_qz                                   # (N,)


def test_k1_is_the_single_sample_elbo_estimate():
    m, x, eps = make(k=1), batch(), noise(1)
    res = m.loss_and_grads(x, eps=eps, compute_grads=False)
    assert res["loss"] == pytest.approx(-single_sample_elbo(m, x, eps[0]).mean(), rel=1e-12)


def test_loss_recon_and_kl_against_an_independent_computation():
    k = 5
    m, x, eps = make(k=k), batch(), noise(k)
    res = m.loss_and_grads(x, eps=eps, compute_grads=False)
    log_w = np.stack([single_sample_elbo(m, x, eps[i]) for i in range(k)])      # (k, N)
    np.testing.assert_allclose(res["log_w"], log_w, rtol=1e-12)
    assert res["loss"] == pytest.approx(-(logsumexp(log_w, axis=0) - math.log(k)).mean(),
                                        rel=1e-12)
    mu, logvar = res["mu"], res["logvar"]
    z = mu + np.exp(logvar / 2) * eps
    recon = np.mean([bernoulli_nll(m.decoder(z[i]), x)[0] for i in range(k)])
    assert res["recon"] == pytest.approx(recon, rel=1e-12)
    assert res["kl"] == pytest.approx(kl_standard_normal(mu, logvar)[0], rel=1e-12)


def test_k_samples_bound_is_at_least_the_mean_of_their_single_sample_bounds():
    # Jensen (AM ≥ GM): logmeanexp_i(log w_i) ≥ mean_i(log w_i) for every ε, not only on
    # average; equality only if all log w_i are equal, which random weights rule out
    k = 5
    m, x, eps = make(k=k), batch(), noise(k)
    loss_k = m.loss_and_grads(x, eps=eps, compute_grads=False)["loss"]
    singles = [m.loss_and_grads(x, eps=eps[i:i + 1], k=1, compute_grads=False)["loss"]
               for i in range(k)]
    assert loss_k < np.mean(singles) - 1e-3, (loss_k, singles)


def linear_gaussian_iwae(k, sigma2=0.3, scales=(1.5, 0.7), seed=0, exact=True):
    """IWAE with linear nets whose encoder is the *exact* posterior of its decoder.

    Decoder out = z W + b, W (L, D) with orthogonal rows of norms
    ``scales``, and Gaussian noise σ². Then p(x) = N(b, WᵀW + σ²I) and the posterior is
    N(Σ W (x − b)/σ², Σ) with Σ = diag(σ²/(σ² + s²)) — diagonal, so the encoder (μ linear
    in x, logvar a constant bias) represents it exactly and log w = log p(x) for every z.
    """
    rng = np.random.default_rng(seed)
    lat, d = len(scales), 4
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    W = np.asarray(scales)[:, None] * q[:lat]                          # (L, D)
    b = rng.normal(size=d)                                             # (D,)
    post_var = sigma2 / (sigma2 + np.asarray(scales) ** 2)             # (L,)
    A = W.T * post_var / sigma2                                        # (D, L): μ = (x − b) A
    m = IWAE(d, (), lat, likelihood="gaussian", logvar_x=math.log(sigma2), k=k,
             dtype=np.float64)
    enc, dec = m.encoder[0], m.decoder[0]
    enc.params["W"][...] = np.hstack([A, np.zeros((d, lat))])
    enc.params["b"][...] = np.r_[-b @ A, np.log(post_var)]
    if not exact:                                  # a worse q: shifted mean, wider
        enc.params["b"][...] += np.r_[np.full(lat, 0.8), np.full(lat, 1.0)]
    dec.params["W"][...] = W
    dec.params["b"][...] = b
    cov = W.T @ W + sigma2 * np.eye(d)
    x = rng.multivariate_normal(b, cov, size=6)                        # (6, D) data
    diff = x - b
    _, logdet = np.linalg.slogdet(cov)
    log_px = -0.5 * (d * LOG_2PI + logdet + np.einsum("nd,de,ne->n", diff, np.linalg.inv(cov),
                                                      diff))
    return m, x, log_px


@pytest.mark.parametrize("k", [1, 5])
def test_exact_posterior_gives_log_px_for_every_sample(k):
    # all three densities with their constants: log p(x|z) + log p(z) − log q(z|x) is the
    # same number, log p(x), for every z — so the bound is exact and the weights uniform
    m, x, log_px = linear_gaussian_iwae(k)
    res = m.loss_and_grads(x, eps=np.random.default_rng(3).normal(size=(k, 6, 2)),
                           compute_grads=False)
    np.testing.assert_allclose(res["log_w"], np.broadcast_to(log_px, (k, 6)), rtol=1e-10)
    assert res["loss"] == pytest.approx(-log_px.mean(), rel=1e-10)
    np.testing.assert_allclose(res["weights"], 1 / k, rtol=1e-9)


def bound_draws(m, x, ks, reps, seed):
    """−loss for each k in ``ks`` on ``reps`` draws of ε; the k samples of a draw are the
    first k of one (max k, N, L) draw (common random numbers: the differences between k's
    are far less noisy than the bounds, and each k still sees standard-normal ε)."""
    rng = np.random.default_rng(seed)
    out = np.empty((reps, len(ks)))
    for r in range(reps):
        eps = rng.standard_normal((max(ks), len(x), m.latent_dim))
        for j, k in enumerate(ks):
            out[r, j] = -m.loss_and_grads(x, eps=eps[:k], k=k, compute_grads=False)["loss"]
    return out


@pytest.mark.parametrize("case", ["linear-gaussian", "mlp-bernoulli"])
def test_bound_increases_with_k_on_average(case):
    # Burda et al., Thm 1: E[L_k] ≤ E[L_m] for k ≤ m. Each mean difference must exceed
    # Z = 5 of its standard errors: a fixed seed makes the test deterministic, and 5 SE
    # means it is no fluke of that seed (a wrong weighting — e.g. uniform weights, which
    # make every E[L_k] equal to the ELBO — leaves the differences at 0 ± 1 SE). Measured
    # margins: 26 and 16 SE (linear-Gaussian), 22 and 21 SE (MLP). The MLP gets weights
    # N(0, 4/fan_in): at the default init the decoder barely depends on z, every log w is
    # nearly the same, and the 5 → 50 gain (0.02 nats) is only 2.6 SE.
    ks, reps = (1, 5, 50), 200
    if case == "linear-gaussian":
        m, x, log_px = linear_gaussian_iwae(max(ks), exact=False)
    else:
        m, x, log_px = make(k=max(ks)), batch(), None
        rng = np.random.default_rng(0)
        for name, p, _ in m.parameters():
            if name.endswith(".W"):
                p[...] = rng.normal(0, 2 / math.sqrt(p.shape[0]), p.shape)
    b = bound_draws(m, x, ks, reps, seed=7)                           # (reps, len(ks))
    for j in range(len(ks) - 1):
        d = b[:, j + 1] - b[:, j]
        se = d.std(ddof=1) / math.sqrt(reps)
        assert d.mean() > Z * se, (ks[j], ks[j + 1], d.mean(), se)
    if log_px is not None:                        # and every bound stays below log p(x)
        means, se = b.mean(axis=0), b.std(axis=0, ddof=1) / math.sqrt(reps)
        assert (means < log_px.mean() + Z * se).all(), (means, log_px.mean())
        assert log_px.mean() - means[-1] < 0.5 * (log_px.mean() - means[0])   # and closes in


def test_order_of_the_samples_does_not_matter():
    k = 5
    m, x, eps = make(k=k), batch(), noise(k)
    perm = np.array([3, 0, 4, 2, 1])
    a = m.loss_and_grads(x, eps=eps, compute_grads=False)
    b = m.loss_and_grads(x, eps=eps[perm], compute_grads=False)
    assert b["loss"] == pytest.approx(a["loss"], rel=1e-14)
    np.testing.assert_allclose(b["weights"], a["weights"][perm], rtol=1e-13)
    ga, gb = grads_of(m, x, eps=eps), grads_of(m, x, eps=eps[perm])
    for name in ga:
        np.testing.assert_allclose(gb[name], ga[name], rtol=1e-10, atol=1e-14, err_msg=name)


# ----------------------------------------------------------- the max shift
@pytest.mark.parametrize("offset", [-1e4, 0.0, 1e4])
def test_importance_weights_are_a_max_shifted_softmax(offset):
    d = np.array([[0.0, -1.0], [-2.0, -50.0], [-0.5, -3.0]])          # (k=3, N=2) gaps
    log_w = offset + d
    w, lse = importance_weights(log_w, axis=0)
    ref = np.exp(d - d.max(axis=0)) / np.exp(d - d.max(axis=0)).sum(axis=0)
    np.testing.assert_allclose(w, ref, rtol=1e-14)
    np.testing.assert_allclose(lse, offset + np.log(np.exp(d).sum(axis=0)), rtol=1e-14)
    if offset != 0:                               # where the unshifted form breaks down
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            naive = np.exp(log_w) / np.exp(log_w).sum(axis=0)
        assert not np.isfinite(naive).all()


def test_model_with_log_w_near_minus_1e4_stays_finite():
    # a sharp Gaussian likelihood far from the data: every log w ≈ −1e4, where exp(log w)
    # underflows to 0 and the unshifted bound would be log 0 = −inf
    k = 4
    m = make(k=k, likelihood="gaussian", logvar_x=-8.0)
    x, eps = batch() + 2.0, noise(k)
    res = m.loss_and_grads(x, eps=eps, compute_grads=False)
    assert res["log_w"].max() < -2000 and np.all(np.exp(res["log_w"]) == 0)
    assert res["loss"] == pytest.approx(-(logsumexp(res["log_w"], axis=0) - math.log(k)).mean(),
                                        rel=1e-14)
    assert all(np.isfinite(g).all() for g in grads_of(m, x, eps=eps).values())


# ----------------------------------------------------------- gradient checks


def test_suite_covers_k1_k5_conv_and_a_learned_variance():
    assert {"IWAE(bernoulli, k=1)", "IWAE(bernoulli, k=5)", "ConvIWAE(bernoulli, k=3)"} <= \
        set(IWAE_CHECKS)
    report = CHECKS["IWAE(gaussian, learned var, k=4)"](seed=0)
    assert "logvar_x" in {r.name for r in report.results}


@pytest.mark.parametrize("name", ["IWAE(bernoulli, k=5)", "ConvIWAE(bernoulli, k=3)"])
def test_check_catches_uniform_weights(name, monkeypatch):
    # the k-sample ELBO's gradient (every sample weighted 1/k) instead of the IWAE's
    real = iwae_module.importance_weights

    def uniform(log_w, axis=0):                # the loss (lse) stays right, the weights not
        return np.full_like(log_w, 1 / log_w.shape[axis]), real(log_w, axis)[1]

    monkeypatch.setattr(iwae_module, "importance_weights", uniform)
    assert not CHECKS[name](seed=0, mode="directional").passed     # one probe per array


def test_check_catches_a_missing_log_q_term(monkeypatch):
    # drop −log q's direct ∂/∂logvar = ½ (as if log q had no normaliser): undo the −1/(2N)
    real = iwae_module.join_halves
    monkeypatch.setattr(iwae_module, "join_halves", lambda dmu, dlv: real(dmu, dlv + 0.5 / 3))
    report = CHECKS["IWAE(bernoulli, k=5)"](seed=0)
    assert not report.passed
    failed = {r.name for r in report.results if not r.passed}
    assert "encoder.2.b" in failed, str(report)           # the logvar half of the last bias


def test_grads_accumulate_and_compute_grads_false_leaves_them():
    m, x, eps = make(), batch(), noise(5)
    for _, _, g in m.parameters():
        g.fill(7.0)
    m.loss_and_grads(x, eps=eps, compute_grads=False)
    assert all((g == 7.0).all() for _, _, g in m.parameters())
    once = grads_of(m, x, eps=eps)
    m.loss_and_grads(x, eps=eps)
    for name, _, g in m.parameters():
        np.testing.assert_allclose(g, 2 * once[name], rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------- the model's own ε
def identity_iwae(k, latent=3, logvar=0.0):
    """Encoder μ = 0, logvar = const; decoder z ↦ z (so "z" are the model's ε scaled by σ)."""
    m = IWAE(latent, (), latent, likelihood="mse", k=k, seed=0, dtype=np.float64)
    enc, dec = m.encoder[0], m.decoder[0]
    enc.params["W"][...] = 0
    enc.params["b"][...] = np.r_[np.zeros(latent), np.full(latent, logvar)]
    dec.params["W"][...] = np.eye(latent)
    dec.params["b"][...] = 0
    return m


@pytest.mark.parametrize("logvar", [0.0, 1.0])
def test_own_eps_has_the_standard_normal_moments(logvar):
    k, n, lat = 8, 5000, 3
    m = identity_iwae(k, lat, logvar)
    z = m.loss_and_grads(np.zeros((n, lat)), compute_grads=False)["z"]     # (k, n, L)
    eps = z.reshape(-1, lat) / math.exp(logvar / 2)                          # σ = exp(logvar/2)
    cnt = len(eps)
    assert (np.abs(eps.mean(axis=0)) <= Z * math.sqrt(1 / cnt)).all()
    assert (np.abs(eps.var(axis=0, ddof=1) - 1) <= Z * math.sqrt(2 / (cnt - 1))).all()
    # z itself has variance exp(logvar) (the std = exp(logvar) bug would give exp(2 logvar))
    var_z = z.reshape(-1, lat).var(axis=0, ddof=1)
    assert (np.abs(var_z - math.exp(logvar)) <= Z * math.exp(logvar) * math.sqrt(2 / cnt)).all()
    # the k samples of a row are independent draws, not one draw repeated
    r = np.corrcoef(z[0, :, 0], z[1, :, 0])[0, 1]
    assert abs(r) <= Z / math.sqrt(n)


def test_eps_is_reproducible_from_a_seed_or_generator():
    x = batch()
    a = make().loss_and_grads(x, rng=3, compute_grads=False)["loss"]
    b = make().loss_and_grads(x, rng=np.random.default_rng(3), compute_grads=False)["loss"]
    c = make().loss_and_grads(x, rng=4, compute_grads=False)["loss"]
    assert a == b and a != c
    m1, m2 = make(seed=2), make(seed=2)           # the model's own generator, seeded
    assert m1.loss_and_grads(x)["loss"] == m2.loss_and_grads(x)["loss"]


# ------------------------------------------------------------------ training


def test_trainer_logs_the_iwae_terms():
    x = np.random.default_rng(0).uniform(0.02, 0.98, (64, 20)).astype(np.float32)
    model = IWAE(20, (16,), 3, k=4)
    cfg = TrainConfig(epochs=2, batch_size=32, lr=3e-3, progress=False)
    history = Trainer(model, x, x[:16], cfg).fit()
    assert {"train_loss", "train_recon", "train_kl", "val_loss", "val_recon", "val_kl"} <= \
        set(history[0])
    assert history[-1]["train_loss"] < history[0]["train_loss"]


# -------------------------------------------------------- registry, checkpoints
def test_build_model_and_checkpoint_round_trip_restore_k(tmp_path):
    assert MODELS["iwae"] is IWAE and MODELS["conv-iwae"] is ConvIWAE
    m = build_model({"model": "iwae", "input_dim": D, "hidden": list(H), "latent_dim": L,
                     "k": 7, "seed": 3})
    assert isinstance(m, IWAE) and m.k == 7
    m.loss_and_grads(batch(dtype=np.float32))                 # advance the ε generator
    path = save_checkpoint(tmp_path / "c.npz", m, None, {"epoch": 0})
    m2, _ = load_model(path)
    assert type(m2) is IWAE and m2.k == 7 and m2.config == m.config
    for (name, p, _), (_, p2, _) in zip(m.parameters(), m2.parameters()):
        np.testing.assert_array_equal(p2, p, err_msg=name)
    x = batch(dtype=np.float32)                                # and the same next ε
    assert m2.loss_and_grads(x)["loss"] == m.loss_and_grads(x)["loss"]
    c = ConvIWAE((1, 8, 8), (2, 3), 2, k=3)
    c2 = build_model(c.config)
    assert type(c2) is ConvIWAE and c2.k == 3 and c2.image_shape == (1, 8, 8)


# ---------------------------------------------------------------------- errors
def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="importance samples"):
        make(k=0)
    with pytest.raises(ValueError, match="importance samples"):
        make(k=2.5)
    m = make(k=3)
    with pytest.raises(ShapeError, match=r"\(k, N, L\) = \(3, 5, 3\)"):
        m.loss_and_grads(batch(), eps=noise(3)[0])             # (N, L): the VAE's shape
    with pytest.raises(ShapeError, match=r"\(k, N, L\) = \(3, 5, 3\)"):
        m.loss_and_grads(batch(), eps=noise(2))
    for bad in (0, 1.5, "3"):
        with pytest.raises(ValueError, match="importance samples"):
            m.loss_and_grads(batch(), k=bad)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        m.loss_and_grads(batch() * 2)
