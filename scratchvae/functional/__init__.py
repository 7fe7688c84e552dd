"""The functional core: every op as a ``*_forward -> (out, cache)`` /
``*_backward(dout, cache) -> grads`` pair, with no state of its own.

The layer classes in :mod:`scratchvae.nn` own parameters, gradients and the
cache and call these functions; the losses and probabilistic pieces live in
:mod:`scratchvae.distributions`.
"""
from .activations import (
    hardtanh_backward, hardtanh_forward, leaky_relu_backward, leaky_relu_forward,
    ptanh_backward, ptanh_forward, relu_backward, relu_forward, sigmoid_backward, sigmoid_forward,
    softplus_backward, softplus_forward, tanh_backward, tanh_forward,
)
from .batchnorm import (
    batchnorm_backward, batchnorm_eval, batchnorm_eval_backward, batchnorm_forward,
)
from .conv import (
    conv2d_backward, conv2d_forward, conv_transpose2d_backward, conv_transpose2d_forward,
)
from .conv_reference import conv2d_naive, conv_transpose2d_naive
from .patches import col2im, conv2d_output_shape, conv_transpose2d_output_shape, im2col
from .linear import linear_backward, linear_forward
from .gated import gated_backward, gated_forward
from .numerics import log_sigmoid, logsumexp, sigmoid, softplus
from .shape import (
    dropout_backward, dropout_forward, dropout_mask, upsample_nearest_backward,
    upsample_nearest_forward,
)

__all__ = [
    "linear_forward", "linear_backward",
    "relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
    "tanh_forward", "tanh_backward", "sigmoid_forward", "sigmoid_backward",
    "softplus_forward", "softplus_backward", "ptanh_forward", "ptanh_backward",
    "sigmoid", "softplus", "log_sigmoid", "logsumexp",
    "im2col", "col2im", "conv2d_forward", "conv2d_backward", "conv2d_naive",
    "conv2d_output_shape", "conv_transpose2d_forward", "conv_transpose2d_backward",
    "conv_transpose2d_naive", "conv_transpose2d_output_shape",
    "batchnorm_forward", "batchnorm_backward", "batchnorm_eval", "batchnorm_eval_backward",
    "upsample_nearest_forward", "upsample_nearest_backward",
    "dropout_mask", "dropout_forward", "dropout_backward",
    "gated_forward", "gated_backward", "hardtanh_forward", "hardtanh_backward",
]
