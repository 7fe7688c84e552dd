"""Sparsity penalties on an autoencoder's code: forward/backward pairs.

Notation: N batch size, L code units; h (N, L) is the code of a batch.

KL sparsity (Ng, "Sparse autoencoder", CS294A notes) — for codes in (0, 1)
(a sigmoid code layer). Each unit's mean activation over the batch

    ρ̂_j = (1/N) Σ_n h_nj                                              (L,)

is pulled towards a small target ρ by the KL divergence between two Bernoulli
distributions with means ρ and ρ̂_j, summed over units (nats):

    P = Σ_j KL(ρ || ρ̂_j) = Σ_j [ ρ log(ρ/ρ̂_j) + (1 − ρ) log((1 − ρ)/(1 − ρ̂_j)) ]

    ∂P/∂ρ̂_j  = −ρ/ρ̂_j + (1 − ρ)/(1 − ρ̂_j)
    ∂P/∂h_nj = (1/N) ∂P/∂ρ̂_j                       (ρ̂_j is a batch mean)

P is a statistic of the whole batch, not a per-example loss: it is already
"per batch" and is not divided by N again. It is 0 exactly when every ρ̂_j = ρ.

Documented clamp: ρ̂ is clipped to [RHO_HAT_MIN, 1 − RHO_HAT_MIN] before the
logs. A float32 sigmoid saturates to exactly 0.0 or 1.0, and a unit that does so
for a whole batch would make P infinite. Where the clamp is active the gradient
with respect to that unit is 0 (the derivative of the clipped function) — the
unit's own sigmoid has a zero derivative there anyway. Gradient checks run away
from the clamp.

L1 sparsity — for any code:

    P = (1/N) Σ_n Σ_j |h_nj|           (summed over units, averaged over the batch)
    ∂P/∂h_nj = sign(h_nj) / N           (the subgradient at 0 is taken as 0)

Each ``*_forward`` returns ``(penalty, cache)`` with a float penalty; each
``*_backward(dp, cache)`` takes the upstream scalar dp = ∂loss/∂P and returns
dh (N, L) = dp · ∂P/∂h.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module
from ..errors import ConfigError, DataError, check_float_array

RHO_HAT_MIN = 1e-6       # the clamp of ρ̂ (module docstring); representable next to 1 in float32


def check_rho(rho) -> float:
    """Validate a target activation ρ: a number strictly between 0 and 1."""
    ok = isinstance(rho, (int, float, np.floating, np.integer)) and not isinstance(rho, bool)
    value = float(rho) if ok else math.nan
    if not 0.0 < value < 1.0:
        raise ConfigError(f"the sparsity target rho must lie strictly between 0 and 1, got "
                          f"{rho!r} (typical values: 0.01 to 0.1)")
    return value


def bernoulli_kl(rho: float, rho_hat):
    """KL(Bernoulli(ρ) || Bernoulli(ρ̂)) elementwise, in nats; ρ̂ an array in (0, 1)."""
    xp = get_array_module(rho_hat)
    return rho * xp.log(rho / rho_hat) + (1 - rho) * xp.log((1 - rho) / (1 - rho_hat))


# ------------------------------------------------------------------ KL sparsity
def kl_sparsity_forward(h, rho: float):
    """P = Σ_j KL(ρ || ρ̂_j) with ρ̂_j the batch mean of h[:, j].

    Args:
        h: (N, L) codes in [0, 1] (a sigmoid code layer).
        rho: target mean activation ρ in (0, 1).
    Returns:
        P (float, nats) and cache ``(rho_hat_clipped (L,), inside (L,) bool, rho, N)``.
    Raises:
        ValueError for ρ outside (0, 1) or codes outside [0, 1] (e.g. a ReLU code:
        use the L1 penalty for those).
    """
    check_float_array(h, "code h", ndim=2)
    rho = check_rho(rho)
    xp = get_array_module(h)
    lo, hi = float(xp.min(h)), float(xp.max(h))
    if lo < 0 or hi > 1:
        raise DataError(f"the KL sparsity penalty needs codes in [0, 1] (a sigmoid code layer), "
                        f"got values in [{lo:.3g}, {hi:.3g}]; use code_activation='sigmoid' or "
                        f"the L1 penalty")
    n = h.shape[0]
    rho_hat = h.mean(axis=0)                                         # (L,)
    inside = (rho_hat > RHO_HAT_MIN) & (rho_hat < 1 - RHO_HAT_MIN)   # where the clamp is idle
    rho_hat_c = xp.clip(rho_hat, RHO_HAT_MIN, 1 - RHO_HAT_MIN)       # (L,)
    penalty = float(bernoulli_kl(rho, rho_hat_c).sum())
    return penalty, (rho_hat_c, inside, rho, n)


def kl_sparsity_backward(dp, cache):
    """dh (N, L) = dp · (1/N) · (−ρ/ρ̂_j + (1 − ρ)/(1 − ρ̂_j)), 0 where ρ̂_j is clamped."""
    rho_hat, inside, rho, n = cache
    xp = get_array_module(rho_hat)
    d_rho_hat = (-rho / rho_hat + (1 - rho) / (1 - rho_hat)) * inside   # ∂P/∂ρ̂_j   (L,)
    row = (dp / n) * d_rho_hat                                          # ∂ρ̂_j/∂h_nj = 1/N
    return xp.broadcast_to(row, (n, row.shape[0])).copy()               # same for every n


# ------------------------------------------------------------------ L1 sparsity
def l1_sparsity_forward(h):
    """P = (1/N) Σ_n Σ_j |h_nj|.

    Args:
        h: (N, L) codes (any sign).
    Returns:
        P (float) and cache ``(sign(h) (N, L), N)``.
    """
    check_float_array(h, "code h", ndim=2)
    xp = get_array_module(h)
    n = h.shape[0]
    penalty = float(xp.abs(h).sum()) / n
    return penalty, (xp.sign(h), n)


def l1_sparsity_backward(dp, cache):
    """dh (N, L) = dp · sign(h) / N."""
    sign, n = cache
    return sign * (dp / n)


# ---------------------------------------------------------------- by name
#: penalty name → (forward, backward): ``forward(h, rho) -> (P, cache)`` (the L1 penalty
#: ignores ρ), ``backward(dp, cache) -> dh``
PENALTIES = {
    "kl": (kl_sparsity_forward, kl_sparsity_backward),
    "l1": (lambda h, rho=None: l1_sparsity_forward(h), l1_sparsity_backward),
}


def _penalty(name: str):
    try:
        return PENALTIES[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown sparsity penalty {name!r}; choose one of "
                          f"{list(PENALTIES)}") from None


def sparsity_forward(name: str, h, rho: float | None = None):
    """The named penalty's forward: ``"kl"`` (needs ``rho``) or ``"l1"``."""
    return _penalty(name)[0](h, rho)


def sparsity_backward(name: str, dp, cache):
    """The named penalty's backward: dh (N, L) = dp · ∂P/∂h."""
    return _penalty(name)[1](dp, cache)


def kl_at_target(rho: float, rho_hat) -> float:
    """Σ_j KL(ρ || ρ̂_j) for reporting (no clamp; ρ̂ must lie in (0, 1))."""
    return float(bernoulli_kl(check_rho(rho), rho_hat).sum())


__all__ = ["kl_sparsity_forward", "kl_sparsity_backward", "l1_sparsity_forward",
           "l1_sparsity_backward", "sparsity_forward", "sparsity_backward", "bernoulli_kl",
           "check_rho", "kl_at_target", "PENALTIES", "RHO_HAT_MIN"]
