"""Affine map: forward/backward pair.

Notation: N batch size, D input features, M output features.

    y = x @ W + b                      x (N, D), W (D, M), b (M,), y (N, M)

Backward, given dL/dy = dy (N, M):

    dx = dy @ W.T                      (N, M) @ (M, D) -> (N, D)
    dW = x.T @ dy                      (D, N) @ (N, M) -> (D, M)
    db = sum_n dy[n]                   (M,)
"""
from __future__ import annotations

from ..backend import dispatched
from ..errors import ShapeError
from .checks import check_array, check_grad
from .gemm import matmul, matmul_add


def linear_forward(x, W, b=None):
    """y = x @ W + b.

    Args:
        x: (N, D) input.
        W: (D, M) weight (PyTorch stores the transpose; we store (in, out) so that
           the forward is one row-major GEMM with no transpose).
        b: (M,) bias or None.
    Returns:
        y: (N, M) and cache ``(x, W, has_bias)``.
    """
    check_array(x, "linear_forward x", ndim=2, layout="(N, D)", dtypes=None, allow_empty=True)
    check_array(W, "linear_forward W", ndim=2, layout="(D, M)", dtypes=None)
    if x.shape[1] != W.shape[0] or (b is not None and tuple(b.shape) != (W.shape[1],)):
        raise ShapeError(f"linear_forward: x {tuple(x.shape)} @ W {tuple(W.shape)} + b "
                         f"{None if b is None else tuple(b.shape)} needs x (N, D), W (D, M) and "
                         f"b (M,) with one D and one M; W is stored (in, out), PyTorch's transpose")
    y = matmul(x, W)               # (N, M)
    if b is not None:
        y += b                     # broadcast over the batch
    return y, (x, W, b is not None)


@dispatched("bias_grad")
def bias_grad(dy2):
    """db (F,) = Σ_rows dy2 for dy2 (R, F): the bias gradient of a dense or (with the
    pixels as rows) convolutional layer. (Numba path: one parallel pass in a fixed order,
    ``kernels.elementwise.column_sums``.)"""
    return dy2.sum(axis=0)


def linear_backward(dy, cache, input_grad: bool = True, dW_into=None):
    """Gradients of ``linear_forward``.

    Args:
        dy: (N, M) upstream gradient dL/dy.
        cache: from ``linear_forward``.
        input_grad: False skips dx (returned as None) when x is data, not a function of
            parameters: it saves the largest GEMM of a first layer (784 inputs).
        dW_into: optional (D, M) buffer that dW is added into, in place (a layer's
            ``grads["W"]``): ``matmul_add``, with no (D, M) temporary.
    Returns:
        dx (N, D) or None, dW (D, M) (``dW_into`` when given), db (M,) or None when the
        layer has no bias.
    """
    x, W, has_bias = cache
    check_grad(dy, (x.shape[0], W.shape[1]), "linear_backward")
    dx = matmul(dy, W.T) if input_grad else None   # dL/dx_nd = sum_m dy_nm W_dm
    if dW_into is None:            # dL/dW_dm = sum_n x_nd dy_nm
        dW = matmul(x.T, dy)
    else:
        dW = matmul_add(dW_into, x.T, dy)
    db = bias_grad(dy) if has_bias else None    # dL/db_m = sum_n dy_nm
    return dx, dW, db
