"""Colour for colorization: luminance, and a coloured version of the sprites that needs no files.

Notation: colour images x (N, 3, H, W) in [0, 1], channels (R, G, B). Luminance (ITU-R BT.601,
the weights of JPEG's Y and of every "convert to greyscale"):

    L = 0.299 R + 0.587 G + 0.114 B              (N, 1, H, W), in [0, 1]

Colorization predicts x from L. Because the weights sum to 1, the grey image L copied into
all three channels has exactly the input's luminance: the first baseline.

Coloured sprites. The sprites' coverage s (N, 1, 28, 28) becomes

    x = s · c_shape + (1 − s) · b

with a foreground colour c that depends on the shape (square: reds, ellipse: greens, heart:
blues, each jittered in brightness and hue) and a background b, a dim colour that varies
from image to image. The shape can be read from the grey image, so the colour can too: a
model that recognizes shapes beats any per-pixel rule, which is what tutorial 14 shows.
Everything random comes from the generator passed in.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..rng import as_rng

LUMA = np.array([0.299, 0.587, 0.114])
BASE_COLOURS = np.array([[0.85, 0.20, 0.15],     # square: red
                         [0.20, 0.75, 0.25],     # ellipse: green
                         [0.20, 0.35, 0.90]])    # heart: blue


def luminance(x) -> np.ndarray:
    """L (N, 1, H, W) of colour images x (N, 3, H, W), in x's float dtype (float32 for ints)."""
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ShapeError(f"luminance needs colour images (N, 3, H, W), got {x.shape}")
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    return np.einsum("c,nchw->nhw", LUMA.astype(dtype), x.astype(dtype, copy=False))[:, None]


def colour_sprites(sprites, shapes, rng=None) -> np.ndarray:
    """(N, 3, H, W) float32 colour versions of sprites (N, 1, H, W) with shape ids (N,)."""
    s = np.asarray(sprites, dtype=np.float32)
    shapes = np.asarray(shapes)
    if s.ndim != 4 or s.shape[1] != 1:
        raise ShapeError(f"sprites must be (N, 1, H, W), got {s.shape}")
    if shapes.shape != (len(s),) or not np.isin(shapes, range(len(BASE_COLOURS))).all():
        raise ShapeError(f"shapes must be (N,) = ({len(s)},) ids in 0 … {len(BASE_COLOURS) - 1}, "
                         f"got shape {shapes.shape}")
    rng = as_rng(rng)
    n = len(s)
    fg = BASE_COLOURS[shapes] * rng.uniform(0.75, 1.15, size=(n, 1))        # brightness
    fg = fg + rng.normal(0.0, 0.06, size=(n, 3))                             # hue jitter
    bg = rng.uniform(0.0, 0.3, size=(n, 3))                                  # dim background
    fg, bg = np.clip(fg, 0, 1)[:, :, None, None], bg[:, :, None, None]
    return (s * fg + (1 - s) * bg).astype(np.float32)
