"""Fully connected layer (PyTorch's ``nn.Linear`` with the weight stored (in, out))."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..functional.checks import check_dtype, check_int, check_seed
from ..functional.linear import linear_backward, linear_forward
from .module import Module
from ..rng import as_rng


def _linear_fix(shape, d: int) -> str:
    """The likely fix for an input of ``shape`` to a layer of d inputs, or ""."""
    if len(shape) == 1 and shape[0] == d:
        return "; for one example add the batch axis: x[None]"
    if len(shape) > 2 and int(np.prod(shape[1:])) == d:
        return "; flatten each example: x.reshape(len(x), -1)"
    return ""


class Linear(Module):
    """y = x @ W + b.

    Args:
        in_features: D.
        out_features: M.
        bias: add a learnable bias b (M,).
        rng: ``numpy.random.Generator`` or seed for the initialisation.
        dtype: float32 (default) or float64.

    Parameters: ``params["W"]`` (D, M), ``params["b"]`` (M,). Both are drawn from
    U(-1/sqrt(D), 1/sqrt(D)), PyTorch's default for ``nn.Linear``.
    Input (N, D) → output (N, M).
    """

    skips_input_grad = True

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng=None, dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        in_features = check_int(in_features, f"{name} in_features", 1,
                                hint=f"{name} needs positive sizes")
        out_features = check_int(out_features, f"{name} out_features", 1,
                                 hint=f"{name} needs positive sizes")
        dtype = check_dtype(dtype)
        self.in_features, self.out_features = in_features, out_features
        rng = as_rng(check_seed(rng, "rng"))
        bound = 1.0 / np.sqrt(in_features)
        self.add_param("W", rng.uniform(-bound, bound, (in_features, out_features)).astype(dtype))
        if bias:
            self.add_param("b", rng.uniform(-bound, bound, (out_features,)).astype(dtype))

    def forward(self, x):
        self._check_rows(x)
        return self._keep(*linear_forward(x, self.params["W"], self.params.get("b")))

    def backward(self, dy, input_grad: bool = True):
        """dL/dx (N, D) — or None with ``input_grad=False`` — and dW, db added to grads."""
        # dW goes straight into grads["W"] (matmul_add), db is added after
        dx, _, db = linear_backward(dy, self._pop_cache(dy), input_grad,
                                    dW_into=self.grads["W"])
        if db is not None:
            self.grads["b"] += db
        return dx

    def _check_rows(self, x):
        """Refuse an input that is not a floating (N, D) array, naming the likely fix."""
        self._check_float_input(x)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ShapeError(f"{type(self).__name__}({self.in_features}, {self.out_features}) "
                             f"expects input of shape (N, {self.in_features}), got "
                             f"{tuple(x.shape)}{_linear_fix(x.shape, self.in_features)}")

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={'b' in self.params}"
