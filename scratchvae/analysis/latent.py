"""Looking into a VAE's latent space: interpolations, the 2-D manifold grid, traversals,
and a factor/latent correlation score. Pure functions of a model's ``encode``/``decode``.

Notation: N examples, D data dimensions, L latent dimensions, F generative factors,
S steps along a path, G grid points per side.

    interpolate     x₀, x₁ → μ₀, μ₁ → z_s = (1 − t_s) μ₀ + t_s μ₁ → decode       (S, D)
    manifold_grid   z = (Φ⁻¹(p_i), Φ⁻¹(p_j)) on an even grid of probabilities    (G·G, D)
    traverse        z_base with one coordinate swept over values, per dimension (L', S, D)
    correlation     |Pearson r| between each latent mean and each factor          (L, F)

Why Gaussian quantiles for the grid: the prior is N(0, I), so equally spaced
*probabilities* p mapped through the inverse CDF Φ⁻¹ give points that each stand for
an equal share of prior mass — the grid shows the part of the latent space the
decoder was trained to use, not the empty tails (Kingma & Welling 2014, fig. 4).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import DataError, ShapeError

# ------------------------------------------------------ the normal inverse CDF
# Acklam's rational approximation of Φ⁻¹ (relative error < 1.2e-9), refined by one
# Halley step on Φ(x) − p, which brings it to ~1e-15: Halley's method triples the
# number of correct digits per step.
_A = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
      1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
_B = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
      6.680131188771972e+01, -1.328068155288572e+01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
      -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
      3.754408661907416e+00)
_P_LOW = 0.02425                       # below: Acklam's tail formula; above: the central one

_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def normal_cdf(x):
    """Φ(x) = ½ erfc(−x/√2), elementwise (accurate in both tails)."""
    return 0.5 * _erfc(-np.asarray(x, dtype=np.float64) / math.sqrt(2.0))


def _polyval(coeffs, x):
    out = np.zeros_like(x)
    for c in coeffs:
        out = out * x + c
    return out


def normal_ppf(p):
    """Φ⁻¹(p), the standard normal quantile, elementwise; p in the open interval (0, 1).

    Raises ValueError for p ≤ 0, p ≥ 1 or NaN (the quantile is ±∞ or undefined).
    """
    p = np.asarray(p, dtype=np.float64)
    if not np.all((p > 0) & (p < 1)):
        bad = p[~((p > 0) & (p < 1))].ravel()[0]
        raise ValueError(f"normal_ppf needs probabilities strictly inside (0, 1), got {bad}")
    # Φ⁻¹(p) = −Φ⁻¹(1 − p): work on the lower half q ≤ ½, where Φ(x) = ½ erfc(−x/√2) is
    # accurate to the last digit, and flip the sign back at the end.
    q = np.minimum(p, 1 - p)
    x = np.empty_like(q)
    tail = q < _P_LOW
    c = q[~tail] - 0.5                                 # central region: rational in c²
    r = c * c
    x[~tail] = _polyval(_A, r) * c / (_polyval(_B, r) * r + 1)
    t = np.sqrt(-2 * np.log(q[tail]))                  # lower tail: rational in √(−2 log q)
    x[tail] = _polyval(_C, t) / (_polyval(_D, t) * t + 1)
    # Halley: e = Φ(x) − q, u = e / φ(x); x ← x − u / (1 + x·u/2)
    u = (normal_cdf(x) - q) * math.sqrt(2 * math.pi) * np.exp(x * x / 2)
    x = x - u / (1 + x * u / 2)
    return np.where(p > 0.5, -x, x)


# -------------------------------------------------------------------- paths
def linear_path(z0, z1, steps: int):
    """Points evenly spaced on the segment z₀ → z₁, endpoints included: (S, L)."""
    z0, z1 = np.asarray(z0, dtype=np.float64), np.asarray(z1, dtype=np.float64)
    if z0.shape != z1.shape or z0.ndim != 1:
        raise ShapeError(f"z0 and z1 must be latent vectors (L,) of one shape, got "
                         f"{z0.shape} and {z1.shape}")
    if steps < 2:
        raise ValueError(f"a path needs at least 2 steps (its endpoints), got {steps}")
    t = np.linspace(0.0, 1.0, int(steps))[:, None]     # (S, 1)
    return (1 - t) * z0 + t * z1


def interpolate(model, x0, x1, steps: int = 10):
    """Decode the straight line between the posterior means of two examples.

    ``model.encode(x) -> (μ, logvar)`` and ``model.decode(z)``; x₀, x₁ are (D,) each.
    Returns (S, D); row 0 is the reconstruction of x₀, row S−1 that of x₁.
    """
    mu, _ = model.encode(np.stack([np.asarray(x0).ravel(), np.asarray(x1).ravel()]))
    mu = np.asarray(mu, dtype=np.float64)              # (2, L)
    return model.decode(linear_path(mu[0], mu[1], steps))


# ------------------------------------------------------------- the 2-D grid
def quantile_grid(n: int, p_low: float = 0.05, p_high: float = 0.95):
    """n values Φ⁻¹(p) for p evenly spaced in [p_low, p_high] (the grid's axis), (n,)."""
    if n < 2:
        raise ValueError(f"a grid needs at least 2 points per side, got {n}")
    return normal_ppf(np.linspace(p_low, p_high, int(n)))


def latent_grid(n: int, latent_dim: int = 2, dims=(0, 1), base=None, p_low: float = 0.05,
                p_high: float = 0.95):
    """Latent points (n·n, L) on a grid of Gaussian quantiles in two coordinates.

    Row-major in image order: row r (top to bottom) has dims[1] *decreasing*, column c
    (left to right) has dims[0] increasing, so the picture reads like a plot. The other
    coordinates stay at ``base`` (L,) (default 0, the prior mean).
    """
    axis = quantile_grid(n, p_low, p_high)                          # (n,)
    z = np.tile(np.zeros(latent_dim) if base is None else np.asarray(base, float), (n * n, 1))
    cols, rows = np.meshgrid(axis, axis[::-1])                      # (n, n) each
    z[:, dims[0]], z[:, dims[1]] = cols.ravel(), rows.ravel()
    return z


def manifold_grid(model, n: int = 15, **grid_kw):
    """Decode :func:`latent_grid`: (n·n, D) images, ready for an n-wide image grid."""
    return model.decode(latent_grid(n, model.latent_dim, **grid_kw))


# -------------------------------------------------------------- traversals
def traverse(model, z_base, dims, values):
    """Vary one latent coordinate at a time: (len(dims), S, D).

    Row k decodes z_base with coordinate ``dims[k]`` set to each of ``values`` (S,) in
    turn, every other coordinate held — the picture of what that unit controls.
    """
    z_base = np.asarray(z_base, dtype=np.float64).ravel()           # (L,)
    values = np.asarray(values, dtype=np.float64)                   # (S,)
    rows = []
    for d in dims:
        z = np.tile(z_base, (len(values), 1))                       # (S, L)
        z[:, d] = values
        rows.append(model.decode(z))
    return np.stack(rows)


# --------------------------------------------- factors versus latent units
def factor_correlations(mu, factors):
    """|Pearson r| between latent means mu (N, L) and factors (N, F): (L, F) in [0, 1].

    A constant column (an unused unit, or a factor held fixed) has no correlation: 0.
    """
    mu, factors = np.asarray(mu, dtype=np.float64), np.asarray(factors, dtype=np.float64)
    if mu.ndim != 2 or factors.ndim != 2 or len(mu) != len(factors):
        raise ShapeError(f"mu (N, L) and factors (N, F) must share N, got {mu.shape} and "
                         f"{factors.shape}")
    if len(mu) < 2:
        raise DataError("correlations need at least 2 examples")
    a = mu - mu.mean(axis=0)                                        # (N, L)
    b = factors - factors.mean(axis=0)                              # (N, F)
    na, nb = np.sqrt((a * a).sum(axis=0)), np.sqrt((b * b).sum(axis=0))
    denom = np.outer(na, nb)                                        # (L, F)
    r = np.divide(a.T @ b, denom, out=np.zeros_like(denom), where=denom > 1e-12 * len(mu))
    return np.clip(np.abs(r), 0.0, 1.0)


def correlation_gap(corr):
    """A disentanglement indicator from the (L, F) |r| matrix, in [0, 1].

    For each factor f, the gap between its best and second-best latent unit:

        gap_f = |r|₍₁₎,f − |r|₍₂₎,f          score = mean_f gap_f

    1 when every factor is followed, linearly, by exactly one unit; 0 when it is followed
    equally by two (entangled) or by none. It is MIG (Chen et al. 2018) with |Pearson r|
    in place of normalised mutual information: cheap and exact, but blind to non-monotone
    relations — use it for ordinal factors (size, position), not categorical (shape) or
    periodic (rotation) ones.

    Returns ``(score, gaps (F,), best_unit (F,))``.
    """
    corr = np.asarray(corr, dtype=np.float64)
    if corr.ndim != 2 or corr.shape[0] < 2:
        raise ShapeError(f"corr must be (L, F) with L ≥ 2 latent units, got {corr.shape}")
    order = np.sort(corr, axis=0)[::-1]                              # (L, F) descending
    gaps = order[0] - order[1]                                      # (F,)
    return float(gaps.mean()), gaps, np.argmax(corr, axis=0)
