"""2-D convolution and transposed convolution: forward/backward pairs over im2col/col2im,
and the loop nests they are tested against.

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

The public layout is NCHW and weights are stored as in PyTorch: (F, C, KH, KW) for a
convolution, (C_in, C_out, KH, KW) for a transposed convolution. Kernel, stride, padding
and output_padding are ints or (h, w) pairs.

Convolution (a cross-correlation, as in every framework):

    y[n, f, i, j] = b[f] + Σ_{c, kh, kw} x_pad[n, c, i·SH + kh, j·SW + kw] · W[f, c, kh, kw]

Internal layout: NHWC patches. ``im2col`` writes every receptive field as one row of

    cols (N·OH·OW, K),   cols[(n, i, j), (kh, kw, c)] = x_pad[n, c, i·SH + kh, j·SW + kw]

with the channel axis innermost, so each of its KH·KW strided copies moves contiguous
runs of C values. With the rows of W permuted the same way, Wmat (F, K), the convolution
is one GEMM: y = cols · Wmatᵀ. Measured on 2 cores, float32, batch 128, kernel 4, stride
2, pad 1 (best of 60, interleaved): this im2col takes 1.63 ms for a 32×14×14 input and
0.31 ms for 64×7×7, against 6.2 ms and 2.1 ms for NCHW-ordered patches (c, kh, kw), whose
copies move runs of one value and need a second, transposing copy (sliding_window_view
does no better: 5.9 and 1.6 ms), and 2.5 and 1.5 ms for Caffe's transposed (K, N·OH·OW)
patches (which win only for C = 1: 0.18 against 0.34 ms). The GEMM's output (N·OH·OW, F)
is NHWC; ``y`` is returned as its NCHW *view* (no copy), and the next layer's im2col reads
that memory directly (1.2 ms instead of 1.63 ms above). Arrays come back NCHW-shaped but
not C-contiguous.

``col2im`` is the adjoint of ``im2col``: every entry of ``cols`` is added back onto the
pixel it was copied from (overlapping windows sum). It loops over the KH·KW kernel
offsets in a fixed order, each a slice ``+=`` whose target elements are distinct, so it
is deterministic (no atomics; bit-identical from run to run). Its input is produced by a
GEMM (dcols = dy2 · Wmat in the conv's backward, x2 · Wmat in the transposed conv's
forward); that GEMM is run as KH·KW products, one per kernel offset (``_patch_gemm``),
whose output is *offset-major* memory (KH, KW, N, OH, OW, C), so that each slice col2im
reads is contiguous. The same entries, a different memory order: col2im takes them as an
(N, OH, OW, KH, KW, C) view. Measured as above, the conv backward's dx for a 32×14×14
input (GEMM + col2im) takes 3.9 ms this way against 4.45 ms through the (N·OH·OW, K)
matrix, although the KH·KW GEMMs take 0.25 ms longer than one.

Two CPU paths (``scratchvae.backend.cpu_kernels()``). On the default "numba" path the
GEMMs go through the Numba GEMM (``functional.gemm``), im2col and col2im are the Numba
kernels of ``kernels/conv.py`` (same layouts; padding by bounds tests instead of a padded
copy; parallel over the batch), and the patch GEMM before col2im is one GEMM into
C-contiguous (N·OH·OW, K) rather than KH·KW offset-major ones. The "numpy" path is the
code below as described above, and the tests hold the two to the same oracles.

On the GPU (CuPy float32/float64 arrays), im2col and col2im are the CUDA kernels of
``kernels/cuda/conv.cu`` (``im2col_cuda``, ``col2im_cuda``: the same layouts, padding by
bounds tests, col2im a deterministic gather), the GEMMs go through ``functional.gemm``
(our SGEMM kernels, or cuBLAS with ``SCRATCHVAE_GPU_GEMM=cublas``), and the patch GEMM
before col2im is one GEMM into C-contiguous (N·OH·OW, K), as on the Numba path.

Every function is written against the array module of its inputs, so NumPy and CuPy
arrays both work; the ``*_naive`` oracles are NumPy only.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..backend import dispatched, get_array_module, path_of
from ..errors import ShapeError
from .gemm import matmul


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
        raise TypeError(f"{name} must be an int or an (h, w) pair of ints, got {value!r}")
    if minimum is not None and min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
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

    Raises ValueError unless 0 ≤ output_padding < stride, ShapeError when OH < 1.
    """
    (KH, KW), (SH, SW) = _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1)
    PH, PW = _pair(padding, "padding", 0)
    OPH, OPW = _pair(output_padding, "output_padding", 0)
    if OPH >= SH or OPW >= SW:
        raise ValueError(f"output_padding ({OPH}, {OPW}) must be smaller than stride ({SH}, {SW}): "
                         "it picks one of the SH output sizes that a stride-SH convolution maps "
                         "back to the input size")
    OH, OW = (H - 1) * SH - 2 * PH + KH + OPH, (W - 1) * SW - 2 * PW + KW + OPW
    if OH < 1 or OW < 1:
        raise ShapeError(f"transposed convolution of a {H}×{W} input with kernel ({KH}, {KW}), "
                         f"stride ({SH}, {SW}), padding ({PH}, {PW}) has no output: ({OH}, {OW})")
    return OH, OW


