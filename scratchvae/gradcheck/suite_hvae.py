"""Registry entries for the two-level hierarchical VAE: every parameter of a tiny HVAE
(Bernoulli and Gaussian likelihoods, β = 0.7 for the second so that the KL terms'
weight is exercised), with the noise [ε₁, ε₂] frozen.

Checking standard: the one stated in :mod:`scratchvae.gradcheck.registry`, through
:func:`~scratchvae.gradcheck.registry.model_check` (unit-scale weights, x in
(0.05, 0.95), ε of shape (3, L₁+L₂)). Tanh networks keep every forward call away
from ReLU's kink. z₂ reaches the loss along three paths — q(z₁|x, z₂), p(z₁|z₂) and
the decoder — so a path dropped from the backward shows up in the encoder of z₂.
"""
from __future__ import annotations

from .registry import register_model


def hvae(likelihood, **kw):
    from ..models.hvae import HVAE  # noqa: PLC0415 - the gradcheck package imports no model
    return HVAE(6, (5, 4), (2, 3), likelihood=likelihood, activation="tanh", seed=1, **kw)


register_model("HVAE(bernoulli)", hvae, "bernoulli")
register_model("HVAE(gaussian, beta=0.7)", lambda lik: hvae(lik, beta=0.7), "gaussian")
