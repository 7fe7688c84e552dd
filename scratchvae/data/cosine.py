"""The noisy 3-D cosine surface of Ko & Ko's Lagrangian-VAE paper.

The paper trains a VAE with a 2-D latent space on "10,000 points sampled with a
little noise from a simple cosine function formed in 3-D, over a chosen
interval", but gives no formula, interval or noise level. The definition below
is therefore OUR choice, made so that the data is a 2-D manifold in 3-D (which
a 2-D latent can represent exactly) and is curved enough to tell a good
generator from a blurry one:

    (x, y) ~ Uniform([-π, π]²)
    z      = cos(sqrt(x² + y²))          (a radial "ripple": one crest at the centre,
                                          a trough on the circle r = π)
    point  = (x, y, z) + noise · ε,   ε ~ N(0, I₃),  noise = 0.05 by default
"""
from __future__ import annotations

import numpy as np

from scratchvae.errors import DataError
from scratchvae.data.loader import ArrayDataset

DOMAIN = (-np.pi, np.pi)       # interval of x and of y
NOISE = 0.05                   # std of the isotropic Gaussian noise on all three coordinates
SPLITS = {"train": (10_000, 0), "test": (2_000, 1)}   # split -> (n, seed)


def cosine3d_clean(x, y):
    """Noise-free height z = cos(sqrt(x² + y²)) of the surface; x, y broadcast together."""
    return np.cos(np.hypot(x, y))


def surface_metrics(points) -> dict[str, float]:
    """How well 3-D points (M, 3) follow the clean surface z = cos(√(x² + y²)).

    sample_height_error: mean |z − cos(√(x² + y²))| (the data itself scores ≈ 0.047 from
    its noise); sample_in_domain: the fraction with x and y inside the data's domain.
    Tutorials 10 and 11 score decoder samples with it.
    """
    points = np.asarray(points, dtype=np.float64)
    height = np.abs(points[:, 2] - cosine3d_clean(points[:, 0], points[:, 1]))
    inside = ((points[:, :2] >= DOMAIN[0]) & (points[:, :2] <= DOMAIN[1])).all(axis=1)
    return {"sample_height_error": float(height.mean()), "sample_in_domain": float(inside.mean())}


def make_cosine3d(n: int = 10_000, noise: float = NOISE, seed: int = 0) -> ArrayDataset:
    """n noisy points on the cosine surface, deterministic in ``seed``.

    Returns an ArrayDataset with x (n, 3) float32 columns (x, y, z) and y = None;
    metadata ``domain`` and ``noise`` record how it was drawn.
    Raises DataError for n < 1 or noise < 0.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DataError(f"make_cosine3d needs an integer n >= 1, got {n!r}")
    if not noise >= 0:
        raise DataError(f"noise must be a standard deviation >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    xy = rng.uniform(DOMAIN[0], DOMAIN[1], size=(int(n), 2))           # (n, 2)
    z = cosine3d_clean(xy[:, 0], xy[:, 1])                              # (n,)
    points = np.column_stack([xy, z]) + noise * rng.standard_normal((int(n), 3))
    return ArrayDataset(points.astype(np.float32), None, name=f"cosine3d(n={n}, seed={seed})",
                        domain=DOMAIN, noise=float(noise))


def load_cosine3d(split: str = "train") -> ArrayDataset:
    """The standard splits: train = 10,000 points (seed 0), as in the paper; test = 2,000 (seed 1)."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for cosine3d; choose one of {sorted(SPLITS)}")
    n, seed = SPLITS[split]
    ds = make_cosine3d(n, NOISE, seed)
    ds.name = f"cosine3d/{split}"
    return ds