def _check_operands(op, x, W, b, c_axis):
    """x must be 4-D NCHW with W.shape[c_axis] channels; b must be (W.shape[1 − c_axis],)."""
    if W.ndim != 4:
        raise ShapeError(f"{op}: W must be 4-D, got shape {tuple(W.shape)}")
    if x.ndim != 4:
        raise ShapeError(f"{op}: x must be 4-D NCHW (N, {W.shape[c_axis]}, H, W), "
                         f"got shape {tuple(x.shape)}")
    if x.shape[1] != W.shape[c_axis]:
        layout = "(F, C, KH, KW)" if c_axis == 1 else "(C_in, C_out, KH, KW)"
        raise ShapeError(f"{op}: x has {x.shape[1]} channels (shape {tuple(x.shape)}) but W "
                         f"{layout} = {tuple(W.shape)} expects {W.shape[c_axis]}")
    if b is not None and tuple(b.shape) != (W.shape[1 - c_axis],):
        raise ShapeError(f"{op}: b must have shape ({W.shape[1 - c_axis]},), got {tuple(b.shape)}")


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


def _patch_gemm(a, Wmat, N, OH, OW, KH, KW):
    """The patch matrix a · Wmat for :func:`col2im`, as (N, OH, OW, KH, KW, C) entries.

    a (N·OH·OW, P), Wmat (P, K) with K = KH·KW·C in (kh, kw, c) order.

    NumPy path: one GEMM per kernel offset, a (N·OH·OW, P) · W_k[kh, kw] (P, C), gives
    offset-major (KH·KW, N·OH·OW, C) memory, returned as its (N, OH, OW, KH, KW, C)
    view, so that each slice the NumPy col2im adds is contiguous (measured: 3.9 ms
    instead of 4.45 ms for the dx of a 32×14×14 input). Numba and CUDA paths: one GEMM
    into C-contiguous (N·OH·OW, K), the layout the Numba col2im reads in runs of KW·C
    (and the CUDA col2im in runs of C).
    """
    P, K = Wmat.shape
    C = K // (KH * KW)
    if path_of(a, Wmat) != "numpy":                   # the layout the col2im kernels read
        return matmul(a, Wmat).reshape(N, OH, OW, KH, KW, C)
    xp = get_array_module(a)
    W_k = Wmat.reshape(P, KH * KW, C).transpose(1, 0, 2)  # (KH·KW, P, C) view, BLAS-ready slices
    out = xp.matmul(a, W_k)                              # (KH·KW, N·OH·OW, C)
    return out.reshape(KH, KW, N, OH, OW, C).transpose(2, 3, 4, 0, 1, 5)


