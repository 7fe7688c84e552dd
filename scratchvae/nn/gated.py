"""Gated dense layer h = (x W + b) ⊙ σ(x V + c), the owner of ``functional.gated``'s op.

The gate σ(x V + c) is the layer's nonlinearity: a gated MLP is GatedLinear → GatedLinear
→ … → Linear, with no activation layers between (``models/blocks.py::mlp(gated=True)``).
"""
from __future__ import annotations

import numpy as np

from ..functional.checks import check_seed
from ..functional.gated import gated_backward, gated_forward
from .linear import Linear
from ..rng import as_rng


class GatedLinear(Linear):
    """h = (x @ W + b) ⊙ sigmoid(x @ V + c): a Linear whose output a second affine map of
    the same input gates.

    Args:
        in_features: D.
        out_features: M.
        bias: add learnable biases b and c (M,) to the value and the gate.
        rng: ``numpy.random.Generator`` or seed for the initialisation.
        dtype: float32 (default) or float64.

    Parameters: ``params["W"]``, ``params["V"]`` (D, M) and ``params["b"]``,
    ``params["c"]`` (M,), each drawn from U(-1/sqrt(D), 1/sqrt(D)) as
    :class:`~scratchvae.nn.Linear`'s are, from one generator in the order W, b, V, c
    (W and b are the Linear's own). Input (N, D) → output (N, M).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng=None, dtype=np.float32):
        rng = as_rng(check_seed(rng, "rng"))        # one stream for W, b and then V, c
        super().__init__(in_features, out_features, bias, rng, dtype)
        W = self.params["W"]
        bound = 1.0 / np.sqrt(self.in_features)
        self.add_param("V", rng.uniform(-bound, bound, W.shape).astype(W.dtype))
        if bias:
            self.add_param("c", rng.uniform(-bound, bound, (self.out_features,)).astype(W.dtype))

    def forward(self, x):
        self._check_rows(x)
        p = self.params
        return self._keep(*gated_forward(x, p["W"], p.get("b"), p["V"], p.get("c")))

    def backward(self, dy, input_grad: bool = True):
        """dL/dx (N, D) — or None with ``input_grad=False`` — and dW, db, dV, dc added to
        grads."""
        dx, dW, db, dV, dc = gated_backward(dy, self._pop_cache(dy), input_grad)
        self.grads["W"] += dW
        self.grads["V"] += dV
        if db is not None:
            self.grads["b"] += db
            self.grads["c"] += dc
        return dx
