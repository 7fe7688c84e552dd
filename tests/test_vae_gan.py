"""VAE-GAN: the discriminator, the GAN losses, the three objectives and their parameter
groups (gradient checks, and planted bugs they must catch), noise injection and its
moments, a golden run, training, and bad input."""
import math
from contextlib import nullcontext

import numpy as np
import pytest

import scratchvae.models.vae_base as vae_base_module
import scratchvae.models.vae_gan as vae_gan_module
from scratchvae.distributions import gaussian_nll, kl_standard_normal
from scratchvae.errors import DataError, DTypeError, NonFiniteError, ShapeError
from scratchvae.distributions.gan_losses import (
    discriminator_accuracy, discriminator_loss, generator_loss,
)
from scratchvae.functional.numerics import sigmoid
from scratchvae.gradcheck import CHECKS, suite_vaegan
from scratchvae.models.discriminator import Discriminator
from scratchvae.models.vae_gan import VAEGAN, _params_fixed
from scratchvae.optim import Adam, OptimizerGroups
from scratchvae.train import TrainConfig, Trainer

RTOL = 1e-6
Z = 5.0                                  # standard errors allowed in moment tests
OURS = [n for n, fn in CHECKS.items() if fn.__module__ == suite_vaegan.__name__]


def group_adams(model, lr=1e-3, betas=(0.5, 0.999)):
    """One Adam per parameter group, as the Trainer builds them."""
    return OptimizerGroups({g: Adam(params, lr, betas=betas)
                            for g, params in model.parameter_groups().items()})


def train_step(model, x, optimizers, rng=None):
    model.zero_grad()
    out = model.loss_and_grads(x, rng=rng)
    optimizers.step()
    return out


def small(dtype=np.float64, **kw):
    return VAEGAN(12, (10,), 3, dis_hidden=(8, 6), feature_layer=1, activation="tanh",
                  seed=0, dtype=dtype, **kw)


def batch(n=5, d=12, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).uniform(0, 1, (n, d)).astype(dtype)


def noise(model, n=5, m=4, seed=1):
    rng = np.random.default_rng(seed)
    return {"eps": rng.standard_normal((n, model.latent_dim)),
            "z_prior": rng.standard_normal((m, model.latent_dim))}


# ------------------------------------------------------------- gradient checks
def test_the_family_registers_its_checks():
    assert all(len(name) <= 28 for name in OURS)        # the op column of the CLI table
    assert {"Discriminator(leaky_relu)", "Discriminator(tanh, l=1)", "discriminator_loss",
            "generator_loss(minimax)", "generator_loss(non-sat)",
            "VAEGAN L_llike(dec out)", "VAEGAN enc: KL+L_llike",
            "VAEGAN dec: γL_llike+L_gen", "VAEGAN dec(minimax)",
            "VAEGAN dis: L_dis"} == set(OURS)


def _fails(name):
    report = CHECKS[name](seed=0)
    return not report.passed and report.max_rel_error > RTOL


def test_checks_catch_a_network_that_is_not_held_fixed(monkeypatch):
    # without the stop-gradient, the discriminator also learns from γL_llike + L_gen and
    # the decoder also from the encoder's L_llike pass: both group checks must fail
    monkeypatch.setattr(vae_gan_module, "_params_fixed", lambda *modules: nullcontext())
    assert _fails("VAEGAN dis: L_dis")
    assert _fails("VAEGAN dec: γL_llike+L_gen")
    assert not _fails("VAEGAN enc: KL+L_llike")      # the encoder is never a path


def test_checks_catch_a_dropped_feature_path(monkeypatch):
    # a discriminator backward that forgets the features' own gradient
    original = Discriminator.backward
    monkeypatch.setattr(Discriminator, "backward",
                        lambda self, dlogit, dfeat=None: original(
                            self, dlogit, None if dlogit is not None else 0 * dfeat))
    assert _fails("VAEGAN enc: KL+L_llike")
    assert _fails("VAEGAN dec: γL_llike+L_gen")
    assert _fails("Discriminator(leaky_relu)")


def test_checks_catch_a_wrong_generator_gradient(monkeypatch):
    def doubled(*logits, kind="non_saturating"):
        loss, grads = generator_loss(*logits, kind=kind)
        return loss, {"logits_fake": [2 * g for g in grads["logits_fake"]]}
    monkeypatch.setattr(vae_gan_module, "generator_loss", doubled)
    assert _fails("VAEGAN dec: γL_llike+L_gen")
    assert not _fails("VAEGAN dis: L_dis")


