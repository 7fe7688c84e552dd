"""The loop oracles of the convolutions: the definitions, written out, that the GEMM
versions of ``functional/conv.py`` (and the kernels behind them) are tested against.

Notation as in ``functional/conv.py``. Slow on purpose: explicit loops over the output
positions and the kernel, NumPy only, no im2col and no GEMM.
"""
from __future__ import annotations

import numpy as np

from .conv import _check_operands
from .patches import _pair, conv2d_output_shape, conv_transpose2d_output_shape


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
