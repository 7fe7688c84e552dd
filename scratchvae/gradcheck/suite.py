"""Every gradient check scratchvae registers, in a fixed order.

Importing this module imports each family module below, in the order listed; each
adds its entries to :data:`~scratchvae.gradcheck.registry.CHECKS` as it is imported,
so that order is the order of ``CHECKS``, of :func:`run_all` and of the table that
``python -m scratchvae gradcheck`` prints. The checking standard is stated in
:mod:`scratchvae.gradcheck.registry`; a new family is a new ``suite_*`` module that
imports only ``registry``, ``core``, ``adapters`` and library code, listed here.
"""
from __future__ import annotations

from . import (  # noqa: F401 - imported for their registrations, in this order
    suite_layers,           # Linear, the activations, ParametricTanh, Sequential
    suite_losses,           # likelihoods, KL terms, the reparameterization
    suite_models,           # VAE, ConvVAE, Autoencoder
    suite_conv,             # Conv2d, ConvTranspose2d
    suite_norm,             # BatchNorm, Flatten, Unflatten, Upsample, Dropout
    suite_cvae,             # the conditional VAE
    suite_denoising,        # the denoising autoencoder
    suite_sparse_stacked,   # sparsity penalties, softmax regression, sparse and stacked AEs
    suite_constrained,      # the Lagrangian VAE, GECO
    suite_vaegan,           # discriminator, GAN losses, the VAE-GAN's three objectives
    suite_iwae,             # the IWAE objective (k importance samples)
    suite_hvae,             # the two-level hierarchical VAE
    suite_vampprior,        # hardtanh, the mixture prior, its sampled KL, the VampPrior VAE
    suite_autorec,          # item-based AutoRec (masked loss, weight decay)
    suite_colour,           # colour from chroma, the U-Net colorizer
)
from .registry import CHECKS, model_check, run_all

# The name this helper had before the registry moved to registry.py; callers outside
# the package still use it.
_model_check = model_check

__all__ = ["CHECKS", "run_all"]
