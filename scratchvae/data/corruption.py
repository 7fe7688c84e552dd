"""Input corruption for denoising autoencoders (Vincent et al., 2008).

Notation: x (N, D) clean data, x̃ (N, D) its corrupted copy, ν the noise level.

    "gaussian"  additive isotropic noise:   x̃ = x + σ ε,       ε ~ N(0, I)       ν = σ
    "masking"   a random fraction set to 0: x̃ = x ⊙ m,        m_nd ~ Bernoulli(1 − p)   ν = p
    "watermark" one text-like mark per image: x̃ = (1 − a) ⊙ x + a · v                 ν = a_max
                (the "strokes" family of data/watermarks.py: opacity map a at a random
                position and scale, peak opacity ~ U(a_max / 2, a_max), ink v dark or light)

Masking is dropout on the input *without* the 1/(1 − p) rescaling: a dropped pixel
reads 0 ("missing"), and the network must fill it in from the pixels that remain.
A watermark hides part of one image behind a semi-transparent mark; the rows x (N, D)
are read as square H×H images (D = H², or ``shape=(H, W)``). A DAE trained with it
learns to remove text-like marks; the other family ("logos") is there to test it on
marks it never saw.

Randomness is injectable everywhere: the samplers take a ``numpy.random.Generator``
(or an int seed; None draws fresh entropy, i.e. is not reproducible), and the
corruptions take the noise itself (``noise=`` / ``mask=`` / ``marks=``), so a gradient
check or a figure can freeze it. A frozen ``noise`` is used as given: ``std`` is then
ignored (and frozen ``marks`` their ``max_opacity``).

Corruption acts on data, upstream of every parameter: the denoising loss never
differentiates through x̃, so these are plain functions with no backward. Noise is
drawn on the CPU (one seed, one corruption, on every device) and moved to x's device.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module
from ..errors import DataError, DTypeError, ShapeError, check_float_array, check_same_shape
from ..rng import as_rng
from .watermarks import apply_watermark, make_watermarks

CORRUPTIONS = ("gaussian", "masking", "watermark")


# -------------------------------------------------------------------- samplers
def gaussian_noise(shape, std: float, rng, dtype=np.float32):
    """σ ε with ε ~ N(0, I) of ``shape``: mean 0, variance σ² per entry."""
    check_noise_level("gaussian", std)
    return (float(std) * as_rng(rng).standard_normal(shape)).astype(dtype, copy=False)


def masking_mask(shape, p: float, rng, dtype=np.float32):
    """A keep-mask m of ``shape``: each entry is 0 (dropped) with probability p, else 1."""
    check_noise_level("masking", p)
    return (as_rng(rng).random(shape) >= p).astype(dtype, copy=False)


def watermark_marks(n: int, shape, max_opacity: float, rng, family: str = "strokes"):
    """``n`` watermarks for H×W images, peak opacity ~ U(a_max / 2, a_max) each:
    ``(alpha (n, H, W), ink (n,))`` as :func:`~scratchvae.data.watermarks.make_watermarks`."""
    a_max = check_noise_level("watermark", max_opacity)
    return make_watermarks(n, shape, family, opacity=(a_max / 2, a_max), rng=as_rng(rng))


def watermark_image_shape(dim: int, shape=None) -> tuple[int, int]:
    """(H, W) of the images in rows of ``dim`` values: ``shape`` if given, else square."""
    if shape is not None:
        H, W = (int(v) for v in shape)
        if H * W != dim:
            raise ShapeError(f"shape {tuple(shape)} holds {H * W} pixels but the rows have "
                             f"D = {dim}; pass shape=(H, W) with H·W = D")
        return H, W
    H = math.isqrt(int(dim))
    if H * H != dim:
        raise ShapeError(f"the watermark corruption lays marks on images, but D = {dim} is not "
                         f"a square H·H; use square images (e.g. D = 784 = 28²) or pass "
                         f"shape=(H, W)")
    return H, H


# ----------------------------------------------------------------- corruptions
def corrupt_gaussian(x, std: float, rng=None, noise=None):
    """x̃ = x + σ ε. Pass ``noise`` (x's shape, = σ ε) to freeze it; else it is drawn from rng.

    Returns x̃ (N, D), x's dtype. Values may leave [0, 1]: x̃ is only ever an *input*.
    """
    check_float_array(x, "x")
    xp = get_array_module(x)
    if noise is None:
        noise = gaussian_noise(x.shape, std, rng, x.dtype)
    else:
        check_float_array(noise, "noise")
        check_same_shape(noise, x, "noise", "x")
    return x + xp.asarray(noise, dtype=x.dtype)


def corrupt_masking(x, p: float, rng=None, mask=None):
    """x̃ = x ⊙ m. Pass ``mask`` (x's shape, entries 0/1) to freeze it; else it is drawn from rng.

    Returns x̃ (N, D), x's dtype.
    """
    check_float_array(x, "x")
    xp = get_array_module(x)
    if mask is None:
        mask = masking_mask(x.shape, p, rng, x.dtype)
    else:
        if not hasattr(mask, "shape"):
            raise DTypeError(f"mask must be an array shaped like x, got {type(mask).__name__}")
        check_same_shape(mask, x, "mask", "x")
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise DataError("mask must hold only 0 (drop) and 1 (keep)")
    return x * xp.asarray(mask, dtype=x.dtype)


def corrupt_watermark(x, max_opacity: float, rng=None, marks=None, shape=None):
    """x̃ = (1 − a) ⊙ x + a · v on rows x (N, D) of H×W images (``shape``; default square).

    Pass ``marks`` (``(alpha (N, H, W), ink (N,))``, e.g. from :func:`watermark_marks`) to
    freeze them; else one "strokes" mark per image is drawn from rng. Returns x̃ (N, D),
    x's dtype; x in [0, 1] stays in [0, 1].
    """
    check_float_array(x, "x", ndim=2)
    H, W = watermark_image_shape(x.shape[1], shape)
    if marks is None:
        marks = watermark_marks(len(x), (H, W), max_opacity, rng)
    return apply_watermark(x.reshape(len(x), H, W), marks).reshape(x.shape)


def corrupt(x, kind: str, level: float, rng=None):
    """By name: ``corrupt(x, "gaussian", 0.3, rng)``, ``corrupt(x, "masking", 0.5, rng)`` or
    ``corrupt(x, "watermark", 0.7, rng)``."""
    check_corruption(kind)
    if kind == "gaussian":
        return corrupt_gaussian(x, level, rng)
    if kind == "watermark":
        return corrupt_watermark(x, level, rng)
    return corrupt_masking(x, level, rng)


# ---------------------------------------------------------------------- checks
def check_corruption(kind: str) -> str:
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}; choose one of {list(CORRUPTIONS)}")
    return kind


def check_noise_level(kind: str, level: float) -> float:
    """σ ≥ 0 for "gaussian"; 0 ≤ p < 1 for "masking" (p = 1 would erase every input);
    0 ≤ a_max ≤ 1 for "watermark" (the largest opacity)."""
    check_corruption(kind)
    level = float(level)
    if kind == "gaussian" and not level >= 0:
        raise ValueError(f"gaussian noise std must be ≥ 0, got {level}")
    if kind == "masking" and not 0 <= level < 1:
        raise ValueError(f"masking probability must lie in [0, 1), got {level}")
    if kind == "watermark" and not 0 <= level <= 1:
        raise ValueError(f"watermark opacity must lie in [0, 1], got {level}")
    return level


__all__ = ["CORRUPTIONS", "gaussian_noise", "masking_mask", "watermark_marks",
           "watermark_image_shape", "corrupt_gaussian", "corrupt_masking", "corrupt_watermark",
           "corrupt", "check_corruption", "check_noise_level"]
