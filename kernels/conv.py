"""im2col / col2im on the CPU: Numba kernels, with the loop-nest references beside them.

Notation (as in ``scratchvae.functional.conv``):

    N        batch              C        channels of the image the windows come from
    H, W     image size         KH, KW   kernel size
    SH, SW   stride             PH, PW   zero padding on each side
    OH, OW   window grid:       OH = (H + 2PH − KH) // SH + 1   (OW likewise)

Both kernels work on NHWC memory: the image is x (N, H, W, C) and the patches are

    cols (N, OH, OW, KH, KW, C),  cols[n, i, j, kh, kw, c] = x[n, i·SH + kh − PH, j·SW + kw − PW, c]

(zero where that pixel falls in the padding). Flattened to (N·OH·OW, KH·KW·C) this is
the patch matrix whose GEMM with the weights is the convolution.

Public API
----------
``im2col_reference(x, ...)``    the oracle: the definition above as an explicit loop nest.
``col2im_reference(cols, ...)`` its adjoint, the scatter-add, as an explicit loop nest.
``im2col_numba(x, ...)``        the fast gather.
``col2im_numba(cols, ...)``     the fast scatter-add.

The kernels, loop by loop
-------------------------
    im2col:  for n in prange(N):                     # one image per task: no shared writes
                 for i, j:                           # kw_lo..kw_hi: columns inside the image
                     for kh:                         # row r = i·SH + kh − PH
                         cols[n, i, j, kh, kw_lo:kw_hi, :] = x[n, r, s_lo:s_hi, :]  (one run)
                         the rest of the kernel row (the padding) = 0
    col2im:  for n in prange(N):
                 dx[n] = 0
                 for i, j, kh (row r in bounds):
                     dx[n, r, s_lo:s_hi, :] += cols[n, i, j, kh, kw_lo:kw_hi, :]   (one run)

The ideas that make them fast
-----------------------------
* The padding is handled by the bounds test on (r, s) instead of a zero-padded copy
  of the image (the NumPy path allocates and fills (N, H + 2PH, W + 2PW, C) first).
* The innermost loop runs over the C contiguous channels of both arrays, so it is a
  unit-stride copy/add that LLVM vectorises; the bounds test sits outside it.
* Parallel over the batch: every image owns its rows of ``cols`` and its slice of
  ``dx``, so the scatter-add needs no atomics and each thread sums in a fixed order —
  the result is bit-identical from run to run and for any thread count.
* The (kw, c) part of a kernel row is one contiguous run in ``cols`` and, inside
  the image, in ``x`` too (NHWC: neighbouring pixels' channels follow each other). The
  kernels compute the in-bounds range kw_lo ≤ kw < kw_hi once per window column and
  move one run of (kw_hi − kw_lo)·C values, so even C = 1 (the first layer) gets a
  vector loop; a bounds test per (kw, c) would leave C = 1 slower than NumPy.
* The copy and add loops index slices with non-negative ``range`` variables
  (``dst[t] = src[t]``), so Numba's negative-index wraparound check folds away and LLVM
  vectorises them; an index built from a runtime offset (``base + t``) would not.

The references, ``im2col_reference`` and ``col2im_reference``, are the definitions above
written as six nested loops; ``tests/test_kernels_conv.py`` compares the kernels with
them, ``benchmarks/conv_vae.py`` times the layers built on them.

Fallback: the bodies are plain Python (``_im2col_py``, ``_col2im_py``) compiled under
second names, so ``NUMBA_DISABLE_JIT=1`` runs them as Python.
Measurements: docs/kernels/conv.md.
"""
from __future__ import annotations

import numpy as np
from . import target as _target  # noqa: F401 - sets the vector width before anything compiles
from numba import njit, prange

from .errors import KernelShapeError

__all__ = ["im2col_numba", "col2im_numba", "im2col_reference", "col2im_reference",
           "window_grid"]


def window_grid(H, W, KH, KW, SH, SW, PH, PW):
    """(OH, OW) of the window grid; KernelShapeError if the kernel exceeds the padded image."""
    if H + 2 * PH < KH or W + 2 * PW < KW:
        raise KernelShapeError(f"kernel ({KH}, {KW}) is larger than the padded image "
                         f"({H + 2 * PH}, {W + 2 * PW})")
    return (H + 2 * PH - KH) // SH + 1, (W + 2 * PW - KW) // SW + 1


# ------------------------------------------------------------------ references
def im2col_reference(x, KH, KW, SH, SW, PH, PW):
    """The definition as a loop nest: x (N, H, W, C) → cols (N, OH, OW, KH, KW, C)."""
    N, H, W, C = x.shape
    OH, OW = window_grid(H, W, KH, KW, SH, SW, PH, PW)
    cols = np.zeros((N, OH, OW, KH, KW, C), dtype=x.dtype)
    for n in range(N):
        for i in range(OH):
            for j in range(OW):
                for kh in range(KH):
                    for kw in range(KW):
                        r, s = i * SH + kh - PH, j * SW + kw - PW
                        if 0 <= r < H and 0 <= s < W:
                            cols[n, i, j, kh, kw, :] = x[n, r, s, :]
    return cols


def col2im_reference(cols, H, W, SH, SW, PH, PW):
    """The adjoint as a loop nest: cols (N, OH, OW, KH, KW, C) → dx (N, H, W, C)."""
    N, OH, OW, KH, KW, C = cols.shape
    dx = np.zeros((N, H, W, C), dtype=cols.dtype)
    for n in range(N):
        for i in range(OH):
            for j in range(OW):
                for kh in range(KH):
                    for kw in range(KW):
                        r, s = i * SH + kh - PH, j * SW + kw - PW
                        if 0 <= r < H and 0 <= s < W:
                            dx[n, r, s, :] += cols[n, i, j, kh, kw, :]
    return dx


