"""Registry entries for the normalisation and shape layers: BatchNorm1d and BatchNorm2d
(training and eval mode), Flatten, Unflatten (and its alias Reshape), Upsample (scale 2
and 3) and Dropout with a frozen mask.

Checking standard: the one stated in :mod:`scratchvae.gradcheck.registry`.

Why BatchNorm in training mode can be checked at all: the checker calls ``forward``
hundreds of times, and each training forward updates the running statistics. The
training-mode output depends only on the batch statistics, never on the running ones,
so the drifting buffers change nothing that is differentiated. (The eval-mode entries
use the running statistics, which eval never updates.) γ and β are random, not
ones/zeros, so that a backward that confuses γ with 1 or drops β fails; with a random
upstream gradient dx is far from zero.
"""
from __future__ import annotations

import numpy as np

from ..functional.shape import dropout_mask
from ..nn.batchnorm import BatchNorm1d, BatchNorm2d
from ..nn.shape import Dropout, Flatten, Unflatten, Upsample
from .registry import away_from_zero, register_layer


def batchnorm(cls, rng, channels, train=True):
    """A BatchNorm with random γ (|γ| in [0.5, 1.5]) and β, and random running statistics."""
    layer = cls(channels, dtype=np.float64)
    layer.params["gamma"][...] = away_from_zero(rng, (channels,), 0.5, 1.5)
    layer.params["beta"][...] = rng.normal(size=channels)
    layer.buffers["running_mean"][...] = rng.normal(0, 0.5, channels)
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, channels)
    return layer.train(train)


def frozen_dropout(rng, shape, p=0.3):
    """A Dropout whose mask is drawn once: every forward of the check drops the same units."""
    layer = Dropout(p, rng=rng)
    return layer.set_mask(dropout_mask(shape, p, rng))


# --------------------------------------------------------------- normalisation
register_layer("BatchNorm1d", lambda r: batchnorm(BatchNorm1d, r, 5), (6, 5))
register_layer("BatchNorm1d(eval)", lambda r: batchnorm(BatchNorm1d, r, 5, train=False), (6, 5))
register_layer("BatchNorm2d", lambda r: batchnorm(BatchNorm2d, r, 3), (2, 3, 3, 5))
register_layer("BatchNorm2d(eval)", lambda r: batchnorm(BatchNorm2d, r, 3, train=False),
               (2, 3, 3, 5))

# ----------------------------------------------------------------------- shape
register_layer("Flatten", lambda r: Flatten(), (3, 2, 3, 2))
register_layer("Unflatten", lambda r: Unflatten((2, 3, 2)), (3, 12))
register_layer("Reshape(alias of Unflatten)", lambda r: Unflatten((4, 3)), (3, 12))
register_layer("Upsample", lambda r: Upsample(2), (2, 3, 3, 4))
register_layer("Upsample(scale_factor=3)", lambda r: Upsample(3), (2, 2, 3, 2))
register_layer("Dropout(frozen mask)", lambda r: frozen_dropout(r, (4, 6)), (4, 6))
