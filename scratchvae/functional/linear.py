"""Affine map: forward/backward pair.

Notation: N batch size, D input features, M output features.

    y = x @ W + b                      x (N, D), W (D, M), b (M,), y (N, M)

Backward, given dL/dy = dy (N, M):

    dx = dy @ W.T                      (N, M) @ (M, D) -> (N, D)
    dW = x.T @ dy                      (D, N) @ (N, M) -> (D, M)
    db = sum_n dy[n]                   (M,)
"""
from __future__ import annotations

from .gemm import matmul


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
    y = matmul(x, W)               # (N, M)
    if b is not None:
        y += b                     # broadcast over the batch
    return y, (x, W, b is not None)


def linear_backward(dy, cache, input_grad: bool = True):
    """Gradients of ``linear_forward``.

    Args:
        dy: (N, M) upstream gradient dL/dy.
        cache: from ``linear_forward``.
        input_grad: False skips dx (returned as None) when x is data, not a function of
            parameters: it saves the largest GEMM of a first layer (784 inputs).
    Returns:
        dx (N, D) or None, dW (D, M), db (M,) or None when the layer has no bias.
    """
    x, W, has_bias = cache
    dx = matmul(dy, W.T) if input_grad else None   # dL/dx_nd = sum_m dy_nm W_dm
    dW = matmul(x.T, dy)           # dL/dW_dm = sum_n x_nd dy_nm
    db = dy.sum(axis=0) if has_bias else None   # dL/db_m = sum_n dy_nm
    return dx, dW, db