# ---------------------------------------------------------------------- convolution
def conv2d_forward(x, W, b=None, stride=1, padding=0):
    """y = conv2d(x, W) + b as one GEMM over im2col patches.

    Args:
        x: (N, C, H, W).
        W: (F, C, KH, KW), PyTorch's layout.
        b: (F,) or None.
        stride, padding: int or (h, w).
    Returns:
        y (N, F, OH, OW) (an NCHW view of NHWC memory) and the cache
        ``(cols, Wmat, W.shape, x.shape, stride, padding, has_bias)`` with
        Wmat (F, KH·KW·C) the weight with columns in the patches' (kh, kw, c) order.
    """
    _check_operands("conv2d", x, W, b, c_axis=1)
    F, C, KH, KW = W.shape
    N = x.shape[0]
    cols = im2col(x, KH, KW, stride, padding)            # (N·OH·OW, K)
    OH, OW = conv2d_output_shape(x.shape[2], x.shape[3], (KH, KW), stride, padding)
    Wmat = W.transpose(0, 2, 3, 1).reshape(F, KH * KW * C)   # (F, K), columns (kh, kw, c)
    y2 = matmul(cols, Wmat.T)                            # (N·OH·OW, F)
    if b is not None:
        y2 += b
    y = y2.reshape(N, OH, OW, F).transpose(0, 3, 1, 2)   # (N, F, OH, OW)
    return y, (cols, Wmat, tuple(W.shape), tuple(x.shape), stride, padding, b is not None)


def conv2d_backward(dy, cache, input_grad: bool = True):
    """Gradients of :func:`conv2d_forward`, given dy = dL/dy (N, F, OH, OW).

    With dy2 = dy as (N·OH·OW, F) in the row order of cols:

        db    = Σ_rows dy2                 (F,)          dL/db_f = Σ_{n,i,j} dy[n, f, i, j]
        dW    = dy2ᵀ · cols                (F, N·OH·OW)·(N·OH·OW, K) → (F, K) → (F, C, KH, KW)
        dcols = dy2 · Wmat                 (N·OH·OW, F)·(F, K) → (N·OH·OW, K), offset-major
        dx    = col2im(dcols)              each patch entry's gradient summed onto its pixel

    ``input_grad=False`` skips dcols and dx (returns None for dx): the input is data.

    Returns:
        dx (N, C, H, W) or None, dW (F, C, KH, KW), db (F,) or None when there is no bias.
    """
    cols, Wmat, (F, C, KH, KW), x_shape, stride, padding, has_bias = cache
    N, _, H, W = x_shape
    OH, OW = conv2d_output_shape(H, W, (KH, KW), stride, padding)
    if tuple(dy.shape) != (N, F, OH, OW):
        raise ShapeError(f"conv2d_backward: dy must have the output's shape {(N, F, OH, OW)}, "
                         f"got {tuple(dy.shape)}")
    dy2 = dy.transpose(0, 2, 3, 1).reshape(N * OH * OW, F)     # (N·OH·OW, F); free if NHWC memory
    db = dy2.sum(axis=0) if has_bias else None                  # (F,)
    dW = matmul(dy2.T, cols).reshape(F, KH, KW, C).transpose(0, 3, 1, 2)   # (F, C, KH, KW)
    if not input_grad:
        return None, dW, db
    dcols = _patch_gemm(dy2, Wmat, N, OH, OW, KH, KW)           # (N, OH, OW, KH, KW, C)
    dx = col2im(dcols, x_shape, KH, KW, stride, padding)        # (N, C, H, W)
    return dx, dW, db


