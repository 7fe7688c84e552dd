"""Gated layers: a value and a gate computed by the same kind of affine map of the same
input, h = A(x; W, b) ⊙ σ(A(x; V, c)) — the gated dense layer (A = x W + b, the owner of
``functional.gated``'s op) and the gated convolutions (A = a convolution or a transposed
convolution, as in the VampPrior paper's ConvHVAE).

The gate is the layer's nonlinearity: a gated network has no activation layers between
its gated layers (``models/blocks.py::mlp(gated=True)``).

Backward of a gated convolution, with (a, g) the value and the gate of the forward and
the gate's (da, dp) = (dh ⊙ g, dh ⊙ a ⊙ g(1 − g)) (``functional.gated.gate_backward``):

    dx, dW, db  = conv_backward(da)     the value's convolution
    dx', dV, dc = conv_backward(dp)     the gate's convolution
    dL/dx       = dx + dx'              x feeds both
"""
from __future__ import annotations

import numpy as np

from ..functional.checks import check_seed
from ..functional.conv import (
    conv2d_backward, conv2d_forward, conv_transpose2d_backward, conv_transpose2d_forward,
)
from ..functional.gated import gate_backward, gate_forward, gated_backward, gated_forward
from .conv import Conv2d, ConvTranspose2d
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
        g = self.grads                  # dW, dV go straight into g (matmul_add)
        dx, _, db, _, dc = gated_backward(dy, self._pop_cache(dy), input_grad,
                                          dW_into=g["W"], dV_into=g["V"])
        if db is not None:
            self.grads["b"] += db
            self.grads["c"] += dc
        return dx


class _GatedConv:
    """The gate over a convolution layer's own op: parameters V, c beside its W, b (drawn
    after them, from the same bound), and forward/backward through ``_ops`` twice."""

    _ops = None      # (forward(x, W, b, *geometry) -> (y, cache), backward(dy, cache, ig))

    def _add_gate(self, rng):
        W = self.params["W"]
        bound = 1.0 / np.sqrt(np.prod(W.shape[1:]))       # the W's fan: W.shape[1]·KH·KW
        self.add_param("V", rng.uniform(-bound, bound, W.shape).astype(W.dtype))
        if "b" in self.params:
            self.add_param("c", rng.uniform(-bound, bound, self.params["b"].shape)
                           .astype(W.dtype))

    def forward(self, x):
        self._check_input(x)
        fwd, p = type(self)._ops[0], self.params
        a, value_cache = fwd(x, p["W"], p.get("b"), *self._geometry())    # the value
        pre, gate_cache = fwd(x, p["V"], p.get("c"), *self._geometry())   # the gate's input
        h, gate = gate_forward(a, pre)                                     # a ⊙ σ(pre)
        return self._keep(h, (value_cache, gate_cache, gate))

    def backward(self, dy, input_grad: bool = True):
        """dL/dx — or None with ``input_grad=False`` — and dW, db, dV, dc added to grads."""
        bwd = type(self)._ops[1]
        value_cache, gate_cache, gate = self._pop_cache(dy)
        da, dp = gate_backward(dy, gate, f"{type(self).__name__}.backward")
        dx, dW, db = bwd(da, value_cache, input_grad)
        dx_gate, dV, dc = bwd(dp, gate_cache, input_grad)
        for name, g in (("W", dW), ("b", db), ("V", dV), ("c", dc)):
            if g is not None:
                self.grads[name] += g
        return dx + dx_gate if input_grad else None


class GatedConv2d(_GatedConv, Conv2d):
    """h = (conv2d(x, W) + b) ⊙ σ(conv2d(x, V) + c), NCHW: a Conv2d gated by a second one.

    Args: those of :class:`~scratchvae.nn.conv.Conv2d`. Parameters: W, b as the Conv2d's
    and V (F, C, KH, KW), c (F,) drawn after them from the same U(±1/√(C·KH·KW)).
    Input (N, C, H, W) → output (N, F, OH, OW).
    """

    _ops = (conv2d_forward, conv2d_backward)

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, rng=None, dtype=np.float32):
        rng = as_rng(check_seed(rng, "rng"))            # one stream: W, b, then V, c
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias, rng,
                         dtype)
        self._add_gate(rng)

    def _geometry(self):
        return self.stride, self.padding


class GatedConvTranspose2d(_GatedConv, ConvTranspose2d):
    """h = (conv_transpose2d(x, W) + b) ⊙ σ(conv_transpose2d(x, V) + c), NCHW.

    Args: those of :class:`~scratchvae.nn.conv.ConvTranspose2d`. Parameters: W, b as its,
    and V (C_in, C_out, KH, KW), c (C_out,) drawn after them from the same bound.
    """

    _ops = (conv_transpose2d_forward, conv_transpose2d_backward)

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, bias: bool = True, rng=None, dtype=np.float32):
        rng = as_rng(check_seed(rng, "rng"))
        super().__init__(in_channels, out_channels, kernel_size, stride, padding,
                         output_padding, bias, rng, dtype)
        self._add_gate(rng)

    def _geometry(self):
        return self.stride, self.padding, self.output_padding
