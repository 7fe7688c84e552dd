"""Golden runs: every model trained for a few fixed steps, its losses stored to the last bit.

A golden run fixes the model, its seed, the batch and the optimizer, trains for a few
steps and returns the numbers it produced (losses, multipliers, accuracies). The values
of every run are stored in ``tests/data/golden.json`` as exact float64 hex strings, and
``tests/test_golden.py`` checks that the code still produces *exactly* those numbers:
a refactoring that changes any rounding anywhere on the path (a reordered sum, a
different GEMM split, a multiplication moved across a scale) shows up here.

Two kinds of run:

* step runs: ``loss_and_grads`` + Adam on one fixed batch (:func:`adam_losses`), the
  cheapest end-to-end check that forward, backward and optimizer agree;
* fit runs: a few epochs through the Trainer (mini-batches, shuffling, validation), so
  the training loop itself is covered.

Exactness holds on one machine and one set of library versions: float32 GEMMs use FMA
and NumPy's SIMD ``exp``/``log1p`` depend on the CPU. The stored file records the
machine it was made on; ``python tests/golden.py`` rewrites it (do that only for a
change whose new numbers you have explained, and say why in the commit).
"""
from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np

from scratchvae.optim import Adam

GOLDEN_FILE = Path(__file__).with_name("data") / "golden.json"


