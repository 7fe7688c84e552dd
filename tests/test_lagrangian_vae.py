"""LagrangianVAE (Ko & Ko, eq. 7): gradient checks (α included) that can fail, the
loss and its gradients against the plain VAE, α's descent and projection, the paper's
literal "flip" rule, a golden run, exact resume, config round trip and bad arguments."""

import numpy as np
import pytest

from scratchvae.data import make_cosine3d
from scratchvae.errors import ShapeError
from scratchvae.gradcheck.suite import CHECKS, _model_check
from scratchvae.models import MODELS, VAE, build_model
from scratchvae.models.lagrangian_vae import LagrangianVAE
from scratchvae.optim import Adam
from scratchvae.train import TrainConfig, Trainer

NAMES = [n for n in CHECKS if n.startswith("LagrangianVAE")]


def data(n=64, seed=3, dtype=np.float64):
    return make_cosine3d(n, seed=seed).x.astype(dtype)


def make(alpha=0.7, delta=0.1, dtype=np.float64, **kw):
    m = LagrangianVAE(3, (6,), 2, delta=delta, seed=2, dtype=dtype, **kw)
    m.params["alpha"][...] = alpha
    return m


def twin_vae(m, beta):
    """A plain VAE with m's network weights and KL weight β."""
    v = VAE(3, (6,), 2, likelihood="mse", activation="ptanh", beta=beta, seed=2,
            dtype=m.dtype)
    v.load_state_dict({k: a for k, a in m.state_dict().items() if k != "alpha"})
    return v


# ------------------------------------------------------------ gradient checks
def test_checks_are_registered():
    assert len(NAMES) == 2


class _NoDeltaInAlphaGrad(LagrangianVAE):
    """Planted bug: ∂J/∂α written as recon + KL (forgets −δ)."""

    def loss_and_grads(self, x, eps=None, rng=None, compute_grads=True):
        res = super().loss_and_grads(x, eps, rng, compute_grads)
        if compute_grads:
            self.grads["alpha"] += self.delta
        return res


class _KLWeightOne(LagrangianVAE):
    """Planted bug: the KL weight α replaced by 1 in the backward pass."""

    def loss_and_grads(self, x, eps=None, rng=None, compute_grads=True):
        x = self.check_input(x, self.input_dim)
        a = self.alpha
        res = self.weighted_pass(x, None, 1 + a, 1.0, eps, rng, compute_grads)
        res.update(recon=float(res["recon"]), kl=float(res["kl"]))
        res["loss"] = (1 + a) * res["recon"] + a * (res["kl"] - self.delta)
        if compute_grads:
            self.grads["alpha"] += res["recon"] + res["kl"] - self.delta
        return res


@pytest.mark.parametrize("cls", [_NoDeltaInAlphaGrad, _KLWeightOne])
def test_gradcheck_catches_planted_bugs(cls):
    def make_buggy(likelihood):
        m = cls(7, (5,), 2, likelihood=likelihood, delta=0.3, seed=1)
        m.params["alpha"][...] = 0.7
        return m

    report = _model_check(cls.__name__, make_buggy, "mse", seed=0)
    assert not report.passed, str(report)


# ----------------------------------------------------- the loss and gradients
@pytest.mark.parametrize("alpha", [0.0, 0.7, 2.5])
def test_loss_and_gradients_against_the_plain_vae(alpha):
    m, x = make(alpha), data()
    eps = np.random.default_rng(0).standard_normal((len(x), 2))
    m.zero_grad()
    res = m.loss_and_grads(x, eps=eps)
    # the terms are the VAE's; J = (1 + α)·recon + α·(KL − δ)
    v = twin_vae(m, beta=alpha / (1 + alpha))
    v.zero_grad()
    ref = v.loss_and_grads(x, eps=eps)
    assert res["recon"] == pytest.approx(ref["recon"], rel=1e-12)
    assert res["kl"] == pytest.approx(ref["kl"], rel=1e-12)
    assert res["loss"] == pytest.approx((1 + alpha) * ref["recon"] + alpha * (ref["kl"] - 0.1),
                                        rel=1e-12)
    assert res["alpha"] == alpha
    # network gradients: (1 + α)·∇recon + α·∇KL = (1 + α)·∇(recon + α/(1 + α)·KL)
    grads = {name: g for name, _, g in m.parameters()}
    for name, _, g in v.parameters():
        np.testing.assert_allclose(grads[name], (1 + alpha) * g, rtol=1e-10, atol=1e-14)
    # α's gradient: ∂J/∂α = recon + KL − δ
    assert m.grads["alpha"][0] == pytest.approx(res["recon"] + res["kl"] - 0.1, rel=1e-12)


def test_evaluation_changes_nothing():
    m, x = make(0.4), data()
    before = m.state_dict()
    for _, _, g in m.parameters():
        g.fill(3.0)
    out = m.evaluate(x, batch_size=10)
    assert set(out) == {"loss", "recon", "kl", "alpha"} and out["alpha"] == pytest.approx(0.4)
    assert all((g == 3.0).all() for _, _, g in m.parameters())
    after = m.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


