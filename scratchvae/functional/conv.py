"""2-D convolution and transposed convolution: forward/backward pairs built on two NHWC
ops, a convolution and its input gradient.

Notation (N, C, H, W, F, KH, KW, SH, SW, PH, PW, OH, OW, K): as in
:mod:`scratchvae.functional.patches`, whose ``im2col``/``col2im`` the references use.

The public layout is NCHW and weights are stored as in PyTorch: (F, C, KH, KW) for a
convolution, (C_in, C_out, KH, KW) for a transposed convolution. Kernel, stride, padding
and output_padding are ints or (h, w) pairs. Inside, activations are NHWC: every output
is an NCHW *view* of NHWC memory, which the next layer reads in place.

Convolution (a cross-correlation, as in every framework):

    y[n, f, i, j] = b[f] + Σ_{c, kh, kw} x_pad[n, c, i·SH + kh, j·SW + kw] · W[f, c, kh, kw]

With the patches of :func:`~scratchvae.functional.patches.im2col`, cols (N·OH·OW, K), and
the weight's columns permuted the same way, Wmat (F, K) in (kh, kw, c) order, this is one
GEMM: y2 = cols · Wmatᵀ (N·OH·OW, F), i.e. NHWC. Backward, with dy2 = dy as (N·OH·OW, F):

    db    = Σ_rows dy2                   dW = dy2ᵀ · cols   (as (F, C, KH, KW))
    dcols = dy2 · Wmat                   dx = col2im(dcols)

A transposed convolution is the adjoint of a convolution: its forward is a convolution's
input gradient and its input gradient a convolution's forward.

**The NHWC ops** (``conv2d_nhwc``: y from x; ``conv2d_input_grad_nhwc``: dx from dy)
are dispatched. Their bodies are the references: im2col + GEMM, and GEMM + col2im. On the
Numba path the gateway runs the direct convolution of ``kernels/conv_direct.py`` instead,
which feeds the GEMM's register tile straight from the image and computes dx phase by
phase, with no patch matrix; where it does not apply it declines and the reference runs.
The weight gradient is the third NHWC op (``conv2d_weight_grad_nhwc``: im2col + one GEMM;
on the Numba path the patches are packed straight from the image into the GEMM's panels),
so nothing of patch-matrix size is built on that path, or held between forward and
backward on any path.

The patch GEMM before col2im (``_patch_gemm``) picks the memory order col2im reads fastest:
on the NumPy path KH·KW GEMMs, one per kernel offset, into offset-major memory
(KH, KW, N, OH, OW, C), so each slice col2im adds is contiguous; on the CUDA path one GEMM
into C-contiguous (N·OH·OW, K), which its col2im kernel reads in runs (measurements:
``docs/kernels/conv.md``). The loop oracles the tests hold all of these to are in
``functional/conv_reference.py``.
"""
from __future__ import annotations

from ..backend import dispatched, get_array_module, path_of
from ..errors import ShapeError
from .checks import check_array
from .gemm import matmul
from .linear import bias_grad
from .patches import (_pair, col2im_nhwc, conv2d_output_shape, conv_transpose2d_output_shape,
                      im2col_nhwc)


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


# ------------------------------------------------------------------ the NHWC ops
#: The dispatched ops with a direct kernel on the Numba path; ``backend.reference_ops(
#: *NHWC_CONV_OPS)`` runs their im2col references instead (benchmarks, GEMM traces).
NHWC_CONV_OPS = ("conv2d_nhwc", "conv2d_input_grad_nhwc", "conv2d_weight_grad_nhwc")


def _nhwc_memory(a):
    """a (N, C, H, W) → its (N, H, W, C) view, copied once into NHWC memory if it is not
    already (an NCHW gradient from Flatten's backward): the backward's three NHWC ops and
    its bias sum then all read it in place, instead of each copying it again."""
    a_nhwc = a.transpose(0, 2, 3, 1)
    return a_nhwc if a_nhwc.flags.c_contiguous else get_array_module(a).ascontiguousarray(a_nhwc)


def _weight_matrix(W):
    """W (F, C, KH, KW) → Wmat (F, K), columns in the patches' (kh, kw, c) order."""
    F, C, KH, KW = W.shape
    return W.transpose(0, 2, 3, 1).reshape(F, KH * KW * C)


@dispatched("conv2d_nhwc")
def conv2d_nhwc(x, W, b, SH, SW, PH, PW):
    """y (N, OH, OW, F) = conv2d(x, W) + b for an NHWC image x (N, H, W, C), any strides.

    The reference: the patches, then one GEMM, y2 = cols · Wmatᵀ (N·OH·OW, F). (Numba
    path: the direct convolution, ``kernels.conv_direct.conv2d_direct``.)
    """
    N = x.shape[0]
    F, C, KH, KW = W.shape
    cols = im2col_nhwc(x, KH, KW, SH, SW, PH, PW)             # (N, OH, OW, KH, KW, C)
    _, OH, OW = cols.shape[:3]
    y2 = matmul(cols.reshape(N * OH * OW, KH * KW * C), _weight_matrix(W).T)   # (N·OH·OW, F)
    if b is not None:
        y2 += b
    return y2.reshape(N, OH, OW, F)


