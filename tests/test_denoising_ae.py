"""Corruption samplers (moments, frozen noise, bad input) and the denoising autoencoder:
gradient checks with frozen corruption (and a planted bug they catch), the loss against
the clean target, the noise-free limit, sampling through the model's own generator, a
golden run, training, config and checkpoints."""
import math

import numpy as np
import pytest

from scratchvae.data.corruption import (
    corrupt, corrupt_gaussian, corrupt_masking, gaussian_noise, masking_mask,
)
from scratchvae.distributions import bernoulli_nll, squared_error
from scratchvae.errors import DataError, DTypeError, NonFiniteError, ShapeError
from scratchvae.gradcheck import check_model
from scratchvae.gradcheck import suite_denoising
from scratchvae.gradcheck.suite import CHECKS
from scratchvae.models import Autoencoder
from scratchvae.models.denoising_ae import DenoisingAE
from scratchvae.train import Trainer, TrainConfig
from scratchvae.train.checkpoint import load_checkpoint, save_checkpoint

RTOL = 1e-6                            # the project tolerance; never raised here
Z = 5.0                                # standard errors allowed in moment tests
D, H, L, N = 12, (10,), 3, 5
DAE_CHECKS = [n for n in CHECKS if n.startswith("DenoisingAE(")]


def batch(n=N, d=D, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).uniform(0, 1, (n, d)).astype(dtype)


def make(**kw):
    return DenoisingAE(D, H, L, **kw)


# ------------------------------------------------------------ noise samplers
@pytest.mark.parametrize("std", [0.1, 0.5, 2.0])
def test_gaussian_noise_moments(std):
    n = 400_000
    e = gaussian_noise((n,), std, rng=0, dtype=np.float64)
    se_mean, se_var = std / math.sqrt(n), std ** 2 * math.sqrt(2 / (n - 1))
    assert abs(e.mean()) <= Z * se_mean
    assert abs(e.var(ddof=1) - std ** 2) <= Z * se_var
    # a std = σ² (or σ = variance) mix-up is rejected unless σ = 1
    assert abs(e.var(ddof=1) - std ** 4) > Z * se_var


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_masking_drop_rate(p):
    n = 400_000
    m = masking_mask((n,), p, rng=1)
    assert set(np.unique(m)) <= {0.0, 1.0}
    dropped = 1 - m.mean()
    se = math.sqrt(p * (1 - p) / n)
    assert abs(dropped - p) <= Z * se
    assert abs(dropped - (1 - p)) > Z * se or p == 0.5     # drop rate, not keep rate


def test_corruption_moments_on_data():
    """E[x̃] = x for Gaussian noise; E[x̃] = (1 − p) x for masking (no 1/(1 − p) rescale)."""
    x = np.array([[0.2, 0.7, 1.0]])
    reps = 100_000
    xs = np.repeat(x, reps, axis=0)                                    # (reps, 3)
    g = corrupt_gaussian(xs, 0.3, rng=2)
    np.testing.assert_array_less(np.abs(g.mean(0) - x[0]), Z * 0.3 / math.sqrt(reps))
    np.testing.assert_array_less(np.abs(g.var(0, ddof=1) - 0.09),
                                 Z * 0.09 * math.sqrt(2 / (reps - 1)))
    p = 0.3
    m = corrupt_masking(xs, p, rng=3)
    assert set(np.unique(m[:, 1])) == {0.0, 0.7}                       # kept or zeroed, unscaled
    se = x[0] * math.sqrt(p * (1 - p) / reps)
    np.testing.assert_array_less(np.abs(m.mean(0) - (1 - p) * x[0]), Z * se)


def test_frozen_noise_and_mask_are_used_exactly():
    x = batch(dtype=np.float64)
    noise = np.random.default_rng(0).normal(size=x.shape)
    np.testing.assert_array_equal(corrupt_gaussian(x, 9.0, noise=noise), x + noise)
    mask = (np.arange(x.size).reshape(x.shape) % 3 != 0).astype(np.float64)
    np.testing.assert_array_equal(corrupt_masking(x, 0.9, mask=mask), x * mask)
    np.testing.assert_array_equal(corrupt_masking(x, 0.9, mask=mask.astype(bool)), x * mask)


def test_seeded_corruption_is_reproducible_and_keeps_dtype():
    x = batch()
    for kind, level in (("gaussian", 0.3), ("masking", 0.5)):
        a, b = corrupt(x, kind, level, rng=4), corrupt(x, kind, level, rng=4)
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.float32 and not np.array_equal(a, x)
        assert not np.array_equal(a, corrupt(x, kind, level, rng=5))
    np.testing.assert_array_equal(corrupt(x, "gaussian", 0.0, rng=0), x)
    np.testing.assert_array_equal(corrupt(x, "masking", 0.0, rng=0), x)


