"""2-D convolution and transposed convolution: forward/backward pairs, each one GEMM
over im2col patches.

Notation (N, C, H, W, F, KH, KW, SH, SW, PH, PW, OH, OW, K): as in
:mod:`scratchvae.functional.patches`, whose ``im2col``/``col2im`` these ops are built on.

The public layout is NCHW and weights are stored as in PyTorch: (F, C, KH, KW) for a
convolution, (C_in, C_out, KH, KW) for a transposed convolution. Kernel, stride, padding
and output_padding are ints or (h, w) pairs.

Convolution (a cross-correlation, as in every framework):

    y[n, f, i, j] = b[f] + Σ_{c, kh, kw} x_pad[n, c, i·SH + kh, j·SW + kw] · W[f, c, kh, kw]

With the patches of :func:`~scratchvae.functional.patches.im2col`, cols (N·OH·OW, K), and
the weight's columns permuted the same way, Wmat (F, K) in (kh, kw, c) order, this is one
GEMM: y2 = cols · Wmatᵀ (N·OH·OW, F), i.e. NHWC; ``y`` is returned as its NCHW *view* (no
copy), which the next layer's im2col reads in place. Backward, with dy2 = dy as (N·OH·OW, F):

    db    = Σ_rows dy2                   dW = dy2ᵀ · cols   (as (F, C, KH, KW))
    dcols = dy2 · Wmat                   dx = col2im(dcols)

A transposed convolution is the adjoint of a convolution: its forward is a convolution's
input gradient (a GEMM, then col2im) and its backward a convolution's forward (im2col,
then a GEMM).

The patch GEMM before col2im (``_patch_gemm``) picks the memory order col2im reads fastest:
on the NumPy path KH·KW GEMMs, one per kernel offset, into offset-major memory
(KH, KW, N, OH, OW, C), so each slice col2im adds is contiguous; on the Numba and CUDA
paths one GEMM into C-contiguous (N·OH·OW, K), which their col2im kernels read in runs
(measurements: ``docs/kernels/conv.md``). The loop oracles the tests hold these to are
in ``functional/conv_reference.py``.
"""
from __future__ import annotations

from ..backend import get_array_module, path_of
from ..errors import ShapeError
from .checks import check_array
from .gemm import matmul
from .patches import col2im, conv2d_output_shape, conv_transpose2d_output_shape, im2col


def _check_operands(op, x, W, b, c_axis):
    """x must be 4-D NCHW with W.shape[c_axis] channels; b must be (W.shape[1 − c_axis],)."""
    check_array(x, f"{op} x", dtypes=None, allow_empty=True)
    check_array(W, f"{op} W", dtypes=None)
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
    if b is not None:                   # y is ours (col2im's fresh output): add in place,
        y_nhwc = y.transpose(0, 2, 3, 1)  # along its memory order (NHWC on the kernel paths)
        y_nhwc += b
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
