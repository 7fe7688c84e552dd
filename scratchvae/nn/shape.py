"""Layers that move values around without learning anything: Flatten, Unflatten
(a.k.a. Reshape), nearest-neighbour Upsample and Dropout.

Notation: N batch size, D = prod(shape) features, C channels, H, W spatial sizes.

    Flatten()                 (N, *shape) -> (N, D)
    Unflatten(shape)          (N, D)      -> (N, *shape)
    Upsample(scale_factor=s)  (N, C, H, W) -> (N, C, s·H, s·W)
    Dropout(p)                any shape, y = x ⊙ mask / (1 − p) in training, y = x in eval
"""
from __future__ import annotations

import numbers

import numpy as np

from ..backend import device_of, to_device
from ..errors import ConfigError, ShapeError
from ..functional import shape as F
from ..functional.checks import check_seed
from ..rng import as_rng
from .module import Module


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1·d2·...): keeps the batch axis, merges the rest.

    Backward reshapes the gradient back to the input's shape.
    """

    def forward(self, x):
        self._check_float_input(x)
        if x.ndim < 2:
            raise ShapeError(f"Flatten expects input of shape (N, ...) with at least 2 "
                             f"dimensions, got {tuple(x.shape)}; for one example use x[None]")
        return self._keep(x.reshape(x.shape[0], -1), tuple(x.shape))

    def backward(self, dy):
        return dy.reshape(self._pop_cache(dy))


class Unflatten(Module):
    """(N, D) -> (N, *shape), the inverse of :class:`Flatten` (exported as ``Reshape`` too).

    Args:
        shape: the per-example shape, e.g. (C, H, W); D must equal its product.
    """

    def __init__(self, shape):
        super().__init__()
        shape = (shape,) if isinstance(shape, numbers.Integral) else \
            tuple(shape) if isinstance(shape, (tuple, list)) else shape
        if not isinstance(shape, tuple) or not shape or any(
                isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1 for d in shape):
            raise ConfigError(f"Unflatten needs a non-empty shape of positive sizes, e.g. "
                              f"(1, 28, 28), got {shape!r}")
        self.shape = tuple(int(d) for d in shape)
        self.size = int(np.prod(self.shape))

    def forward(self, x):
        self._check_float_input(x)
        if x.ndim != 2 or x.shape[1] != self.size:
            raise ShapeError(f"Unflatten{self.shape} expects input of shape (N, {self.size}) "
                             f"({' x '.join(map(str, self.shape))} = {self.size} features), "
                             f"got {tuple(x.shape)}")
        return self._keep(x.reshape((x.shape[0],) + self.shape), tuple(x.shape))

    def backward(self, dy):
        return dy.reshape(self._pop_cache(dy))

    def extra_repr(self):
        return f"shape={self.shape}"


Reshape = Unflatten


class Upsample(Module):
    """Nearest-neighbour upsampling by an integer factor along every spatial axis.

    Args:
        scale_factor: integer s >= 1.

    Input (N, C, H, W) -> output (N, C, s·H, s·W); (N, C, L) and (N, C, D, H, W)
    work the same way. Backward sums each s×s block of the gradient.
    """

    def __init__(self, scale_factor: int = 2):
        super().__init__()
        if isinstance(scale_factor, bool) or not isinstance(scale_factor, numbers.Integral) \
                or scale_factor < 1:
            raise ConfigError(f"Upsample needs an integer scale_factor >= 1, got {scale_factor!r}; "
                              f"e.g. Upsample(2) doubles H and W")
        self.scale_factor = int(scale_factor)

    def forward(self, x):
        self._check_float_input(x)
        if x.ndim < 3:
            raise ShapeError(f"Upsample expects input of shape (N, C, H, W) (or (N, C, L), "
                             f"(N, C, D, H, W)), got {tuple(x.shape)}")
        return self._keep(*F.upsample_nearest_forward(x, self.scale_factor))

    def backward(self, dy):
        # _pop_cache checks dy against the output's shape, (N, C, s·H, s·W)
        return F.upsample_nearest_backward(dy, self._pop_cache(dy))

    def extra_repr(self):
        return f"scale_factor={self.scale_factor}"


_EVAL = object()    # Dropout's cache in eval mode: backward is the identity


class Dropout(Module):
    """Inverted dropout: y = x ⊙ mask / (1 − p) in training, y = x in eval mode.

    Args:
        p: drop probability in [0, 1).
        rng: ``numpy.random.Generator`` or seed the masks are drawn from
            (one seed → the same sequence of masks).

    Masks. ``mask`` is None by default: every training forward then draws a fresh
    keep-mask (entries 1 with probability 1 − p) from ``rng``. ``set_mask(m)``
    freezes ``m`` (shaped like the input, entries in {0, 1}): every following
    training forward uses it, and draws nothing, until ``set_mask(None)``. Freezing
    is how a gradient check, or a reproduction of one step, removes the randomness.
    """

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p < 1.0:
            raise ConfigError(f"Dropout needs a probability p in [0, 1), got {p!r}; "
                              f"p is the fraction of inputs dropped (e.g. 0.5)")
        self.p = float(p)
        self.rng = as_rng(check_seed(rng, "rng"))
        self.mask = None

    def set_mask(self, mask):
        """Freeze ``mask`` for the following training forwards (None: draw again)."""
        if mask is not None and not hasattr(mask, "shape"):
            raise ConfigError(f"a dropout mask must be an array shaped like the input, got "
                              f"{type(mask).__name__}")
        if mask is not None and not ((mask == 0) | (mask == 1)).all():
            raise ConfigError("a dropout mask holds only 0 and 1 (it is scaled by 1/(1-p) "
                              "inside the layer; do not pre-scale it)")
        self.mask = mask
        return self

    def forward(self, x):
        self._check_float_input(x)
        if not self.training:
            return self._keep(x, _EVAL)
        if self.mask is None:
            mask = F.dropout_mask(x.shape, self.p, self.rng)
            if device_of(x) != "cpu":
                mask = to_device(mask, device_of(x))
        else:
            mask = self.mask
            if tuple(mask.shape) != tuple(x.shape):
                raise ShapeError(f"the frozen dropout mask has shape {tuple(mask.shape)}, "
                                 f"the input {tuple(x.shape)}; set_mask(None) to draw masks")
        return self._keep(*F.dropout_forward(x, mask, self.p))

    def backward(self, dy):
        cache = self._pop_cache(dy)
        return dy if cache is _EVAL else F.dropout_backward(dy, cache)

    def extra_repr(self):
        return f"p={self.p}"