# --------------------------------------------------------------------- kernels
def _im2col_py(x, SH, SW, PH, PW, cols):
    """x (N, H, W, C) → cols (N, OH, OW, KH, KW, C), every entry written (C-contiguous both)."""
    N, H, W, C = x.shape
    _, OH, OW, KH, KW, _ = cols.shape
    xr = x.reshape(N, H, W * C)                    # a row of pixels is one run of W·C values
    cr = cols.reshape(N, OH, OW, KH, KW * C)       # a kernel row is one run of KW·C values
    for n in prange(N):
        for i in range(OH):
            for j in range(OW):
                s0 = j * SW - PW                   # image column under kw = 0
                # kernel columns kw_lo ≤ kw < kw_hi fall inside the image; clamped to
                # 0 ≤ kw_lo ≤ kw_hi ≤ KW, since a window may miss the image entirely
                # (padding ≥ kernel): nothing here is bounds-checked
                kw_lo = min(max(0, -s0), KW)
                kw_hi = max(min(KW, W - s0), kw_lo)
                for kh in range(KH):
                    r = i * SH + kh - PH
                    if r < 0 or r >= H:
                        for t in range(KW * C):
                            cr[n, i, j, kh, t] = 0
                        continue
                    row = cr[n, i, j, kh]                  # (KW·C,) this kernel row
                    src = xr[n, r, (s0 + kw_lo) * C:(s0 + kw_hi) * C]   # the in-bounds run
                    for t in range(kw_lo * C):
                        row[t] = 0
                    dst = row[kw_lo * C:kw_hi * C]
                    for t in range(src.shape[0]):      # unit stride, non-negative index: vectorises
                        dst[t] = src[t]
                    for t in range(kw_hi * C, KW * C):
                        row[t] = 0


def _col2im_py(cols, SH, SW, PH, PW, dx):
    """cols (N, OH, OW, KH, KW, C) → dx (N, H, W, C) = Σ of every entry onto its pixel."""
    N, H, W, C = dx.shape
    _, OH, OW, KH, KW, _ = cols.shape
    dr = dx.reshape(N, H, W * C)
    cr = cols.reshape(N, OH, OW, KH, KW * C)
    for n in prange(N):
        for r in range(H):
            for t in range(W * C):
                dr[n, r, t] = 0
        for i in range(OH):
            for j in range(OW):
                s0 = j * SW - PW
                kw_lo = min(max(0, -s0), KW)       # clamped as in _im2col_py
                kw_hi = max(min(KW, W - s0), kw_lo)
                for kh in range(KH):
                    r = i * SH + kh - PH
                    if r >= 0 and r < H:
                        src = cr[n, i, j, kh, kw_lo * C:kw_hi * C]
                        dst = dr[n, r, (s0 + kw_lo) * C:(s0 + kw_hi) * C]
                        for t in range(src.shape[0]):  # distinct targets: vectorises
                            dst[t] += src[t]


_im2col = njit(parallel=True, cache=True, fastmath=False)(_im2col_py)
_col2im = njit(parallel=True, cache=True, fastmath=False)(_col2im_py)


# ------------------------------------------------------------------ public API
def im2col_numba(x, KH, KW, SH, SW, PH, PW, out=None):
    """Gather the windows of an NHWC image.

    Args:
        x: (N, H, W, C) float32/float64; made C-contiguous if it is not.
        KH, KW, SH, SW, PH, PW: kernel, stride, padding (ints).
        out: optional C-contiguous (N, OH, OW, KH, KW, C) array to fill.
    Returns:
        cols (N, OH, OW, KH, KW, C).
    """
    x = np.ascontiguousarray(x)
    N, H, W, C = x.shape
    OH, OW = window_grid(H, W, KH, KW, SH, SW, PH, PW)
    shape = (N, OH, OW, KH, KW, C)
    if out is None:
        out = np.empty(shape, dtype=x.dtype)
    elif out.shape != shape or out.dtype != x.dtype:
        raise KernelShapeError(f"im2col_numba: out must be {shape} {x.dtype}, got {out.shape} {out.dtype}")
    _im2col(x, SH, SW, PH, PW, out)
    return out


def col2im_numba(cols, H, W, SH, SW, PH, PW):
    """Scatter-add patches back onto an NHWC image (the adjoint of ``im2col_numba``).

    Args:
        cols: (N, OH, OW, KH, KW, C); made C-contiguous if it is not.
        H, W: the image size; SH, SW, PH, PW: stride and padding.
    Returns:
        dx (N, H, W, C), C-contiguous.
    """
    cols = np.ascontiguousarray(cols)
    N, OH, OW, KH, KW, C = cols.shape
    if window_grid(H, W, KH, KW, SH, SW, PH, PW) != (OH, OW):
        raise KernelShapeError(f"col2im_numba: a {H}×{W} image with kernel ({KH}, {KW}), stride "
                         f"({SH}, {SW}), padding ({PH}, {PW}) has a "
                         f"{window_grid(H, W, KH, KW, SH, SW, PH, PW)} window grid, but cols "
                         f"has {(OH, OW)}")
    dx = np.empty((N, H, W, C), dtype=cols.dtype)
    _col2im(cols, SH, SW, PH, PW, dx)
    return dx
