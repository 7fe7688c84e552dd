"""The registry of gradient checks, and the helpers its entries share.

``CHECKS`` maps a name to a callable ``(seed=0, **options) -> GradcheckReport``;
``register`` adds one, ``run_all`` runs them. This module registers nothing itself
and imports no ``suite_*`` module: each family of ops registers its entries in a
module of its own, and :mod:`scratchvae.gradcheck.suite` imports those families in
a fixed order, which is the order of ``CHECKS`` and of the table printed by
``python -m scratchvae gradcheck``.

The checking standard, which every entry of every family follows (the family
modules refer to it rather than restating it):

* float64 throughout: tiny instances of the op, cast with ``.astype(np.float64)``;
* central differences with a step of ε = 1e-6, every entry checked ("full" mode)
  unless the caller asks for another mode;
* a random upstream gradient dy (never ones), drawn from the entry's seed;
* parameters checked like inputs: each parameter array is perturbed in place and
  its analytic gradient compared, entry by entry;
* rtol = 1e-6 and no atol, against the rounding resolution of each numerical
  derivative (see :mod:`scratchvae.gradcheck.core`);
* inputs away from kinks (ReLU's 0, |·| at 0, clamps) and all randomness frozen
  (reparameterization noise, dropout masks, corruption), so that every one of the
  checker's forward calls computes the same function.

An entry passes ``options`` (``eps``, ``mode``, ``rtol``…) through to
:func:`~scratchvae.gradcheck.core.check_function` untouched, and never uses those
names for anything else: the CLI passes ``eps`` and ``mode`` to every entry.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np

from .adapters import check_model, check_module
from .core import GradcheckReport, check_function

F64 = np.float64
CHECKS: dict[str, Callable[..., GradcheckReport]] = {}


def register(name: str):
    """Decorator: add ``fn(seed=0, **options) -> GradcheckReport`` to ``CHECKS`` as ``name``."""
    def deco(fn):
        if name in CHECKS:
            raise ValueError(f"a gradient check named {name!r} is already registered")
        CHECKS[name] = fn
        return fn
    return deco


def run_all(seed: int = 0, names=None, **options) -> list[GradcheckReport]:
    """Run every registered check (or those in ``names``) and return the reports."""
    return [CHECKS[n](seed=seed, **options) for n in (names or CHECKS)]


# ------------------------------------------------------------------ case helpers
def away_from_zero(rng, shape, low=0.1, high=2.0):
    """Random values with |x| in [low, high] and random signs: no input sits on a kink."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def unit_weights(model, rng):
    """Overwrite every ``*.W`` parameter with N(0, 1) draws, in ``parameters()`` order.

    With PyTorch's small default init the first layer's gradients are ~1e-5 of the
    loss, below what a float64 central difference of a scalar can resolve to 1e-6
    (its rounding error is ~1e-16·|L|/ε); unit-scale weights lift them above it.
    """
    for name, p, _ in model.parameters():
        if name.endswith(".W"):
            p[...] = rng.normal(0, 1.0, p.shape)
    return model


def fan_in_weights(model, rng):
    """Overwrite every ``*.W`` parameter with N(0, 1/fan_in) draws, in ``parameters()`` order.

    fan_in is computed from the weight's shape: its first axis for a Linear weight,
    which is stored (in, out), and the product of all but the first axis for a
    convolution kernel. Larger than PyTorch's init, so that first-layer gradients
    stay resolvable (see :func:`unit_weights`), yet small enough that a VAE's
    σ = exp(logvar/2) stays near 1 and its activations do not saturate.
    """
    for name, p, _ in model.parameters():
        if name.endswith(".W"):
            fan_in = p.shape[0] if p.ndim == 2 else int(np.prod(p.shape[1:]))
            p[...] = rng.normal(0, 1.0 / np.sqrt(fan_in), p.shape)
    return model


def register_layer(name, make, shape, **check_kw):
    """Register a check of layer ``make(rng)`` (cast to float64) on an input of ``shape``
    drawn by :func:`away_from_zero`; the input and every parameter are checked."""
    @register(name)
    def run(seed=0, **options):
        rng = np.random.default_rng(seed)
        layer = make(rng).astype(F64)
        x = away_from_zero(rng, shape)
        return check_module(layer, x, op=name, seed=seed, **{**check_kw, **options})
    return run


def loss_check(name, fn, arrays, wrt, seed, **options):
    """Check a loss ``fn(**arrays) -> (value, {name: grad})`` for the arrays named in ``wrt``."""
    def forward():
        return fn(**arrays)[0]

    def backward(dy):
        grads = fn(**arrays)[1]
        return {k: dy * grads[k] for k in wrt}

    return check_function(forward, backward, {k: arrays[k] for k in wrt}, op=name, seed=seed,
                          **options)


def model_check(name, make, likelihood, seed, **options):
    """Check ``make(likelihood)``'s ``loss_and_grads(x)`` for every parameter.

    The model (cast to float64) gets :func:`unit_weights`; x is a (3, D) batch in
    (0.05, 0.95). A model whose ``loss_and_grads`` takes reparameterization noise (a
    VAE) gets a frozen ε of shape (3, L) through ``loss_and_grads(x, eps=...)``.
    """
    rng = np.random.default_rng(seed)
    model = unit_weights(make(likelihood).astype(F64), rng)
    x = rng.uniform(0.05, 0.95, (3, model.input_dim))
    kwargs = {}
    if "eps" in inspect.signature(model.loss_and_grads).parameters:
        kwargs["eps"] = rng.standard_normal((3, model.latent_dim))
    return check_model(model, x, op=name, loss_kwargs=kwargs, seed=seed, **options)


def register_model(name, make, likelihood):
    """Register :func:`model_check` of ``make(likelihood)`` as ``name``."""
    @register(name)
    def run(seed=0, **options):
        return model_check(name, make, likelihood, seed, **options)
    return run
