"""Rate–distortion curves from a sweep of codec settings.

A sweep gives points (R_i, Q_i): the mean rate (bits per image) and the mean quality (e.g.
PSNR, higher is better) of each setting. The operational R–D curve of the codec is the
Pareto front: the settings that no other setting beats on both,

    i is on the front  ⇔  no j with R_j ≤ R_i and Q_j ≥ Q_i, one of them strict,

sorted by rate (so the quality rises along it). Between two front points the curve is
read off linearly in log₂ R (:func:`quality_at_rate`); outside the measured range it is
not extrapolated (NaN), so a codec is only compared with another where both were measured.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError


def pareto_front(rates, quality) -> np.ndarray:
    """Indices of the Pareto-optimal points (fewer bits, higher quality), by rising rate."""
    r, q = np.asarray(rates, dtype=np.float64), np.asarray(quality, dtype=np.float64)
    if r.ndim != 1 or r.shape != q.shape or r.size == 0:
        raise ShapeError(f"rates and quality must be two 1-D arrays of one non-empty length, "
                         f"got shapes {r.shape} and {q.shape}")
    order = np.lexsort((-q, r))                   # by rate, the best quality first at a tie
    front, best = [], -np.inf
    for i in order:
        if q[i] > best:
            front.append(i)
            best = q[i]
    return np.asarray(front, dtype=np.int64)


def quality_at_rate(rates, quality, at) -> np.ndarray:
    """The front's quality at the rates ``at`` (linear in log₂ rate; NaN outside its range)."""
    r, q = np.asarray(rates, dtype=np.float64), np.asarray(quality, dtype=np.float64)
    front = pareto_front(r, q)
    if (r[front] <= 0).any():
        raise ShapeError("rates must be > 0 to be read on a log scale")
    lr, lq = np.log2(r[front]), q[front]
    at = np.log2(np.asarray(at, dtype=np.float64))
    out = np.interp(at, lr, lq)
    return np.where((at < lr[0]) | (at > lr[-1]), np.nan, out)
