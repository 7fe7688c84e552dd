"""ROC curves and the area under them, for scores where higher means "more anomalous".

Notation: n examples with scores s (n,) and labels y (n,) in {0, 1}; the P examples
with y = 1 are the positives (anomalies), the Q with y = 0 the negatives (normal).

ROC curve. Flag an example as positive when s ≥ t. Sweeping the threshold t down
through the distinct scores gives the points

    TPR(t) = #{positives with s ≥ t} / P        FPR(t) = #{negatives with s ≥ t} / Q

starting at (0, 0) (t = +∞). Tied scores enter together, so a tie between a
positive and a negative is one diagonal step, not an arbitrary staircase.

AUC by ranks (Mann–Whitney U). The AUC is the probability that a random positive
outscores a random negative, a tie counting one half:

    AUC = (1 / PQ) Σ_{i: y=1} Σ_{j: y=0} ( 1[s_i > s_j] + ½ 1[s_i = s_j] )

Ranking all n scores from 1 (lowest) to n, ties given the average of the ranks
they span (mid-ranks), the positives' rank sum R₊ counts exactly these pairs:

    AUC = ( R₊ − P(P + 1)/2 ) / (P Q)                    O(n log n), no pairs formed

(P(P + 1)/2 is the rank sum the positives contribute among themselves.) This
equals the trapezoid area under the curve above, whose diagonal tie segments
contribute the same ½ per tied pair — the tests check both ways against each
other and against the pairwise definition.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError, ShapeError, check_float_array


def _check_scores_labels(scores, labels):
    """Validate (n,) finite float scores and (n,) binary labels; return (s, y bool)."""
    scores = np.asarray(scores) if isinstance(scores, (list, tuple)) else scores
    check_float_array(scores, "scores", ndim=1)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != scores.shape[0]:
        raise ShapeError(f"labels must have shape ({scores.shape[0]},) like the scores, got "
                         f"{tuple(labels.shape)}")
    if labels.dtype != bool:
        values = np.unique(labels)
        if labels.dtype.kind not in "iuf" or not np.isin(values, (0, 1)).all():
            raise DataError(f"labels must be binary (0 = normal, 1 = anomaly, or booleans), "
                            f"got values {values[:6].tolist()}")
        labels = labels == 1
    n_pos = int(labels.sum())
    if n_pos == 0 or n_pos == labels.size:
        raise DataError(f"an ROC curve needs both classes; got {n_pos} positives and "
                        f"{labels.size - n_pos} negatives")
    return np.asarray(scores, dtype=np.float64), labels


def rankdata(a):
    """Mid-ranks of a (n,): 1 for the smallest, ties share the mean of their ranks. (n,)."""
    a = np.asarray(a)
    order = np.argsort(a, kind="mergesort")               # stable: (n,)
    sorted_a = a[order]
    # starts of runs of equal values in the sorted array
    new_run = np.r_[True, sorted_a[1:] != sorted_a[:-1]]  # (n,)
    starts = np.flatnonzero(new_run)                       # 0-based first position per run
    ends = np.r_[starts[1:], a.size]                       # one past the last position
    run_rank = (starts + 1 + ends) / 2.0                   # mean of ranks start+1 … end
    ranks = np.empty(a.size, dtype=np.float64)
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve by the rank (Mann–Whitney) statistic; ties count ½.

    Args:
        scores: (n,) float, higher = more likely positive.
        labels: (n,) {0, 1} or bool, 1 = positive.
    Returns:
        AUC in [0, 1]; 0.5 is chance, 1 a perfect separation.
    """
    s, y = _check_scores_labels(scores, labels)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    rank_sum = rankdata(s)[y].sum()                        # R₊
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(scores, labels):
    """The ROC curve's corner points.

    Returns:
        fpr (m,), tpr (m,), thresholds (m,): point i is reached by flagging s ≥
        thresholds[i]; the first point is (0, 0) at threshold +inf, the last (1, 1).
        m = 1 + number of distinct scores.
    """
    s, y = _check_scores_labels(scores, labels)
    order = np.argsort(-s, kind="mergesort")               # descending scores
    s_sorted, y_sorted = s[order], y[order]
    last_of_run = np.r_[s_sorted[1:] != s_sorted[:-1], True]   # a threshold after each tie run
    tp = np.cumsum(y_sorted)[last_of_run]                  # positives with s ≥ t
    fp = np.cumsum(~y_sorted)[last_of_run]                 # negatives with s ≥ t
    tpr = np.r_[0.0, tp / y.sum()]
    fpr = np.r_[0.0, fp / (~y).sum()]
    thresholds = np.r_[np.inf, s_sorted[last_of_run]]
    return fpr, tpr, thresholds


def trapezoid_area(fpr, tpr) -> float:
    """Σ_i (fpr_i − fpr_{i−1}) (tpr_i + tpr_{i−1}) / 2, the area under a piecewise-linear curve."""
    fpr, tpr = np.asarray(fpr, dtype=np.float64), np.asarray(tpr, dtype=np.float64)
    if fpr.shape != tpr.shape or fpr.ndim != 1:
        raise ShapeError(f"fpr and tpr must be 1-D arrays of one length, got {fpr.shape} and "
                         f"{tpr.shape}")
    return float((np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2).sum())


def tpr_at_fpr(fpr, tpr, max_fpr: float) -> float:
    """The highest true-positive rate among curve points with FPR ≤ ``max_fpr``
    (e.g. "anomalies caught at a 5 % false-alarm rate")."""
    fpr, tpr = np.asarray(fpr), np.asarray(tpr)
    return float(tpr[fpr <= max_fpr].max())


__all__ = ["roc_auc", "roc_curve", "trapezoid_area", "tpr_at_fpr", "rankdata"]
