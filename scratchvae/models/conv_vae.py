"""The convolutional VAE: conv encoder, transposed-conv decoder, the VAE's objective.

Notation: N batch, C×H×W the image (1×28×28 for MNIST-like data), L latent size,
c₁, c₂ the channel widths; every conv has kernel 4, stride 2, padding 1, so each
halves (conv) or doubles (transposed conv) the spatial size: 28 → 14 → 7 → 14 → 28.

    encoder: x (N, C·H·W) → unflatten (N, C, H, W)
             → Conv(C→c₁) → ReLU → Conv(c₁→c₂) → ReLU        (N, c₂, H/4, W/4)
             → flatten → Linear → (N, 2L) = [μ, logvar]
    decoder: z (N, L) → Linear → ReLU → unflatten (N, c₂, H/4, W/4)
             → ConvT(c₂→c₁) → ReLU → ConvT(c₁→C)              (N, C, H, W) logits
             → flatten (N, C·H·W)

Inputs and outputs stay flat (N, D), D = C·H·W, so the likelihoods, the trainer and
the evaluation code are exactly those of the MLP :class:`VAE`: everything but the two
networks is :class:`~scratchvae.models.vae_base.VAEBase`'s. Batches of images shaped
(N, C, H, W) — what ``data.load_dataset`` returns — are accepted too, and viewed as
(N, C·H·W) (free for contiguous arrays).
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..functional.checks import check_sizes
from ..nn import Linear, ReLU, Sequential
from ..nn.conv import Conv2d, ConvTranspose2d
from ..rng import as_rng
from ..nn.shape import Flatten, Unflatten
from .vae_base import VAEBase, check_vae_args


class ConvVAE(VAEBase):
    """Convolutional VAE (2 conv + 2 transposed conv, kernel 4, stride 2).

    Args:
        image_shape: (C, H, W) with H and W divisible by 4.
        channels: (c₁, c₂) widths of the two conv layers.
        latent_dim: L.
        likelihood, learn_variance, logvar_x, beta, seed, dtype: as for :class:`VAE`.
    """

    name = "conv-vae"

    def __init__(self, image_shape=(1, 28, 28), channels=(32, 64), latent_dim=20,
                 likelihood="bernoulli", learn_variance=False, logvar_x=0.0, beta=1.0, seed=0,
                 dtype=np.float32):
        C, H, W = check_sizes(image_shape, "image_shape", example="(1, 28, 28)", length=3)
        check_sizes(channels, "channels", example="(32, 64)", length=2)
        check_vae_args(C * H * W, latent_dim, likelihood, learn_variance, logvar_x, beta, seed,
                       dtype)
        if H % 4 or W % 4:
            raise ShapeError(f"ConvVAE needs H and W divisible by 4 (two stride-2 layers), "
                             f"got image_shape {(C, H, W)}")
        c1, c2 = (int(c) for c in channels)
        config = dict(image_shape=[C, H, W], channels=[c1, c2], latent_dim=int(latent_dim),
                      likelihood=likelihood, learn_variance=bool(learn_variance),
                      logvar_x=float(logvar_x), beta=float(beta), seed=int(seed))
        rng = as_rng(seed)
        inner = (c2, H // 4, W // 4)
        conv = dict(kernel_size=4, stride=2, padding=1, rng=rng, dtype=dtype)
        encoder = Sequential(
            Unflatten((C, H, W)),
            Conv2d(C, c1, **conv), ReLU(),
            Conv2d(c1, c2, **conv), ReLU(),
            Flatten(),
            Linear(int(np.prod(inner)), 2 * int(latent_dim), rng=rng, dtype=dtype),
        )
        decoder = Sequential(
            Linear(int(latent_dim), int(np.prod(inner)), rng=rng, dtype=dtype), ReLU(),
            Unflatten(inner),
            ConvTranspose2d(c2, c1, **conv), ReLU(),
            ConvTranspose2d(c1, C, **conv),
            Flatten(),
        )
        super().__init__(config, encoder, decoder, input_dim=C * H * W, latent_dim=latent_dim,
                         likelihood=likelihood, learn_variance=learn_variance,
                         logvar_x=logvar_x, beta=beta, seed=seed, dtype=dtype)
        self.image_shape = (C, H, W)

    def flat_batch(self, x, input_dim: int):
        """Flat (N, C·H·W) batches, or images (N, C, H, W) of this model's ``image_shape``
        viewed as flat ones; anything else a ShapeError naming the fix."""
        C, H, W = self.image_shape
        if x.ndim == 4 and tuple(x.shape[1:]) == self.image_shape:
            return x.reshape(len(x), input_dim)                      # a view when contiguous
        if x.ndim == 2 and x.shape[1] == input_dim:
            return x
        shape = tuple(x.shape)
        if x.ndim == 4 and shape[1:] == (H, W, C):
            fix = "channels last? use x.transpose(0, 3, 1, 2)"
        elif x.ndim == 3 and shape == self.image_shape:
            fix = "for one image add the batch axis: x[None]" + (
                "; for N images without a channel axis: x[:, None]" if C == 1 else "")
        elif x.ndim == 3 and C == 1 and shape[1:] == (H, W):
            fix = "add the channel axis: x[:, None]"
        else:
            fix = f"this model was built with image_shape={self.image_shape}"
        raise ShapeError(f"{type(self).__name__} expects images (N, {C}, {H}, {W}) or flat inputs "
                         f"(N, {input_dim}), got {shape}; {fix}")

