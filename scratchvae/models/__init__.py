"""Models built from :mod:`scratchvae.nn` layers, and a registry to rebuild them from a config."""
from __future__ import annotations

import numpy as np

from .autoencoder import Autoencoder, AutoencoderBase
from .base import Model
from .conv_vae import ConvVAE
from .cvae import CVAE
from .denoising_ae import DenoisingAE
from .geco import GECOVAE
from .iwae import IWAE, ConvIWAE
from .lagrangian_vae import LagrangianVAE
from .sparse_ae import SparseAutoencoder
from .stacked_ae import StackedAEStage, StackedAutoencoder
from .discriminator import Discriminator
from .vae import VAE
from .vae_base import VAEBase
from .vae_gan import VAEGAN

MODELS = {"vae": VAE, "ae": Autoencoder, "conv-vae": ConvVAE, "cvae": CVAE,
          "dae": DenoisingAE, "sparse-ae": SparseAutoencoder, "stacked-ae": StackedAutoencoder,
          "lagrangian-vae": LagrangianVAE, "geco-vae": GECOVAE, "vae-gan": VAEGAN,
          "iwae": IWAE, "conv-iwae": ConvIWAE}


def build_model(config: dict, dtype=np.float32) -> Model:
    """Rebuild a model from its ``config`` (as stored in checkpoints)."""
    config = dict(config)
    name = config.pop("model", "vae")
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](**config, dtype=dtype)


__all__ = ["Model", "VAEBase", "AutoencoderBase", "VAE", "ConvVAE", "CVAE", "Autoencoder",
           "DenoisingAE", "SparseAutoencoder", "StackedAutoencoder", "StackedAEStage",
           "LagrangianVAE", "GECOVAE", "VAEGAN",
           "Discriminator", "IWAE", "ConvIWAE", "MODELS", "build_model"]
