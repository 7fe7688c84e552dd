"""Evaluation: the IWAE estimate against closed forms, exact K, chunking, active units, CLI.

The closed forms come from a linear-Gaussian VAE (probabilistic PCA): decoder
x = W z + b + σ·noise, W (D, L) with orthogonal columns, so that

    p(x)      = N(x; b, W Wᵀ + σ² I)
    p(z|x)    = N(μ*, diag σ²/(c + σ²)),   μ* = (x − b) W diag 1/(c + σ²),  c = diag WᵀW

is diagonal, and the encoder (one Linear) can represent it exactly.
"""
import json
import math

import numpy as np
import pytest

from scratchvae import cli
from scratchvae.data import binarize_fixed, load_dataset
from scratchvae.distributions import bernoulli_nll, gaussian_nll, squared_error
from scratchvae.evaluation import (
    NotAVAEError, RunningLogSumExp, active_units, evaluate_model, format_report, iwae_nll,
    iwae_nll_reference, latent_usage, log_importance_weights, log_likelihood,
)
from scratchvae.models import CVAE, VAE, Autoencoder, ConvVAE
from scratchvae.train import TrainConfig, Trainer, save_checkpoint

D, L, SIGMA2 = 6, 3, 0.5
SCALES = np.array([2.0, 1.0, 0.5])                 # column norms of W: c = SCALES²


