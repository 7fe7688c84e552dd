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

Input checks. Every loss refuses, with one line naming the argument and the fix:
arrays that are not float32/float64 (uint8 pixels, bool, complex, float16 — too coarse
for a sum over 784 pixels), fewer than 2 dimensions (a batch axis first), an empty
batch, and shapes that differ. These cost O(1). The targets x are data, so they are also
read once: finite, and in [0, 1] for the Bernoulli likelihood (0–255 pixels are refused,
not silently scored) — one or two reductions over x, cheap next to the loss's own
elementwise exp/log work. A caller that has validated x already (every model does, once,
in ``Model.check_input``) passes ``check_data=False`` to skip that pass. The decoder's
outputs are not checked for NaN: a non-finite output gives a non-finite loss, which the
trainer reports with the step it happened at.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..backend import dispatched, get_array_module
from ..errors import ConfigError, DataError, ShapeError, check_float_array
from ..functional.checks import check_array, check_finite, check_same_shapes
from ..functional.numerics import sigmoid
from .reduction import batch_scale, check_reduction, per_sample_sum, reduce_batch, sum_to_shape

LOG_2PI = math.log(2 * math.pi)
F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


def check_pair(pred, x, pred_name: str, x_name: str = "x"):
    """The O(1) checks of a loss's prediction and target (module docstring)."""
    for a, name in ((pred, pred_name), (x, x_name)):
        dtype = getattr(a, "dtype", None)
        if (dtype is F32 or dtype is F64) and a.ndim >= 2 and a.size:
            continue                                        # the common case
        if getattr(a, "ndim", None) == 1 and isinstance(dtype, np.dtype):
            raise ShapeError(f"{name} must have a batch axis first, (N, D) or (N, ...), got shape "
                             f"{tuple(a.shape)}; one example: {name}[None], N scalars: "
                             f"{name}[:, None]")
        check_array(a, name, min_ndim=2, layout="(N, D) or (N, ...)")
    if pred.shape != x.shape:
        check_same_shapes(pred, pred_name, **{x_name: x})


def bernoulli_nll(logits, x, reduction: str = "mean", *, check_data: bool = True):
    """Binary cross-entropy from logits. Returns ``(loss, {"logits": dlogits})``.

    ``logits`` and the targets ``x`` (in [0, 1]) are float arrays of one shape (N, ...);
    ``check_data=False`` skips the range check of x (module docstring)."""
    check_pair(logits, x, "logits")
    check_reduction(reduction)
    if check_data:
        check_target_range(x, "bernoulli")
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


def gaussian_nll(mean, x, logvar=0.0, reduction: str = "mean", *, check_data: bool = True):
    """Gaussian negative log-likelihood.

    Args:
        mean: (N, ...) decoder mean.
        x: (N, ...) data.
        logvar: a float (fixed variance, no gradient) or an array broadcastable to
            ``mean`` — e.g. (N, ...) per-pixel from the decoder, or (D,) learned
            per dimension — whose gradient is returned with its own shape.
        check_data: read x once to check it is finite (False: the caller has).
    Returns:
        ``(loss, {"mean": dmean, "logvar": dlogvar})``; no "logvar" entry for a fixed
        float variance (a constant has no gradient).
    """
    check_pair(mean, x, "mean")
    check_reduction(reduction)
    learned = _check_logvar(logvar, mean)
    if check_data:
        check_finite(x, "x")
    xp = get_array_module(mean)
    inv_var = xp.exp(-logvar) if learned else math.exp(-logvar)
    diff = mean - x
    sq = diff * diff * inv_var                              # (x − m)² / σ²
    elem = 0.5 * (sq + logvar + LOG_2PI)
    loss, scale = reduce_batch(per_sample_sum(elem), reduction)   # elem has x's shape
    dmean = diff * (inv_var * scale)
    dlogvar = sum_to_shape((0.5 * scale) * (1 - sq), logvar.shape) if learned else None
    return loss, ({"mean": dmean} if dlogvar is None else {"mean": dmean, "logvar": dlogvar})


def _check_logvar(logvar, mean) -> bool:
    """A fixed log-variance (a finite number) → False; a learned one (a float array that
    broadcasts to ``mean``) → True. O(1)."""
    if isinstance(logvar, (bool, np.bool_)):
        raise ConfigError(f"logvar must be a number (a fixed log-variance) or a float array, "
                          f"got {logvar!r}")
    if isinstance(logvar, (int, float)):
        if not math.isfinite(logvar):
            raise ConfigError(f"logvar, the fixed log-variance log σ², must be finite, got "
                              f"{logvar!r}; e.g. 0.0 for σ² = 1")
        return False
    check_array(logvar, "logvar", dtypes=None)
    try:
        fits = np.broadcast_shapes(tuple(logvar.shape), tuple(mean.shape)) == tuple(mean.shape)
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(f"logvar of shape {tuple(logvar.shape)} must broadcast to mean's shape "
                         f"{tuple(mean.shape)}: (D,) learned per dimension, or mean's own shape")
    return True