@dispatched("conv2d_input_grad_nhwc")
def conv2d_input_grad_nhwc(dy, W, H, W_, SH, SW, PH, PW):
    """dx (N, H, W, C) of a convolution with weight W (F, C, KH, KW), from dy (N, OH, OW, F)
    NHWC, any strides: the transposed convolution of dy.

    The reference: dcols = dy2 · Wmat (N·OH·OW, K), then col2im adds every entry onto
    its pixel. (Numba path: ``kernels.conv_direct.conv2d_input_grad_direct``, phase by
    phase, no dcols.)
    """
    N, OH, OW, F = dy.shape
    _, C, KH, KW = W.shape
    dy2 = dy.reshape(N * OH * OW, F)                           # free if dy is C-contiguous
    dcols = _patch_gemm(dy2, _weight_matrix(W), N, OH, OW, KH, KW)   # (N, OH, OW, KH, KW, C)
    return col2im_nhwc(dcols, H, W_, SH, SW, PH, PW)


@dispatched("conv2d_weight_grad_nhwc")
def conv2d_weight_grad_nhwc(x, dy, KH, KW, SH, SW, PH, PW):
    """dW (F, C, KH, KW) = dy2ᵀ · cols of a convolution, from its input x (N, H, W, C) and
    output gradient dy (N, OH, OW, F), both NHWC, any strides.

    The reference: the patches, then one GEMM (F, N·OH·OW)·(N·OH·OW, K). (Numba path:
    ``kernels.conv_direct.conv2d_weight_grad_direct``, the patches packed straight from
    the image into the GEMM's panels.)
    """
    N, OH, OW, F = dy.shape
    C = x.shape[3]
    cols = im2col_nhwc(x, KH, KW, SH, SW, PH, PW).reshape(N * OH * OW, KH * KW * C)
    dy2 = dy.reshape(N * OH * OW, F)                           # free if dy is C-contiguous
    return matmul(dy2.T, cols).reshape(F, KH, KW, C).transpose(0, 3, 1, 2)


# ---------------------------------------------------------------------- convolution
def conv2d_forward(x, W, b=None, stride=1, padding=0):
    """y = conv2d(x, W) + b (:func:`conv2d_nhwc` on x's NHWC view).

    Args:
        x: (N, C, H, W).
        W: (F, C, KH, KW), PyTorch's layout.
        b: (F,) or None.
        stride, padding: int or (h, w).
    Returns:
        y (N, F, OH, OW) (an NCHW view of NHWC memory) and the cache
        ``(x, W, stride, padding, has_bias)``.
    """
    _check_operands("conv2d", x, W, b, c_axis=1)
    (SH, SW), (PH, PW) = _pair(stride, "stride", 1), _pair(padding, "padding", 0)
    F, C, KH, KW = W.shape
    conv2d_output_shape(x.shape[2], x.shape[3], (KH, KW), (SH, SW), (PH, PW))   # or ShapeError
    y = conv2d_nhwc(x.transpose(0, 2, 3, 1), W, b, SH, SW, PH, PW)   # (N, OH, OW, F)
    return y.transpose(0, 3, 1, 2), (x, W, (SH, SW), (PH, PW), b is not None)


def conv2d_backward(dy, cache, input_grad: bool = True):
    """Gradients of :func:`conv2d_forward`, given dy = dL/dy (N, F, OH, OW).

    With dy2 = dy as (N·OH·OW, F) in the row order of cols:

        db    = Σ_rows dy2                 (F,)          dL/db_f = Σ_{n,i,j} dy[n, f, i, j]
        dW    = dy2ᵀ · cols                (F, N·OH·OW)·(N·OH·OW, K) → (F, K) → (F, C, KH, KW)
        dx    = conv2d_input_grad_nhwc(dy) = col2im(dy2 · Wmat)   each patch entry's
                                           gradient summed onto its pixel

    ``input_grad=False`` skips dx (returns None for dx): the input is data.

    Returns:
        dx (N, C, H, W) or None, dW (F, C, KH, KW), db (F,) or None when there is no bias.
    """
    x, W, (SH, SW), (PH, PW), has_bias = cache
    N, C, H, W_ = x.shape
    F, _, KH, KW = W.shape
    OH, OW = conv2d_output_shape(H, W_, (KH, KW), (SH, SW), (PH, PW))
    if tuple(dy.shape) != (N, F, OH, OW):
        raise ShapeError(f"conv2d_backward: dy must have the output's shape {(N, F, OH, OW)}, "
                         f"got {tuple(dy.shape)}")
    dy_nhwc = _nhwc_memory(dy)                                  # (N, OH, OW, F)
    dy2 = dy_nhwc.reshape(N * OH * OW, F)                       # a view
    db = bias_grad(dy2) if has_bias else None                   # (F,)
    dW = conv2d_weight_grad_nhwc(x.transpose(0, 2, 3, 1), dy_nhwc, KH, KW, SH, SW, PH, PW)
    if not input_grad:
        return None, dW, db
    dx = conv2d_input_grad_nhwc(dy_nhwc, W, H, W_, SH, SW, PH, PW)     # (N, H, W, C)
    return dx.transpose(0, 3, 1, 2), dW, db