# ------------------------------------------------------------ transposed convolution
def conv_transpose2d_forward(x, W, b=None, stride=1, padding=0, output_padding=0):
    """y = conv_transpose2d(x, W) + b: the input-gradient of a convolution, as a layer.

    Derivation. Read W (C_in, C_out, KH, KW) as the weight (F, C, KH, KW) of a convolution
    A that maps a C_out-channel OH×OW image z to a C_in-channel H×W one:
    A z = im2col(z) · Wmatᵀ with Wmat (C_in, K), K = KH·KW·C_out. The transposed
    convolution is its adjoint, y = Aᵀ x, which is exactly the conv's dx formula:

        cols = x2 · Wmat       (N·H·W, C_in)·(C_in, K) → (N·H·W, K),  x2 = x as NHWC rows
                               (computed offset-major by ``_patch_gemm``)
        y    = col2im(cols)    (N, C_out, OH, OW), then + b[c_out]

    i.e. every input pixel x[n, c_in, i, j] scatters x · W[c_in] (C_out, KH, KW) onto the
    window at (i·SH − PH, j·SW − PW) of the output. The output size must be one that A maps
    back to H: (OH + 2PH − KH) // SH + 1 = H holds for OH = (H − 1)·SH − 2PH + KH + OPH
    with 0 ≤ OPH < SH; output_padding picks among those SH sizes.

    Args:
        x: (N, C_in, H, W).
        W: (C_in, C_out, KH, KW), PyTorch's layout.
        b: (C_out,) or None.
        stride, padding, output_padding: int or (h, w); output_padding < stride.
    Returns:
        y (N, C_out, OH, OW) and the cache
        ``(x2, Wmat, W.shape, x.shape, stride, padding, has_bias)``.
    """
    _check_operands("conv_transpose2d", x, W, b, c_axis=0)
    C_in, C_out, KH, KW = W.shape
    N, _, H, W_ = x.shape
    OH, OW = conv_transpose2d_output_shape(H, W_, (KH, KW), stride, padding, output_padding)
    x2 = x.transpose(0, 2, 3, 1).reshape(N * H * W_, C_in)          # (N·H·W, C_in)
    Wmat = W.transpose(0, 2, 3, 1).reshape(C_in, KH * KW * C_out)   # (C_in, K), (kh, kw, c) order
    cols = _patch_gemm(x2, Wmat, N, H, W_, KH, KW)                  # (N, H, W, KH, KW, C_out)
    y = col2im(cols, (N, C_out, OH, OW), KH, KW, stride, padding)   # (N, C_out, OH, OW)
    if b is not None:
        y = y + b[:, None, None]
    return y, (x2, Wmat, tuple(W.shape), tuple(x.shape), stride, padding, b is not None)


def conv_transpose2d_backward(dy, cache, input_grad: bool = True):
    """Gradients of :func:`conv_transpose2d_forward`, given dy = dL/dy (N, C_out, OH, OW).

    y = col2im(x2 · Wmat) + b, and the adjoint of col2im is im2col, so

        dcols = im2col(dy)        (N·H·W, K): an OH×OW image has exactly H×W windows
        dx2   = dcols · Wmatᵀ     (N·H·W, K)·(K, C_in) → (N·H·W, C_in) → (N, C_in, H, W)
        dW    = x2ᵀ · dcols       (C_in, N·H·W)·(N·H·W, K) → (C_in, K) → (C_in, C_out, KH, KW)
        db    = Σ_{n,i,j} dy      (C_out,)

    (dx is a plain convolution of dy with W: the transposed conv's input-gradient is the conv.)

    ``input_grad=False`` skips dx (returned as None): the input is data.

    Returns:
        dx (N, C_in, H, W) or None, dW (C_in, C_out, KH, KW), db (C_out,) or None.
    """
    x2, Wmat, (C_in, C_out, KH, KW), x_shape, stride, padding, has_bias = cache
    N, _, H, W = x_shape
    if (dy.ndim != 4 or tuple(dy.shape[:2]) != (N, C_out)
            or conv2d_output_shape(dy.shape[2], dy.shape[3], (KH, KW), stride, padding) != (H, W)):
        raise ShapeError(f"conv_transpose2d_backward: dy must have the output's shape "
                         f"({N}, {C_out}, OH, OW) for the {H}×{W} input, got {tuple(dy.shape)}")
    dcols = im2col(dy, KH, KW, stride, padding)                     # (N·H·W, K)
    dx = matmul(dcols, Wmat.T).reshape(N, H, W, C_in).transpose(0, 3, 1, 2) \
        if input_grad else None                                            # (N, C_in, H, W)
    dW = matmul(x2.T, dcols).reshape(C_in, KH, KW, C_out).transpose(0, 3, 1, 2)  # (C_in, C_out, KH, KW)
    db = dy.sum(axis=(0, 2, 3)) if has_bias else None                      # (C_out,)
    return dx, dW, db


