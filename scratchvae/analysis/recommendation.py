"""Scoring a recommender: the simple baselines, the cold-start rule, the rating error, and
top-k lists — what every model of a ratings tutorial is measured with, in one place.

Notation: R (I, U) ratings (items as rows), T (I, U) the training entries, μ the mean
training rating, n_i and n_u the numbers of training ratings of item i and user u.

    global mean    r̂_iu = μ
    item mean      r̂_iu = mean of item i's training ratings              (μ when n_i = 0)
    biases         r̂_iu = μ + b_i + b_u, minimising
                   Σ_T (r_iu − μ − b_i − b_u)² + λ (Σ_i b_i² + Σ_u b_u²)
                   by exact alternating updates (each a ridge regression in closed form):
                   b_i = Σ_{u∈T_i} (r_iu − μ − b_u) / (λ + n_i),
                   b_u = Σ_{i∈T_u} (r_iu − μ − b_i) / (λ + n_u)
    cold start     an entry whose item or user has no training rating is predicted μ,
                   whatever the model says (a model has learned nothing about it)
    RMSE           √ mean over the test entries of (clip(r̂, 1, 5) − r)²
    top-k          the k items of highest *unclipped* r̂ among those the user has not rated
                   in training (clipping would tie every item predicted above 5)

Only training entries are ever read: a baseline or a default computed with a test rating in
it would leak the answer.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError

RATING_RANGE = (1.0, 5.0)     # MovieLens and the synthetic ratings: 1 … 5 stars


def _check(R, mask, what="mask"):
    R, M = np.asarray(R), np.asarray(mask, dtype=bool)
    if R.ndim != 2 or R.shape != M.shape:
        raise ShapeError(f"R and {what} must be (items, users) of one shape, got {R.shape} "
                         f"and {M.shape}")
    if not M.any():
        raise ShapeError(f"{what} marks no rating; pass the mask of the observed entries")
    return R, M


def global_mean(R, train_mask) -> float:
    """μ, the mean training rating."""
    R, T = _check(R, train_mask, "train_mask")
    return float(R[T].mean(dtype=np.float64))


def item_means(R, train_mask) -> np.ndarray:
    """(I,) each item's mean training rating; μ for an item without one."""
    R, T = _check(R, train_mask, "train_mask")
    n = T.sum(axis=1)
    sums = np.where(T, R, 0).sum(axis=1, dtype=np.float64)
    return np.where(n > 0, sums / np.maximum(n, 1), global_mean(R, T))


def fit_biases(R, train_mask, l2: float = 10.0, iterations: int = 10):
    """(μ, b_item (I,), b_user (U,)) of the regularised bias model (module docstring).

    ``l2`` is λ > 0, a pseudo-count: an item with n_i ≪ λ ratings keeps b_i near 0.
    """
    if not (np.isfinite(l2) and l2 > 0):
        raise ConfigError(f"l2 is λ of the bias model and must be a finite number > 0, got {l2}")
    if isinstance(iterations, bool) or int(iterations) != iterations or iterations < 1:
        raise ConfigError(f"iterations must be an integer ≥ 1, got {iterations!r}")
    R, T = _check(R, train_mask, "train_mask")
    mu = global_mean(R, T)
    resid = np.where(T, R.astype(np.float64) - mu, 0.0)              # r − μ on T, 0 elsewhere
    Tf = T.astype(np.float64)
    n_i, n_u = Tf.sum(axis=1), Tf.sum(axis=0)
    s_i, s_u = resid.sum(axis=1), resid.sum(axis=0)
    b_i, b_u = np.zeros(R.shape[0]), np.zeros(R.shape[1])
    for _ in range(int(iterations)):
        b_i = (s_i - Tf @ b_u) / (l2 + n_i)
        b_u = (s_u - Tf.T @ b_i) / (l2 + n_u)
    return mu, b_i, b_u


def bias_predictions(R, train_mask, l2: float = 10.0, iterations: int = 10) -> np.ndarray:
    """(I, U) μ + b_i + b_u for every item and user (:func:`fit_biases`)."""
    mu, b_i, b_u = fit_biases(R, train_mask, l2, iterations)
    return mu + b_i[:, None] + b_u[None, :]


def cold_entries(train_mask) -> np.ndarray:
    """(I, U) bool: the entries whose item or user has no training rating."""
    T = np.asarray(train_mask, dtype=bool)
    return ~T.any(axis=1)[:, None] | ~T.any(axis=0)[None, :]


def apply_cold_start(pred, train_mask, default: float) -> np.ndarray:
    """A copy of ``pred`` (I, U) with every cold entry (:func:`cold_entries`) set to
    ``default`` — the cold-start rule, the same for every model."""
    pred = np.asarray(pred)
    if pred.shape != np.shape(train_mask):
        raise ShapeError(f"pred {pred.shape} and train_mask {np.shape(train_mask)} must have "
                         f"one shape (items, users)")
    return np.where(cold_entries(train_mask), default, pred)


def rating_rmse(pred, R, mask, rating_range=RATING_RANGE) -> float:
    """√ mean over ``mask`` of (clip(pred, low, high) − R)²: predictions are clipped to the
    rating range first, as a rating outside it is never the answer."""
    R, M = _check(R, mask)
    pred = np.asarray(pred)
    if pred.shape != R.shape:
        raise ShapeError(f"pred {pred.shape} must have the shape of R {R.shape}")
    low, high = rating_range
    err = np.clip(pred[M].astype(np.float64), low, high) - R[M]
    return float(np.sqrt(np.mean(err * err)))


def top_k(scores, exclude, k: int = 10) -> np.ndarray:
    """The k items of highest score not in ``exclude``, best first (ties: lower index first).

    ``scores`` and ``exclude`` are (I,) for one user or (I, U) for every user (then the
    result is (k, U), one column per user). Where a user has fewer than k items left the
    list is padded with −1.
    """
    scores, exclude = np.asarray(scores, dtype=np.float64), np.asarray(exclude, dtype=bool)
    if scores.shape != exclude.shape or scores.ndim not in (1, 2):
        raise ShapeError(f"scores and exclude must be (items,) or (items, users) of one shape, "
                         f"got {scores.shape} and {exclude.shape}")
    if isinstance(k, bool) or int(k) != k or not 1 <= k <= scores.shape[0]:
        raise ConfigError(f"k must be an integer in 1 … {scores.shape[0]} (the items), got {k!r}")
    order = np.argsort(-np.where(exclude, -np.inf, scores), axis=0, kind="stable")[:int(k)]
    return np.where(np.take_along_axis(exclude, order, axis=0), -1, order)


def hits(top, relevant) -> np.ndarray:
    """How many items of each top-k list are ``relevant``: ``top`` from :func:`top_k`
    ((k,) or (k, U), −1 padding never counts), ``relevant`` (I,) or (I, U) bool."""
    top, relevant = np.asarray(top), np.asarray(relevant, dtype=bool)
    if top.ndim != relevant.ndim or top.shape[1:] != relevant.shape[1:]:
        raise ShapeError(f"top {top.shape} and relevant {relevant.shape} must be (k,) and "
                         f"(items,), or (k, users) and (items, users)")
    found = np.take_along_axis(relevant, np.maximum(top, 0), axis=0) & (top >= 0)
    return found.sum(axis=0)