# ------------------------------------------------------------ linear-Gaussian VAE
def _ppca(seed=0, mu_shift=0.0, logvar_shift=0.0):
    """A float64 linear VAE whose encoder is the exact posterior, optionally shifted:
    μ_q = μ* + mu_shift·σ*, logvar_q = logvar* + logvar_shift. Returns (model, W, b)."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(D, L)))
    W = Q * SCALES                                  # (D, L), WᵀW = diag(c)
    b = rng.normal(size=D)
    c = SCALES ** 2
    model = VAE(D, (), L, likelihood="gaussian", logvar_x=math.log(SIGMA2), dtype=np.float64)
    enc, dec = model.encoder[0], model.decoder[0]
    assert len(model.encoder) == 1 and len(model.decoder) == 1     # hidden=() is linear
    dec.params["W"][...] = W.T
    dec.params["b"][...] = b
    A = W / (c + SIGMA2)                            # (D, L): μ* = (x − b) A
    post_logvar = np.log(SIGMA2 / (c + SIGMA2))
    enc.params["W"][...] = 0.0
    enc.params["W"][:, :L] = A
    enc.params["b"][:L] = -b @ A + mu_shift * np.exp(0.5 * post_logvar)
    enc.params["b"][L:] = post_logvar + logvar_shift
    return model, W, b


def _exact_log_px(x, W, b):
    """log N(x; b, WWᵀ + σ²I), (N,)."""
    C = W @ W.T + SIGMA2 * np.eye(D)
    r = x - b
    _, logdet = np.linalg.slogdet(C)
    mahalanobis = np.einsum("nd,nd->n", r, np.linalg.solve(C, r.T).T)
    return -0.5 * (mahalanobis + logdet + D * math.log(2 * math.pi))


def _sample_x(W, b, n, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, L)) @ W.T + b + math.sqrt(SIGMA2) * rng.normal(size=(n, D))


def _gauss_kl_1d(mq, vq, mp, vp):
    return 0.5 * (math.log(vp / vq) + (vq + (mq - mp) ** 2) / vp - 1)


def _chi2_plus_one_1d(a, A, m, B):
    """E_q[(p/q)²] = ∫ p²/q for p = N(a, A), q = N(m, B) (needs 2/A − 1/B > 0)."""
    P = 2 / A - 1 / B
    h = 2 * a / A - m / B
    c = a * a / A - m * m / (2 * B)
    return math.sqrt(2 * math.pi * B) / (2 * math.pi * A) * math.sqrt(2 * math.pi / P) \
        * math.exp(h * h / (2 * P) - c)


MU_SHIFT, LOGVAR_SHIFT = 0.5, math.log(1.5)        # the deliberately wrong encoder


def _wrong_encoder_constants():
    """KL(q || p(z|x)) and Var_q(w)/p(x)² of the shifted encoder (the same for every x)."""
    post_var = SIGMA2 / (SCALES ** 2 + SIGMA2)
    kl, second_moment = 0.0, 1.0
    for v in post_var:                   # per unit, relative to the posterior mean
        vq = v * math.exp(LOGVAR_SHIFT)
        mq = MU_SHIFT * math.sqrt(v)
        kl += _gauss_kl_1d(mq, vq, 0.0, v)
        second_moment *= _chi2_plus_one_1d(0.0, v, mq, vq)    # weights factorise over units
    return kl, second_moment - 1.0


def test_exact_posterior_makes_every_log_weight_log_px():
    model, W, b = _ppca()
    x = _sample_x(W, b, 8)
    exact = _exact_log_px(x, W, b)
    eps = np.random.default_rng(2).normal(size=(5, 8, L))
    log_w = log_importance_weights(model, x, eps)                     # (K, N)
    assert log_w.shape == (5, 8) and log_w.dtype == np.float64
    np.testing.assert_allclose(log_w, np.broadcast_to(exact, (5, 8)), rtol=0, atol=1e-10)
    for k in (1, 7, 300):
        np.testing.assert_allclose(iwae_nll(model, x, k, sample_chunk=64, rng=k), -exact,
                                   rtol=0, atol=1e-10)


def test_log_weights_near_minus_1e4_do_not_underflow():
    """Far from the data, log p(x) ≈ −1e4: e^{log w} is 0 in float64, the estimate is not."""
    model, W, b = _ppca()
    rng = np.random.default_rng(3)
    x = b + 100.0 * rng.normal(size=(4, D)) / math.sqrt(D)
    exact = _exact_log_px(x, W, b)
    assert exact.max() < -1000 and exact.min() > -3e4 and np.all(np.exp(exact) == 0)
    np.testing.assert_allclose(iwae_nll(model, x, 50, sample_chunk=7), -exact, rtol=1e-13)


def test_running_logsumexp_matches_closed_form_around_minus_1e4():
    vals = -1e4 + np.log(np.arange(1, 1001, dtype=np.float64))       # Σ e^v = e^{−1e4}·500500
    acc = RunningLogSumExp((2,))
    for s0 in range(0, 1000, 300):
        acc.add(np.stack([vals[s0:s0 + 300], np.full(len(vals[s0:s0 + 300]), -np.inf)]))
    out = acc.value()
    assert out[0] == pytest.approx(-1e4 + math.log(500500), abs=1e-9)
    assert out[1] == -np.inf                                           # all −inf: −inf, no NaN


def test_wrong_encoder_iwae_lies_between_log_px_and_elbo_and_converges():
    """NLL_1 − (−log p) has mean KL(q || posterior); for large K the bias is ≈ Var(w)/(2K p²)."""
    kl_exact, rel_var = _wrong_encoder_constants()
    model, W, b = _ppca(mu_shift=MU_SHIFT, logvar_shift=LOGVAR_SHIFT)
    n = 2000
    x = _sample_x(W, b, n, seed=4)
    minus_log_px = -_exact_log_px(x, W, b)
    eps = np.random.default_rng(5).normal(size=(1000, n, L))
    gaps = {k: iwae_nll(model, x, k, eps=eps[:k]) - minus_log_px for k in (1, 10, 100, 1000)}
    se = {k: g.std(ddof=1) / math.sqrt(n) for k, g in gaps.items()}
    # K = 1 is one-sample −ELBO: on average −log p(x) + KL(q || p(z|x))
    assert abs(gaps[1].mean() - kl_exact) < 4 * se[1]
    # E[NLL_K] falls with K: by many standard errors of the paired difference where the
    # expected fall (≈ Var(w)/(2p²)·(1/K₀ − 1/K₁), rel_var ≈ 0.74) is large enough to see
    for k0, k1 in ((1, 10), (10, 100)):
        d = gaps[k0] - gaps[k1]
        assert d.mean() > 4 * d.std(ddof=1) / math.sqrt(n), (k0, k1, d.mean())
    # for large K the remaining bias is the delta-method value Var(w)/(2K p²) → 0 ...
    for k in (100, 1000):
        assert abs(gaps[k].mean() - rel_var / (2 * k)) < 4 * se[k], (k, gaps[k].mean())
    # ... and the spread around −log p(x) shrinks like 1/√K (√10 ≈ 3.2 per step)
    for k0, k1 in ((1, 10), (10, 100), (100, 1000)):
        assert se[k1] < se[k0] / 2.5, (k0, k1, se[k0], se[k1])
    # each image: IWAE ≤ the K-sample −ELBO with the same samples (Jensen)
    log_w = log_importance_weights(model, x, eps[:100])
    assert np.all(gaps[100] + minus_log_px <= -log_w.mean(axis=0) + 1e-12)


def test_report_elbo_kl_and_recon_match_closed_forms():
    model, W, b = _ppca(mu_shift=MU_SHIFT, logvar_shift=LOGVAR_SHIFT)
    n, k = 200, 500
    x = _sample_x(W, b, n, seed=6)
    rep = evaluate_model(model, x, k=k, rng=7)
    # q(z|x) = N(μ_q, s²): E_q log p(x|z) and its variance in closed form
    c = SCALES ** 2
    post_var = SIGMA2 / (c + SIGMA2)
    s2 = post_var * math.exp(LOGVAR_SHIFT)                               # (L,)
    mu_q = (x - b) @ (W / (c + SIGMA2)) + MU_SHIFT * np.sqrt(post_var)  # (N, L)
    r = x - b - mu_q @ W.T                                               # (N, D)
    recon = (0.5 * ((r * r).sum(1) + (c * s2).sum()) / SIGMA2
             + 0.5 * D * math.log(2 * math.pi * SIGMA2))                # −E_q log p(x|z)
    var = (4 * ((r @ W) ** 2 * s2).sum(1) + 2 * (c ** 2 * s2 ** 2).sum()) / (4 * SIGMA2 ** 2)
    kl = 0.5 * ((mu_q ** 2).sum(1) + (s2 - 1 - np.log(s2)).sum())
    assert rep.kl == pytest.approx(kl.mean(), abs=1e-10)
    assert sum(rep.kl_per_dim) == pytest.approx(rep.kl, abs=1e-10)
    recon_mc_var = var.sum() / k / n ** 2                  # MC variance of the mean recon
    assert abs(rep.recon - recon.mean()) < 4 * math.sqrt(recon_mc_var)
    assert rep.neg_elbo == pytest.approx(rep.recon + rep.kl, abs=1e-9)
    assert (rep.n, rep.k, rep.model) == (n, k, "vae") and 1 <= rep.ess_mean <= k
    # NLL_K ≈ −log p(x) + Var(w)/(2K p²), with MC variance Var(w)/(K p²) per image
    kl_post, rel_var = _wrong_encoder_constants()
    nll_mc_var = rel_var / k / n
    assert abs(rep.nll - (-_exact_log_px(x, W, b).mean() + rel_var / (2 * k))) \
        < 4 * math.sqrt(nll_mc_var)
    # the ELBO's slack is KL(q || posterior), the same for every x here; NLL_K sits inside it
    assert abs(rep.gap - (kl_post - rel_var / (2 * k))) < 4 * math.sqrt(recon_mc_var + nll_mc_var)
    assert rep.nll < rep.neg_elbo
    table = format_report(rep)
    assert "IWAE NLL (K=500)" in table and "active units" in table


# -------------------------------------------------------- exact K and chunking
def _mlp_vae(seed=0):
    return VAE(12, (9,), 3, seed=seed, dtype=np.float64)


def _binary(n, d=12, seed=0):
    return (np.random.default_rng(seed).random((n, d)) < 0.4).astype(np.float64)


@pytest.mark.parametrize("k", [1, 7, 1000])
def test_k_is_honoured_exactly_for_chunks_that_do_not_divide_it(k):
    model, x = _mlp_vae(), _binary(5)
    rows, draws = [], []
    forward = model.decoder.forward
    model.decoder.forward = lambda z: (rows.append(len(z)), forward(z))[1]

    def noise(shape):
        draws.append(shape)
        return np.random.default_rng(len(draws)).normal(size=shape)

    iwae_nll(model, x, k, sample_chunk=300, batch_size=2, rng=noise)
    assert sum(rows) == k * 5 and max(rows) <= 300 * 2
    assert sum(s * g for s, g, _ in draws) == k * 5 and all(s <= 300 for s, _, _ in draws)


def test_result_does_not_depend_on_chunking_and_matches_the_reference():
    model, x = _mlp_vae(), _binary(9)
    eps = np.random.default_rng(1).normal(size=(1000, 9, 3))
    ref = iwae_nll_reference(model, x, eps)
    for chunk, batch in ((300, 4), (7, 2), (1000, 9), (1, 9)):
        got = iwae_nll(model, x, 1000, eps=eps, sample_chunk=chunk, batch_size=batch)
        np.testing.assert_allclose(got, ref, rtol=1e-12, err_msg=f"chunk {chunk}, batch {batch}")


def test_seeded_noise_is_per_image_so_batches_chunks_and_subsets_agree():
    model, x = _mlp_vae(), _binary(10)
    a = iwae_nll(model, x, 100, rng=3, sample_chunk=30, batch_size=4)
    b = iwae_nll(model, x, 100, rng=3, sample_chunk=100, batch_size=10)
    np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(iwae_nll(model, x[:3], 100, rng=3), a[:3], rtol=1e-12)
    assert not np.allclose(iwae_nll(model, x, 100, rng=4), a)        # the seed matters


def test_float32_model_accumulates_in_float64_and_agrees_with_float64():
    m64 = _mlp_vae()
    m32 = _mlp_vae().astype(np.float32)
    x = _binary(6)
    eps = np.random.default_rng(2).normal(size=(50, 6, 3))
    a = iwae_nll(m64, x, 50, eps=eps)
    b = iwae_nll(m32, x.astype(np.float32), 50, eps=eps)
    assert b.dtype == np.float64
    np.testing.assert_allclose(b, a, rtol=1e-5)


def test_conv_vae_chunked_matches_reference():
    model = ConvVAE((1, 8, 8), channels=(2, 3), latent_dim=2, dtype=np.float64)
    x = _binary(4, 64, seed=1)
    eps = np.random.default_rng(0).normal(size=(13, 4, 2))
    np.testing.assert_allclose(iwae_nll(model, x, 13, eps=eps, sample_chunk=5),
                               iwae_nll_reference(model, x, eps), rtol=1e-12)


@pytest.mark.parametrize("name", ["bernoulli", "gaussian", "learned", "mse"])
def test_log_likelihood_is_the_full_negative_loss(name):
    rng = np.random.default_rng(0)
    out, x = rng.normal(size=(2, 3, 5)), _binary(2, 5)
    rows = out.reshape(6, 5)
    xr = np.repeat(x, 3, axis=0)
    logvar = rng.normal(size=5) if name == "learned" else 0.3
    if name == "bernoulli":
        want = -bernoulli_nll(rows, xr, reduction="none")[0]
    elif name == "mse":
        want = -(squared_error(rows, xr, reduction="none")[0] + 2.5 * math.log(math.pi))
    else:
        want = -gaussian_nll(rows, xr, logvar, reduction="none")[0]
    got = log_likelihood("gaussian" if name == "learned" else name, out.copy(), x, logvar)
    np.testing.assert_allclose(got.reshape(6), want, rtol=1e-12)


# ------------------------------------------------------------- active units
@pytest.mark.parametrize("hidden", [(), (8,)])
def test_units_whose_encoder_ignores_the_data_are_inactive(hidden):
    model = VAE(5, hidden, 4, likelihood="gaussian", dtype=np.float64, seed=1)
    last = model.encoder[len(model.encoder) - 1]
    W = last.params["W"]                                            # (H, 2L)
    W[:, [1, 3]] = 0.0                                              # μ_1, μ_3 = their biases
    W[:, [0, 2]] *= 10 / np.linalg.norm(W[:, [0, 2]], axis=0)      # clearly active
    x = np.random.default_rng(0).normal(size=(500, 5))
    count, variances = active_units(model, x)
    assert count == 2
    np.testing.assert_array_equal(variances > 0.01, [True, False, True, False])
    assert variances[1] < 1e-20 and variances[3] < 1e-20           # constant up to round-off
    # a unit that ignores x and equals the prior (μ = 0, logvar = 0) has zero KL
    W[:, [5, 7]] = 0.0
    last.params["b"][[1, 3, 5, 7]] = 0.0
    usage = latent_usage(model, x)
    assert usage.kl[1] == 0.0 and usage.kl[3] == 0.0 and usage.kl[0] > 0.1


def test_models_that_are_not_vaes_are_refused_clearly():
    x = _binary(3, 784)
    with pytest.raises(NotAVAEError, match="autoencoder"):
        evaluate_model(Autoencoder(), x, k=2)
    with pytest.raises(NotAVAEError, match="conditional"):
        iwae_nll(CVAE(input_dim=784, hidden=(8,), latent_dim=2), x, 2)


# ----------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def sprites_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("evalrun")
    x = load_dataset("sprites", "test").x[:300].reshape(300, -1)
    model = VAE(784, (32,), 4, seed=0)
    cfg = TrainConfig(epochs=1, batch_size=64, binarize=True, progress=False,
                      extra={"data": "sprites", "image_shape": [1, 28, 28]})
    Trainer(model, x, None, cfg, out_dir=out).fit()
    return out / "checkpoint.npz", model


def test_cli_evaluate_writes_the_report_as_json(sprites_checkpoint, tmp_path, capsys):
    ckpt, model = sprites_checkpoint
    path = tmp_path / "eval.json"
    assert cli.main(["evaluate", str(ckpt), "--k", "50", "--limit", "20", "--json", str(path),
                     "--quiet"]) == 0
    assert "IWAE NLL (K=50)" in capsys.readouterr().out
    rep = json.loads(path.read_text())
    assert (rep["k"], rep["n"], rep["model"], rep["epoch"]) == (50, 20, "vae", 1)
    assert rep["extra"] == {"data": "sprites", "split": "test", "binarized": True,
                            "binarize_seed": 0}
    assert len(rep["kl_per_dim"]) == len(rep["unit_variances"]) == 4
    assert rep["active_units"] == sum(v > rep["threshold"] for v in rep["unit_variances"])
    assert rep["neg_elbo"] == pytest.approx(rep["recon"] + rep["kl"])
    assert rep["gap"] == pytest.approx(rep["neg_elbo"] - rep["nll"])
    # the protocol: the fixed-seed binarized test images, ε from --seed
    x = binarize_fixed(load_dataset("sprites", "test").x[:20].reshape(20, -1), 0)
    assert rep["nll"] == pytest.approx(evaluate_model(model, x, k=50, rng=0).nll, rel=1e-12)


def test_cli_evaluate_no_binarize_warns_for_bernoulli_on_grey_data(sprites_checkpoint, tmp_path,
                                                                    capsys):
    ckpt, _ = sprites_checkpoint
    path = tmp_path / "eval.json"
    assert cli.main(["evaluate", str(ckpt), "--k", "5", "--limit", "4", "--no-binarize",
                     "--json", str(path), "--quiet"]) == 0
    assert "cross-entropy" in capsys.readouterr().err
    assert json.loads(path.read_text())["extra"]["binarized"] is False


def test_cli_evaluate_errors_name_the_problem(tmp_path, capsys):
    assert cli.main(["evaluate", str(tmp_path / "missing.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a checkpoint")
    assert cli.main(["evaluate", str(bad)]) == 2
    assert "corrupt" in capsys.readouterr().err
    ae = tmp_path / "ae.npz"
    save_checkpoint(ae, Autoencoder(784, (8,), 2),
                    meta={"train_config": {"extra": {"data": "sprites"}}})
    assert cli.main(["evaluate", str(ae), "--k", "5"]) == 2
    assert "VAE" in capsys.readouterr().err