# ------------------------------------------------------------------ loop oracles
def conv2d_naive(x, W, b=None, stride=1, padding=0):
    """Reference convolution straight from the definition (slow; NumPy; for tests).

        for n, f, i, j:
            y[n, f, i, j] = b[f] + Σ_{c, kh, kw} x_pad[n, c, i·SH + kh, j·SW + kw] · W[f, c, kh, kw]

    The inner Σ over the (C, KH, KW) window is one elementwise product and sum.
    x (N, C, H, W), W (F, C, KH, KW), b (F,) or None → y (N, F, OH, OW), C-contiguous.
    """
    _check_operands("conv2d_naive", x, W, b, c_axis=1)
    (SH, SW), (PH, PW) = _pair(stride, "stride", 1), _pair(padding, "padding", 0)
    N, C, H, W_ = x.shape
    F, _, KH, KW = W.shape
    OH, OW = conv2d_output_shape(H, W_, (KH, KW), (SH, SW), (PH, PW))
    x_pad = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))          # (N, C, Hp, Wp)
    y = np.zeros((N, F, OH, OW), dtype=np.result_type(x, W))
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    window = x_pad[n, :, i * SH:i * SH + KH, j * SW:j * SW + KW]   # (C, KH, KW)
                    y[n, f, i, j] = np.sum(window * W[f]) + (b[f] if b is not None else 0)
    return y


def conv_transpose2d_naive(x, W, b=None, stride=1, padding=0, output_padding=0):
    """Reference transposed convolution: scatter each input pixel times the kernel.

        for n, c_in, i, j:
            y_full[n, :, i·SH : i·SH + KH, j·SW : j·SW + KW] += x[n, c_in, i, j] · W[c_in]
        y = y_full[:, :, PH : PH + OH, PW : PW + OW] + b

    y_full is (N, C_out, OH + 2PH, OW + 2PW); the padding is cropped off its border.
    x (N, C_in, H, W), W (C_in, C_out, KH, KW), b (C_out,) or None → y (N, C_out, OH, OW).
    """
    _check_operands("conv_transpose2d_naive", x, W, b, c_axis=0)
    (SH, SW), (PH, PW) = _pair(stride, "stride", 1), _pair(padding, "padding", 0)
    N, C_in, H, W_ = x.shape
    _, C_out, KH, KW = W.shape
    OH, OW = conv_transpose2d_output_shape(H, W_, (KH, KW), (SH, SW), (PH, PW), output_padding)
    y_full = np.zeros((N, C_out, OH + 2 * PH, OW + 2 * PW), dtype=np.result_type(x, W))
    for n in range(N):
        for c in range(C_in):
            for i in range(H):
                for j in range(W_):
                    y_full[n, :, i * SH:i * SH + KH, j * SW:j * SW + KW] += x[n, c, i, j] * W[c]
    y = y_full[:, :, PH:PH + OH, PW:PW + OW].copy()
    if b is not None:
        y += b[:, None, None]
    return y
