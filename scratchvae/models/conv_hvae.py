"""The convolutional two-level VAE (ConvHVAE): the HVAE's probabilistic model
(:mod:`.hvae`) with gated convolutional networks where it sees images.

Notation: N batch, C×H×W the image, D = C·H·W, c₁, c₂ channel widths, H' = H/4 and
W' = W/4, F = c₂·H'·W' the conv stack's features, h the dense width, L₁, L₂ the latent
sizes. Every convolution is kernel 4, stride 2, padding 1 (28 → 14 → 7 → 14 → 28), and
every hidden layer is gated, (conv or affine of x; W, b) ⊙ σ(same of x; V, c)
(:mod:`scratchvae.nn.gated`):

    conv stack  x (N, D) → (N, C, H, W) → GatedConv(C→c₁) → GatedConv(c₁→c₂) → (N, F)

    q(z₂|x)        conv stack → Linear(F → 2L₂)
    q(z₁|x, z₂)    [conv stack (x), GatedLinear(L₂ → h) (z₂)] → GatedLinear(F + h → h)
                   → Linear(h → 2L₁)
    p(z₁|z₂)       GatedLinear(L₂ → h) → GatedLinear(h → h) → Linear(h → 2L₁)
    p(x|z₁, z₂)    [GatedLinear(L₁ → h), GatedLinear(L₂ → h)] → GatedLinear(2h → F)
                   → (N, c₂, H', W') → GatedConvT(c₂→c₁) → ConvT(c₁→C) → (N, D) logits

The objective, its backward, the importance weights and the VampPrior option over z₂ are
:class:`~scratchvae.models.hvae.HVAEBase`'s, unchanged: they only call the four networks'
forward and backward. Inputs are flat (N, D) like the MLP models', or images
(N, C, H, W), as for :class:`~scratchvae.models.ConvVAE`.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..functional.checks import check_sizes
from ..nn import (
    ConvTranspose2d, Flatten, GatedConv2d, GatedConvTranspose2d, GatedLinear, Linear,
    Sequential, Unflatten,
)
from ..rng import as_rng
from .blocks import mlp
from .conv_vae import ConvVAE
from .hvae import HVAEBase, TwoInputNet, check_hvae_args
from .vae_base import check_vae_args


class ConvHVAE(HVAEBase):
    """Two-level hierarchical VAE with gated convolutional networks (module docstring).

    Args:
        image_shape: (C, H, W), H and W divisible by 4.
        channels: (c₁, c₂), the two convolutions' widths.
        hidden: h, the width of the dense gated layers.
        latent_dims: (L₁, L₂).
        likelihood, logvar_x, beta, prior, n_pseudo, pseudo_init, pseudo_clip, seed, dtype:
            as for :class:`~scratchvae.models.hvae.HVAE`.
    """

    name = "conv-hvae"
    flat_batch = ConvVAE.flat_batch          # flat (N, D) or images (N, C, H, W)

    def __init__(self, image_shape=(1, 28, 28), channels=(32, 64), hidden=300,
                 latent_dims=(40, 40), likelihood="bernoulli", logvar_x=0.0, beta=1.0,
                 prior="gaussian", n_pseudo=500, pseudo_init=0.5, pseudo_clip=None, seed=0,
                 dtype=np.float32):
        C, H, W = check_sizes(image_shape, "image_shape", example="(1, 28, 28)", length=3)
        c1, c2 = check_sizes(channels, "channels", example="(32, 64)", length=2)
        if isinstance(hidden, (list, tuple)) and len(hidden) == 1:
            hidden = hidden[0]                                  # --hidden 300 on the CLI
        (h,) = check_sizes([hidden], "hidden", example="300")
        (L1, L2), pseudo = check_hvae_args(latent_dims, prior, n_pseudo, pseudo_init,
                                           pseudo_clip, likelihood)
        check_vae_args(C * H * W, L1 + L2, likelihood, False, logvar_x, beta, seed, dtype)
        if H % 4 or W % 4:
            raise ShapeError(f"ConvHVAE needs H and W divisible by 4 (two stride-2 layers), "
                             f"got image_shape {(C, H, W)}")
        super().__init__(dict(image_shape=[C, H, W], channels=[c1, c2], hidden=h,
                              latent_dims=[L1, L2], likelihood=likelihood,
                              logvar_x=float(logvar_x), beta=float(beta), prior=prior,
                              **pseudo, seed=int(seed)))
        self.image_shape = (C, H, W)
        rng, inner = as_rng(seed), (c2, H // 4, W // 4)
        F = int(np.prod(inner))
        conv = dict(kernel_size=4, stride=2, padding=1, rng=rng, dtype=dtype)
        dense = dict(rng=rng, dtype=dtype)

        def conv_stack():                                       # (N, D) → (N, F)
            return [Unflatten((C, H, W)), GatedConv2d(C, c1, **conv),
                    GatedConv2d(c1, c2, **conv), Flatten()]

        networks = (                                            # the weights, in this order
            Sequential(*conv_stack(), Linear(F, 2 * L2, **dense)),                 # q(z₂|x)
            TwoInputNet(Sequential(*conv_stack()),                                 # q(z₁|x,z₂)
                        Sequential(GatedLinear(L2, h, **dense)),
                        Sequential(GatedLinear(F + h, h, **dense), Linear(h, 2 * L1, **dense))),
            mlp([L2, h, h, 2 * L1], rng=rng, dtype=dtype, gated=True),             # p(z₁|z₂)
            TwoInputNet(Sequential(GatedLinear(L1, h, **dense)),                   # p(x|z₁,z₂)
                        Sequential(GatedLinear(L2, h, **dense)),
                        Sequential(GatedLinear(2 * h, F, **dense), Unflatten(inner),
                                   GatedConvTranspose2d(c2, c1, **conv),
                                   ConvTranspose2d(c1, C, **conv), Flatten())),
        )
        self._setup(networks, input_dim=C * H * W, latent_dims=(L1, L2),
                    likelihood=likelihood, logvar_x=logvar_x, beta=beta, prior=prior,
                    pseudo=pseudo, rng=rng, seed=seed, dtype=dtype)
