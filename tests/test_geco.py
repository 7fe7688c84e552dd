"""GECOVAE (Rezende & Viola 2018): gradient checks that can fail, the Lagrangian and its
θ-gradients against the plain VAE, the moving-average and multiplicative λ update by
hand, evaluation that leaves the state alone, a golden run, exact resume with λ in the
checkpoint, config round trip and bad arguments."""
import math

import numpy as np
import pytest

from scratchvae.data import make_cosine3d
from scratchvae.errors import ShapeError
from scratchvae.gradcheck.suite import CHECKS, _model_check
from scratchvae.models import MODELS, VAE, build_model
from scratchvae.models.geco import GECOVAE
from scratchvae.train import TrainConfig, Trainer, load_checkpoint

NAMES = [n for n in CHECKS if n.startswith("GECOVAE")]


def data(n=64, seed=3, dtype=np.float64):
    return make_cosine3d(n, seed=seed).x.astype(dtype)


def make(lam=2.3, kappa=0.2, dtype=np.float64, **kw):
    m = GECOVAE(3, (6,), 2, kappa=kappa, seed=2, dtype=dtype, **kw)
    m.buffers["lambda"][...] = lam
    return m


def state(m):
    return {k: float(m.buffers[k][0]) for k in ("lambda", "c_ma", "updates")}


# ------------------------------------------------------------ gradient checks
def test_checks_are_registered():
    assert len(NAMES) == 2


class _LambdaIgnored(GECOVAE):
    """Planted bug: the backward pass weights recon by 1 instead of λ."""

    def loss_and_grads(self, x, eps=None, rng=None, compute_grads=True):
        x = self.check_input(x, self.input_dim)
        res = self.weighted_pass(x, None, 1.0, 1.0, eps, rng, compute_grads)
        res.update(recon=float(res["recon"]), kl=float(res["kl"]))
        res["loss"] = res["kl"] + self.lam * (res["recon"] - self.kappa)
        return res


def test_gradcheck_catches_a_planted_bug():
    def make_buggy(likelihood):
        m = _LambdaIgnored(7, (5,), 2, likelihood=likelihood, kappa=0.2, seed=1)
        m.buffers["lambda"][...] = 2.3
        return m

    assert not _model_check("buggy", make_buggy, "mse", seed=0).passed


# ----------------------------------------------------- the loss and gradients
@pytest.mark.parametrize("lam", [0.5, 1.0, 7.0])
def test_loss_and_gradients_against_the_plain_vae(lam):
    m, x = make(lam), data()
    eps = np.random.default_rng(0).standard_normal((len(x), 2))
    m.zero_grad()
    res = m.loss_and_grads(x, eps=eps)
    v = VAE(3, (6,), 2, likelihood="mse", activation="ptanh", beta=1 / lam, seed=2,
            dtype=np.float64)
    v.load_state_dict({k: a for k, a in m.state_dict().items() if k in v.state_dict()})
    v.zero_grad()
    ref = v.loss_and_grads(x, eps=eps)
    assert res["recon"] == pytest.approx(ref["recon"], rel=1e-12)
    assert res["kl"] == pytest.approx(ref["kl"], rel=1e-12)
    assert res["constraint"] == pytest.approx(ref["recon"] - 0.2, rel=1e-12)
    assert res["loss"] == pytest.approx(ref["kl"] + lam * (ref["recon"] - 0.2), rel=1e-12)
    assert res["lambda"] == lam
    # θ-gradients: λ·∇recon + ∇KL = λ·∇(recon + KL/λ)
    grads = {name: g for name, _, g in m.parameters()}
    assert set(grads) == {n for n, _, _ in v.parameters()}          # λ is not a parameter
    for name, _, g in v.parameters():
        np.testing.assert_allclose(grads[name], lam * g, rtol=1e-10, atol=1e-14)


# ------------------------------------------------------------ the λ update
def test_after_step_updates_c_ma_and_lambda_by_hand():
    m, x = make(lam=1.5, nu=0.1, ma_decay=0.9), data()
    m.loss_and_grads(x[:32], rng=0)
    c1 = m._pending
    m.after_step()
    s = state(m)
    assert s["c_ma"] == pytest.approx(c1, rel=1e-12)                 # C_ma ← C on the first update
    assert s["lambda"] == pytest.approx(1.5 * math.exp(0.1 * c1), rel=1e-12)
    assert s["updates"] == 1
    m.loss_and_grads(x[32:], rng=1)
    c2 = m._pending
    m.after_step()
    c_ma = 0.9 * c1 + 0.1 * c2
    assert state(m)["c_ma"] == pytest.approx(c_ma, rel=1e-12)
    assert state(m)["lambda"] == pytest.approx(s["lambda"] * math.exp(0.1 * c_ma), rel=1e-12)
    assert state(m)["updates"] == 2


