"""Activation layers: thin owners of the cache around ``functional.activations``."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..functional import activations as F
from .module import Module


class _Elementwise(Module):
    """An activation with no parameters: forward stores the cache, backward uses it."""

    _fwd = None   # staticmethod(x -> (y, cache))
    _bwd = None   # staticmethod((dy, cache) -> dx)

    def forward(self, x):
        y, self._cache = type(self)._fwd(x)
        return y

    def backward(self, dy):
        return type(self)._bwd(dy, self._pop_cache())


class ReLU(_Elementwise):
    """y = max(x, 0)."""
    _fwd = staticmethod(F.relu_forward)
    _bwd = staticmethod(F.relu_backward)


class Tanh(_Elementwise):
    """y = tanh(x)."""
    _fwd = staticmethod(F.tanh_forward)
    _bwd = staticmethod(F.tanh_backward)


class Sigmoid(_Elementwise):
    """y = 1 / (1 + exp(-x)), overflow-free."""
    _fwd = staticmethod(F.sigmoid_forward)
    _bwd = staticmethod(F.sigmoid_backward)


class Softplus(_Elementwise):
    """y = log(1 + exp(x)), overflow-free."""
    _fwd = staticmethod(F.softplus_forward)
    _bwd = staticmethod(F.softplus_backward)


class Identity(Module):
    """y = x (a placeholder that keeps layer lists uniform)."""

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy


class LeakyReLU(Module):
    """y = x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        y, self._cache = F.leaky_relu_forward(x, self.negative_slope)
        return y

    def backward(self, dy):
        return F.leaky_relu_backward(dy, self._pop_cache())

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ParametricTanh(Module):
    """y = a * tanh(b * x) with learnable amplitude ``a`` and slope ``b``.

    The activation of Ko & Ko's networks (their "parametric hyperbolic tangent").

    Args:
        num_features: M, one (a, b) pair per feature along the last axis; ``None``
            shares a single pair across all features.
        a, b: initial values (1, 1 gives plain tanh).

    Parameters: ``params["a"]``, ``params["b"]`` of shape (M,) or (1,).
    """

    def __init__(self, num_features: int | None = None, a: float = 1.0, b: float = 1.0,
                 dtype=np.float32):
        super().__init__()
        self.num_features = num_features
        size = 1 if num_features is None else int(num_features)
        self.add_param("a", np.full(size, a, dtype=dtype))
        self.add_param("b", np.full(size, b, dtype=dtype))

    def forward(self, x):
        if self.num_features is not None and x.shape[-1] != self.num_features:
            raise ShapeError(f"ParametricTanh({self.num_features}) expects inputs with "
                             f"{self.num_features} features in the last axis, got {tuple(x.shape)}")
        y, self._cache = F.ptanh_forward(x, self.params["a"], self.params["b"])
        return y

    def backward(self, dy):
        dx, da, db = F.ptanh_backward(dy, self._pop_cache())
        self.grads["a"] += da
        self.grads["b"] += db
        return dx

    def extra_repr(self):
        return f"num_features={self.num_features}"


ACTIVATIONS = {
    "relu": ReLU, "leaky_relu": LeakyReLU, "tanh": Tanh, "sigmoid": Sigmoid,
    "softplus": Softplus, "ptanh": ParametricTanh, "identity": Identity,
}


def make_activation(name: str, num_features: int | None = None, dtype=np.float32) -> Module:
    """Build an activation layer by name (``"relu"``, ``"ptanh"``, ...)."""
    key = name.lower().replace("-", "_")
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    if key == "ptanh":
        return ParametricTanh(num_features, dtype=dtype)
    return ACTIVATIONS[key]()
