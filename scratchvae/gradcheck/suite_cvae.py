"""Registry entries for the conditional VAE (Bernoulli; Gaussian with a learned variance
and β = 0.5; MSE with β = 4), and :func:`check_cvae`, the check they run.

Checking standard: the one stated in :mod:`scratchvae.gradcheck.registry`, with ε
frozen. Unlike a plain model check, the data x is checked too, like a parameter: it
enters the loss twice (the encoder's input and the reconstruction target), so the
check covers both paths of ``input_grad=True``. The labels are integers turned into a
one-hot condition, which is data, not a variable: nothing differentiates it.
"""
from __future__ import annotations

import numpy as np

from .core import check_function
from .registry import F64, fan_in_weights, register


def tiny_cvae(likelihood, **kw):
    """A CVAE 7-5-2 with 3 classes (imported here: the gradcheck package does not import
    scratchvae.models)."""
    from ..models import CVAE  # noqa: PLC0415
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


def cvae_check(name, likelihood, seed, model_kw, options):
    rng = np.random.default_rng(seed)
    # W ~ N(0, 1/fan_in), not the N(0, 1) of registry.model_check: with unit weights
    # σ = exp(logvar/2) reaches ~10, z saturates the decoder's tanh, and a one-hot row's
    # gradient (1e-10) falls below float64 resolution: the loss does not move at all and
    # the check fails on rounding.
    model = fan_in_weights(tiny_cvae(likelihood, **model_kw).astype(F64), rng)
    x = rng.uniform(0.05, 0.95, (6, model.input_dim))             # (N, D) valid targets
    y = np.array([0, 2, 1, 2, 1, 0])                              # (N,) every class twice
    noise = rng.standard_normal((6, model.latent_dim))            # (N, L) frozen ε
    return check_cvae(model, x, y, noise, op=name, seed=seed, **options)


def register_cvae(name, likelihood, **model_kw):
    @register(name)
    def run(seed=0, **options):
        return cvae_check(name, likelihood, seed, model_kw, options)
    return run


register_cvae("CVAE(bernoulli)", "bernoulli")
register_cvae("CVAE(gaussian, learned var, beta=0.5)", "gaussian", learn_variance=True,
              beta=0.5)
register_cvae("CVAE(mse, beta=4)", "mse", beta=4.0)
