"""Ratings matrices for recommendation: a synthetic low-rank one, and splits of its entries.

Notation: U users, I items, r the rank; R (I, U) the ratings of every item by every user
(items as rows: item-based AutoRec reconstructs an item's vector of user ratings), M (I, U)
the mask of observed entries.

The synthetic matrix has what real ratings have — a few latent tastes, popular and
unpopular items, generous and strict users, integer stars, and most entries missing:

    A (I, r), B (U, r) ~ N(0, 1/r)                tastes of items and users
    a_i ~ N(0, 0.4²), b_u ~ N(0, 0.3²)            item and user biases
    R̃_iu = 3.5 + a_i + b_u + 1.2 · (A Bᵀ)_iu + σ ε    σ the rating noise
    R_iu  = clip(round(R̃_iu), 1, 5)                stars 1 … 5
    M_iu  ~ Bernoulli(density · w_i · v_u)         popular items and active users are seen
                                                   more often (w, v log-normal, mean 1)

Every user and every item keeps at least one observed rating. Everything is a function of
the seed. Splits hold out a share of the *observed* entries (never an unobserved one), so
a model is scored only on ratings that exist.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..rng import as_rng


def make_ratings(n_users: int = 600, n_items: int = 400, rank: int = 8,
                 density: float = 0.06, noise: float = 0.5, seed: int = 0,
                 return_truth: bool = False):
    """(R, M): ratings (I, U) float32 in {1, …, 5} (0 where unobserved) and the boolean mask.

    Defaults give a MovieLens-100K-like matrix: 6 % observed, a few dozen ratings per user.
    With ``return_truth=True`` also the noise-free preferences (I, U) float32,
    3.5 + a_i + b_u + 1.2 (A Bᵀ)_iu for every item and user, observed or not: what a
    recommender should recover (the same draws: R and M do not change).
    """
    for name, value in (("n_users", n_users), ("n_items", n_items), ("rank", rank)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ConfigError(f"{name} must be an integer ≥ 1, got {value!r}")
    if not 0 < density <= 1:
        raise ConfigError(f"density is the share of observed entries and must lie in (0, 1], "
                          f"got {density}")
    if not noise >= 0:
        raise ConfigError(f"noise is the rating noise σ and must be ≥ 0, got {noise}")
    rng = as_rng(seed)
    I, U, r = int(n_items), int(n_users), int(rank)
    A = rng.normal(0, 1 / np.sqrt(r), (I, r))
    B = rng.normal(0, 1 / np.sqrt(r), (U, r))
    a, b = rng.normal(0, 0.4, I), rng.normal(0, 0.3, U)
    truth = 3.5 + a[:, None] + b[None, :] + 1.2 * (A @ B.T)
    raw = truth + noise * rng.standard_normal((I, U))
    stars = np.clip(np.rint(raw), 1, 5)
    w = rng.lognormal(-0.5, 1.0, I)                  # popularity (mean 1)
    v = rng.lognormal(-0.18, 0.6, U)                 # activity (mean 1)
    p = np.clip(density * w[:, None] * v[None, :], 0, 1)
    mask = rng.uniform(size=(I, U)) < p
    for axis in (0, 1):                              # nobody without a single rating
        empty = ~mask.any(axis=axis)
        idx = np.flatnonzero(empty)
        other = rng.integers(0, mask.shape[axis], size=len(idx))
        if axis == 0:
            mask[other, idx] = True
        else:
            mask[idx, other] = True
    R = np.where(mask, stars, 0).astype(np.float32)
    return (R, mask, truth.astype(np.float32)) if return_truth else (R, mask)


def split_ratings(mask, test_fraction: float = 0.1, seed: int = 0):
    """(train mask, test mask): ``test_fraction`` of the observed entries held out, seeded.

    The two masks are disjoint and together cover the observed entries exactly.
    """
    mask = np.asarray(mask, dtype=bool)
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    observed = np.flatnonzero(mask)
    n_test = int(round(test_fraction * len(observed)))
    if n_test < 1 or n_test >= len(observed):
        raise ConfigError(f"test_fraction {test_fraction} of {len(observed)} observed ratings "
                          f"leaves an empty part")
    test_idx = as_rng(seed).choice(observed, size=n_test, replace=False)
    test = np.zeros(mask.size, dtype=bool)
    test[test_idx] = True
    test = test.reshape(mask.shape)
    return mask & ~test, test
