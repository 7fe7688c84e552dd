"""The registry of every op scratchvae can check: layers, losses, samplers, models.

Each entry builds a tiny float64 instance with random inputs (moved away from
kinks such as ReLU's 0) and frozen randomness, and returns a report.
``python -m scratchvae gradcheck`` runs them all; the test suite runs them too,
so a new layer is checked everywhere the moment it is registered here.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import nn
from ..distributions import (
    bernoulli_nll, gaussian_nll, kl_diag_gaussians, kl_standard_normal,
    reparameterize_backward, reparameterize_forward, squared_error,
)
from .adapters import check_model, check_module
from .core import GradcheckReport, check_function

F64 = np.float64
CHECKS: dict[str, Callable[..., GradcheckReport]] = {}


def register(name: str):
    def deco(fn):
        CHECKS[name] = fn
        return fn
    return deco


def _away_from_zero(rng, shape, low=0.1, high=2.0):
    """Random values with |x| in [low, high]: no input sits on a kink."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def _layer(name, make, shape, **kw):
    @register(name)
    def run(seed=0, **options):
        rng = np.random.default_rng(seed)
        layer = make(rng).astype(F64)
        x = _away_from_zero(rng, shape)
        return check_module(layer, x, op=name, seed=seed, **{**kw, **options})
    return run


# ------------------------------------------------------------------------- layers
_layer("Linear", lambda r: nn.Linear(5, 3, rng=r), (4, 5))
_layer("Linear(bias=False)", lambda r: nn.Linear(5, 3, bias=False, rng=r), (4, 5))
_layer("ReLU", lambda r: nn.ReLU(), (4, 6))
_layer("LeakyReLU", lambda r: nn.LeakyReLU(0.1), (4, 6))
_layer("Tanh", lambda r: nn.Tanh(), (4, 6))
_layer("Sigmoid", lambda r: nn.Sigmoid(), (4, 6))
_layer("Softplus", lambda r: nn.Softplus(), (4, 6))
_layer("Identity", lambda r: nn.Identity(), (4, 6))


def _ptanh(rng, features):
    layer = nn.ParametricTanh(features)
    size = layer.params["a"].shape
    layer.params["a"][...] = rng.uniform(0.5, 1.5, size)
    layer.params["b"][...] = rng.uniform(0.5, 1.5, size)
    return layer


_layer("ParametricTanh", lambda r: _ptanh(r, 6), (4, 6))
_layer("ParametricTanh(shared)", lambda r: _ptanh(r, None), (4, 6))
_layer("Sequential(MLP)", lambda r: nn.Sequential(nn.Linear(5, 7, rng=r), nn.Tanh(),
                                                   nn.Linear(7, 3, rng=r)), (4, 5))


# ------------------------------------------------------------------------- losses
def _loss_check(name, fn, arrays, wrt, seed, **options):
    """Check a loss ``fn(**arrays) -> (value, {name: grad})`` for the arrays in ``wrt``."""
    def forward():
        return fn(**arrays)[0]

    def backward(dy):
        grads = fn(**arrays)[1]
        return {k: dy * grads[k] for k in wrt}

    return check_function(forward, backward, {k: arrays[k] for k in wrt}, op=name, seed=seed,
                          **options)


@register("bernoulli_nll")
def _bernoulli(seed=0, reduction="mean", **options):
    rng = np.random.default_rng(seed)
    arrays = {"logits": rng.normal(0, 3, (4, 6)), "x": rng.uniform(0, 1, (4, 6))}
    fn = lambda logits, x: (lambda l, g: (l, {"logits": g}))(*bernoulli_nll(logits, x, reduction))
    return _loss_check("bernoulli_nll", fn, arrays, ["logits"], seed, **options)


@register("gaussian_nll(fixed var)")
def _gauss_fixed(seed=0, **options):
    rng = np.random.default_rng(seed)
    arrays = {"mean": rng.normal(size=(4, 6)), "x": rng.normal(size=(4, 6))}
    fn = lambda mean, x: (lambda l, g, _: (l, {"mean": g}))(*gaussian_nll(mean, x, -0.7))
    return _loss_check("gaussian_nll(fixed var)", fn, arrays, ["mean"], seed, **options)


@register("gaussian_nll(learned var)")
def _gauss_learned(seed=0, **options):
    rng = np.random.default_rng(seed)
    arrays = {"mean": rng.normal(size=(4, 6)), "x": rng.normal(size=(4, 6)),
              "logvar": rng.normal(0, 0.5, (6,))}
    fn = lambda mean, x, logvar: (lambda l, g, gv: (l, {"mean": g, "logvar": gv}))(
        *gaussian_nll(mean, x, logvar))
    return _loss_check("gaussian_nll(learned var)", fn, arrays, ["mean", "logvar"], seed, **options)


@register("squared_error")
def _mse(seed=0, **options):
    rng = np.random.default_rng(seed)
    arrays = {"pred": rng.normal(size=(4, 6)), "x": rng.normal(size=(4, 6))}
    fn = lambda pred, x: (lambda l, g: (l, {"pred": g}))(*squared_error(pred, x))
    return _loss_check("squared_error", fn, arrays, ["pred"], seed, **options)


