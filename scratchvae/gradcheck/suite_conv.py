"""Registry entries for the convolution layers Conv2d and ConvTranspose2d, and their gated
versions GatedConv2d and GatedConvTranspose2d (x, W, b, V and c all checked).

Checking standard: the one stated in :mod:`scratchvae.gradcheck.registry`; every entry
of x, W and b is checked. The shapes that matter: plain, strided and padded (the conv
VAE's kernel 4 / stride 2 / padding 1), a non-square kernel with unequal strides and
paddings, output_padding, and no bias. Names fit the 28-character op column of
``python -m scratchvae gradcheck`` (k kernel, s stride, p padding, op output_padding).
"""
from __future__ import annotations

from ..nn.conv import Conv2d, ConvTranspose2d
from ..nn.gated import GatedConv2d, GatedConvTranspose2d
from .registry import register_layer

# x is (N, C, H, W); the weights are PyTorch's layouts, (F, C, KH, KW) for Conv2d and
# (C, F, KH, KW) for ConvTranspose2d.
register_layer("Conv2d", lambda r: Conv2d(2, 3, 3, rng=r), (2, 2, 5, 5))
register_layer("Conv2d(s=2,p=1)", lambda r: Conv2d(2, 3, 4, stride=2, padding=1, rng=r),
               (2, 2, 7, 7))
register_layer("Conv2d(k=2x3,s=2x1,p=1x0)",
               lambda r: Conv2d(2, 2, (2, 3), stride=(2, 1), padding=(1, 0), rng=r), (2, 2, 5, 6))
register_layer("Conv2d(bias=False)", lambda r: Conv2d(2, 3, 3, bias=False, rng=r), (1, 2, 4, 5))
register_layer("ConvTranspose2d", lambda r: ConvTranspose2d(2, 3, 3, rng=r), (2, 2, 3, 4))
register_layer("ConvTranspose2d(s=2,p=1)",
               lambda r: ConvTranspose2d(3, 2, 4, stride=2, padding=1, rng=r), (2, 3, 3, 3))
register_layer("ConvTranspose2d(s=2,op=1)",
               lambda r: ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1, rng=r),
               (2, 2, 3, 3))
register_layer("ConvTranspose2d(bias=False)",
               lambda r: ConvTranspose2d(2, 2, (3, 2), stride=(1, 2), bias=False, rng=r),
               (1, 2, 3, 3))
register_layer("GatedConv2d(s=2,p=1)",
               lambda r: GatedConv2d(2, 3, 4, stride=2, padding=1, rng=r), (2, 2, 6, 6))
register_layer("GatedConv2d(bias=False)", lambda r: GatedConv2d(2, 2, 3, bias=False, rng=r),
               (1, 2, 4, 5))
register_layer("GatedConvTranspose2d(s=2,p=1)",
               lambda r: GatedConvTranspose2d(3, 2, 4, stride=2, padding=1, rng=r), (2, 3, 3, 3))
register_layer("GatedConvTranspose2d(s=2,op=1)",
               lambda r: GatedConvTranspose2d(2, 2, 3, stride=2, padding=1, output_padding=1,
                                              rng=r), (1, 2, 3, 3))