def test_checks_catch_a_wrong_scale_on_the_encoders_path(monkeypatch):
    # the encoder's objective has no γ: a scaled L_llike path (here 0.7) must fail
    real = vae_base_module.reparameterize_backward
    monkeypatch.setattr(vae_base_module, "reparameterize_backward",
                        lambda dz, cache: real(0.7 * dz, cache))
    assert _fails("VAEGAN enc: KL+L_llike")


# ----------------------------------------------------------------- GAN losses
def test_gan_losses_match_their_definitions():
    rng = np.random.default_rng(0)
    lr, lf1, lf2 = rng.normal(0, 2, (4, 1)), rng.normal(0, 2, (3, 1)), rng.normal(0, 2, (5, 1))
    d = discriminator_loss(lr, lf1, lf2)[0]
    naive = (-np.log(sigmoid(lr)).mean() - np.log(1 - sigmoid(lf1)).mean()
             - np.log(1 - sigmoid(lf2)).mean())
    assert d == pytest.approx(naive, rel=1e-12)
    ns = generator_loss(lf1, lf2)[0]
    assert ns == pytest.approx(-np.log(sigmoid(lf1)).mean() - np.log(sigmoid(lf2)).mean(),
                               rel=1e-12)
    mm = generator_loss(lf1, lf2, kind="minimax")[0]
    assert mm == pytest.approx(np.log(1 - sigmoid(lf1)).mean() + np.log(1 - sigmoid(lf2)).mean(),
                               rel=1e-12)
    fake_part = d - (-np.log(sigmoid(lr)).mean())
    assert mm == pytest.approx(-fake_part, rel=1e-12)       # minimax = −(L_dis's fake terms)


def test_gan_losses_are_finite_for_extreme_logits():
    big = np.array([[1e3], [-1e3], [0.0]])
    d, grads = discriminator_loss(big, big)
    dreal, (dfake,) = grads["logits_real"], grads["logits_fake"]
    # softplus(∓1000) = 0 or 1000; log 2 at 0, twice (real and fake)
    assert d == pytest.approx((0 + 1e3 + math.log(2)) / 3 + (1e3 + 0 + math.log(2)) / 3)
    assert np.isfinite(dreal).all() and np.isfinite(dfake).all()
    for kind in ("non_saturating", "minimax"):
        loss, grads = generator_loss(big, kind=kind)
        (g,) = grads["logits_fake"]
        assert math.isfinite(loss) and np.isfinite(g).all()


def test_non_saturating_keeps_the_gradient_the_minimax_loss_loses():
    # a discriminator that confidently rejects the fakes (logit −10, D ≈ 4.5e-5)
    rejected = np.full((4, 1), -10.0)
    g_mm = generator_loss(rejected, kind="minimax")[1]["logits_fake"][0]
    g_ns = generator_loss(rejected, kind="non_saturating")[1]["logits_fake"][0]
    np.testing.assert_allclose(g_mm, -sigmoid(rejected) / 4, rtol=1e-12)    # ≈ −1e-5
    np.testing.assert_allclose(g_ns, (sigmoid(rejected) - 1) / 4, rtol=1e-12)   # ≈ −1/4
    assert (np.abs(g_ns) > 1e4 * np.abs(g_mm)).all()
    assert (g_ns < 0).all() and (g_mm < 0).all()       # both push the logit up


def test_discriminator_accuracy():
    l = np.array([[2.0], [-1.0], [0.5], [-3.0]])
    assert discriminator_accuracy(l, real=True) == 0.5
    assert discriminator_accuracy(l, real=False) == 0.5
    assert discriminator_accuracy(np.ones((3, 1)), real=False) == 0.0


