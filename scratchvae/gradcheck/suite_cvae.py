"""Registry entries for the conditional VAE; importing this module adds them to ``CHECKS``.

Same standard as :mod:`scratchvae.gradcheck.suite`: float64, eps 1e-6, rtol 1e-6, no
atol, a random upstream gradient, frozen ε. Unlike a plain ``check_model``, the data x
is checked too, like a parameter: it enters the loss twice (the encoder's input and the
reconstruction target), so the check covers both paths of ``input_grad=True``. The
labels are integers turned into a one-hot condition, which is data, not a variable:
nothing differentiates it (``concat_backward`` drops its gradient on purpose).
"""
from __future__ import annotations

import numpy as np

from .core import check_function
from .suite import F64, register


def _tiny_cvae(likelihood, **kw):
    from ..models.cvae import CVAE  # noqa: PLC0415 - models import nn; keep the suite light
    return CVAE(7, 3, (5,), 2, likelihood=likelihood, activation="tanh", seed=1, **kw)


def check_cvae(model, x, y, noise, *, op="CVAE", **options):
    """Check ``model.loss_and_grads(x, y, eps=noise)`` for x and every parameter.

    ``noise`` is the frozen reparameterization ε (N, L); ``options`` go to
    :func:`check_function` (its ``eps`` is the finite-difference step).
    """
    inputs = {"x": x, **{name: p for name, p, _ in model.parameters()}}

    def forward():
        return float(model.loss_and_grads(x, y, eps=noise, compute_grads=False)["loss"])

    def backward(dy):
        model.zero_grad()
        dx = model.loss_and_grads(x, y, eps=noise, input_grad=True)["dx"]
        return {"x": dy * dx, **{name: dy * g for name, _, g in model.parameters()}}

    return check_function(forward, backward, inputs, op=op, **options)


def _cvae_check(name, likelihood, seed, model_kw, options):
    rng = np.random.default_rng(seed)
    model = _tiny_cvae(likelihood, **model_kw).astype(F64)
    # W ~ N(0, 1/fan_in): larger than PyTorch's init, whose first-layer gradients are too
    # small for a central difference of a scalar loss to resolve to 1e-6, but not the
    # N(0, 1) of suite._model_check. With unit weights, σ = exp(logvar/2) reaches ~10, z
    # saturates the decoder's tanh, and a one-hot row's gradient (1e-10) falls below
    # float64 resolution: the loss does not move at all and the check fails on rounding.
    for pname, p, _ in model.parameters():
        if pname.endswith(".W"):
            p[...] = rng.normal(0, 1.0 / np.sqrt(p.shape[0]), p.shape)
    x = rng.uniform(0.05, 0.95, (6, model.input_dim))             # (N, D) valid targets
    y = np.array([0, 2, 1, 2, 1, 0])                              # (N,) every class twice
    noise = rng.standard_normal((6, model.latent_dim))            # (N, L) frozen ε
    return check_cvae(model, x, y, noise, op=name, seed=seed, **options)


def _register(name, likelihood, **model_kw):
    @register(name)
    def run(seed=0, **options):
        return _cvae_check(name, likelihood, seed, model_kw, options)


_register("CVAE(bernoulli)", "bernoulli")
_register("CVAE(gaussian, learned var, beta=0.5)", "gaussian", learn_variance=True, beta=0.5)
_register("CVAE(mse, beta=4)", "mse", beta=4.0)
