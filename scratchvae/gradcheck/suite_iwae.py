"""Registry entries for the IWAE objective (k importance samples): the MLP IWAE with
k = 1 and k = 5 (Bernoulli) and k = 4 (Gaussian, learned variance), and the conv IWAE
with k = 3.

Checking standard: the one stated in :mod:`scratchvae.gradcheck.registry`; the scalar
loss gets a random upstream gradient (a random multiple of it). ε is frozen with the
IWAE's own shape (k, N, L) — k samples for each of the N rows — which
:func:`~scratchvae.gradcheck.registry.model_check` (ε of shape (N, L)) cannot pass,
hence a check of its own.

k = 1 checks the single-sample path (weights identically 1); k = 5 and the conv model
at k = 3 check the softmax weighting of every term. The learned-variance Gaussian entry
checks the per-row weighting of ∂/∂logvar_x, which the likelihood would otherwise sum
with equal weights.
"""
from __future__ import annotations

import numpy as np

from .adapters import check_model
from .registry import F64, fan_in_weights, register

N = 3                                       # batch rows


# Models are imported inside the builders: the gradcheck package does not import them.
def iwae(k, likelihood="bernoulli", **kw):
    from ..models import IWAE  # noqa: PLC0415
    return IWAE(7, (5,), 2, likelihood=likelihood, activation="tanh", k=k, seed=1, **kw)


def conv_iwae(k, likelihood="bernoulli"):
    # 1×4×4 images (4 → 2 → 1 → 2 → 4): the smallest the two stride-2 layers allow. The
    # conv layers have checks of their own; here a small D keeps the loss — and with it
    # the rounding floor of a scalar central difference — small: at 8×8 the worst entries
    # sit at ~6e-7 of the 1e-6 tolerance, at 4×4 at ~3e-7.
    from ..models import ConvIWAE  # noqa: PLC0415
    return ConvIWAE((1, 4, 4), (2, 3), 2, likelihood=likelihood, k=k, seed=1)


def iwae_check(name, make, seed, options):
    rng = np.random.default_rng(seed)
    # W ~ N(0, 1/fan_in): large enough that the first layers' gradients are not lost
    # below the float64 resolution of a scalar loss (the reason for the unit weights of
    # registry.model_check), small enough that the log w of the k samples stay within a
    # few nats of each other. With N(0, 1), σ reaches ~10, one sample takes all the
    # softmax weight (effective sample size 1.0), the weighting goes untested, and a
    # weight that only moves a sample of weight e⁻⁸⁰ has an analytic gradient of 1e-10
    # that no central difference resolves (it reads exactly 0).
    model = fan_in_weights(make().astype(F64), rng)
    x = rng.uniform(0.05, 0.95, (N, model.input_dim))                     # (N, D)
    noise = rng.standard_normal((model.k, N, model.latent_dim))           # (k, N, L) frozen ε
    return check_model(model, x, op=name, loss_kwargs={"eps": noise}, seed=seed, **options)


def register_iwae(name, make):
    @register(name)
    def run(seed=0, **options):
        return iwae_check(name, make, seed, options)
    return run


register_iwae("IWAE(bernoulli, k=1)", lambda: iwae(1))
register_iwae("IWAE(bernoulli, k=5)", lambda: iwae(5))
register_iwae("IWAE(gaussian, learned var, k=4)",
              lambda: iwae(4, "gaussian", learn_variance=True, logvar_x=-0.5))
register_iwae("ConvIWAE(bernoulli, k=3)", lambda: conv_iwae(3))