def adam_losses(model, x, steps, lr, *extra, after_step=False, **kwargs):
    """Train ``model`` on the batch ``x`` (and ``extra`` inputs, e.g. labels) for
    ``steps`` Adam steps; return the list of per-step losses (floats, nats)."""
    opt = Adam(model.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        model.zero_grad()
        losses.append(model.loss_and_grads(x, *extra, **{k: v(step) if callable(v) else v
                                                         for k, v in kwargs.items()})["loss"])
        opt.step()
        if after_step:
            model.after_step()
    return losses


# ------------------------------------------------------------------------ data
def _uniform(n, d, seed=123):
    return np.random.default_rng(seed).uniform(0, 1, (n, d)).astype(np.float32)


def _near_binary(n, d):
    on = np.random.default_rng(123).uniform(0, 1, (n, d)) < 0.3
    return np.where(on, 0.95, 0.05).astype(np.float32)


def _sprites(n):
    from scratchvae.data import make_sprites
    s = make_sprites(n, seed=123).flat()
    return s.x, s.y


def _cosine(n):
    from scratchvae.data import make_cosine3d
    return make_cosine3d(n, seed=11).x


# ------------------------------------------------------------------ step runs
def run_vae():
    from scratchvae.models import VAE
    return {"loss": adam_losses(VAE(784, (64,), 8, seed=0), _uniform(16, 784), 12, 1e-3)}


def run_vae_beta_gaussian_f64():
    from scratchvae.models import VAE
    m = VAE(20, (16,), 3, likelihood="gaussian", learn_variance=True, beta=4.0, seed=2,
            dtype=np.float64)
    x = np.random.default_rng(5).normal(size=(16, 20))
    return {"loss": adam_losses(m, x, 12, 3e-3)}


def run_conv_vae():
    from scratchvae.models import ConvVAE
    return {"loss": adam_losses(ConvVAE((1, 8, 8), (4, 8), 4, seed=0), _near_binary(16, 64),
                                10, 3e-3)}


def run_ae():
    from scratchvae.models import Autoencoder
    return {"loss": adam_losses(Autoencoder(784, (64,), 8, seed=0), _uniform(16, 784), 12, 1e-3)}


def run_dae_gaussian():
    from scratchvae.models import DenoisingAE
    m = DenoisingAE(784, (64,), 8, corruption="gaussian", noise_level=0.3, seed=0)
    return {"loss": adam_losses(m, _uniform(16, 784), 12, 1e-3)}


def run_dae_masking():
    from scratchvae.models import DenoisingAE
    m = DenoisingAE(784, (64,), 8, corruption="masking", noise_level=0.3, seed=0)
    return {"loss": adam_losses(m, _uniform(16, 784), 12, 1e-3)}


def run_sparse_ae():
    from scratchvae.models import SparseAutoencoder
    m = SparseAutoencoder(64, (), 32, rho=0.05, beta=3.0, seed=0)
    x = _uniform(16, 64)
    losses = adam_losses(m, x, 12, 1e-3)
    return {"loss": losses, "mean_activation": [float(v) for v in m.mean_activation(x)]}


def run_sparse_ae_l1():
    from scratchvae.models import SparseAutoencoder
    m = SparseAutoencoder(64, (16,), 32, penalty="l1", beta=0.1, code_activation="relu", seed=3)
    return {"loss": adam_losses(m, _uniform(16, 64), 12, 1e-3)}


def run_stacked_ae():
    from scratchvae.models import StackedAutoencoder
    return {"loss": adam_losses(StackedAutoencoder((64, 32, 8), seed=0), _uniform(16, 64), 12,
                                3e-3)}


def run_cvae():
    from scratchvae.models import CVAE
    x, y = _sprites(16)
    return {"loss": adam_losses(CVAE(784, 3, (64,), 8, seed=0), x, 12, 1e-3, y)}


def run_lagrangian_project():
    from scratchvae.models import LagrangianVAE
    m = LagrangianVAE(seed=0)
    losses = adam_losses(m, _cosine(128), 15, 1e-2, after_step=True, rng=lambda s: s)
    return {"loss": losses, "alpha": [m.alpha]}


def run_lagrangian_flip():
    from scratchvae.models import LagrangianVAE
    m = LagrangianVAE(alpha_rule="flip", alpha_init=0.01, seed=1)
    losses = adam_losses(m, _cosine(128), 15, 1e-2, after_step=True)
    return {"loss": losses, "alpha": [m.alpha]}


def run_geco():
    from scratchvae.models import GECOVAE
    m = GECOVAE(kappa=0.05, nu=1e-3, seed=0)
    losses = adam_losses(m, _cosine(128), 15, 1e-2, after_step=True, rng=lambda s: s)
    return {"loss": losses, "lambda": [m.lam]}


def run_iwae():
    from scratchvae.models import IWAE
    return {"loss": adam_losses(IWAE(64, (32,), 4, k=5, seed=0), _near_binary(16, 64), 12, 3e-3)}


def run_conv_iwae():
    from scratchvae.models import ConvIWAE
    return {"loss": adam_losses(ConvIWAE((1, 8, 8), (4, 8), 4, k=3, seed=0),
                                _near_binary(16, 64), 10, 3e-3)}


def run_hvae():
    from scratchvae.models import HVAE
    return {"loss": adam_losses(HVAE(64, (32, 16), (4, 3), seed=0), _near_binary(16, 64), 12,
                                3e-3)}


def run_vampprior_vae():
    from scratchvae.models import VampPriorVAE
    return {"loss": adam_losses(VampPriorVAE(64, (32, 16), 4, n_pseudo=10, seed=0),
                                _near_binary(16, 64), 12, 3e-3)}


def run_hvae_vampprior():
    from scratchvae.models import HVAE
    return {"loss": adam_losses(HVAE(64, (32, 16), (4, 3), prior="vampprior", n_pseudo=10,
                                     seed=0), _near_binary(16, 64), 12, 3e-3)}


def run_conv_hvae():
    from scratchvae.models import ConvHVAE
    return {"loss": adam_losses(ConvHVAE((1, 8, 8), (4, 8), hidden=16, latent_dims=(4, 3),
                                         seed=0), _near_binary(16, 64), 10, 3e-3)}


def run_vae_gan():
    from scratchvae.models import VAEGAN
    m = VAEGAN(input_dim=64, hidden=(32,), latent_dim=4, dis_hidden=(64, 16), feature_layer=1,
               feature_logvar=-4.0, seed=0)
    groups = m.parameter_groups()
    opts = [Adam(groups[g], 1e-3, betas=(0.5, 0.999)) for g in ("encoder", "decoder",
                                                                "discriminator")]
    x = _near_binary(16, 64)
    out = {k: [] for k in ("loss", "dis", "gen", "dec_objective")}
    for _ in range(10):
        m.zero_grad()
        res = m.loss_and_grads(x)
        for k in out:
            out[k].append(res[k])
        for opt in opts:
            opt.step()
    return out


# ------------------------------------------------------------------- fit runs
def _history(history, keys=("train_loss", "val_loss")):
    return {k: [r[k] for r in history] for k in keys if k in history[0]}


def _fit(model, x, val, epochs=2, **cfg):
    from scratchvae.train import TrainConfig, Trainer
    config = TrainConfig(**{"epochs": epochs, "batch_size": 32, "lr": 1e-3, "progress": False,
                            **cfg})
    return Trainer(model, x, val, config).fit()


def fit_vae():
    from scratchvae.models import VAE
    x, _ = _sprites(160)
    return _history(_fit(VAE(784, (64,), 8, seed=0), x[:128], x[128:], kl_warmup_epochs=1.0,
                         binarize=True))


def fit_conv_vae():
    from scratchvae.models import ConvVAE
    x = _near_binary(96, 64)
    return _history(_fit(ConvVAE((1, 8, 8), (4, 8), 4, seed=0), x[:64], x[64:]))


def fit_iwae():
    from scratchvae.models import IWAE
    x = _near_binary(96, 64)
    return _history(_fit(IWAE(64, (32,), 4, k=3, seed=0), x[:64], x[64:], clip_norm=5.0,
                         lr_schedule="cosine"))


def fit_lagrangian():
    from scratchvae.models import LagrangianVAE
    x = _cosine(160)
    return _history(_fit(LagrangianVAE(seed=0), x[:128], x[128:], lr=1e-2))


def fit_cvae():
    from scratchvae.models import CVAE
    x, y = _sprites(160)
    return _history(_fit(CVAE(784, 3, (64,), 8, seed=0), (x[:128], y[:128]),
                         (x[128:], y[128:])))


def fit_vae_gan():
    from scratchvae.models import VAEGAN
    x = _near_binary(128, 64)
    m = VAEGAN(input_dim=64, hidden=(32,), latent_dim=4, dis_hidden=(64, 16), feature_layer=1,
               feature_logvar=-4.0, seed=0)
    return _history(_fit(m, x, None, betas=(0.5, 0.999)), ("train_loss", "train_dis", "train_gen"))


def fit_softmax_probe():
    from scratchvae.analysis import SoftmaxRegression
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 6))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
    out = {}
    for method in ("adam", "gd"):
        clf = SoftmaxRegression(6, 3, l2=1e-3, seed=1)
        out[f"{method}_loss"] = [float(v) for v in clf.fit(X, y, method=method, epochs=6)]
        out[f"{method}_accuracy"] = [clf.accuracy(X, y)]
    return out


