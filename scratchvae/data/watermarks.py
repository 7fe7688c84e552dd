"""Procedural watermarks: semi-transparent marks laid over images, seeded and injectable.

Notation: N images of H×W pixels in [0, 1]; a watermark is an opacity map a (N, H, W) in
[0, 1] and an ink value v ∈ [0, 1] per image (dark or light ink). Laying it on x:

    x̃ = (1 − a) ⊙ x + a · v                       (alpha compositing, stays in [0, 1])

Two families of shapes, so that a model can be tested on marks it never saw:

    "strokes"   text-like: 2–4 short thick line segments side by side, like letters
    "logos"     a ring with a cross through it, like a stamp

Each mark has a random position, scale and opacity (``opacity`` range) and is drawn with
soft, anti-aliased edges. Everything random comes from the generator passed in; pass the
opacity maps back (``apply_watermark(x, marks)``) to freeze a corruption. A denoising AE
trains on the "strokes" family through the "watermark" corruption of data/corruption.py.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ..errors import ConfigError, DataError
from ..rng import as_rng

FAMILIES = ("strokes", "logos")


_CHUNK = 256                                          # images drawn together (memory bound)
_MAX_LETTERS = 4


def _segment_distance2(yy, xx, y0, x0, y1, x1):
    """Squared distance of every pixel to the segments (y0, x0)–(y1, x1): (..., H, W), for
    the pixel rows yy (H, 1) and columns xx (1, W) and end points shaped (..., 1, 1)."""
    dy, dx = y1 - y0, x1 - x0
    length2 = np.maximum(dy * dy + dx * dx, 1e-12)
    py, px = yy - y0, xx - x0                          # (..., H, 1) and (..., 1, W)
    t = np.clip(py * (dy / length2) + px * (dx / length2), 0, 1)   # nearest point's share
    ey, ex = py - t * dy, px - t * dx
    return ey * ey + ex * ex


def _stroke_marks(n, yy, xx, rng, H, W):
    """(n, H, W) text-like shapes: each 2–4 slanted strokes ("letters") side by side."""
    letters = rng.integers(2, _MAX_LETTERS + 1, n)
    height = rng.uniform(0.25, 0.45, n) * H
    width = height * rng.uniform(0.35, 0.6, n)
    top = rng.uniform(0, H - height)
    left = rng.uniform(0, np.maximum(W - letters * width, 1))
    thickness = rng.uniform(0.9, 1.6, n)
    k = np.arange(_MAX_LETTERS)
    x0 = left[:, None] + (k + rng.uniform(0, 0.4, (n, _MAX_LETTERS))) * width[:, None]
    x1 = x0 + rng.uniform(-0.5, 0.5, (n, _MAX_LETTERS)) * width[:, None]
    unused = k[None, :] >= letters[:, None]                       # repeat letter 0 there
    x0, x1 = np.where(unused, x0[:, :1], x0), np.where(unused, x1[:, :1], x1)
    end = (lambda v: v[..., None, None])                          # (n, 4) → (n, 4, 1, 1)
    y0, y1 = end(top[:, None]), end((top + height)[:, None])
    d = np.sqrt(_segment_distance2(yy, xx, y0, end(x0), y1, end(x1)).min(axis=1))  # (n, H, W)
    return np.clip(thickness[:, None, None] + 0.5 - d, 0, 1)     # soft edge one pixel wide


def _logo_marks(n, yy, xx, rng, H, W):
    """(n, H, W) stamp-like shapes: a ring with a cross through it."""
    r = rng.uniform(0.18, 0.3, n) * min(H, W)
    cy, cx = rng.uniform(r, H - r), rng.uniform(r, W - r)
    r, cy, cx = (v[:, None, None] for v in (r, cy, cx))
    ring = np.abs(np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) - r)
    cross = np.sqrt(np.minimum(_segment_distance2(yy, xx, cy - r, cx - r, cy + r, cx + r),
                               _segment_distance2(yy, xx, cy - r, cx + r, cy + r, cx - r)))
    return np.clip(1.3 - np.minimum(ring, cross), 0, 1)


def make_watermarks(n: int, shape, family: str = "strokes", opacity=(0.3, 0.7), rng=None):
    """``n`` marks for H×W images: ``(alpha (n, H, W) float32, ink (n,) float32)``.

    Each mark's shape (peak 1, soft edges) is scaled by its opacity, drawn uniformly from
    the ``opacity`` range; the marks are drawn in groups of 256 (a fixed size, so a seed
    gives the same marks on every machine)."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown watermark family {family!r}; choose one of {list(FAMILIES)}")
    lo, hi = (float(v) for v in opacity)
    if not 0 <= lo <= hi <= 1:
        raise ConfigError(f"opacity must be a range within [0, 1], got {opacity}")
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ConfigError(f"n must be an integer ≥ 0, got {n!r}")
    n = int(n)
    H, W = (int(s) for s in shape)
    rng = as_rng(rng)
    yy, xx = (g.astype(np.float64) for g in np.ogrid[0:H, 0:W])   # (H, 1), (1, W)
    draw = _stroke_marks if family == "strokes" else _logo_marks
    alpha = np.zeros((n, H, W), np.float32)
    for start in range(0, n, _CHUNK):
        m = min(_CHUNK, n - start)
        alpha[start:start + m] = draw(m, yy, xx, rng, H, W) * rng.uniform(lo, hi, m)[:, None, None]
    dark = rng.uniform(size=n) < 0.5                      # near-black or near-white ink
    ink = np.where(dark, rng.uniform(0.0, 0.1, n), rng.uniform(0.9, 1.0, n))
    return alpha, ink.astype(np.float32)


def apply_watermark(x, marks):
    """x̃ = (1 − a) ⊙ x + a · v for images x (N, H, W) or (N, 1, H, W) in [0, 1]."""
    alpha, ink = marks
    xp = get_array_module(x)                              # the marks go to x's device
    x = xp.asarray(x)
    image = x[:, 0] if x.ndim == 4 else x
    if image.shape != alpha.shape:
        raise DataError(f"watermarks of shape {alpha.shape} do not fit images of shape "
                        f"{tuple(x.shape)}; make them with make_watermarks(len(x), (H, W))")
    alpha, ink = xp.asarray(alpha), xp.asarray(ink)
    out = (1 - alpha) * image + alpha * ink[:, None, None]
    return (out[:, None] if x.ndim == 4 else out).astype(x.dtype, copy=False)
