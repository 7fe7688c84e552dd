"""The one reduction convention of every loss in scratchvae.

A loss over a batch x of shape (N, ...) is computed per sample by **summing over
all data dimensions** (a log-density of the whole image, in nats), and then
reduced over the batch:

    reduction="mean"  (default)  (1/N) Σ_n loss_n   -> scalar
    reduction="sum"               Σ_n loss_n         -> scalar
    reduction="none"              loss_n             -> (N,)

The gradient returned alongside is always that of the *returned scalar* for
"mean"/"sum", and of Σ_n loss_n for "none" (so a caller that weights samples
multiplies the gradient rows by its weights).
"""
from __future__ import annotations

from ..errors import ConfigError

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str) -> str:
    """One of ``REDUCTIONS``; a ConfigError listing them otherwise."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ConfigError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def per_sample_sum(a):
    """Σ over all axes but the first: (N, ...) -> (N,)."""
    return a.reshape(a.shape[0], -1).sum(axis=1)


def batch_scale(n: int, reduction: str) -> float:
    """The factor on each example's gradient for a batch of n: 1/n for "mean", else 1."""
    check_reduction(reduction)
    return 1.0 / n if reduction == "mean" else 1.0


def reduce_batch(per_sample, reduction: str):
    """Apply the batch reduction and return ``(value, scale)``.

    ``scale`` is the factor by which the per-element gradient of Σ_n loss_n must be
    multiplied to become the gradient of the returned value (1/N for "mean").
    """
    if reduction == "mean":
        return per_sample.mean(), 1.0 / per_sample.shape[0]
    if reduction == "sum":
        return per_sample.sum(), 1.0
    if reduction == "none":
        return per_sample, 1.0
    raise ConfigError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def sum_to_shape(g, shape):
    """Sum a broadcast gradient back to the shape of the operand that was broadcast."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)
