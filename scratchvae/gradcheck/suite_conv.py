"""Gradient checks for the convolution layers, registered into :mod:`.suite`'s registry.

Tiny float64 layers, every entry of x, W and b checked (mode "full" by default), in the
shapes that matter: plain, strided and padded (the conv VAE's kernel 4 / stride 2 /
padding 1), non-square, output_padding, and no bias. Names fit the 28-character op
column of ``python -m scratchvae gradcheck`` (k kernel, s stride, p padding, op
output_padding). ``suite`` imports this module at its end, after ``register`` and
``_away_from_zero`` exist.
"""
from __future__ import annotations

import numpy as np

from ..nn.conv import Conv2d, ConvTranspose2d
from .adapters import check_module
from .suite import _away_from_zero, register

F64 = np.float64


def _conv_layer(name, make, shape):
    @register(name)
    def run(seed=0, **options):
        rng = np.random.default_rng(seed)
        layer = make(rng).astype(F64)
        x = _away_from_zero(rng, shape)                  # (N, C, H, W)
        return check_module(layer, x, op=name, seed=seed, **options)
    return run


_conv_layer("Conv2d", lambda r: Conv2d(2, 3, 3, rng=r), (2, 2, 5, 5))
_conv_layer("Conv2d(s=2,p=1)", lambda r: Conv2d(2, 3, 4, stride=2, padding=1, rng=r),
            (2, 2, 7, 7))
_conv_layer("Conv2d(k=2x3,s=2x1,p=1x0)",
            lambda r: Conv2d(2, 2, (2, 3), stride=(2, 1), padding=(1, 0), rng=r), (2, 2, 5, 6))
_conv_layer("Conv2d(bias=False)", lambda r: Conv2d(2, 3, 3, bias=False, rng=r), (1, 2, 4, 5))
_conv_layer("ConvTranspose2d", lambda r: ConvTranspose2d(2, 3, 3, rng=r), (2, 2, 3, 4))
_conv_layer("ConvTranspose2d(s=2,p=1)",
            lambda r: ConvTranspose2d(3, 2, 4, stride=2, padding=1, rng=r), (2, 3, 3, 3))
_conv_layer("ConvTranspose2d(s=2,op=1)",
            lambda r: ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1, rng=r),
            (2, 2, 3, 3))
_conv_layer("ConvTranspose2d(bias=False)",
            lambda r: ConvTranspose2d(2, 2, (3, 2), stride=(1, 2), bias=False, rng=r), (1, 2, 3, 3))
