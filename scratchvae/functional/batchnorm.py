"""Batch normalisation: forward/backward pairs for training (batch statistics) and
evaluation (running statistics).

Notation: N batch size, C channels (features), H, W spatial sizes. The channel
axis is axis 1; statistics are taken over every other axis:

    (N, C)          BatchNorm1d    axes = (0,)        m = N values per channel
    (N, C, L)       BatchNorm1d    axes = (0, 2)      m = N·L
    (N, C, H, W)    BatchNorm2d    axes = (0, 2, 3)   m = N·H·W

γ, β and the running statistics have shape (C,); inside, they are viewed as
(1, C, 1, ...) to broadcast against x.

Training mode, per channel c over its m values (biased variance, as PyTorch):

    μ  = mean(x)                  σ² = mean((x − μ)²)        σ = sqrt(σ² + eps)
    x̂  = (x − μ) / σ               y  = γ x̂ + β

Backward, given dy (shaped like x), with mean(·) over the same m values:

    dβ = Σ dy                      dγ = Σ dy ⊙ x̂
    dx = (γ / σ) · (dy − mean(dy) − x̂ · mean(dy ⊙ x̂))

Evaluation mode is a fixed per-channel affine map (no batch coupling):

    x̂ = (x − running_mean) / sqrt(running_var + eps),   y = γ x̂ + β
    dx = dy · γ / sqrt(running_var + eps),   dγ = Σ dy ⊙ x̂,   dβ = Σ dy
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module
from ..errors import ShapeError
from .checks import check_array, check_grad


def _check_bn_operands(op, x, gamma, beta, *stats):
    """x (N, C, ...) floating, at least 2-D; γ, β and the statistics (C,) or None; O(1)."""
    check_array(x, f"{op} x", min_ndim=2, layout="(N, C, ...)", dtypes=None)
    C = x.shape[1]
    for name, v in (("gamma", gamma), ("beta", beta)) + stats:
        if v is not None and tuple(getattr(v, "shape", ())) != (C,):
            raise ShapeError(f"{op}: {name} must have shape ({C},), one value per channel of x "
                             f"{tuple(x.shape)}, got {getattr(v, 'shape', type(v).__name__)}")
    if (gamma is None) != (beta is None):
        raise ShapeError(f"{op}: pass gamma and beta both, or both None (no affine map)")


def stat_axes(ndim: int) -> tuple[int, ...]:
    """The axes batch statistics run over: every axis but the channel axis 1."""
    return (0,) + tuple(range(2, ndim))


def _per_channel(v, ndim: int):
    """View a (C,) vector as (1, C, 1, ...) so that it broadcasts against x."""
    return None if v is None else v.reshape((1, -1) + (1,) * (ndim - 2))


class BatchNormCache(NamedTuple):
    """What ``batchnorm_forward`` keeps for the backward.

    ``mean`` and ``var`` (the biased batch variance) are the batch statistics, (C,);
    a layer reads them to update its running statistics.
    """
    xhat: object          # (N, C, ...)   normalised input
    inv_std: object       # (1, C, 1, ...) 1 / sqrt(σ² + eps)
    gamma: object         # (1, C, 1, ...) or None without an affine map
    axes: tuple           # the statistic axes
    mean: object          # (C,) batch mean μ
    var: object           # (C,) biased batch variance σ²
    count: int            # m, values per channel


# ------------------------------------------------------------------ training mode
def batchnorm_forward(x, gamma, beta, eps=1e-5, axes=None):
    """y = γ (x − μ) / sqrt(σ² + eps) + β with the statistics of this batch.

    Args:
        x: (N, C) or (N, C, L) or (N, C, H, W) input.
        gamma, beta: (C,) scale and shift, or both None (no affine map).
        eps: added to the variance before the square root.
        axes: statistic axes; None means every axis but 1 (``stat_axes``).
    Returns:
        y shaped like x, and a :class:`BatchNormCache` (which also carries the
        batch mean and biased variance, (C,)).
    """
    _check_bn_operands("batchnorm_forward", x, gamma, beta)
    xp = get_array_module(x)
    axes = stat_axes(x.ndim) if axes is None else tuple(axes)
    count = 1
    for a in axes:
        count *= x.shape[a]
    mu = x.mean(axis=axes, keepdims=True)                   # (1, C, 1, ...)
    xc = x - mu                                             # centred input
    var = (xc * xc).mean(axis=axes, keepdims=True)  # biased (÷ m), two-pass: stable
    inv_std = 1.0 / xp.sqrt(var + eps)                      # (1, C, 1, ...)
    xhat = xc * inv_std                                     # (N, C, ...)
    g, b = _per_channel(gamma, x.ndim), _per_channel(beta, x.ndim)
    y = xhat if g is None else xhat * g + b
    cache = BatchNormCache(xhat, inv_std, g, axes, mu.reshape(-1), var.reshape(-1), count)
    return y, cache


def batchnorm_backward(dy, cache):
    """Gradients of ``batchnorm_forward``.

    With dx̂ = γ dy and m values per channel, the chain rule through μ and σ gives

        dx = (1/σ) · ( dx̂                       direct path: x̂ = (x − μ)/σ
                     − mean(dx̂)                 through μ: every x moves μ by 1/m
                     − x̂ · mean(dx̂ ⊙ x̂) )       through σ: ∂σ/∂x = x̂ / m

    and since γ is constant within a channel, (γ/σ)(dy − mean(dy) − x̂ mean(dy ⊙ x̂)).
    The formula is exact for eps > 0 (σ = sqrt(σ² + eps) still has ∂σ/∂x = x̂/m).
    Adding a constant to every x of a channel leaves y unchanged, so Σ dx = 0 per
    channel; with eps = 0 scaling about the mean does too, and then also Σ dx ⊙ x̂ = 0.

    Args:
        dy: upstream gradient, shaped like x.
        cache: from ``batchnorm_forward``.
    Returns:
        dx shaped like x, dgamma (C,), dbeta (C,); dgamma, dbeta are None when the
        forward had no affine map.
    """
    xhat, inv_std, g, axes = cache.xhat, cache.inv_std, cache.gamma, cache.axes
    check_grad(dy, xhat.shape, "batchnorm_backward")
    dxhat = dy if g is None else dy * g                     # dL/dx̂
    mean_d = dxhat.mean(axis=axes, keepdims=True)           # mean(dx̂): the μ term
    mean_dx = (dxhat * xhat).mean(axis=axes, keepdims=True)  # mean(dx̂ ⊙ x̂): the σ term
    dx = inv_std * (dxhat - mean_d - xhat * mean_dx)        # (N, C, ...)
    if g is None:
        return dx, None, None
    dgamma = (dy * xhat).sum(axis=axes)                     # dL/dγ_c = Σ dy ⊙ x̂   (C,)
    dbeta = dy.sum(axis=axes)                               # dL/dβ_c = Σ dy       (C,)
    return dx, dgamma, dbeta


# ---------------------------------------------------------------- evaluation mode
def batchnorm_eval(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """y = γ (x − running_mean) / sqrt(running_var + eps) + β, a per-channel affine map.

    Args:
        x: (N, C) or (N, C, L) or (N, C, H, W) input.
        gamma, beta: (C,) or both None.
        running_mean, running_var: (C,) statistics gathered in training.
    Returns:
        y shaped like x, cache ``(xhat, scale, axes, has_affine)`` with
        scale = γ / sqrt(running_var + eps) viewed as (1, C, 1, ...).
    """
    _check_bn_operands("batchnorm_eval", x, gamma, beta, ("running_mean", running_mean),
                       ("running_var", running_var))
    xp = get_array_module(x)
    nd = x.ndim
    inv_std = 1.0 / xp.sqrt(_per_channel(running_var, nd) + eps)   # (1, C, 1, ...)
    xhat = (x - _per_channel(running_mean, nd)) * inv_std           # (N, C, ...)
    g, b = _per_channel(gamma, nd), _per_channel(beta, nd)
    if g is None:
        return xhat, (xhat, inv_std, stat_axes(nd), False)
    return xhat * g + b, (xhat, g * inv_std, stat_axes(nd), True)


def batchnorm_eval_backward(dy, cache):
    """Gradients of ``batchnorm_eval``: the statistics are constants here, so

        dx = dy · γ / sqrt(running_var + eps)     dγ = Σ dy ⊙ x̂     dβ = Σ dy

    Returns ``(dx, dgamma, dbeta)``; dgamma, dbeta are None without an affine map.
    """
    xhat, scale, axes, has_affine = cache
    check_grad(dy, xhat.shape, "batchnorm_eval_backward")
    dx = dy * scale                                         # (N, C, ...)
    if not has_affine:
        return dx, None, None
    return dx, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)
