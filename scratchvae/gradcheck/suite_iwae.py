"""Registry entries for the IWAE objective; importing this module adds them to ``CHECKS``.

Same standard as :mod:`scratchvae.gradcheck.suite`: float64, eps 1e-6, rtol 1e-6, a
random upstream gradient (here a random multiple of the scalar loss), every parameter
checked, random data and weights. ε is frozen with the IWAE's own shape (k, N, L) —
k samples for each of the N rows — which ``suite._model_check`` (ε of shape (N, L))
cannot pass, hence a check of its own.

k = 1 checks the single-sample path (weights identically 1); k = 5 and the conv model
at k = 3 check the softmax weighting of every term. The learned-variance Gaussian entry
checks the per-row weighting of ∂/∂logvar_x, which the likelihood would otherwise sum
with equal weights.
"""
from __future__ import annotations

import numpy as np

from .adapters import check_model
from .suite import F64, register

N = 3                                       # batch rows


def _iwae(k, likelihood="bernoulli", **kw):
    from ..models.iwae import IWAE  # noqa: PLC0415 - models import nn; keep the suite light
    return IWAE(7, (5,), 2, likelihood=likelihood, activation="tanh", k=k, seed=1, **kw)


def _conv_iwae(k, likelihood="bernoulli"):
    # 1×4×4 images (4 → 2 → 1 → 2 → 4): the smallest the two stride-2 layers allow. The
    # conv layers have checks of their own; here a small D keeps the loss — and with it
    # the rounding floor of a scalar central difference — small: at 8×8 the worst entries
    # sit at ~6e-7 of the 1e-6 tolerance, at 4×4 at ~3e-7.
    from ..models.iwae import ConvIWAE  # noqa: PLC0415
    return ConvIWAE((1, 4, 4), (2, 3), 2, likelihood=likelihood, k=k, seed=1)


def _iwae_check(name, make, seed, options):
    rng = np.random.default_rng(seed)
    model = make().astype(F64)
    # W ~ N(0, 1/fan_in) (fan_in = C·KH·KW for a conv kernel): large enough that the
    # first layers' gradients are not lost below the float64 resolution of a scalar loss
    # (the point of suite._model_check's N(0, 1)), small enough that the log w of the k
    # samples stay within a few nats of each other. With N(0, 1), σ reaches ~10, one
    # sample takes all the softmax weight (effective sample size 1.0), the weighting goes
    # untested, and a weight that only moves a sample of weight e⁻⁸⁰ has an analytic
    # gradient of 1e-10 that no central difference resolves (it reads exactly 0).
    for pname, p, _ in model.parameters():
        if pname.endswith(".W"):
            fan_in = p.shape[0] if p.ndim == 2 else int(np.prod(p.shape[1:]))
            p[...] = rng.normal(0, 1.0 / np.sqrt(fan_in), p.shape)
    x = rng.uniform(0.05, 0.95, (N, model.input_dim))                     # (N, D)
    noise = rng.standard_normal((model.k, N, model.latent_dim))           # (k, N, L) frozen ε
    return check_model(model, x, op=name, loss_kwargs={"eps": noise}, seed=seed, **options)


def _register(name, make):
    @register(name)
    def run(seed=0, **options):
        return _iwae_check(name, make, seed, options)


_register("IWAE(bernoulli, k=1)", lambda: _iwae(1))
_register("IWAE(bernoulli, k=5)", lambda: _iwae(5))
_register("IWAE(gaussian, learned var, k=4)",
          lambda: _iwae(4, "gaussian", learn_variance=True, logvar_x=-0.5))
_register("ConvIWAE(bernoulli, k=3)", lambda: _conv_iwae(3))
