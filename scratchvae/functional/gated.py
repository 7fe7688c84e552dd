"""Gated dense unit: forward/backward pair (the gated MLP layer of Dauphin et al., 2017,
which Tomczak & Welling, 2018, use in every network of the VampPrior VAE).

Notation: N batch size, D input features, M output features; σ the logistic sigmoid,
⊙ the elementwise product.

    a = x W + b                        the value:   x (N, D), W (D, M), b (M,)   → (N, M)
    p = x V + c                        the gate's pre-activation, V (D, M), c (M,) → (N, M)
    g = σ(p)                           the gate, in (0, 1)
    h = a ⊙ g                          the output (N, M)

Each unit passes its value a through in the proportion g that the gate, a
second linear map of the same input, lets through: the gate is the nonlinearity, so a
gated layer needs no activation after it.

Backward, given dL/dh = dh (N, M), with dσ(p)/dp = g (1 − g):

    da     = dh ⊙ g                    ∂h/∂a = g
    dp     = dh ⊙ a ⊙ g (1 − g)        ∂h/∂p = a · σ'(p)
    dW     = xᵀ da,   db = Σₙ da       the value's affine map (linear_backward)
    dV     = xᵀ dp,   dc = Σₙ dp       the gate's affine map (linear_backward)
    dx     = da Wᵀ + dp Vᵀ             x feeds both maps, so both paths add

The two affine maps are :func:`~scratchvae.functional.linear.linear_forward` and its
backward, and σ is the overflow-free one of :mod:`.numerics`; nothing here is written
twice. The gate itself — h = a ⊙ σ(p) and its (da, dp) — is :func:`gate_forward` and
:func:`gate_backward`, which the gated convolutions (``nn/gated.py``) put over two
convolutions instead of two affine maps.
"""
from __future__ import annotations

from ..backend import dispatched
from .checks import check_grad
from .linear import linear_backward, linear_forward
from .numerics import sigmoid


@dispatched("gate_forward")
def gate_forward(a, p):
    """h = a ⊙ σ(p) for a value a and a gate pre-activation p of one shape; cache (a, g)."""
    g = sigmoid(p)                                  # g = σ(p) ∈ (0, 1)
    return a * g, (a, g)


def gate_backward(dh, cache, op: str = "gate_backward"):
    """(da, dp) = (dh ⊙ g, dh ⊙ a ⊙ g (1 − g)) for the gate's cache (a, g); ``op`` names
    the caller in the error for a dh of the wrong shape."""
    a, g = cache
    check_grad(dh, a.shape, op, "dh")
    return gate_grads(dh, a, g)


@dispatched("gate_backward")
def gate_grads(dh, a, g):
    """The arithmetic of :func:`gate_backward`, its shapes checked."""
    return dh * g, dh * a * g * (1 - g)             # ∂h/∂a = g,  ∂h/∂p = a · σ'(p)


def gated_forward(x, W, b, V, c):
    """h = (x W + b) ⊙ σ(x V + c).

    Args:
        x: (N, D) input.
        W, V: (D, M) weights of the value and of the gate, stored (in, out) like Linear's.
        b, c: (M,) their biases, or both None.
    Returns:
        h (N, M) and the cache ``(value cache, gate cache, a, g)``.
    """
    a, value_cache = linear_forward(x, W, b)        # a = x W + b        (N, M)
    p, gate_cache = linear_forward(x, V, c)         # p = x V + c        (N, M)
    h, (_, g) = gate_forward(a, p)                  # h = a ⊙ σ(p)       (N, M)
    return h, (value_cache, gate_cache, a, g)


def gated_backward(dh, cache, input_grad: bool = True, dW_into=None, dV_into=None):
    """Gradients of :func:`gated_forward` (module docstring).

    Args:
        dh: (N, M) upstream gradient dL/dh.
        cache: from :func:`gated_forward`.
        input_grad: False skips dx (returned as None) when x is data.
        dW_into, dV_into: optional (D, M) buffers that dW and dV are added into, in
            place (the layer's grads; ``linear_backward``'s ``dW_into``).
    Returns:
        dx (N, D) or None, dW (D, M), db (M,) or None, dV (D, M), dc (M,) or None
        (dW, dV: the buffers when given).
    """
    value_cache, gate_cache, a, g = cache
    da, dp = gate_backward(dh, (a, g), "gated_backward")   # dh ⊙ g, dh ⊙ a ⊙ g (1 − g)
    dx_a, dW, db = linear_backward(da, value_cache, input_grad,    # dW = xᵀ da, db = Σₙ da
                                   dW_into=dW_into)
    dx_g, dV, dc = linear_backward(dp, gate_cache, input_grad,     # dV = xᵀ dp, dc = Σₙ dp
                                   dW_into=dV_into)
    dx = dx_a + dx_g if input_grad else None        # dx = da Wᵀ + dp Vᵀ
    return dx, dW, db, dV, dc
