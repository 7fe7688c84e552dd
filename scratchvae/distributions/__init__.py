"""Probabilistic pieces of a VAE: likelihoods, KL divergences, the reparameterization trick.

All losses: sum over data dimensions, mean over the batch, in nats (see
:mod:`scratchvae.distributions.reduction`); each returns its gradient too.
"""
from .kl import kl_diag_gaussians, kl_per_dimension, kl_standard_normal
from .likelihoods import (
    LIKELIHOODS, bernoulli_nll, check_targets, gaussian_nll, masked_squared_error, squared_error,
)
from .reduction import REDUCTIONS
from .reparam import reparameterize_backward, reparameterize_forward, standard_normal

__all__ = [
    "bernoulli_nll", "gaussian_nll", "squared_error", "masked_squared_error", "check_targets", "LIKELIHOODS",
    "kl_standard_normal", "kl_diag_gaussians", "kl_per_dimension",
    "reparameterize_forward", "reparameterize_backward", "standard_normal", "REDUCTIONS",
]
