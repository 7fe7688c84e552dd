"""Colour from luminance and two colour differences: forward/backward pair.

Notation: N batch, H×W pixels; colour images (R, G, B) in channels, luminance
(ITU-R BT.601, the weights of JPEG's Y; they sum to 1):

    Y = 0.299 R + 0.587 G + 0.114 B               LUMA = (w_R, w_G, w_B)

A colorizer is given Y and predicts only what Y leaves open, the two colour
differences a = R − Y and b = B − Y (the unscaled Cr and Cb of YCbCr). Then

    R = Y + a
    B = Y + b
    G = Y − (w_R a + w_B b) / w_G                 (solves w_R R + w_G G + w_B B = Y)

so the colour image it returns has exactly the luminance it was given, whatever
(a, b) are: the network cannot spend capacity on, or make errors in, the part of
the colour that the input already fixes.

The map is linear, rgb = Y·1 + A (a, b) with A (3, 2) = [[1, 0], [−w_R/w_G, −w_B/w_G],
[0, 1]], so the backward is the transpose. Given dL/d(rgb) = (dR, dG, dB):

    dY = dR + dG + dB                              (each channel holds Y once)
    da = dR − (w_R / w_G) dG
    db = dB − (w_B / w_G) dG

``rgb_to_chroma`` is the inverse, (R, G, B) → (Y, a, b): the targets of a colorizer,
and what the tests round-trip through.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .checks import check_grad

LUMA = np.array([0.299, 0.587, 0.114])         # (w_R, w_G, w_B), BT.601
_W_R, _W_G, _W_B = (float(w) for w in LUMA)


def _check_planes(a, channels: int, name: str):
    if getattr(a, "ndim", None) != 4 or a.shape[1] != channels:
        raise ShapeError(f"{name} must be (N, {channels}, H, W), got "
                         f"{getattr(a, 'shape', type(a).__name__)}")


def chroma_to_rgb_forward(y, ab):
    """rgb (N, 3, H, W) from luminance y (N, 1, H, W) and differences ab (N, 2, H, W).

    Returns ``(rgb, cache)``; rgb's luminance is y exactly (module docstring)."""
    _check_planes(y, 1, "chroma_to_rgb_forward y")
    _check_planes(ab, 2, "chroma_to_rgb_forward ab")
    if y.shape[0] != ab.shape[0] or y.shape[2:] != ab.shape[2:]:
        raise ShapeError(f"chroma_to_rgb_forward: y {tuple(y.shape)} and ab {tuple(ab.shape)} "
                         f"must share N, H and W")
    a, b = ab[:, 0:1], ab[:, 1:2]                                   # (N, 1, H, W) each
    green = y - (_W_R * a + _W_B * b) * (1.0 / _W_G)
    rgb = np.concatenate([y + a, green, y + b], axis=1)             # (N, 3, H, W)
    return rgb, (tuple(y.shape),)


def chroma_to_rgb_backward(drgb, cache):
    """dy (N, 1, H, W), dab (N, 2, H, W) from dL/d(rgb) (N, 3, H, W)."""
    (y_shape,) = cache
    check_grad(drgb, (y_shape[0], 3) + y_shape[2:], "chroma_to_rgb_backward")
    dR, dG, dB = drgb[:, 0:1], drgb[:, 1:2], drgb[:, 2:3]
    dy = dR + dG + dB                                               # ∂rgb/∂y = (1, 1, 1)
    dab = np.concatenate([dR - (_W_R / _W_G) * dG,                  # ∂G/∂a = −w_R / w_G
                          dB - (_W_B / _W_G) * dG], axis=1)         # ∂G/∂b = −w_B / w_G
    return dy, dab


def luminance(rgb) -> np.ndarray:
    """Y (N, 1, H, W) of colour images rgb (N, 3, H, W), in rgb's float dtype (float32 for
    integer images)."""
    rgb = np.asarray(rgb)
    _check_planes(rgb, 3, "luminance: colour images")
    dtype = rgb.dtype if np.issubdtype(rgb.dtype, np.floating) else np.float32
    return np.einsum("c,nchw->nhw", LUMA.astype(dtype), rgb.astype(dtype, copy=False))[:, None]


def rgb_to_chroma(rgb):
    """(y (N, 1, H, W), ab (N, 2, H, W)) of colour images rgb (N, 3, H, W): the inverse
    of :func:`chroma_to_rgb_forward`."""
    y = luminance(rgb)
    rgb = np.asarray(rgb).astype(y.dtype, copy=False)
    return y, np.concatenate([rgb[:, 0:1] - y, rgb[:, 2:3] - y], axis=1)
