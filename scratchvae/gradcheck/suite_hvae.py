"""Registry entries for the two-level hierarchical VAE: every parameter of a tiny HVAE
(Bernoulli and Gaussian likelihoods with tanh networks, β = 0.7 for the second so that
the KL terms' weight is exercised; Bernoulli with the paper's gated units; Bernoulli with
a VampPrior of 3 pseudo-inputs over z₂, the pseudo-inputs checked like the weights), with
the noise [ε₁, ε₂] frozen; and the ConvHVAE, its gated convolutions included, on 1×4×4
images (the smallest the two stride-2 layers allow, as for the conv IWAE).

Checking standard: the one stated in :mod:`scratchvae.gradcheck.registry`, through
:func:`~scratchvae.gradcheck.registry.model_check` (unit-scale weights, x in
(0.05, 0.95), ε of shape (3, L₁+L₂)). Tanh networks keep every forward call away
from ReLU's kink. z₂ reaches the loss along three paths — q(z₁|x, z₂), p(z₁|z₂) and
the decoder — so a path dropped from the backward shows up in the encoder of z₂.
"""
from __future__ import annotations

import numpy as np

from .adapters import check_model
from .registry import F64, fan_in_weights, register, register_model


def hvae(likelihood, **kw):
    from ..models.hvae import HVAE  # noqa: PLC0415 - the gradcheck package imports no model
    kw = {"activation": "tanh", "gated": False, **kw}
    return HVAE(6, (5, 4), (2, 3), likelihood=likelihood, seed=1, **kw)


register_model("HVAE(bernoulli)", hvae, "bernoulli")
register_model("HVAE(gaussian, beta=0.7)", lambda lik: hvae(lik, beta=0.7), "gaussian")


@register("HVAE(bernoulli, gated)")
def hvae_gated(seed=0, **options):
    """The gated networks with W, V ~ N(0, 1/fan_in). With :func:`model_check`'s unit-scale
    W (V left at its init) the loss of this tiny model is ~10⁵ nats, and three entries
    missed 1e-6 by up to 1.9× (seed 0) while lying four orders above their rounding
    resolution: the function is too curved there for ε = 1e-6, as the IWAE entries
    found for unit weights (:mod:`.suite_iwae`)."""
    rng = np.random.default_rng(seed)
    model = hvae("bernoulli", gated=True).astype(F64)
    for name, p, _ in model.parameters():                # W and V alike, N(0, 1/fan_in)
        if name.endswith((".W", ".V")):
            p[...] = rng.normal(0, 1.0 / np.sqrt(p.shape[0]), p.shape)
    x = rng.uniform(0.05, 0.95, (3, model.input_dim))
    eps = rng.standard_normal((3, model.latent_dim))
    return check_model(model, x, op="HVAE(bernoulli, gated)", loss_kwargs={"eps": eps},
                       seed=seed, **options)


@register("HVAE(bernoulli, vampprior)")
def hvae_vampprior(seed=0, **options):
    """The VampPrior over z₂, with pseudo-inputs spread over (0.1, 0.9) — inside the
    hardtanh's linear range, away from its kinks — and W ~ N(0, 1/fan_in), so that the
    three components and the codes stay within a few σ of each other and every
    responsibility carries weight."""
    rng = np.random.default_rng(seed)
    model = fan_in_weights(hvae("bernoulli", prior="vampprior", n_pseudo=3).astype(F64), rng)
    model.set_pseudo_inputs(rng.uniform(0.1, 0.9, (3, model.input_dim)))
    x = rng.uniform(0.05, 0.95, (3, model.input_dim))
    eps = rng.standard_normal((3, model.latent_dim))
    return check_model(model, x, op="HVAE(bernoulli, vampprior)", loss_kwargs={"eps": eps},
                       seed=seed, **options)


def _fan_in_gated(model, rng):
    """W and V ~ N(0, 1/fan_in), fan_in from the weight's shape (:func:`fan_in_weights`'s
    rule, for the gates' V too)."""
    for name, p, _ in model.parameters():
        if name.endswith((".W", ".V")):
            fan_in = p.shape[0] if p.ndim == 2 else int(np.prod(p.shape[1:]))
            p[...] = rng.normal(0, 1.0 / np.sqrt(fan_in), p.shape)
    return model


@register("ConvHVAE(bernoulli)")
def conv_hvae(seed=0, **options):
    from ..models.conv_hvae import ConvHVAE  # noqa: PLC0415
    rng = np.random.default_rng(seed)
    model = _fan_in_gated(ConvHVAE((1, 4, 4), (1, 2), hidden=3, latent_dims=(2, 1),
                                   seed=1).astype(F64), rng)
    x = rng.uniform(0.05, 0.95, (3, model.input_dim))
    eps = rng.standard_normal((3, model.latent_dim))
    return check_model(model, x, op="ConvHVAE(bernoulli)", loss_kwargs={"eps": eps},
                       seed=seed, **options)