def fit_greedy_pretrain():
    from scratchvae.models import StackedAutoencoder
    from scratchvae.train import TrainConfig, greedy_pretrain
    x = _uniform(96, 64)
    stack = StackedAutoencoder((64, 32, 8), seed=0)
    histories = greedy_pretrain(stack, x[:64], TrainConfig(epochs=2, batch_size=32, lr=3e-3,
                                                           progress=False), x[64:])
    return {f"stage{k}_{key}": [r[key] for r in h] for k, h in enumerate(histories)
            for key in ("train_loss", "val_loss")}


RUNS = {name: fn for name, fn in dict(globals()).items()
        if name.startswith(("run_", "fit_")) and callable(fn)}


def machine() -> dict:
    """What exactness depends on: the CPU's SIMD features and the library versions."""
    import numba
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:                                   # NumPy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as features
    return {"cpu_features": sorted(k for k, v in features.items() if v),
            "numpy": np.__version__, "numba": numba.__version__,
            "python": platform.python_version(), "machine": platform.machine()}


def to_hex(values: dict) -> dict:
    return {k: [float(v).hex() for v in seq] for k, seq in values.items()}


CPU_PATHS = ("numba", "numpy")


def run(name: str, cpu_path: str) -> dict:
    """The numbers of golden run ``name`` on one CPU path, as exact hex strings."""
    from scratchvae.backend import use_cpu_kernels
    with use_cpu_kernels(cpu_path):
        return to_hex(RUNS[name]())


def record(path=GOLDEN_FILE) -> None:
    data = {"machine": machine(),
            "runs": {p: {name: run(name, p) for name in RUNS} for p in CPU_PATHS}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {path}: {len(RUNS)} runs on {len(CPU_PATHS)} CPU paths")


if __name__ == "__main__":
    sys.exit(record())
