"""Models built from :mod:`scratchvae.nn` layers, and a registry to rebuild them from a config."""
from __future__ import annotations

import inspect

import numpy as np

from ..errors import ConfigError

from .autoencoder import Autoencoder, AutoencoderBase
from .autorec import AutoRec
from .base import Model
from .colorizer import Colorizer
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
    if not isinstance(config, dict):
        raise ConfigError(f"a model config is a dict such as model.config, got "
                          f"{type(config).__name__}")
    config = dict(config)
    name = config.pop("model", "vae")
    if not isinstance(name, str) or name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    takes = [p for p in inspect.signature(MODELS[name]).parameters if p != "dtype"]
    unknown = sorted(k for k in config if k not in takes)
    if unknown:
        raise ConfigError(f"the {name} config has option(s) {unknown} that {MODELS[name].__name__} "
                          f"does not take; it takes {takes}")
    return MODELS[name](**config, dtype=dtype)


__all__ = ["AutoRec", "Colorizer", "Model", "VAEBase", "AutoencoderBase", "VAE", "ConvVAE",
           "CVAE", "Autoencoder",
           "DenoisingAE", "SparseAutoencoder", "StackedAutoencoder", "StackedAEStage",
           "LagrangianVAE", "GECOVAE", "VAEGAN",
           "Discriminator", "IWAE", "ConvIWAE", "MODELS", "build_model"]