def test_corruption_errors_name_the_problem():
    x = batch()
    with pytest.raises(ValueError, match="unknown corruption 'salt'"):
        corrupt(x, "salt", 0.1)
    with pytest.raises(ValueError, match="std must be ≥ 0"):
        corrupt(x, "gaussian", -0.1)
    for p in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"\[0, 1\)"):
            corrupt(x, "masking", p)
    with pytest.raises(ShapeError, match="same shape"):
        corrupt_gaussian(x, 0.1, noise=np.zeros((N, D + 1), np.float32))
    with pytest.raises(ShapeError, match="same shape"):
        corrupt_masking(x, 0.1, mask=np.ones((N + 1, D)))
    with pytest.raises(DataError, match="only 0 .* and 1"):
        corrupt_masking(x, 0.1, mask=np.full(x.shape, 0.5))
    with pytest.raises(DTypeError, match="mask must be an array"):
        corrupt_masking(x, 0.1, mask=x.tolist())
    with pytest.raises(DTypeError, match="255"):
        corrupt(np.ones((2, 3), np.uint8), "gaussian", 0.1)


# ------------------------------------------------------------ gradient checks
def test_the_registry_has_the_dae_entries():
    assert set(DAE_CHECKS) == {"DenoisingAE(gaussian)", "DenoisingAE(masking)",
                               "DenoisingAE(masking, mse)"}


class CleanCacheBug(DenoisingAE):
    """Planted bug: the loss uses x̃, but the backward runs on a cache built from x."""

    def loss_and_grads(self, x, x_tilde=None, rng=None, compute_grads=True):
        res = super().loss_and_grads(x, x_tilde, rng, compute_grads=False)
        if compute_grads:
            out = self.decoder.forward(self.encoder.forward(x))     # wrong input in the cache
            dout = bernoulli_nll(out, x)[1]["logits"]
            self.encoder.backward(self.decoder.backward(dout))
        return res


def test_gradient_check_catches_a_backward_on_the_clean_input():
    model, x, x_tilde = suite_denoising.frozen_dae_case("gaussian", "bernoulli", 0)
    bug = CleanCacheBug(7, (5,), 2, activation="tanh", noise_level=0.5, seed=1).astype(np.float64)
    bug.load_state_dict(model.state_dict())
    good = check_model(model, x, loss_kwargs={"x_tilde": x_tilde}, seed=0)
    bad = check_model(bug, x, loss_kwargs={"x_tilde": x_tilde}, seed=0)
    assert good.passed and not bad.passed, str(bad)


# ------------------------------------------------------------------- the loss
@pytest.mark.parametrize("likelihood", ["bernoulli", "mse"])
def test_loss_reconstructs_the_clean_target_from_the_corrupted_input(likelihood):
    m = make(likelihood=likelihood, dtype=np.float64)
    x = batch(dtype=np.float64)
    x_tilde = corrupt_gaussian(x, 0.4, rng=0)
    res = m.loss_and_grads(x, x_tilde=x_tilde)
    out = m.decoder(m.encoder(x_tilde))
    want = bernoulli_nll(out, x)[0] if likelihood == "bernoulli" else squared_error(out, x)[0]
    assert res["loss"] == res["recon"] == pytest.approx(want, rel=1e-12)
    assert res["x_tilde"] is not x and np.array_equal(res["x_tilde"], x_tilde)
    np.testing.assert_array_equal(res["code"], m.encoder(x_tilde))
    # not the plain AE loss on x, nor reconstructing the corrupted input
    assert res["loss"] != pytest.approx(m.loss_and_grads(x, x_tilde=x)["loss"], rel=1e-6)


@pytest.mark.parametrize("corruption", ["gaussian", "masking"])
def test_zero_noise_is_the_plain_autoencoder(corruption):
    dae = make(corruption=corruption, noise_level=0.0, seed=3, dtype=np.float64)
    ae = Autoencoder(D, H, L, seed=3, dtype=np.float64)
    x = batch(dtype=np.float64)
    dae.zero_grad()
    ae.zero_grad()
    assert dae.loss_and_grads(x)["loss"] == ae.loss_and_grads(x)["loss"]
    for (n1, _, g1), (n2, _, g2) in zip(dae.parameters(), ae.parameters()):
        assert n1 == n2
        np.testing.assert_array_equal(g1, g2)


def test_compute_grads_false_leaves_grads_untouched():
    m = make()
    for _, _, g in m.parameters():
        g.fill(7.0)
    m.loss_and_grads(batch(), compute_grads=False)
    assert all((g == 7.0).all() for _, _, g in m.parameters())


# ------------------------------------------- the model's own corruption sampler
def test_training_corruption_moments_through_the_model():
    m = make(corruption="gaussian", noise_level=0.4, dtype=np.float64)
    x = batch(n=20_000, dtype=np.float64)
    x_tilde = m.loss_and_grads(x, compute_grads=False)["x_tilde"]     # drawn from m.rng
    e = (x_tilde - x).ravel()
    n = e.size
    assert abs(e.mean()) <= Z * 0.4 / math.sqrt(n)
    assert abs(e.var(ddof=1) - 0.16) <= Z * 0.16 * math.sqrt(2 / (n - 1))
    m = make(corruption="masking", noise_level=0.25)
    x = batch(n=20_000)
    dropped = float((m.corrupt(x) == 0).mean())                        # x > 0 almost surely
    assert abs(dropped - 0.25) <= Z * math.sqrt(0.25 * 0.75 / x.size)


