"""Activation layers: thin owners of the cache around ``functional.activations``."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from ..functional import activations as F
from ..functional.checks import check_dtype, check_int, check_real
from .module import Module


class _Elementwise(Module):
    """An activation with no parameters: forward stores the cache, backward uses it."""

    _fwd = None   # staticmethod(x -> (y, cache))
    _bwd = None   # staticmethod((dy, cache) -> dx)

    def forward(self, x):
        self._check_float_input(x)
        return self._keep(*type(self)._fwd(x))

    def backward(self, dy):
        return type(self)._bwd(dy, self._pop_cache(dy))


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
        self._check_float_input(x)
        return self._keep(x, True)            # no cache but the output's shape

    def backward(self, dy):
        self._pop_cache(dy)
        return dy


class LeakyReLU(Module):
    """y = x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = check_real(negative_slope, "LeakyReLU negative_slope")

    def forward(self, x):
        self._check_float_input(x)
        return self._keep(*F.leaky_relu_forward(x, self.negative_slope))

    def backward(self, dy):
        return F.leaky_relu_backward(dy, self._pop_cache(dy))

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
        if num_features is not None:
            num_features = check_int(num_features, "ParametricTanh num_features", 1,
                                     hint="or None for one (a, b) pair shared by all features")
        a, b = check_real(a, "ParametricTanh a"), check_real(b, "ParametricTanh b")
        dtype = check_dtype(dtype)
        self.num_features = num_features
        size = 1 if num_features is None else int(num_features)
        self.add_param("a", np.full(size, a, dtype=dtype))
        self.add_param("b", np.full(size, b, dtype=dtype))

    def forward(self, x):
        self._check_float_input(x)
        if self.num_features is not None and x.shape[-1] != self.num_features:
            raise ShapeError(f"ParametricTanh({self.num_features}) expects inputs with "
                             f"{self.num_features} features in the last axis, got {tuple(x.shape)}")
        return self._keep(*F.ptanh_forward(x, self.params["a"], self.params["b"]))

    def backward(self, dy):
        dx, da, db = F.ptanh_backward(dy, self._pop_cache(dy))
        self.grads["a"] += da
        self.grads["b"] += db
        return dx

    def extra_repr(self):
        return f"num_features={self.num_features}"


ACTIVATIONS = {
    "relu": ReLU, "leaky_relu": LeakyReLU, "tanh": Tanh, "sigmoid": Sigmoid,
    "softplus": Softplus, "ptanh": ParametricTanh, "identity": Identity,
}


def activation_key(name: str) -> str:
    """The table key of an activation name (case and "-"/"_" ignored); ConfigError,
    listing the known names, for anything else."""
    key = name.lower().replace("-", "_") if isinstance(name, str) else None
    if key not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return key


def make_activation(name: str, num_features: int | None = None, dtype=np.float32) -> Module:
    """Build an activation layer by name (``"relu"``, ``"ptanh"``, ...)."""
    key = activation_key(name)
    if key == "ptanh":
        return ParametricTanh(num_features, dtype=dtype)
    return ACTIVATIONS[key]()