def test_gan_loss_errors():
    with pytest.raises(ShapeError, match=r"\(N, 1\)"):
        discriminator_loss(np.zeros((3, 2)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="at least one"):
        discriminator_loss(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="unknown generator loss"):
        generator_loss(np.zeros((3, 1)), kind="wasserstein")


# --------------------------------------------------------------- discriminator
def test_discriminator_shapes_and_feature_tap():
    x = batch()
    for layer, width in [(1, 8), (2, 6), (-1, 6)]:
        dis = Discriminator(12, (8, 6), layer, seed=0, dtype=np.float64)
        logit, feat = dis.forward(x)
        assert logit.shape == (5, 1) and feat.shape == (5, width) == (5, dis.feature_dim)
        assert dis.backward(np.ones_like(logit), np.ones_like(feat)).shape == x.shape
    # the features are the body's output, which the head reads
    dis = Discriminator(12, (8, 6), 1, seed=0, dtype=np.float64)
    logit, feat = dis.forward(x)
    np.testing.assert_array_equal(dis.head.forward(feat), logit)


def test_discriminator_errors():
    with pytest.raises(ValueError, match="feature_layer"):
        Discriminator(12, (8, 6), 3)
    with pytest.raises(ValueError, match="hidden layer"):
        Discriminator(12, ())
    dis = Discriminator(12, (8,))
    with pytest.raises(ShapeError, match=r"\(N, 12\)"):
        dis.forward(batch(d=13))
    dis.forward(batch())
    with pytest.raises(ValueError, match="dlogit, dfeat or both"):
        dis.backward(None, None)


# ------------------------------------------------------------------- the model
def test_losses_are_what_the_docstring_says():
    m, x = small(gamma=0.5, feature_logvar=-1.0), batch()
    nz = noise(m)
    out = m.loss_and_grads(x, compute_grads=False, **nz)
    # recomputed here, from the parts
    h = m.encoder(x)
    mu, logvar = h[:, :3], h[:, 3:]
    z = mu + np.exp(logvar / 2) * nz["eps"]
    x_rec, x_pri = sigmoid(m.decoder(z)), sigmoid(m.decoder(nz["z_prior"]))
    (l_real, f_real), (l_rec, f_rec), (l_pri, _) = (m.discriminator(a) for a in (x, x_rec, x_pri))
    kl = kl_standard_normal(mu, logvar)[0]
    llike = 0.5 * np.mean(np.sum((f_real - f_rec) ** 2 / math.exp(-1.0) - 1.0
                                 + math.log(2 * math.pi), axis=1))
    assert out["kl"] == pytest.approx(kl, rel=1e-12)
    assert out["llike"] == pytest.approx(llike, rel=1e-12)
    assert out["llike"] == pytest.approx(gaussian_nll(f_rec, f_real, -1.0)[0], rel=1e-12)
    assert out["dis"] == pytest.approx(np.mean(np.logaddexp(0, -l_real)) + np.mean(
        np.logaddexp(0, l_rec)) + np.mean(np.logaddexp(0, l_pri)), rel=1e-12)
    assert out["gen"] == pytest.approx(np.mean(np.logaddexp(0, -l_rec)) + np.mean(
        np.logaddexp(0, -l_pri)), rel=1e-12)
    assert out["loss"] == out["enc_objective"] == pytest.approx(kl + llike, rel=1e-12)
    assert out["dec_objective"] == pytest.approx(0.5 * out["llike"] + out["gen"], rel=1e-12)
    assert out["dis_objective"] == out["dis"]
    assert out["pixel_sse"] == pytest.approx(np.mean(np.sum((x_rec - x) ** 2, axis=1)))
    assert out["acc_real"] == np.mean(l_real > 0) and out["acc_prior"] == np.mean(l_pri < 0)


def test_parameter_groups_partition_the_model():
    m = small()
    groups = m.parameter_groups()
    names = [n for g in groups.values() for n, _, _ in g]
    assert sorted(names) == sorted(n for n, _, _ in m.parameters())      # all, each once
    assert all(groups[g] for g in groups)
    assert all(n.startswith(g + ".") for g in groups for n, _, _ in groups[g])


def test_params_fixed_restores_grads_even_after_an_error():
    dis = Discriminator(12, (8,), seed=0, dtype=np.float64)
    before = {n: g.copy() for n, _, g in dis.parameters()}
    with pytest.raises(RuntimeError):
        with _params_fixed(dis):
            logit, feat = dis.forward(batch())
            dx = dis.backward(np.ones_like(logit), np.ones_like(feat))
            assert any(g.any() for _, _, g in dis.parameters())    # changed inside
            assert dx.any()
            raise RuntimeError("boom")
    for n, _, g in dis.parameters():
        np.testing.assert_array_equal(g, before[n])


def test_grads_accumulate_until_zero_grad():
    m, x = small(), batch()
    nz = noise(m)
    m.zero_grad()
    m.loss_and_grads(x, **nz)
    once = {n: g.copy() for n, _, g in m.parameters()}
    m.loss_and_grads(x, **nz)
    for n, _, g in m.parameters():
        np.testing.assert_allclose(g, 2 * once[n], rtol=1e-12, atol=1e-15)


def test_compute_grads_false_leaves_grads_untouched():
    m = small()
    for _, _, g in m.parameters():
        g.fill(7.0)
    m.loss_and_grads(batch(), compute_grads=False)
    assert all((g == 7.0).all() for _, _, g in m.parameters())


# --------------------------------------------------------------------- noise
def test_noise_is_injectable_and_drawn_in_a_documented_order():
    m, x = small(), batch()
    by_seed = m.loss_and_grads(x, rng=3, compute_grads=False)
    rng = np.random.default_rng(3)
    eps, z_p = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))     # ε first, then z_p
    frozen = m.loss_and_grads(x, eps=eps, z_prior=z_p, compute_grads=False)
    assert {k: by_seed[k] for k in m.terms} == {k: frozen[k] for k in m.terms}
    other = m.loss_and_grads(x, eps=eps, z_prior=z_p + 1.0, compute_grads=False)
    assert other["dis"] != frozen["dis"] and other["loss"] == frozen["loss"]   # z_p: GAN only
    # the model's own generator advances: two calls without noise differ
    assert m.loss_and_grads(x, compute_grads=False)["dis"] != \
        m.loss_and_grads(x, compute_grads=False)["dis"]


