"""Sprites: the library's built-in image data set, procedural and file-free, with known factors.

In the spirit of dSprites (Matthey et al., 2017), scaled to 28x28 so that every
model that runs on MNIST runs on it unchanged. Each image is one white shape on
black, fully described by five discrete generative factors:

    factor     size  values
    shape        3   square, ellipse, heart
    scale        6   bounding radius 0.5 .. 1.0 of MAX_RADIUS = 6.5 px, evenly spaced
    rotation    12   k/12 of the shape's symmetry period (square 90°, ellipse 180°, heart 360°),
                     so no two rotation values draw the same image
    pos_x        8   centre column 7, 9, ..., 21 px (canvas coordinates: pixel i covers [i, i+1))
    pos_y        8   centre row    7, 9, ..., 21 px, counted from the top

3*6*12*8*8 = 13,824 distinct images. Containment holds by construction: every
shape fits in a disk of MAX_RADIUS around its centre, and the centres keep that
disk at least 0.5 px inside the canvas.

How it is fast: positions step by whole pixels (2 px), so a shift is an exact
integer translation of the supersampled image. We therefore render only the
3*6*12 = 216 (shape, scale, rotation) templates of TEMPLATE x TEMPLATE pixels,
anti-aliased with SUPERSAMPLE x SUPERSAMPLE subpixels each, once per process,
and composing N images is one gather + one scatter (20,000 images in ~0.1 s).
"""
from __future__ import annotations

import functools

import numpy as np

from scratchvae.errors import DataError, ShapeError
from scratchvae.data.loader import ArrayDataset

CANVAS = 28                     # image side, pixels
MAX_RADIUS = 6.5                # bounding radius of the largest sprite, pixels
TEMPLATE = 14                   # side of a template box; its centre is at 7.0
SUPERSAMPLE = 8                 # subpixels per pixel side (64 samples: 65 grey levels)
POSITION_STEP = 2               # pixels between neighbouring centres (must be an integer)