# ------------------------------------------------------ how α moves, and stays ≥ 0
def test_alpha_descends_its_gradient():
    m, x = make(1.0), data()
    opt = Adam(m.parameters(), lr=1e-2)
    m.zero_grad()
    res = m.loss_and_grads(x, rng=0)
    assert res["recon"] + res["kl"] - 0.1 > 0           # −ELBO > δ: ∂J/∂α > 0 …
    opt.step()
    m.after_step()
    assert m.alpha < 1.0                                 # … so α goes down


def test_projection_keeps_alpha_non_negative_and_sticks_at_zero():
    m, x = make(0.05, dtype=np.float32), data(dtype=np.float32)
    opt = Adam(m.parameters(), lr=1e-2)
    seen = []
    for step in range(60):
        m.zero_grad()
        m.loss_and_grads(x, rng=step)
        opt.step()
        m.after_step()
        seen.append(m.alpha)
    assert min(seen) >= 0.0
    assert seen[10:] == [0.0] * 50                       # reached 0 and projected there


def test_after_step_projects_only_under_the_project_rule():
    m = make(-0.25)
    m.after_step()
    assert m.alpha == 0.0
    f = make(-0.25, alpha_rule="flip")
    f.after_step()
    assert f.alpha == -0.25


def test_flip_rule_reverses_alphas_gradient_while_negative():
    x, eps = data(), np.random.default_rng(0).standard_normal((64, 2))
    for alpha, sign in ((0.3, 1.0), (-0.3, -1.0)):
        m = make(alpha, alpha_rule="flip")
        m.zero_grad()
        res = m.loss_and_grads(x, eps=eps)
        assert m.grads["alpha"][0] == pytest.approx(sign * (res["recon"] + res["kl"] - 0.1))
    # project rule: the true gradient whatever the sign of α
    m = make(-0.3)
    m.zero_grad()
    res = m.loss_and_grads(x, eps=eps)
    assert m.grads["alpha"][0] == pytest.approx(res["recon"] + res["kl"] - 0.1)


def test_flip_rule_hovers_around_zero():
    m, x = make(0.05, dtype=np.float32, alpha_rule="flip"), data(dtype=np.float32)
    opt = Adam(m.parameters(), lr=1e-2)
    seen = []
    for step in range(200):
        m.zero_grad()
        m.loss_and_grads(x, rng=step)
        opt.step()
        m.after_step()
        seen.append(m.alpha)
    assert min(seen) < 0 < max(seen[100:])              # crosses zero and comes back
    assert max(abs(a) for a in seen[100:]) < 0.05


def test_trainer_resume_is_exact(tmp_path):
    x = make_cosine3d(300, seed=5).x
    cfg = dict(epochs=3, batch_size=50, lr=1e-2, seed=4, progress=False)
    whole = LagrangianVAE(seed=4)
    Trainer(whole, x, config=TrainConfig(**cfg)).fit()
    first = LagrangianVAE(seed=4)
    Trainer(first, x, config=TrainConfig(**cfg), out_dir=tmp_path).fit(2)
    resumed = LagrangianVAE(seed=4)
    t = Trainer(resumed, x, config=TrainConfig(**cfg))
    t.load(tmp_path / "checkpoint.npz")
    t.fit()
    a, b = whole.state_dict(), resumed.state_dict()
    assert set(a) == set(b) and "alpha" in a
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# --------------------------------------------------------- config and errors
def test_config_rebuilds_the_model():
    m = LagrangianVAE(3, (8,), 2, delta=0.2, alpha_init=0.5, alpha_rule="flip", seed=3)
    cfg = dict(m.config)
    assert cfg.pop("model") == "lagrangian-vae" == m.name and "beta" not in cfg
    m2 = LagrangianVAE(**cfg)
    assert (m2.delta, m2.alpha, m2.alpha_rule) == (0.2, 0.5, "flip")
    x = data(dtype=np.float32)
    np.testing.assert_array_equal(m2.reconstruct(x), m.reconstruct(x))


def test_build_model_once_registered():
    if "lagrangian-vae" not in MODELS:
        pytest.skip("the lead registers 'lagrangian-vae' in scratchvae.models.MODELS")
    m = LagrangianVAE(seed=3)
    assert type(build_model(m.config)) is LagrangianVAE


@pytest.mark.parametrize("kw, match", [
    ({"delta": -0.1}, "delta"), ({"alpha_init": -1.0}, "alpha_init"),
    ({"alpha_init": float("nan")}, "alpha_init"), ({"alpha_rule": "clip"}, "alpha_rule"),
])
def test_bad_arguments_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        LagrangianVAE(**kw)


def test_bad_input_is_named():
    with pytest.raises(ShapeError, match=r"\(N, 3\)"):
        LagrangianVAE().loss_and_grads(np.zeros((4, 5), np.float32))