@register("kl_standard_normal")
def _kl(seed=0, **options):
    rng = np.random.default_rng(seed)
    arrays = {"mu": rng.normal(size=(4, 3)), "logvar": rng.normal(0, 0.7, (4, 3))}
    fn = lambda mu, logvar: (lambda l, a, b: (l, {"mu": a, "logvar": b}))(
        *kl_standard_normal(mu, logvar))
    return _loss_check("kl_standard_normal", fn, arrays, ["mu", "logvar"], seed, **options)


@register("kl_diag_gaussians")
def _kl_diag(seed=0, **options):
    rng = np.random.default_rng(seed)
    names = ["mu_q", "logvar_q", "mu_p", "logvar_p"]
    arrays = {k: rng.normal(0, 0.7, (4, 3)) for k in names}
    fn = lambda **a: (lambda l, g: (l, dict(zip(names, g))))(*kl_diag_gaussians(**a))
    return _loss_check("kl_diag_gaussians", fn, arrays, names, seed, **options)


@register("reparameterize")
def _reparam(seed=0, **options):
    rng = np.random.default_rng(seed)
    mu, logvar = rng.normal(size=(4, 3)), rng.normal(0, 0.7, (4, 3))
    eps = rng.standard_normal((4, 3))                       # frozen noise

    def forward():
        return reparameterize_forward(mu, logvar, eps)[0]

    def backward(dz):
        dmu, dlogvar = reparameterize_backward(dz, reparameterize_forward(mu, logvar, eps)[1])
        return {"mu": dmu, "logvar": dlogvar}

    return check_function(forward, backward, {"mu": mu, "logvar": logvar}, op="reparameterize",
                          seed=seed, **options)


# ------------------------------------------------------------------------- models
def _model_check(name, make, likelihood, seed, **options):
    rng = np.random.default_rng(seed)
    model = make(likelihood).astype(F64)
    # Unit-scale weights: with PyTorch's small default init the first layer's
    # gradients are ~1e-5 of the loss, below what a float64 central difference of a
    # scalar can resolve to 1e-6 (its rounding error is ~1e-16·|L|/ε).
    for pname, p, _ in model.parameters():
        if pname.endswith(".W"):
            p[...] = rng.normal(0, 1.0, p.shape)
    x = rng.uniform(0.05, 0.95, (3, model.input_dim))
    kwargs = {"eps": rng.standard_normal((3, model.latent_dim))} if hasattr(model, "rng") else {}
    return check_model(model, x, op=name, loss_kwargs=kwargs, seed=seed, **options)


def _register_model(name, make, likelihood):
    @register(name)
    def run(seed=0, **options):
        return _model_check(name, make, likelihood, seed, **options)


def _vae(likelihood, **kw):
    from ..models import VAE  # noqa: PLC0415 - models import nn; keep the suite importable early
    return VAE(7, (5,), 2, likelihood=likelihood, activation="tanh", seed=1, **kw)


def _ae(likelihood):
    from ..models import Autoencoder  # noqa: PLC0415
    return Autoencoder(7, (5,), 2, likelihood=likelihood, activation="tanh", seed=1)


_register_model("VAE(bernoulli)", _vae, "bernoulli")
_register_model("VAE(gaussian, learned var)",
                lambda lik: _vae(lik, learn_variance=True, beta=0.5), "gaussian")
def _vae_ptanh(likelihood):
    from ..models import VAE  # noqa: PLC0415
    return VAE(7, (5,), 2, likelihood=likelihood, activation="ptanh", seed=1)


def _conv_vae(likelihood):
    from ..models import ConvVAE  # noqa: PLC0415
    return ConvVAE((1, 8, 8), (2, 3), 2, likelihood=likelihood, seed=1)


_register_model("VAE(mse, ptanh)", _vae_ptanh, "mse")
_register_model("ConvVAE(bernoulli)", _conv_vae, "bernoulli")
_register_model("Autoencoder(bernoulli)", _ae, "bernoulli")
_register_model("Autoencoder(mse)", _ae, "mse")


def run_all(seed: int = 0, names=None, **options) -> list[GradcheckReport]:
    """Run every registered check (or those in ``names``) and return the reports."""
    return [CHECKS[n](seed=seed, **options) for n in (names or CHECKS)]


# Checks that live beside their layers' families; imported last because they use register().
from . import suite_conv  # noqa: E402,F401 - Conv2d, ConvTranspose2d
from . import suite_norm  # noqa: E402,F401 - BatchNorm, Flatten, Unflatten, Upsample, Dropout
from . import suite_cvae  # noqa: E402,F401 - the conditional VAE
from . import suite_denoising  # noqa: E402,F401 - the denoising autoencoder
from . import suite_sparse_stacked  # noqa: E402,F401 - sparse and stacked autoencoders
from . import suite_constrained  # noqa: E402,F401 - Lagrangian VAE (seed paper 003), GECO
from . import suite_vaegan  # noqa: E402,F401 - Discriminator, GAN losses, VAE-GAN objectives
from . import suite_iwae  # noqa: E402,F401 - the IWAE objective (k importance samples)
