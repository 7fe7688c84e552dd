"""Models built from :mod:`scratchvae.nn` layers, and a registry to rebuild them from a config."""
from __future__ import annotations

import inspect

import numpy as np

from ..errors import ConfigError

from .autoencoder import Autoencoder, AutoencoderBase
from .autorec import AutoRec
from .base import Model
from .colorizer import Colorizer
from .conv_hvae import ConvHVAE
from .conv_vae import ConvVAE
from .cvae import CVAE
from .denoising_ae import DenoisingAE
from .geco import GECOVAE
from .hvae import HVAE
from .iwae import IWAE, ConvIWAE
from .lagrangian_vae import LagrangianVAE
from .sparse_ae import SparseAutoencoder
from .stacked_ae import StackedAEStage, StackedAutoencoder
from .discriminator import Discriminator
from .vae import VAE
from .vae_base import VAEBase
from .vae_gan import VAEGAN
from .vampprior_vae import VampPriorVAE

MODELS = {"vae": VAE, "ae": Autoencoder, "conv-vae": ConvVAE, "cvae": CVAE,
          "dae": DenoisingAE, "sparse-ae": SparseAutoencoder, "stacked-ae": StackedAutoencoder,
          "lagrangian-vae": LagrangianVAE, "geco-vae": GECOVAE, "vae-gan": VAEGAN,
          "iwae": IWAE, "conv-iwae": ConvIWAE, "hvae": HVAE, "conv-hvae": ConvHVAE,
          "vampprior-vae": VampPriorVAE}

#: Models of a task beyond the images alone, whose batches carry more than the images:
#: ratings with their observed-entry mask, luminance with its colour target. They keep
#: the whole model contract (tests/test_model_contract.py), and ``build_model`` and the
#: checkpoints know them; the CLI's ``train``, which feeds image batches, offers MODELS.
TASK_MODELS = {"autorec": AutoRec, "colorizer": Colorizer}
REGISTRY = {**MODELS, **TASK_MODELS}


def build_model(config: dict, dtype=np.float32) -> Model:
    """Rebuild a model from its ``config`` (as stored in checkpoints)."""
    if not isinstance(config, dict):
        raise ConfigError(f"a model config is a dict such as model.config, got "
                          f"{type(config).__name__}")
    config = dict(config)
    name = config.pop("model", "vae")
    if not isinstance(name, str) or name not in REGISTRY:
        raise ConfigError(f"unknown model {name!r}; choose one of {sorted(REGISTRY)}")
    takes = [p for p in inspect.signature(REGISTRY[name]).parameters if p != "dtype"]
    unknown = sorted(k for k in config if k not in takes)
    if unknown:
        raise ConfigError(f"the {name} config has option(s) {unknown} that {REGISTRY[name].__name__} "
                          f"does not take; it takes {takes}")
    return REGISTRY[name](**config, dtype=dtype)


__all__ = ["AutoRec", "Colorizer", "Model", "VAEBase", "AutoencoderBase", "VAE", "ConvVAE",
           "CVAE", "Autoencoder",
           "DenoisingAE", "SparseAutoencoder", "StackedAutoencoder", "StackedAEStage",
           "LagrangianVAE", "GECOVAE", "VAEGAN",
           "Discriminator", "IWAE", "ConvIWAE", "HVAE", "ConvHVAE", "MODELS", "TASK_MODELS", "REGISTRY",
           "build_model", "VampPriorVAE"]