@pytest.mark.parametrize("kappa, grows", [(0.01, True), (100.0, False)])
def test_lambda_grows_while_violated_and_shrinks_once_satisfied(kappa, grows):
    m, x = make(lam=1.0, kappa=kappa, nu=0.05), data()
    m.loss_and_grads(x, rng=0)
    assert (m._pending > 0) == grows
    m.after_step()
    assert (m.lam > 1.0) == grows and m.lam > 0


def test_after_step_needs_a_training_pass_and_consumes_it():
    m, x = make(), data()
    with pytest.raises(RuntimeError, match="loss_and_grads"):
        m.after_step()
    m.loss_and_grads(x, rng=0)
    m.after_step()
    with pytest.raises(RuntimeError, match="loss_and_grads"):
        m.after_step()                                   # one update per step


def test_evaluation_changes_no_state():
    m, x = make(), data()
    m.loss_and_grads(x, rng=0)
    m.after_step()
    before = m.state_dict()
    out = m.evaluate(x, batch_size=10)
    m.loss_and_grads(x, rng=1, compute_grads=False)
    assert set(out) == set(GECOVAE.terms)
    after = m.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    with pytest.raises(RuntimeError):
        m.after_step()                                   # evaluation left nothing pending


def test_multiplier_is_checkpointed_and_resume_is_exact(tmp_path):
    x = make_cosine3d(300, seed=5).x
    cfg = dict(epochs=3, batch_size=50, lr=1e-2, seed=4, progress=False)
    kw = dict(kappa=0.05, nu=0.01, seed=4)
    whole = GECOVAE(**kw)
    Trainer(whole, x, config=TrainConfig(**cfg)).fit()
    first = GECOVAE(**kw)
    Trainer(first, x, config=TrainConfig(**cfg), out_dir=tmp_path).fit(2)
    _, saved, _ = load_checkpoint(tmp_path / "checkpoint.npz")
    assert saved["updates"][0] == 2 * 6                   # 6 steps per epoch
    assert saved["lambda"][0] == np.float32(first.lam) != 1.0
    resumed = GECOVAE(**kw)
    t = Trainer(resumed, x, config=TrainConfig(**cfg))
    t.load(tmp_path / "checkpoint.npz")
    t.fit()
    a, b = whole.state_dict(), resumed.state_dict()
    assert {"lambda", "c_ma", "updates"} <= set(a) == set(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_astype_keeps_the_multiplier_state():
    m = make(lam=3.0, dtype=np.float32)
    m64 = m.astype(np.float64)
    assert m64.buffers["lambda"].dtype == np.float64 and m64.lam == 3.0


# --------------------------------------------------------- config and errors
def test_config_rebuilds_the_model():
    m = GECOVAE(3, (8,), 2, kappa=0.1, nu=0.02, ma_decay=0.95, lambda_init=2.0, seed=3)
    cfg = dict(m.config)
    assert cfg.pop("model") == "geco-vae" == m.name and "beta" not in cfg
    m2 = GECOVAE(**cfg)
    assert (m2.kappa, m2.nu, m2.ma_decay, m2.lam) == (0.1, 0.02, 0.95, 2.0)
    x = data(dtype=np.float32)
    np.testing.assert_array_equal(m2.reconstruct(x), m.reconstruct(x))


def test_build_model_once_registered():
    if "geco-vae" not in MODELS:
        pytest.skip("the lead registers 'geco-vae' in scratchvae.models.MODELS")
    assert type(build_model(GECOVAE(seed=3).config)) is GECOVAE


@pytest.mark.parametrize("kw, match", [
    ({"kappa": 0.0}, "kappa"), ({"kappa": float("inf")}, "kappa"), ({"nu": -1e-3}, "nu"),
    ({"lambda_init": 0.0}, "lambda_init"), ({"ma_decay": 1.0}, "ma_decay"),
    ({"ma_decay": -0.1}, "ma_decay"),
])
def test_bad_arguments_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        GECOVAE(**kw)


def test_bad_input_is_named():
    with pytest.raises(ShapeError, match=r"\(N, 3\)"):
        GECOVAE().loss_and_grads(np.zeros((4, 5), np.float32))