def squared_error(pred, x, reduction: str = "mean", *, check_data: bool = True):
    """Σ_d (pred − x)², batch-reduced. Returns ``(loss, {"pred": dpred})``.

    ``check_data=False`` skips the finiteness check of x (module docstring)."""
    check_pair(pred, x, "pred")
    check_reduction(reduction)
    if check_data:
        check_finite(x, "x")
    diff = pred - x
    loss, scale = reduce_batch(per_sample_sum(diff * diff), reduction)
    return loss, {"pred": (2 * scale) * diff}


def masked_squared_error(pred, x, mask, reduction: str = "mean"):
    """Σ_d m_d (pred_d − x_d)² over the observed entries only (m = 1), batch-reduced: the
    loss of a model that sees a partly observed vector (AutoRec's ratings). Entries with
    m = 0 are ignored, whatever x holds there (NaN included), and get no gradient:

        ∂/∂pred_d = 2 m_d (pred_d − x_d)

    Args:
        pred, x: (N, ...) float arrays of one shape; mask: the same shape, bool or 0/1.
    Returns ``(loss, {"pred": dpred})``.
    """
    check_pair(pred, x, "pred")
    check_reduction(reduction)
    if getattr(mask, "shape", None) != pred.shape:
        raise ShapeError(f"mask must have the shape of pred {tuple(pred.shape)}, got "
                         f"{getattr(mask, 'shape', type(mask).__name__)}; 1 (or True) marks an "
                         f"observed entry")
    xp = get_array_module(pred)
    observed = mask if mask.dtype == bool else mask != 0                # (N, ...) bool
    diff = xp.where(observed, pred - x, 0).astype(pred.dtype, copy=False)
    loss, scale = reduce_batch(per_sample_sum(diff * diff), reduction)
    return loss, {"pred": (2 * scale) * diff}


# --------------------------------------------------------------- the table
def _bernoulli(out, x, logvar=0.0, reduction="mean", check_data=True):
    loss, grads = bernoulli_nll(out, x, reduction, check_data=check_data)
    return loss, {"out": grads["logits"]}


def _gaussian(out, x, logvar=0.0, reduction="mean", check_data=True):
    loss, grads = gaussian_nll(out, x, logvar, reduction, check_data=check_data)
    return loss, {("out" if k == "mean" else k): g for k, g in grads.items()}


def _mse(out, x, logvar=0.0, reduction="mean", check_data=True):
    loss, grads = squared_error(out, x, reduction, check_data=check_data)
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
@dispatched("bernoulli_log_density")
def bernoulli_log_density(out, x, logvar=0.0):
    """log p(x|z) = Σ_d [x_d l_d − softplus(l_d)] of S samples of G images, constants in.

    Args: out (G, S, D) logits (used as scratch space and overwritten), x (G, D).
    Returns: (G, S) float64, nats. (Numba path: one pass with a vectorised log1p,
    ``kernels/log_density.py``; it leaves ``out`` as it is.)
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

    ``nll(out, x, logvar=0.0, reduction="mean", check_data=True) -> (value, grads)``
        −log p(x|z) from the decoder output ``out`` (N, D), summed over D and reduced
        over the batch (:mod:`.reduction`); ``grads["out"]`` (N, D) is its gradient
        and, for a learned Gaussian variance (``logvar`` an array), ``grads["logvar"]``.
        ``check_data=False``: x was validated already (the models' training path).
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
        raise ConfigError(f"unknown likelihood {name!r}; choose one of {list(LIKELIHOODS)}") \
            from None


def check_targets(x, likelihood: str):
    """Validate data for a likelihood: float, finite, and in [0, 1] for Bernoulli."""
    get_likelihood(likelihood)
    check_float_array(x, "x")
    return check_target_range(x, likelihood)


def check_target_range(x, likelihood: str):
    """The likelihood-specific part alone: for Bernoulli, x in [0, 1] (one min and one max
    over x; NaN is caught too, as a NonFiniteError)."""
    if likelihood == "bernoulli" and x.size:
        xp = get_array_module(x)
        lo, hi = float(xp.min(x)), float(xp.max(x))
        if not (lo >= 0 and hi <= 1):                # False for NaN as well
            if not (math.isfinite(lo) and math.isfinite(hi)):
                check_finite(x, "x")                 # NaN/Inf: say how many and where
            hint = ("0–255 pixels? divide by 255: x / 255, " if 1 < hi <= 255 and lo >= 0
                    else "")
            raise DataError(f"the Bernoulli likelihood needs targets in [0, 1], got values in "
                            f"[{lo:.3g}, {hi:.3g}]; {hint}rescale the data or use "
                            f"likelihood='gaussian'")
    return x