# ------------------------------------------------------------ transposed convolution
def conv_transpose2d_forward(x, W, b=None, stride=1, padding=0, output_padding=0):
    """y = conv_transpose2d(x, W) + b: the input-gradient of a convolution, as a layer.

    Derivation. Read W (C_in, C_out, KH, KW) as the weight (F, C, KH, KW) of a convolution
    A that maps a C_out-channel OH×OW image z to a C_in-channel H×W one:
    A z = im2col(z) · Wmatᵀ with Wmat (C_in, K), K = KH·KW·C_out. The transposed
    convolution is its adjoint, y = Aᵀ x, which is exactly the conv's dx formula:

        cols = x2 · Wmat       (N·H·W, C_in)·(C_in, K) → (N·H·W, K),  x2 = x as NHWC rows
        y    = col2im(cols)    (N, C_out, OH, OW), then + b[c_out]

    (:func:`conv2d_input_grad_nhwc`), i.e. every input pixel x[n, c_in, i, j] scatters
    x · W[c_in] (C_out, KH, KW) onto the window at (i·SH − PH, j·SW − PW) of the output.
    The output size must be one that A maps back to H: (OH + 2PH − KH) // SH + 1 = H holds
    for OH = (H − 1)·SH − 2PH + KH + OPH with 0 ≤ OPH < SH; output_padding picks among
    those SH sizes.

    Args:
        x: (N, C_in, H, W).
        W: (C_in, C_out, KH, KW), PyTorch's layout.
        b: (C_out,) or None.
        stride, padding, output_padding: int or (h, w); output_padding < stride.
    Returns:
        y (N, C_out, OH, OW) and the cache ``(x, W, stride, padding, has_bias)``.
    """
    _check_operands("conv_transpose2d", x, W, b, c_axis=0)
    (SH, SW), (PH, PW) = _pair(stride, "stride", 1), _pair(padding, "padding", 0)
    C_in, C_out, KH, KW = W.shape
    OH, OW = conv_transpose2d_output_shape(x.shape[2], x.shape[3], (KH, KW), (SH, SW),
                                           (PH, PW), output_padding)
    y = conv2d_input_grad_nhwc(x.transpose(0, 2, 3, 1), W, OH, OW, SH, SW, PH, PW)
    if b is not None:                   # y is ours (a fresh array): add in place, along
        y += b                          # its memory order (N, OH, OW, C_out)
    return y.transpose(0, 3, 1, 2), (x, W, (SH, SW), (PH, PW), b is not None)


def conv_transpose2d_backward(dy, cache, input_grad: bool = True):
    """Gradients of :func:`conv_transpose2d_forward`, given dy = dL/dy (N, C_out, OH, OW).

    y = col2im(x2 · Wmat) + b, and the adjoint of col2im is im2col, so

        dcols = im2col(dy)        (N·H·W, K): an OH×OW image has exactly H×W windows
        dx2   = dcols · Wmatᵀ     (N·H·W, K)·(K, C_in) → (N·H·W, C_in) → (N, C_in, H, W)
        dW    = x2ᵀ · dcols       (C_in, N·H·W)·(N·H·W, K) → (C_in, K) → (C_in, C_out, KH, KW)
        db    = Σ_{n,i,j} dy      (C_out,)

    dx is a plain convolution of dy with W (:func:`conv2d_nhwc`): the transposed conv's
    input gradient is the conv. ``input_grad=False`` skips dx (returned as None): the
    input is data.

    Returns:
        dx (N, C_in, H, W) or None, dW (C_in, C_out, KH, KW), db (C_out,) or None.
    """
    x, W, (SH, SW), (PH, PW), has_bias = cache
    N, _, H, W_ = x.shape
    C_in, C_out, KH, KW = W.shape
    if (dy.ndim != 4 or tuple(dy.shape[:2]) != (N, C_out)
            or conv2d_output_shape(dy.shape[2], dy.shape[3], (KH, KW), (SH, SW), (PH, PW))
            != (H, W_)):
        raise ShapeError(f"conv_transpose2d_backward: dy must have the output's shape "
                         f"({N}, {C_out}, OH, OW) for the {H}×{W_} input, got {tuple(dy.shape)}")
    dy_nhwc = _nhwc_memory(dy)                                      # (N, OH, OW, C_out)
    # dW = x2ᵀ · im2col(dy): the weight gradient of the conv that maps dy to x's grid
    dW = conv2d_weight_grad_nhwc(dy_nhwc, x.transpose(0, 2, 3, 1), KH, KW, SH, SW, PH, PW)
    db = bias_grad(dy_nhwc.reshape(-1, C_out)) if has_bias else None       # (C_out,)
    if not input_grad:
        return None, dW, db
    dx = conv2d_nhwc(dy_nhwc, W, None, SH, SW, PH, PW)              # (N, H, W, C_in)
    return dx.transpose(0, 3, 1, 2), dW, db