SHAPES = ("square", "ellipse", "heart")
FACTOR_NAMES = ("shape", "scale", "rotation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 12, 8, 8)
_PERIOD = {"square": np.pi / 2, "ellipse": np.pi, "heart": 2 * np.pi}  # rotational symmetry

# (split -> (n, seed)); the test seed differs so test images are drawn independently.
# With 13,824 possible images, i.i.d. draws repeat combinations across the splits,
# as in dSprites; they measure fit, not extrapolation to unseen factor values.
SPLITS = {"train": (20_000, 0), "test": (2_000, 1)}


def factor_values() -> dict[str, tuple]:
    """Physical value of each factor level: shape names, radius (px), rotation (fraction of
    the symmetry period), centre column and row (px)."""
    n_shape, n_scale, n_rot, n_x, n_y = FACTOR_SIZES
    return {
        "shape": SHAPES,
        "scale": tuple(float(s) for s in np.linspace(0.5, 1.0, n_scale) * MAX_RADIUS),
        "rotation": tuple(k / n_rot for k in range(n_rot)),
        "pos_x": tuple(TEMPLATE / 2 + POSITION_STEP * k for k in range(n_x)),
        "pos_y": tuple(TEMPLATE / 2 + POSITION_STEP * k for k in range(n_y)),
    }


# -- shapes in unit coordinates: (u, v) with v pointing up, bounding radius <= 1 --------

def _inside_square(u, v):
    return np.maximum(np.abs(u), np.abs(v)) <= np.sqrt(0.5)   # corners on the unit circle


def _inside_ellipse(u, v):
    return u * u + (2.0 * v) ** 2 <= 1.0                       # semi-axes 1 and 1/2


@functools.cache
def _heart_frame(grid: int = 801) -> tuple[float, float]:
    """(centre height, bounding radius) of the raw heart curve, measured on a fine grid.

    Measured rather than hard-coded so that containment holds by construction; a 1 %
    margin covers the grid spacing (0.0035 in these units).
    """
    t = np.linspace(-1.4, 1.4, grid)
    x, y = np.meshgrid(t, t)
    inside = _raw_heart(x, y)
    ys = y[inside]
    cy = 0.5 * (ys.min() + ys.max())
    radius = np.sqrt(x[inside] ** 2 + (ys - cy) ** 2).max()
    return float(cy), float(radius) * 1.01


def _raw_heart(x, y):
    # classic algebraic heart (x² + y² − 1)³ − x²y³ ≤ 0: lobes up, tip at (0, −1)
    r = x * x + y * y - 1.0
    return r * r * r - x * x * y * y * y <= 0.0


def _inside_heart(u, v):
    cy, radius = _heart_frame()
    return _raw_heart(u * radius, v * radius + cy)


_INSIDE = {"square": _inside_square, "ellipse": _inside_ellipse, "heart": _inside_heart}


@functools.cache
def _templates(box: int = TEMPLATE) -> np.ndarray:
    """(3, 6, 12, box, box) float32 coverage of every (shape, scale, rotation), centred in the box.

    Pixel value = fraction of its SUPERSAMPLE² subpixel centres inside the shape
    (box-filter anti-aliasing). ``box`` > TEMPLATE is used by the tests to show
    that nothing spills out of the TEMPLATE window.
    """
    s = SUPERSAMPLE
    c = box / 2.0                                               # centre, canvas coordinates
    sub = (np.arange(box * s) + 0.5) / s                        # (box*s,) subpixel centres
    dx = (sub - c)[None, :]                                     # (1, box*s) → right
    dy = (c - sub)[:, None]                                     # (box*s, 1) → up
    values = factor_values()
    radii = np.asarray(values["scale"])                         # (6,)
    fractions = np.asarray(values["rotation"])                  # (12,)
    out = np.empty((len(SHAPES), len(radii), len(fractions), box, box), np.float32)
    for i, name in enumerate(SHAPES):
        theta = fractions * _PERIOD[name]                       # (12,)
        cos = np.cos(theta)[None, :, None, None]
        sin = np.sin(theta)[None, :, None, None]
        r = radii[:, None, None, None]
        # rotate the sample points by −θ (= the shape by +θ, counter-clockwise), then unscale
        u = (dx * cos + dy * sin) / r                           # (6, 12, box*s, box*s)
        v = (dy * cos - dx * sin) / r
        inside = _INSIDE[name](u, v).astype(np.float32)
        out[i] = inside.reshape(len(radii), len(fractions), box, s, box, s).mean(axis=(3, 5))
    out.flags.writeable = False                                 # cached: shared by all callers
    return out


def render_sprites(factors) -> np.ndarray:
    """Render sprites for given factor indices.

    Parameters
    ----------
    factors : (N, 5) integer array, columns in FACTOR_NAMES order, each in [0, size).

    Returns
    -------
    (N, 1, 28, 28) float32 images with values in [0, 1].

    Raises ShapeError for a wrong shape, DataError for non-integer or out-of-range indices.
    """
    factors = np.asarray(factors)
    if factors.ndim != 2 or factors.shape[1] != len(FACTOR_NAMES):
        raise ShapeError(f"factors must be (N, {len(FACTOR_NAMES)}) with columns {FACTOR_NAMES}, "
                         f"got shape {factors.shape}")
    if factors.dtype.kind not in "iu":
        raise DataError(f"factors must be integer level indices, got dtype {factors.dtype}")
    for j, (name, size) in enumerate(zip(FACTOR_NAMES, FACTOR_SIZES)):
        col = factors[:, j]
        if col.size and (col.min() < 0 or col.max() >= size):
            raise DataError(f"factor {name!r} must lie in [0, {size}), got values in "
                            f"[{col.min()}, {col.max()}]")
    n = factors.shape[0]
    tpl = _templates()[factors[:, 0], factors[:, 1], factors[:, 2]]   # (N, T, T)
    win = np.arange(TEMPLATE)
    rows = POSITION_STEP * factors[:, 4, None] + win                  # (N, T) canvas rows
    cols = POSITION_STEP * factors[:, 3, None] + win                  # (N, T) canvas columns
    images = np.zeros((n, CANVAS, CANVAS), np.float32)                # (N, 28, 28)
    images[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]] = tpl
    return images[:, None]                                            # (N, 1, 28, 28)


def make_sprites(n: int, seed: int = 0) -> ArrayDataset:
    """N sprites with factors drawn uniformly and independently, deterministic in ``seed``.

    Returns an ArrayDataset with
      x            (N, 1, 28, 28) float32 in [0, 1]
      y            (N,) int64 shape index (0 square, 1 ellipse, 2 heart)
      factors      (N, 5) int64 level indices, columns FACTOR_NAMES
      factor_names, factor_sizes, classes (= SHAPES) as metadata.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DataError(f"make_sprites needs an integer n >= 1, got {n!r}")
    rng = np.random.default_rng(seed)
    factors = rng.integers(0, FACTOR_SIZES, size=(int(n), len(FACTOR_SIZES)), dtype=np.int64)
    return ArrayDataset(render_sprites(factors), factors[:, 0].copy(), name=f"sprites(n={n}, seed={seed})",
                        factors=factors, factor_names=FACTOR_NAMES, factor_sizes=FACTOR_SIZES,
                        classes=SHAPES)


def load_sprites(split: str = "train") -> ArrayDataset:
    """The standard splits: train = make_sprites(20000, seed=0), test = make_sprites(2000, seed=1)."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for sprites; choose one of {sorted(SPLITS)}")
    n, seed = SPLITS[split]
    ds = make_sprites(n, seed)
    ds.name = f"sprites/{split}"
    return ds


def all_sprites() -> ArrayDataset:
    """Every one of the 13,824 factor combinations once, in C order of FACTOR_SIZES (for metrics)."""
    grids = np.meshgrid(*[np.arange(s) for s in FACTOR_SIZES], indexing="ij")
    factors = np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)   # (13824, 5)
    return ArrayDataset(render_sprites(factors), factors[:, 0].copy(), name="sprites/all",
                        factors=factors, factor_names=FACTOR_NAMES, factor_sizes=FACTOR_SIZES,
                        classes=SHAPES)