def test_corruption_comes_from_the_model_generator_or_the_given_one():
    x = batch()
    a, b = make(seed=2), make(seed=2)
    first = a.loss_and_grads(x, compute_grads=False)["x_tilde"]
    np.testing.assert_array_equal(first, b.loss_and_grads(x, compute_grads=False)["x_tilde"])
    second = a.loss_and_grads(x, compute_grads=False)["x_tilde"]
    assert not np.array_equal(first, second)                           # the generator moves on
    np.testing.assert_array_equal(a.corrupt(x, rng=9), b.corrupt(x, rng=9))
    np.testing.assert_array_equal(a.loss_and_grads(x, rng=9, compute_grads=False)["x_tilde"],
                                  a.corrupt(x, rng=np.random.default_rng(9)))
    # the weights do not depend on the corruption settings: DAE(seed) starts as AE(seed)
    np.testing.assert_array_equal(make(seed=2, corruption="masking", noise_level=0.7)
                                  .reconstruct(x), Autoencoder(D, H, L, seed=2).reconstruct(x))


# ----------------------------------------------------------------- golden run


def test_trains_with_the_trainer_and_beats_a_plain_ae_on_noisy_inputs():
    """On data with structure, a DAE reconstructs clean x from x̃ better than an AE does."""
    rng = np.random.default_rng(0)
    basis = rng.uniform(0, 1, (4, 64))                                 # 4 "prototype" images
    x = (rng.dirichlet(np.ones(4), 1200) @ basis).astype(np.float32)   # (1200, 64) in [0, 1]
    train, test = x[:1000], x[1000:]
    cfg = TrainConfig(epochs=15, batch_size=50, lr=3e-3, progress=False)
    dae = DenoisingAE(64, (32,), 8, likelihood="mse", noise_level=0.3, seed=0)
    ae = Autoencoder(64, (32,), 8, likelihood="mse", seed=0)
    hist = Trainer(dae, train, test, cfg).fit()
    Trainer(ae, train, None, cfg).fit()
    assert hist[-1]["val_loss"] < 0.5 * hist[0]["train_loss"]
    x_tilde = corrupt_gaussian(test, 0.3, rng=1)
    err_dae = squared_error(dae.denoise(x_tilde), test)[0]
    err_ae = squared_error(ae.reconstruct(x_tilde), test)[0]
    assert err_dae < 0.8 * err_ae, (err_dae, err_ae)
    # the trainer's validation draws a fixed corruption: evaluating twice agrees
    t = Trainer(dae, train, test, cfg)
    assert t.evaluate(test) == t.evaluate(test)


# ------------------------------------------------------- config, checkpoints
def test_config_rebuilds_the_model_and_checkpoint_keeps_the_corruption_stream(tmp_path):
    m = make(corruption="masking", noise_level=0.2, seed=5)
    assert m.config["model"] == "dae" == m.name
    assert m.config["corruption"] == "masking" and m.config["noise_level"] == 0.2
    clone = DenoisingAE(**{k: v for k, v in m.config.items() if k != "model"})
    x = batch()
    np.testing.assert_array_equal(clone.reconstruct(x), m.reconstruct(x))
    m.corrupt(x)                                                       # advance the generator
    path = save_checkpoint(tmp_path / "c.npz", m, None, {"epoch": 0})
    meta, state, _ = load_checkpoint(path)
    clone.load_state_dict(state)
    clone.rng.bit_generator.state = meta["model_rng"]
    np.testing.assert_array_equal(clone.corrupt(x), m.corrupt(x))


# --------------------------------------------------------------------- errors
def test_input_errors_say_what_to_fix():
    m, x = make(), batch()
    with pytest.raises(ValueError, match="unknown corruption"):
        make(corruption="dropout")
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        make(corruption="masking", noise_level=1.0)
    with pytest.raises(ShapeError, match="same shape"):
        m.loss_and_grads(x, x_tilde=x[:3])
    with pytest.raises(ShapeError, match=rf"\(N, {D}\)"):
        m.loss_and_grads(x, x_tilde=batch(d=D + 1))
    bad = x.copy()
    bad[1, 2] = np.nan
    with pytest.raises(NonFiniteError, match=r"\(1, 2\)"):
        m.loss_and_grads(x, x_tilde=bad)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):                 # the clean target
        m.loss_and_grads(x * 2)
    # the corrupted input may leave [0, 1]: only the target must be a probability
    assert math.isfinite(m.loss_and_grads(x, x_tilde=x * 3 - 1)["loss"])