def test_prior_noise_has_standard_normal_moments():
    n, m = 100_000, small()
    z = m.draw_prior(n, rng=0)
    assert z.shape == (n, 3) and z.dtype == np.float64
    se_mean, se_var = math.sqrt(1 / n), math.sqrt(2 / (n - 1))
    assert (np.abs(z.mean(axis=0)) <= Z * se_mean).all()
    assert (np.abs(z.var(axis=0, ddof=1) - 1) <= Z * se_var).all()
    np.testing.assert_array_equal(m.draw_prior(4, rng=5), m.draw_prior(4, rng=5))


# ----------------------------------------------------------------- golden run
def _squares(n=16, seed=1):
    """8×8 binary images, each a 3×3 square at a random position."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 8, 8), np.float32)
    for img, (r, c) in zip(x, rng.integers(0, 6, (n, 2))):
        img[r:r + 3, c:c + 3] = 1
    return x.reshape(n, 64)


FIXED_METRIC = dict(input_dim=64, hidden=(32,), latent_dim=4, dis_hidden=(64, 16), feature_layer=1,
              feature_logvar=-4.0)


def fixed_metric_run(seed=0, steps=30):
    """Adam steps on 16 squares. Returns each step's outputs and the VAE loss (KL + L_llike)
    of the current encoder/decoder measured in the *initial* discriminator's features.

    Why that second number: L_llike is measured in features the discriminator is still
    learning, and as it learns their scale grows, so the training loss in the moving
    metric is not comparable from step to step (it rises here while the pixel error
    falls). In one fixed metric the VAE's objective must fall.
    """
    model, probe = VAEGAN(**FIXED_METRIC, seed=seed), VAEGAN(**FIXED_METRIC, seed=seed)
    probe.load_state_dict(model.state_dict())                  # probe keeps the initial Dis
    opts = group_adams(model, lr=1e-3)
    x = _squares()
    rng = np.random.default_rng(9)
    frozen = {"eps": rng.standard_normal((16, 4)), "z_prior": rng.standard_normal((16, 4))}
    outs, fixed_metric = [], []
    for _ in range(steps):
        current = {n: p for n, p, _ in model.parameters()}
        for name, p, _ in probe.parameters():
            if not name.startswith("discriminator."):
                p[...] = current[name]
        fixed_metric.append(probe.loss_and_grads(x, compute_grads=False, **frozen)["loss"])
        outs.append(train_step(model, x, opts))
    return outs, fixed_metric


def test_the_vae_loss_falls_in_a_fixed_metric_and_runs_repeat():
    (a, fixed), (b, fixed_b) = fixed_metric_run(), fixed_metric_run()
    for k in VAEGAN.terms:
        assert [o[k] for o in a] == [o[k] for o in b]                    # bit-identical
    assert fixed == fixed_b
    assert all(math.isfinite(o[k]) for o in a for k in VAEGAN.terms)
    assert np.mean(fixed[-5:]) < fixed[0] - 5.0, fixed                  # the VAE loss falls
    for k in ("dis", "pixel_sse"):                                      # the Dis learns; x̃ → x
        seq = [o[k] for o in a]
        assert np.mean(seq[-5:]) < 0.9 * seq[0], (k, seq)
    assert fixed_metric_run(seed=1)[0][0]["loss"] != a[0]["loss"]             # the seed matters


def test_the_trainer_runs_epochs_reproducibly():
    x = _squares(40)
    config = TrainConfig(epochs=2, batch_size=16, lr=1e-3, seed=4, betas=(0.5, 0.999),
                         progress=False)
    runs = [Trainer(VAEGAN(64, (16,), 3, dis_hidden=(16,), seed=2), x, config=config).fit()
            for _ in range(2)]
    assert [r["epoch"] for r in runs[0]] == [1, 2]
    strip = [[{k: v for k, v in r.items() if k != "seconds"} for r in run] for run in runs]
    assert strip[0] == strip[1]
    assert set(runs[0][0]) >= {f"train_{k}" for k in VAEGAN.terms}


def test_three_optimizers_with_their_own_rates():
    m = small(dtype=np.float32)
    config = TrainConfig(lr=1e-3, group_lr={"discriminator": 4e-4}, betas=(0.5, 0.999))
    opts = Trainer(m, batch(dtype=np.float32), config=config).optimizer.optimizers
    assert set(opts) == {"encoder", "decoder", "discriminator"}
    assert opts["discriminator"].lr == 4e-4 and opts["decoder"].lr == 1e-3
    assert opts["encoder"].beta1 == 0.5
    with pytest.raises(ValueError, match="generator"):
        Trainer(m, batch(dtype=np.float32), config=TrainConfig(group_lr={"generator": 1e-4}))
    with pytest.raises(ValueError, match="KL weight"):
        Trainer(m, batch(dtype=np.float32), config=TrainConfig(kl_warmup_epochs=1))


def test_non_finite_training_stops_with_a_clear_error():
    m = small(dtype=np.float32)
    m.discriminator.head[-1].params["W"][...] = np.inf
    with pytest.raises(NonFiniteError, match="non-finite"):
        Trainer(m, batch(dtype=np.float32), config=TrainConfig(epochs=1, progress=False)).fit()


# ------------------------------------------------------------ config and input
def test_config_rebuilds_the_same_model():
    m = small(dtype=np.float32, gamma=0.3, generator_loss="minimax")
    config = {k: v for k, v in m.config.items() if k != "model"}
    assert m.config["model"] == "vae-gan" == VAEGAN.name
    clone = VAEGAN(**config)
    clone.load_state_dict(m.state_dict())
    x = batch(dtype=np.float32)
    a = m.loss_and_grads(x, rng=0, compute_grads=False)
    b = clone.loss_and_grads(x, rng=0, compute_grads=False)
    assert {k: a[k] for k in m.terms} == {k: b[k] for k in m.terms}


def test_evaluate_averages_the_terms():
    m, x = small(), batch(n=10)
    ev = m.evaluate(x, batch_size=4, rng=np.random.default_rng(0))
    assert set(ev) == set(VAEGAN.terms) and all(math.isfinite(v) for v in ev.values())


def test_bad_input_says_what_to_fix():
    m = small()
    with pytest.raises(ShapeError, match=r"\(N, 12\)"):
        m.loss_and_grads(batch(d=13))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        m.loss_and_grads(batch() * 2 - 0.5)
    with pytest.raises(DTypeError, match="255"):
        m.loss_and_grads((batch() * 255).astype(np.uint8))
    with pytest.raises(ShapeError, match=r"z_prior.*\(M, 3\)"):
        m.loss_and_grads(batch(), z_prior=np.zeros((4, 2)))
    with pytest.raises(ShapeError, match="eps"):
        m.loss_and_grads(batch(), eps=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="generator_loss"):
        small(generator_loss="hinge")
    with pytest.raises(ValueError, match="gamma"):
        small(gamma=0)


def test_one_adam_over_all_groups_equals_three_with_equal_settings():
    # each group's grads hold its own objective's gradient and Adam is elementwise, so one
    # Adam over every parameter steps exactly as the three of the Trainer with equal rates
    x = _squares(32)
    a, b = (VAEGAN(64, (16,), 3, dis_hidden=(16,), seed=5) for _ in range(2))
    three = group_adams(a, lr=1e-3, betas=(0.9, 0.999))
    one = Adam(b.parameters(), lr=1e-3)
    for step in range(5):
        train_step(a, x, three, rng=step)
        b.zero_grad()
        b.loss_and_grads(x, rng=step)
        one.step()
    for (n, p, _), (_, q, _) in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q, err_msg=n)
