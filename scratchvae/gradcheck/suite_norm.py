"""Registry entries for the normalisation and shape layers (BatchNorm, Flatten,
Unflatten, Upsample, Dropout); importing this module adds them to ``CHECKS``.

Same standard as :mod:`scratchvae.gradcheck.suite`: float64, eps 1e-6, rtol 1e-6,
no atol, a random upstream gradient, parameters checked like inputs.

Why BatchNorm in training mode can be checked at all: the checker calls
``forward`` hundreds of times, and each training forward updates the running
statistics. The training-mode output depends only on the batch statistics, never
on the running ones, so the drifting buffers change nothing that is differentiated.
(The eval-mode entries use the running statistics, which eval never updates.)
γ and β are random, not ones/zeros, so that a backward that confuses γ with 1 or
drops β fails; with a random upstream gradient dx is far from zero.
"""
from __future__ import annotations

import numpy as np

from ..functional.shape import dropout_mask
from ..nn.batchnorm import BatchNorm1d, BatchNorm2d
from ..nn.shape import Dropout, Flatten, Unflatten, Upsample
from .suite import _away_from_zero, _layer


def _batchnorm(cls, rng, channels, train=True):
    """A BatchNorm with random γ (|γ| in [0.5, 1.5]) and β, and random running statistics."""
    layer = cls(channels, dtype=np.float64)
    layer.params["gamma"][...] = _away_from_zero(rng, (channels,), 0.5, 1.5)
    layer.params["beta"][...] = rng.normal(size=channels)
    layer.buffers["running_mean"][...] = rng.normal(0, 0.5, channels)
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, channels)
    return layer.train(train)


def _dropout(rng, shape, p=0.3):
    layer = Dropout(p, rng=rng)
    return layer.set_mask(dropout_mask(shape, p, rng))     # frozen: the check is deterministic


# --------------------------------------------------------------- normalisation
_layer("BatchNorm1d", lambda r: _batchnorm(BatchNorm1d, r, 5), (6, 5))
_layer("BatchNorm1d(eval)", lambda r: _batchnorm(BatchNorm1d, r, 5, train=False), (6, 5))
_layer("BatchNorm2d", lambda r: _batchnorm(BatchNorm2d, r, 3), (2, 3, 3, 5))
_layer("BatchNorm2d(eval)", lambda r: _batchnorm(BatchNorm2d, r, 3, train=False), (2, 3, 3, 5))

# ----------------------------------------------------------------------- shape
_layer("Flatten", lambda r: Flatten(), (3, 2, 3, 2))
_layer("Unflatten", lambda r: Unflatten((2, 3, 2)), (3, 12))
_layer("Reshape(alias of Unflatten)", lambda r: Unflatten((4, 3)), (3, 12))
_layer("Upsample", lambda r: Upsample(2), (2, 3, 3, 4))
_layer("Upsample(scale_factor=3)", lambda r: Upsample(3), (2, 2, 3, 2))
_layer("Dropout(frozen mask)", lambda r: _dropout(r, (4, 6)), (4, 6))
