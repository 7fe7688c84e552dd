"""Registry entries for the base models: the MLP VAE (Bernoulli; Gaussian with a
learned variance and β = 0.5; MSE with ParametricTanh), the conv VAE and the
deterministic autoencoder (Bernoulli, MSE). The other model families register their
entries in modules of their own.

Checking standard: the one stated in :mod:`scratchvae.gradcheck.registry`. Each entry
is :func:`~scratchvae.gradcheck.registry.model_check`: every parameter of a tiny
float64 model with unit-scale weights, ``loss_and_grads(x, eps=...)`` with the
reparameterization noise ε frozen for the VAEs.
"""
from __future__ import annotations

from .registry import register_model


# Models are imported inside the builders: importing the gradcheck package does not
# import scratchvae.models.
def vae(likelihood, **kw):
    from ..models import VAE  # noqa: PLC0415
    return VAE(7, (5,), 2, likelihood=likelihood, activation="tanh", seed=1, **kw)


def vae_ptanh(likelihood):
    from ..models import VAE  # noqa: PLC0415
    return VAE(7, (5,), 2, likelihood=likelihood, activation="ptanh", seed=1)


def conv_vae(likelihood):
    from ..models import ConvVAE  # noqa: PLC0415
    return ConvVAE((1, 8, 8), (2, 3), 2, likelihood=likelihood, seed=1)


def autoencoder(likelihood):
    from ..models import Autoencoder  # noqa: PLC0415
    return Autoencoder(7, (5,), 2, likelihood=likelihood, activation="tanh", seed=1)


register_model("VAE(bernoulli)", vae, "bernoulli")
register_model("VAE(gaussian, learned var)",
               lambda lik: vae(lik, learn_variance=True, beta=0.5), "gaussian")
register_model("VAE(mse, ptanh)", vae_ptanh, "mse")
register_model("ConvVAE(bernoulli)", conv_vae, "bernoulli")
register_model("Autoencoder(bernoulli)", autoencoder, "bernoulli")
register_model("Autoencoder(mse)", autoencoder, "mse")
