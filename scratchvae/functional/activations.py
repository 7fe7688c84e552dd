"""Elementwise activations: forward/backward pairs with one cache contract.

Every ``*_forward(x, ...)`` returns ``(y, cache)``; every ``*_backward(dy, cache)``
returns ``dx`` (and parameter gradients for the parametric tanh). Shapes are
arbitrary: y and dx have x's shape. Each backward line states dL/dx in terms of
the cached quantities.
"""
from __future__ import annotations

from ..backend import dispatched, get_array_module
from .checks import check_grad
from .numerics import sigmoid, softplus


# ---------------------------------------------------------------------------- ReLU
@dispatched("relu_forward")
def relu_forward(x):
    """y = max(x, 0). Cache: the boolean mask x > 0.

    On the Numba path the gateway runs one fused pass that writes y and the mask
    (kernels/elementwise.py).
    """
    mask = x > 0
    return x * mask, mask


@dispatched("relu_backward")
def relu_backward(dy, mask):
    """dx = dy * 1[x > 0] (the subgradient at 0 is taken as 0)."""
    return dy * mask


# ----------------------------------------------------------------------- LeakyReLU
def leaky_relu_forward(x, negative_slope=0.01):
    """y = x if x > 0 else slope * x. Cache: (mask, slope)."""
    mask = x > 0
    xp = get_array_module(x)
    return xp.where(mask, x, negative_slope * x), (mask, negative_slope)


def leaky_relu_backward(dy, cache):
    """dx = dy * (1 if x > 0 else slope)."""
    mask, slope = cache
    check_grad(dy, mask.shape, "leaky_relu_backward")
    xp = get_array_module(dy)
    return xp.where(mask, dy, slope * dy)


# ---------------------------------------------------------------------------- Tanh
def tanh_forward(x):
    """y = tanh(x). Cache: y (the derivative is a function of y alone)."""
    xp = get_array_module(x)
    y = xp.tanh(x)
    return y, y


def tanh_backward(dy, y):
    """dx = dy * (1 - y^2)."""
    check_grad(dy, y.shape, "tanh_backward")
    return dy * (1 - y * y)


# ------------------------------------------------------------------------- Sigmoid
def sigmoid_forward(x):
    """y = 1 / (1 + e^{-x}) in its overflow-free form. Cache: y."""
    y = sigmoid(x)
    return y, y


def sigmoid_backward(dy, y):
    """dx = dy * y * (1 - y)."""
    check_grad(dy, y.shape, "sigmoid_backward")
    return dy * y * (1 - y)


# ------------------------------------------------------------------------ Softplus
def softplus_forward(x):
    """y = log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}). Cache: x."""
    return softplus(x), x


def softplus_backward(dy, x):
    """dx = dy * sigmoid(x)   (d/dx log(1 + e^x) = e^x / (1 + e^x))."""
    check_grad(dy, x.shape, "softplus_backward")
    return dy * sigmoid(x)


# ------------------------------------------------------------- Parametric tanh
def ptanh_forward(x, a, b):
    """Parametric tanh  y = a * tanh(b * x), with learnable amplitude a and slope b.

    Ko & Ko use a "parametric hyperbolic tangent" in their encoder and
    decoder; this is the standard two-parameter form (LeCun's 1.7159·tanh(2x/3) is
    the fixed special case a = 1.7159, b = 2/3).

    Args:
        x: (..., M) input.
        a, b: (M,) per-feature parameters (or shape (1,) shared by all features),
              broadcast along the last axis.
    Returns:
        y: (..., M), cache ``(x, t, a, b)`` with t = tanh(b * x).
    """
    xp = get_array_module(x)
    t = xp.tanh(b * x)
    return a * t, (x, t, a, b)


def ptanh_backward(dy, cache):
    """Gradients of y = a * tanh(b x), with t = tanh(b x) and dt/du = 1 - t^2:

        dx = dy * a * b * (1 - t^2)
        da = sum over all but the last axis of  dy * t
        db = sum over all but the last axis of  dy * a * x * (1 - t^2)

    A shared (shape (1,)) parameter also sums over the last axis.
    Returns ``(dx, da, db)`` with da, db shaped like a, b.
    """
    x, t, a, b = cache
    check_grad(dy, t.shape, "ptanh_backward")
    sech2 = 1 - t * t                                   # d tanh(u)/du at u = b x
    dx = dy * (a * b) * sech2
    lead = tuple(range(dy.ndim - 1))
    da = (dy * t).sum(axis=lead)                        # (M,)
    db = (dy * a * x * sech2).sum(axis=lead)            # (M,)
    if a.shape[-1] == 1 and dy.shape[-1] != 1:          # one parameter shared by all features
        da, db = da.sum(keepdims=True), db.sum(keepdims=True)
    return dx, da, db


# ------------------------------------------------------------------------ HardTanh
def hardtanh_forward(x, low=-1.0, high=1.0):
    """y = min(max(x, low), high), the clamp to [low, high]. Cache: the boolean mask of
    the entries strictly inside (low, high), where y = x."""
    xp = get_array_module(x)
    mask = (x > low) & (x < high)
    return xp.clip(x, low, high), mask


def hardtanh_backward(dy, mask):
    """dx = dy * 1[low < x < high]: 1 inside the interval, 0 where the clamp holds y at a
    bound (the subgradient at a bound itself is taken as 0)."""
    check_grad(dy, mask.shape, "hardtanh_backward")
    return dy * mask
