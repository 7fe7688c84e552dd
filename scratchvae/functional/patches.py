"""Unfolding images into patch matrices and folding them back: im2col and col2im, and
the window geometry of a convolution.

Notation
--------
    N        batch size
    C        input channels                 (C_in of a transposed conv)
    H, W     input height, width
    F        output channels (filters)      (C_out of a transposed conv)
    KH, KW   kernel height, width
    SH, SW   stride
    PH, PW   zero padding on each side
    OH, OW   output height, width. Convolution:
                 OH = (H + 2PH − KH) // SH + 1            (OW likewise)
             transposed convolution (OPH = output_padding, 0 ≤ OPH < SH):
                 OH = (H − 1)·SH − 2PH + KH + OPH
    Hp, Wp   padded input, H + 2PH and W + 2PW
    K        KH·KW·C, the length of one receptive field (one row of ``cols``)

A convolution reads every KH×KW window of the padded image. ``im2col`` writes each window
as one row of a matrix, in NHWC order (the channel axis innermost):

    cols (N·OH·OW, K),   cols[(n, i, j), (kh, kw, c)] = x_pad[n, c, i·SH + kh, j·SW + kw]

so that a convolution becomes one GEMM (``functional/conv.py``). The loop nest is one
strided copy per kernel offset, all windows at once:

    for kh in KH: for kw in KW:
        cols[:, :, :, kh, kw, :] = x_pad[:, kh::SH (OH values), kw::SW (OW values), :]

each moving contiguous runs of C values — why the patches are NHWC although the public
layout is NCHW (``docs/kernels/conv.md`` has the measurements).

``col2im`` is the adjoint, ``<col2im(c), x> = <c, im2col(x)>``: every entry of ``cols`` is
added back onto the pixel it was copied from, so overlapping windows sum. The KH·KW offsets
are visited in a fixed order and each ``+=`` writes distinct elements: deterministic, no
atomics.

The dispatched ``im2col_nhwc`` / ``col2im_nhwc`` are the NumPy references; on the Numba and
CUDA paths the gateway runs the kernels of ``kernels/conv.py`` and ``kernels/cuda/conv.cu``
(same layouts, padding by bounds tests instead of a padded copy). Everything is written
against the array module of its inputs, so NumPy and CuPy arrays both work.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..backend import dispatched, get_array_module
from ..errors import ConfigError, ShapeError


# ------------------------------------------------------------------------- helpers
def _pair(value, name: str = "value", minimum: int | None = None) -> tuple[int, int]:
    """An int or an (h, w) pair of ints → (h, w); each at least ``minimum`` if given."""
    def is_int(v):
        return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_))

    if is_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(is_int(v) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ConfigError(f"{name} must be an int or an (h, w) pair of ints, got {value!r}; "
                          f"e.g. 3 or (3, 3)")
    if minimum is not None and min(pair) < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value!r}")
    return pair


def conv2d_output_shape(H: int, W: int, kernel_size, stride=1, padding=0) -> tuple[int, int]:
    """(OH, OW) of a convolution: OH = (H + 2PH − KH) // SH + 1.

    Raises ShapeError when the kernel is larger than the padded input (OH < 1).
    """
    (KH, KW), (SH, SW) = _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1)
    PH, PW = _pair(padding, "padding", 0)
    if H + 2 * PH < KH or W + 2 * PW < KW:
        raise ShapeError(f"kernel ({KH}, {KW}) is larger than the padded input "
                         f"({H + 2 * PH}, {W + 2 * PW}) = (H + 2PH, W + 2PW) for H, W = {H}, {W} "
                         f"and padding ({PH}, {PW})")
    return (H + 2 * PH - KH) // SH + 1, (W + 2 * PW - KW) // SW + 1


def conv_transpose2d_output_shape(H: int, W: int, kernel_size, stride=1, padding=0,
                                  output_padding=0) -> tuple[int, int]:
    """(OH, OW) of a transposed convolution: OH = (H − 1)·SH − 2PH + KH + OPH.

    Raises ConfigError (a ValueError) unless 0 ≤ output_padding < stride, ShapeError when
    OH < 1.
    """
    (KH, KW), (SH, SW) = _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1)
    PH, PW = _pair(padding, "padding", 0)
    OPH, OPW = _pair(output_padding, "output_padding", 0)
    if OPH >= SH or OPW >= SW:
        raise ConfigError(f"output_padding ({OPH}, {OPW}) must be smaller than stride ({SH}, {SW}): "
                          "it picks one of the SH output sizes that a stride-SH convolution maps "
                          "back to the input size")
    OH, OW = (H - 1) * SH - 2 * PH + KH + OPH, (W - 1) * SW - 2 * PW + KW + OPW
    if OH < 1 or OW < 1:
        raise ShapeError(f"transposed convolution of a {H}×{W} input with kernel ({KH}, {KW}), "
                         f"stride ({SH}, {SW}), padding ({PH}, {PW}) has no output: ({OH}, {OW})")
    return OH, OW


def _pad_nhwc(x_nhwc, PH, PW):
    """x (N, H, W, C) → zero-padded (N, Hp, Wp, C); x itself when there is no padding."""
    if PH == 0 and PW == 0:
        return x_nhwc
    xp = get_array_module(x_nhwc)
    N, H, W, C = x_nhwc.shape
    x_pad = xp.zeros((N, H + 2 * PH, W + 2 * PW, C), dtype=x_nhwc.dtype)   # (N, Hp, Wp, C)
    x_pad[:, PH:PH + H, PW:PW + W, :] = x_nhwc
    return x_pad


# ---------------------------------------------------------------- im2col / col2im
def im2col(x, KH: int, KW: int, stride=1, padding=0):
    """Unfold every receptive field of ``x`` into one row.

    Args:
        x: (N, C, H, W), any strides.
        KH, KW: kernel size; stride, padding: int or (h, w).
    Returns:
        cols (N·OH·OW, KH·KW·C), rows in (n, i, j) order, columns in (kh, kw, c) order:
        ``cols[(n, i, j), (kh, kw, c)] = x_pad[n, c, i·SH + kh, j·SW + kw]``.
    """
    (SH, SW), (PH, PW) = _pair(stride, "stride", 1), _pair(padding, "padding", 0)
    N, C, H, W = x.shape
    OH, OW = conv2d_output_shape(H, W, (KH, KW), (SH, SW), (PH, PW))
    cols = im2col_nhwc(x.transpose(0, 2, 3, 1), KH, KW, SH, SW, PH, PW)   # strides read in place
    return cols.reshape(N * OH * OW, KH * KW * C)


@dispatched("im2col_nhwc")
def im2col_nhwc(x, KH, KW, SH, SW, PH, PW):
    """The gather behind :func:`im2col` on an NHWC image x (N, H, W, C), any strides →
    cols (N, OH, OW, KH, KW, C): one strided copy per kernel offset, all windows at once.
    (The Numba and CUDA kernels pad by bounds tests instead of a padded copy.)"""
    xp = get_array_module(x)
    N, H, W, C = x.shape
    OH, OW = conv2d_output_shape(H, W, (KH, KW), (SH, SW), (PH, PW))
    x_pad = _pad_nhwc(x, PH, PW)                                       # (N, Hp, Wp, C)
    cols = xp.empty((N, OH, OW, KH, KW, C), dtype=x.dtype)
    for kh in range(KH):
        for kw in range(KW):
            cols[:, :, :, kh, kw, :] = x_pad[:, kh:kh + SH * (OH - 1) + 1:SH,
                                             kw:kw + SW * (OW - 1) + 1:SW, :]  # (N, OH, OW, C)
    return cols


def col2im(cols, x_shape, KH: int, KW: int, stride=1, padding=0):
    """The adjoint of :func:`im2col`: add every row entry back onto its source pixel.

    ``<col2im(c), x> = <c, im2col(x)>`` for all x, c. Deterministic: the KH·KW offsets are
    visited in a fixed order and each ``+=`` writes distinct elements.

    Args:
        cols: (N·OH·OW, KH·KW·C) in the layout :func:`im2col` produces, or the same
            entries as an (N, OH, OW, KH, KW, C) array of any strides (what
            ``_patch_gemm`` returns; contiguous (kh, kw) slices are read fastest).
        x_shape: (N, C, H, W) of the image the windows were taken from.
    Returns:
        dx (N, C, H, W), an NCHW view of NHWC memory.
    """
    (SH, SW), (PH, PW) = _pair(stride, "stride", 1), _pair(padding, "padding", 0)
    N, C, H, W = (int(s) for s in x_shape)
    OH, OW = conv2d_output_shape(H, W, (KH, KW), (SH, SW), (PH, PW))
    if tuple(cols.shape) not in ((N * OH * OW, KH * KW * C), (N, OH, OW, KH, KW, C)):
        raise ShapeError(f"col2im: cols for an image {(N, C, H, W)} and kernel ({KH}, {KW}) "
                         f"must have shape {(N * OH * OW, KH * KW * C)} or "
                         f"{(N, OH, OW, KH, KW, C)}, got {tuple(cols.shape)}")
    cols6 = cols.reshape(N, OH, OW, KH, KW, C)                # a view in both cases
    return col2im_nhwc(cols6, H, W, SH, SW, PH, PW).transpose(0, 3, 1, 2)


@dispatched("col2im_nhwc")
def col2im_nhwc(cols6, H, W, SH, SW, PH, PW):
    """The scatter-add behind :func:`col2im`: cols (N, OH, OW, KH, KW, C) → dx (N, H, W, C),
    one slice ``+=`` per kernel offset onto a zero-padded image, then the padding cropped.
    (The CUDA kernel is a gather instead: each pixel sums its entries in a fixed order.)"""
    xp = get_array_module(cols6)
    N, OH, OW, KH, KW, C = cols6.shape
    dx_pad = xp.zeros((N, H + 2 * PH, W + 2 * PW, C), dtype=cols6.dtype)   # (N, Hp, Wp, C)
    for kh in range(KH):
        for kw in range(KW):
            dx_pad[:, kh:kh + SH * (OH - 1) + 1:SH,
                   kw:kw + SW * (OW - 1) + 1:SW, :] += cols6[:, :, :, kh, kw, :]
    return dx_pad[:, PH:PH + H, PW:PW + W, :]                          # crop the padding
