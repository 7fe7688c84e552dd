"""Launchers of ``conv.cu``: im2col / col2im on NHWC CuPy arrays, the GPU twins of
``kernels.conv.im2col_numba`` and ``col2im_numba`` (same arguments, layouts and results).

Notation and layouts as in ``kernels/conv.py``:

    x    (N, H, W, C)                    the image, NHWC
    cols (N, OH, OW, KH, KW, C)          cols[n, i, j, kh, kw, c] = x[n, i·SH + kh − PH, j·SW + kw − PW, c]
                                         (0 in the padding), OH = (H + 2PH − KH) // SH + 1

Both kernels are gathers over their *output* (one thread per element, grid-stride loop),
so col2im, the adjoint, needs no atomics and is deterministic; ``conv.cu`` has the loop
nests. Inputs are read through their strides (any layout, no copy); outputs are
C-contiguous. The references they are tested against are ``kernels.conv.im2col_reference``
and ``col2im_reference`` (``tests/test_gpu_kernels.py``).

The host-side pieces are plain functions, tested without a GPU: ``launch_geometry``,
``kernel_name``, ``name_expressions``.
"""
from __future__ import annotations

import numpy as np

from ..conv import window_grid
from ..errors import KernelDTypeError, KernelShapeError
from . import build

__all__ = ["im2col_cuda", "col2im_cuda", "launch_geometry", "kernel_name", "name_expressions",
           "THREADS", "MAX_BLOCKS", "SOURCE", "OPTIONS"]

SOURCE = "conv.cu"
OPTIONS = ("--std=c++17",)
THREADS = 256          # threads per block
MAX_BLOCKS = 65535     # the grid-stride loop covers the rest (an H100 holds ~1000 blocks at once)
_CTYPE = {"float32": "float", "float64": "double"}


def kernel_name(kind: str, dtype) -> str:
    """``"im2col_nhwc<float>"`` etc.; kind is "im2col" or "col2im"."""
    name = np.dtype(dtype).name
    if kind not in ("im2col", "col2im"):
        raise ValueError(f"kind must be 'im2col' or 'col2im', got {kind!r}")
    if name not in _CTYPE:
        raise KernelDTypeError(f"{kind}_cuda supports float32 and float64, got {name}")
    return f"{kind}_nhwc<{_CTYPE[name]}>"


def name_expressions() -> tuple[str, ...]:
    """Every instantiation the launchers can ask for."""
    return tuple(kernel_name(k, dt) for k in ("im2col", "col2im") for dt in _CTYPE)


def launch_geometry(total: int, threads: int = THREADS, max_blocks: int = MAX_BLOCKS):
    """(grid, block) for a grid-stride loop over ``total`` output elements (total >= 1)."""
    if total < 1:
        raise KernelShapeError(f"a launch needs at least one element, got {total}")
    return (min(-(-total // threads), max_blocks), 1, 1), (threads, 1, 1)


def _element_strides(x):
    """Strides in elements (the kernels index with them); KernelShapeError if not whole."""
    item = x.dtype.itemsize
    if any(s % item for s in x.strides):
        raise KernelShapeError(f"strides {tuple(x.strides)} are not multiples of the item size {item}")
    return [np.int64(s // item) for s in x.strides]


def _launch(kind, dtype, total, args):
    name = kernel_name(kind, dtype)
    kernel = build.cuda_module(SOURCE, (name,), OPTIONS).get_function(name)
    grid, block = launch_geometry(total)
    kernel(grid, block, tuple(args))


def im2col_cuda(x, KH, KW, SH, SW, PH, PW, out=None):
    """Gather the windows of an NHWC image (the twin of ``kernels.conv.im2col_numba``).

    Args:
        x: (N, H, W, C) CuPy float32/float64, any strides (an NCHW array's
            ``transpose(0, 2, 3, 1)`` view is read in place).
        KH, KW, SH, SW, PH, PW: kernel, stride, padding (ints).
        out: optional C-contiguous (N, OH, OW, KH, KW, C) array to fill.
    Returns:
        cols (N, OH, OW, KH, KW, C), C-contiguous.
    """
    import cupy  # noqa: PLC0415 - reached only with CuPy arrays

    if x.ndim != 4:
        raise KernelShapeError(f"im2col_cuda: x must be (N, H, W, C), got shape {tuple(x.shape)}")
    N, H, W, C = (int(s) for s in x.shape)
    OH, OW = window_grid(H, W, KH, KW, SH, SW, PH, PW)
    shape = (N, OH, OW, KH, KW, C)
    if out is None:
        out = cupy.empty(shape, dtype=x.dtype)
    elif tuple(out.shape) != shape or out.dtype != x.dtype or not out.flags.c_contiguous:
        raise KernelShapeError(f"im2col_cuda: out must be C-contiguous {shape} {x.dtype}, "
                         f"got {tuple(out.shape)} {out.dtype}")
    total = N * OH * OW * KH * KW * C
    if total == 0:
        return out
    _launch("im2col", x.dtype, total,
            [x, *_element_strides(x), out,
             *(np.int32(v) for v in (N, H, W, C, OH, OW, KH, KW, SH, SW, PH, PW))])
    return out


def col2im_cuda(cols, H, W, SH, SW, PH, PW):
    """Sum patches back onto an NHWC image (the twin of ``kernels.conv.col2im_numba``),
    as a gather: every pixel adds up the entries copied from it, in a fixed order.

    Args:
        cols: (N, OH, OW, KH, KW, C) CuPy float32/float64, any strides.
        H, W: the image size; SH, SW, PH, PW: stride and padding.
    Returns:
        dx (N, H, W, C), C-contiguous.
    """
    import cupy  # noqa: PLC0415

    if cols.ndim != 6:
        raise KernelShapeError(f"col2im_cuda: cols must be (N, OH, OW, KH, KW, C), "
                         f"got shape {tuple(cols.shape)}")
    N, OH, OW, KH, KW, C = (int(s) for s in cols.shape)
    if window_grid(H, W, KH, KW, SH, SW, PH, PW) != (OH, OW):
        raise KernelShapeError(f"col2im_cuda: a {H}×{W} image with kernel ({KH}, {KW}), stride "
                         f"({SH}, {SW}), padding ({PH}, {PW}) has a "
                         f"{window_grid(H, W, KH, KW, SH, SW, PH, PW)} window grid, but cols "
                         f"has {(OH, OW)}")
    dx = cupy.empty((N, H, W, C), dtype=cols.dtype)
    total = N * H * W * C
    if total == 0:
        return dx
    _launch("col2im", cols.dtype, total,
            [cols, *_element_strides(cols), dx,
             *(np.int32(v) for v in (N, H, W, C, OH, OW, KH, KW, SH, SW, PH, PW))])
    return dx
