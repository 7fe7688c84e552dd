"""The variational autoencoder with MLP encoder and decoder (Kingma & Welling, 2014),
also the β-VAE (Higgins et al., 2017) for β ≠ 1.

Notation: N batch, D data dimensions, H hidden widths, L latent dimensions.

    encoder:  x (N, D) → Linear → act → … → Linear → h (N, 2L) = [μ, logvar]
    decoder:  z (N, L) → Linear → act → … → Linear → out (N, D)   (widths mirrored)

    loss = recon + β · KL = −E_q[log p(x|z)] + β · KL(q(z|x) ‖ N(0, I))

Everything probabilistic — the reparameterization, the likelihood, the KL, the
backward pass — is :class:`~scratchvae.models.vae_base.VAEBase`'s; this file only
builds the two networks.
"""
from __future__ import annotations

import numpy as np

from ..rng import as_rng
from .blocks import mlp
from .vae_base import VAEBase, check_vae_args


class VAE(VAEBase):
    """MLP VAE (β-VAE for β ≠ 1).

    Args:
        input_dim: D (784 for 28×28 images, flattened).
        hidden: widths of the encoder's hidden layers; the decoder mirrors them.
        latent_dim: L.
        likelihood: "bernoulli" (default), "gaussian" or "mse" (``distributions.LIKELIHOODS``).
        learn_variance: for "gaussian", learn one log-variance per data dimension.
        logvar_x: the fixed (or initial) Gaussian log-variance.
        beta: weight of the KL term (1 = the ELBO; β-VAE otherwise).
        activation: hidden activation name ("relu", "tanh", "ptanh", ...).
        seed: seeds the initial weights and the sampling of ε.
        dtype: float32 (default) or float64.
    """

    name = "vae"

    def __init__(self, input_dim=784, hidden=(400,), latent_dim=20, likelihood="bernoulli",
                 learn_variance=False, logvar_x=0.0, beta=1.0, activation="relu", seed=0,
                 dtype=np.float32):
        check_vae_args(input_dim, latent_dim, likelihood, learn_variance, logvar_x, beta, seed,
                       dtype, hidden=hidden, activation=activation)
        config = dict(input_dim=int(input_dim), hidden=[int(h) for h in hidden],
                      latent_dim=int(latent_dim), likelihood=likelihood,
                      learn_variance=bool(learn_variance), logvar_x=float(logvar_x),
                      beta=float(beta), activation=activation, seed=int(seed))
        encoder, decoder = mlp_pair(input_dim, hidden, latent_dim, activation, seed, dtype)
        super().__init__(config, encoder, decoder, input_dim=input_dim, latent_dim=latent_dim,
                         likelihood=likelihood, learn_variance=learn_variance,
                         logvar_x=logvar_x, beta=beta, seed=seed, dtype=dtype)


def mlp_pair(input_dim, hidden, latent_dim, activation, seed, dtype, n_classes=0,
             gated=False):
    """The VAE's MLPs: encoder (D+K) → H… → 2L and decoder (L+K) → …H → D, drawn in that
    order from ``seed`` (an int, or a Generator the caller goes on drawing from); with
    ``gated``, their hidden layers are GatedLinear (``blocks.mlp``)."""
    init_rng = as_rng(seed)
    encoder = mlp([int(input_dim) + n_classes, *hidden, 2 * int(latent_dim)], activation,
                  init_rng, dtype, gated=gated)
    decoder = mlp([int(latent_dim) + n_classes, *reversed(list(hidden)), int(input_dim)],
                  activation, init_rng, dtype, gated=gated)
    return encoder, decoder
