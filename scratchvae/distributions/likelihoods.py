"""Reconstruction losses: negative log-likelihoods of the data under the decoder.

Each follows the loss contract: ``value, grads = loss(inputs…, reduction="mean")``,
where ``grads`` maps the name of every differentiable input to the gradient of the
returned value (of Σ_n loss_n for reduction "none"). Convention (see :mod:`.reduction`):
**sum over data dimensions, mean over the batch, in nats**. Shapes: x and the decoder output are (N, ...) with the same shape.

Bernoulli from logits l (x ∈ [0, 1], greyscale targets allowed):

    −log p(x|l) = Σ_d [ softplus(l_d) − x_d l_d ]
                = Σ_d [ max(l_d, 0) − x_d l_d + log1p(exp(−|l_d|)) ]     (stable BCE)
    ∂/∂l_d      = sigmoid(l_d) − x_d

Gaussian with mean m and log-variance s (fixed scalar or learned array):

    −log p(x|m, s) = ½ Σ_d [ (x_d − m_d)² e^{−s_d} + s_d + log 2π ]
    ∂/∂m_d = (m_d − x_d) e^{−s_d}
    ∂/∂s_d = ½ [ 1 − (x_d − m_d)² e^{−s_d} ]

Squared error (the Gaussian with σ² = ½ and its constant dropped; the seed
paper's (1/n)‖Z − Z̃‖²_F):

    Σ_d (m_d − x_d)²,    ∂/∂m_d = 2 (m_d − x_d)
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..backend import dispatched, get_array_module
from ..errors import DataError, check_float_array, check_same_shape
from ..functional.numerics import sigmoid
from .reduction import batch_scale, per_sample_sum, reduce_batch, sum_to_shape

LOG_2PI = math.log(2 * math.pi)


def bernoulli_nll(logits, x, reduction: str = "mean"):
    """Binary cross-entropy from logits. Returns ``(loss, {"logits": dlogits})``."""
    check_same_shape(logits, x, "logits", "x")
    scale = batch_scale(logits.shape[0], reduction)
    rows, dlogits = bce_logits(logits, x, scale)                      # (N,), (N, D)
    loss, _ = reduce_batch(rows.astype(logits.dtype, copy=False), reduction)
    return loss, {"logits": dlogits}


@dispatched("bce_logits")
def bce_logits(logits, x, scale):
    """The per-example BCE and its gradient, the kernel behind :func:`bernoulli_nll`:
    rows (N,) = Σ_d [max(l, 0) − x l + log1p(e^{−|l|})] and dlogits (N, D) = (σ(l) − x)·scale.
    On the Numba and CUDA paths one fused pass computes both (rows in float64)."""
    xp = get_array_module(logits)
    elem = xp.maximum(logits, 0) - x * logits + xp.log1p(xp.exp(-xp.abs(logits)))
    return per_sample_sum(elem), (sigmoid(logits) - x) * scale


def gaussian_nll(mean, x, logvar=0.0, reduction: str = "mean"):
    """Gaussian negative log-likelihood.

    Args:
        mean: (N, ...) decoder mean.
        x: (N, ...) data.
        logvar: a float (fixed variance, no gradient) or an array broadcastable to
            ``mean`` — e.g. (N, ...) per-pixel from the decoder, or (D,) learned
            per dimension — whose gradient is returned with its own shape.
    Returns:
        ``(loss, {"mean": dmean, "logvar": dlogvar})``; no "logvar" entry for a fixed
        float variance (a constant has no gradient).
    """
    check_same_shape(mean, x, "mean", "x")
    xp = get_array_module(mean)
    learned = not isinstance(logvar, (int, float))
    inv_var = xp.exp(-logvar) if learned else math.exp(-logvar)
    diff = mean - x
    sq = diff * diff * inv_var                              # (x − m)² / σ²
    elem = 0.5 * (sq + logvar + LOG_2PI)
    loss, scale = reduce_batch(per_sample_sum(elem), reduction)   # elem has x's shape
    dmean = diff * (inv_var * scale)
    dlogvar = sum_to_shape((0.5 * scale) * (1 - sq), logvar.shape) if learned else None
    return loss, ({"mean": dmean} if dlogvar is None else {"mean": dmean, "logvar": dlogvar})


def squared_error(pred, x, reduction: str = "mean"):
    """Σ_d (pred − x)², batch-reduced. Returns ``(loss, {"pred": dpred})``."""
    check_same_shape(pred, x, "pred", "x")
    diff = pred - x
    loss, scale = reduce_batch(per_sample_sum(diff * diff), reduction)
    return loss, {"pred": (2 * scale) * diff}


# --------------------------------------------------------------- the table
def _bernoulli(out, x, logvar=0.0, reduction="mean"):
    loss, grads = bernoulli_nll(out, x, reduction)
    return loss, {"out": grads["logits"]}


def _gaussian(out, x, logvar=0.0, reduction="mean"):
    loss, grads = gaussian_nll(out, x, logvar, reduction)
    return loss, {("out" if k == "mean" else k): g for k, g in grads.items()}


def _mse(out, x, logvar=0.0, reduction="mean"):
    loss, grads = squared_error(out, x, reduction)
    return loss, {"out": grads["pred"]}


def _identity(out):
    return out


def _bernoulli_target_grad(out, x, logvar=0.0):
    return -out / x.shape[0]                                # ∂/∂x [softplus(l) − x·l] = −l


def _gaussian_target_grad(out, x, logvar=0.0):
    xp = get_array_module(x)                                # ∂/∂x ½(x − m)²/v = (x − m)/v
    return (x - out) * xp.exp(-xp.asarray(logvar, dtype=x.dtype)) / x.shape[0]


def _mse_target_grad(out, x, logvar=0.0):
    return -2.0 * (out - x) / x.shape[0]                    # ∂/∂x (m − x)² = −2(m − x)


# ------------------------------------------------ full log-densities, for evaluation
def bernoulli_log_density(out, x, logvar=0.0):
    """log p(x|z) = Σ_d [x_d l_d − softplus(l_d)] of S samples of G images, constants in.

    Args: out (G, S, D) logits (used as scratch space and overwritten), x (G, D).
    Returns: (G, S) float64, nats.
    """
    xp = get_array_module(out)
    # softplus(l) = max(l, 0) + log1p(e^{−|l|}). Each step works in place on one (G, S, D)
    # buffer: on the CPU this loop is bound by memory passes, and the decoder GEMM before
    # it costs about twice as much.
    data_term = xp.einsum("gsd,gd->gs", out, x)                    # (G, S)
    tail = xp.abs(out)                                             # new buffer
    xp.negative(tail, out=tail)
    xp.exp(tail, out=tail)                                         # e^{−|l|} ∈ (0, 1]
    xp.log1p(tail, out=tail)
    soft = tail.sum(axis=2, dtype=np.float64)                      # (G, S)
    xp.maximum(out, 0, out=out)
    soft += out.sum(axis=2, dtype=np.float64)
    return data_term.astype(np.float64) - soft


def gaussian_log_density(out, x, logvar=0.0):
    """log p(x|z) = −½ Σ_d [(x_d − m_d)² e^{−s_d} + s_d + log 2π] of S samples of G images.

    Args: out (G, S, D) means (used as scratch space and overwritten), x (G, D), logvar s
        a float or a (D,) array. Returns: (G, S) float64, nats.
    """
    xp = get_array_module(out)
    D = out.shape[2]
    diff = xp.subtract(out, x[:, None, :], out=out)                    # m − x, (G, S, D)
    xp.multiply(diff, diff, out=diff)
    if isinstance(logvar, (int, float)):
        sq = diff.sum(axis=2, dtype=np.float64) * math.exp(-logvar)    # Σ (x − m)² / σ²
        const = D * (logvar + LOG_2PI)
    else:
        s = xp.asarray(logvar, dtype=np.float64).reshape(D)
        sq = xp.einsum("gsd,d->gs", diff, xp.exp(-s).astype(diff.dtype)).astype(np.float64)
        const = float(s.sum()) + D * LOG_2PI
    return -0.5 * (sq + const)


LOG_HALF = math.log(0.5)      # σ² = ½: the Gaussian behind the "mse" likelihood


def mse_log_density(out, x, logvar=0.0):
    """"mse" (Σ_d (m_d − x_d)², its constant dropped) is the Gaussian with σ² = ½: its full
    density, so the evaluated recon is the training loss plus (D/2) log π."""
    return gaussian_log_density(out, x, LOG_HALF)


@dataclass(frozen=True)
class Likelihood:
    """One decoder output distribution p(x|z), everything a model needs of it.

    ``nll(out, x, logvar=0.0, reduction="mean") -> (value, grads)``
        −log p(x|z) from the decoder output ``out`` (N, D), summed over D and reduced
        over the batch (:mod:`.reduction`); ``grads["out"]`` (N, D) is its gradient
        and, for a learned Gaussian variance (``logvar`` an array), ``grads["logvar"]``.
    ``mean(out)``
        the mean of p(x|z): the image one shows (σ(logits) for Bernoulli).
    ``target_grad(out, x, logvar=0.0)``
        ∂nll/∂x (N, D) with ``out`` held fixed, for reduction "mean": how the loss
        moves when the *target* moves (a model whose input is also its target).
    ``log_density(out, x, logvar=0.0)``
        the full log p(x|z), constants included, of S samples of G images: out (G, S, D),
        x (G, D) → (G, S) float64 — what importance-sampled evaluation sums (``out`` is
        overwritten).
    ``variance``
        whether the likelihood has a variance (a fixed or learned ``logvar``).
    """
    name: str
    nll: Callable
    mean: Callable
    target_grad: Callable
    log_density: Callable
    variance: bool = False


#: likelihood name → :class:`Likelihood`; the one table every model, loss and CLI reads
LIKELIHOODS = {
    "bernoulli": Likelihood("bernoulli", _bernoulli, sigmoid, _bernoulli_target_grad,
                            bernoulli_log_density),
    "gaussian": Likelihood("gaussian", _gaussian, _identity, _gaussian_target_grad,
                           gaussian_log_density, variance=True),
    "mse": Likelihood("mse", _mse, _identity, _mse_target_grad, mse_log_density),
}


def get_likelihood(name: str) -> Likelihood:
    """The table entry for ``name``; a clear error naming the choices otherwise."""
    try:
        return LIKELIHOODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown likelihood {name!r}; choose one of {list(LIKELIHOODS)}") \
            from None


def check_targets(x, likelihood: str):
    """Validate data for a likelihood: float, finite, and in [0, 1] for Bernoulli."""
    check_float_array(x, "x")
    return check_target_range(x, likelihood)


def check_target_range(x, likelihood: str):
    """The likelihood-specific part alone (x already known float and finite)."""
    if likelihood == "bernoulli":
        xp = get_array_module(x)
        lo, hi = float(xp.min(x)), float(xp.max(x))
        if lo < 0 or hi > 1:
            raise DataError(f"the Bernoulli likelihood needs targets in [0, 1], got values in "
                             f"[{lo:.3g}, {hi:.3g}]; rescale the data or use likelihood='gaussian'")
    return x
