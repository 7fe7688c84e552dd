"""Procedural watermarks: semi-transparent marks laid over images, seeded and injectable.

Notation: N images of H×W pixels in [0, 1]; a watermark is an opacity map a (N, H, W) in
[0, 1] and an ink value v ∈ [0, 1] per image (dark or light ink). Laying it on x:

    x̃ = (1 − a) ⊙ x + a · v                       (alpha compositing, stays in [0, 1])

Two families of shapes, so that a model can be tested on marks it never saw:

    "strokes"   text-like: 2–4 short thick line segments side by side, like letters
    "logos"     a ring with a cross through it, like a stamp

Each mark has a random position, scale and opacity (``opacity`` range) and is drawn with
soft, anti-aliased edges. Everything random comes from the generator passed in; pass the
opacity maps back (``apply_watermark(x, marks)``) to freeze a corruption.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DataError
from ..rng import as_rng

FAMILIES = ("strokes", "logos")


def _segment_distance(yy, xx, y0, x0, y1, x1):
    """Distance of every pixel (H, W) to the segment (y0, x0)–(y1, x1)."""
    dy, dx = y1 - y0, x1 - x0
    t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / max(dy * dy + dx * dx, 1e-12), 0, 1)
    return np.hypot(yy - (y0 + t * dy), xx - (x0 + t * dx))


def _stroke_mark(yy, xx, rng, H, W):
    n = int(rng.integers(2, 5))                       # letters
    height = rng.uniform(0.25, 0.45) * H
    width = height * rng.uniform(0.35, 0.6)
    top = rng.uniform(0, H - height)
    left = rng.uniform(0, max(W - n * width, 1))
    thickness = rng.uniform(0.9, 1.6)
    d = np.full((H, W), np.inf)
    for k in range(n):                                # each letter: one slanted stroke
        x0 = left + k * width + rng.uniform(0, width * 0.4)
        x1 = x0 + rng.uniform(-0.5, 0.5) * width
        d = np.minimum(d, _segment_distance(yy, xx, top, x0, top + height, x1))
    return np.clip(thickness + 0.5 - d, 0, 1)         # soft edge one pixel wide


def _logo_mark(yy, xx, rng, H, W):
    r = rng.uniform(0.18, 0.3) * min(H, W)
    cy, cx = rng.uniform(r, H - r), rng.uniform(r, W - r)
    ring = np.abs(np.hypot(yy - cy, xx - cx) - r)
    cross = np.minimum(_segment_distance(yy, xx, cy - r, cx - r, cy + r, cx + r),
                       _segment_distance(yy, xx, cy - r, cx + r, cy + r, cx - r))
    return np.clip(1.3 - np.minimum(ring, cross), 0, 1)


def make_watermarks(n: int, shape, family: str = "strokes", opacity=(0.3, 0.7), rng=None):
    """``n`` marks for H×W images: ``(alpha (n, H, W) float32, ink (n,) float32)``."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown watermark family {family!r}; choose one of {list(FAMILIES)}")
    lo, hi = (float(v) for v in opacity)
    if not 0 <= lo <= hi <= 1:
        raise ConfigError(f"opacity must be a range within [0, 1], got {opacity}")
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ConfigError(f"n must be an integer ≥ 0, got {n!r}")
    H, W = (int(s) for s in shape)
    rng = as_rng(rng)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    draw = _stroke_mark if family == "strokes" else _logo_mark
    alpha = np.stack([draw(yy, xx, rng, H, W) * rng.uniform(lo, hi) for _ in range(int(n))]) \
        if n else np.zeros((0, H, W))
    dark = rng.uniform(size=int(n)) < 0.5                 # near-black or near-white ink
    ink = np.where(dark, rng.uniform(0.0, 0.1, int(n)), rng.uniform(0.9, 1.0, int(n)))
    return alpha.astype(np.float32), ink.astype(np.float32)


def apply_watermark(x, marks):
    """x̃ = (1 − a) ⊙ x + a · v for images x (N, H, W) or (N, 1, H, W) in [0, 1]."""
    alpha, ink = marks
    x = np.asarray(x)
    image = x[:, 0] if x.ndim == 4 else x
    if image.shape != alpha.shape:
        raise DataError(f"watermarks of shape {alpha.shape} do not fit images of shape "
                        f"{tuple(x.shape)}; make them with make_watermarks(len(x), (H, W))")
    out = (1 - alpha) * image + alpha * ink[:, None, None]
    return (out[:, None] if x.ndim == 4 else out).astype(x.dtype, copy=False)
