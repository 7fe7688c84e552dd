"""The decoder's output distribution p(x|z), chosen by name.

    "bernoulli"   decoder outputs logits; loss = binary cross-entropy from logits;
                  mean = sigmoid(logits). Targets in [0, 1] (greyscale allowed).
    "gaussian"    decoder outputs the mean; variance fixed (σ² = exp(logvar), default 1)
                  or learned per data dimension (``learn_variance=True``).
    "mse"         squared error Σ_d (x̂ − x)²: the Gaussian with constants dropped,
                  as in the seed paper (003, eq. 5).

All in nats, summed over data dimensions, averaged over the batch.
"""
from __future__ import annotations

from ..distributions.likelihoods import (
    LIKELIHOODS, bernoulli_nll, check_targets, gaussian_nll, squared_error,
)
from ..functional.numerics import sigmoid


def check_likelihood(name: str) -> str:
    if name not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {name!r}; choose one of {list(LIKELIHOODS)}")
    return name


def reconstruction_loss(name: str, out, x, logvar=0.0, reduction: str = "mean"):
    """Return ``(loss, dout, dlogvar)``; ``dlogvar`` is None unless the variance is learned."""
    if name == "bernoulli":
        loss, dout = bernoulli_nll(out, x, reduction)
        return loss, dout, None
    if name == "gaussian":
        return gaussian_nll(out, x, logvar, reduction)
    loss, dout = squared_error(out, x, reduction)
    return loss, dout, None


def output_mean(name: str, out):
    """The mean of p(x|z) given the decoder output (the image one would show)."""
    return sigmoid(out) if name == "bernoulli" else out


__all__ = ["check_likelihood", "check_targets", "reconstruction_loss", "output_mean"]
