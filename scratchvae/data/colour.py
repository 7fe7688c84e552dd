"""Colour for colorization: luminance, and a coloured version of the sprites that needs no files.

Notation: colour images x (N, 3, H, W) in [0, 1], channels (R, G, B). Luminance (ITU-R BT.601,
the weights of JPEG's Y and of every "convert to greyscale"; computed by
:func:`scratchvae.functional.colour.luminance`, beside the colorizer's colour map):

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

Loading (:func:`load_colour_images`): CIFAR-10 when its files are found (or asked for, then
downloaded with its checksum checked), else the coloured sprites, which need nothing.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError, ShapeError
from ..rng import as_rng
from .cifar10 import find_cifar10, load_cifar10
from .sprites import SPLITS as SPRITE_SPLITS, make_sprites

COLOUR_SETS = ("cifar10", "sprites")

BASE_COLOURS = np.array([[0.85, 0.20, 0.15],     # square: red
                         [0.20, 0.75, 0.25],     # ellipse: green
                         [0.20, 0.35, 0.90]])    # heart: blue


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


def default_colour_set(root=None) -> str:
    """"cifar10" when its files are on disk (no download), else "sprites"."""
    return "cifar10" if find_cifar10(root) is not None else "sprites"


def load_colour_images(name: str, split: str = "train", root=None, download: bool = False):
    """(x, y): colour images x (N, 3, H, W) float32 in [0, 1] and labels y (N,) int64.

    "cifar10": CIFAR-10's split (50,000 / 10,000 images of 32×32; y its classes), read by
    :func:`~scratchvae.data.cifar10.load_cifar10` (``download=True`` fetches it).
    "sprites": the built-in sprites' split (28×28; y the shape), coloured by
    :func:`colour_sprites` with a generator seeded by the split, so that train and test
    are drawn independently and every run sees the same colours.
    """
    if name == "cifar10":
        x, y = load_cifar10(split, root=root, download=download)
        return x.astype(np.float32) / np.float32(255.0), y
    if name == "sprites":
        if split not in SPRITE_SPLITS:
            raise DataError(f"unknown split {split!r}; choose one of {sorted(SPRITE_SPLITS)}")
        n, seed = SPRITE_SPLITS[split]
        sprites = make_sprites(n, seed=seed)
        return colour_sprites(sprites.x, sprites.y, rng=[seed, 14]), sprites.y.astype(np.int64)
    raise DataError(f"unknown colour data set {name!r}; choose one of {list(COLOUR_SETS)}")
