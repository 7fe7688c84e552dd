"""Convolution layers (PyTorch's ``nn.Conv2d`` and ``nn.ConvTranspose2d``, NCHW, groups=1,
dilation=1). The math lives in :mod:`scratchvae.functional.conv`."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from ..functional.checks import check_dtype, check_int, check_seed
from ..functional.conv import (
    conv2d_backward, conv2d_forward, conv_transpose2d_backward, conv_transpose2d_forward,
)
from ..functional.patches import _pair, conv2d_output_shape, conv_transpose2d_output_shape
from ..rng import as_rng
from .module import Module


class _ConvBase(Module):
    """Shared argument handling, PyTorch init, input checks and repr."""

    skips_input_grad = True

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, bias, rng,
                 dtype, transposed):
        super().__init__()
        cls = type(self).__name__
        self.in_channels = check_int(in_channels, f"{cls} in_channels", 1,
                                     hint="it needs positive channel counts")
        self.out_channels = check_int(out_channels, f"{cls} out_channels", 1,
                                      hint="it needs positive channel counts")
        self.kernel_size = _pair(kernel_size, f"{cls} kernel_size", 1)
        self.stride = _pair(stride, f"{cls} stride", 1)
        self.padding = _pair(padding, f"{cls} padding", 0)
        dtype = check_dtype(dtype)
        rng = check_seed(rng, "rng")
        KH, KW = self.kernel_size
        shape = ((self.in_channels, self.out_channels, KH, KW) if transposed
                 else (self.out_channels, self.in_channels, KH, KW))
        # PyTorch: kaiming_uniform_(W, a=√5) is U(±gain·√(3/fan_in)) with gain = √(2/(1+5)),
        # i.e. U(±1/√fan_in); the bias is U(±1/√fan_in) with the same fan_in. PyTorch takes
        # the fan from the weight's second axis for both layers: C·KH·KW for a conv,
        # C_out·KH·KW for a transposed conv.
        rng = as_rng(rng)
        bound = 1.0 / np.sqrt(shape[1] * KH * KW)
        self.add_param("W", rng.uniform(-bound, bound, shape).astype(dtype))
        if bias:
            self.add_param("b", rng.uniform(-bound, bound, (self.out_channels,)).astype(dtype))

    def _check_input(self, x):
        self._check_float_input(x)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ShapeError(f"{type(self).__name__}({self.extra_repr()}) expects NCHW input of "
                             f"shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}")

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class Conv2d(_ConvBase):
    """y = conv2d(x, W) + b (a cross-correlation, as PyTorch).

    Args:
        in_channels: C.
        out_channels: F.
        kernel_size, stride, padding: int or (h, w).
        bias: add a learnable bias b (F,).
        rng: ``numpy.random.Generator`` or seed for the initialisation.
        dtype: float32 (default) or float64.

    Parameters: ``params["W"]`` (F, C, KH, KW), ``params["b"]`` (F,), both drawn from
    U(-1/√fan_in, 1/√fan_in) with fan_in = C·KH·KW, PyTorch's default.
    Input (N, C, H, W) → output (N, F, OH, OW), OH = (H + 2PH − KH) // SH + 1.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, rng=None, dtype=np.float32):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias, rng, dtype,
                         transposed=False)

    def output_shape(self, H: int, W: int) -> tuple[int, int]:
        """(OH, OW) for an H×W input; ShapeError if the kernel exceeds the padded input."""
        return conv2d_output_shape(H, W, self.kernel_size, self.stride, self.padding)

    def forward(self, x):
        self._check_input(x)
        return self._keep(*conv2d_forward(x, self.params["W"], self.params.get("b"),
                                           self.stride, self.padding))

    def backward(self, dy, input_grad: bool = True):
        """dL/dx — or None with ``input_grad=False`` — and dW, db added to grads."""
        dx, dW, db = conv2d_backward(dy, self._pop_cache(dy), input_grad)
        self.grads["W"] += dW
        if db is not None:
            self.grads["b"] += db
        return dx

    def extra_repr(self):
        return super().extra_repr() + f", bias={'b' in self.params}"


class ConvTranspose2d(_ConvBase):
    """y = conv_transpose2d(x, W) + b: the input-gradient of a Conv2d, used to upsample.

    Args:
        in_channels: C_in.
        out_channels: C_out.
        kernel_size, stride, padding: int or (h, w).
        output_padding: int or (h, w), each smaller than the stride; extra rows/columns on
            the bottom/right that pick one of the SH output sizes a stride-SH conv maps back.
        bias: add a learnable bias b (C_out,).
        rng: ``numpy.random.Generator`` or seed for the initialisation.
        dtype: float32 (default) or float64.

    Parameters: ``params["W"]`` (C_in, C_out, KH, KW) as PyTorch stores it, ``params["b"]``
    (C_out,), both U(-1/√fan_in, 1/√fan_in) with fan_in = W.shape[1]·KH·KW = C_out·KH·KW
    (PyTorch computes the fan from the weight's second axis, which here is C_out).
    Input (N, C_in, H, W) → output (N, C_out, OH, OW), OH = (H − 1)·SH − 2PH + KH + OPH;
    e.g. kernel 4, stride 2, padding 1 doubles H.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, bias: bool = True, rng=None, dtype=np.float32):
        out_pad = _pair(output_padding, "ConvTranspose2d output_padding", 0)
        strides = _pair(stride, "ConvTranspose2d stride", 1)
        if out_pad[0] >= strides[0] or out_pad[1] >= strides[1]:
            raise ConfigError(f"ConvTranspose2d: output_padding {out_pad} must be smaller than "
                              f"stride {strides}; it picks one of the stride's output sizes "
                              f"(use 0, or at most stride − 1)")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias, rng, dtype,
                         transposed=True)
        self.output_padding = out_pad

    def output_shape(self, H: int, W: int) -> tuple[int, int]:
        """(OH, OW) for an H×W input."""
        return conv_transpose2d_output_shape(H, W, self.kernel_size, self.stride, self.padding,
                                             self.output_padding)

    def forward(self, x):
        self._check_input(x)
        return self._keep(*conv_transpose2d_forward(x, self.params["W"], self.params.get("b"),
                                                     self.stride, self.padding,
                                                     self.output_padding))

    def backward(self, dy, input_grad: bool = True):
        """dL/dx — or None with ``input_grad=False`` — and dW, db added to grads."""
        dx, dW, db = conv_transpose2d_backward(dy, self._pop_cache(dy), input_grad)
        self.grads["W"] += dW
        if db is not None:
            self.grads["b"] += db
        return dx

    def extra_repr(self):
        return (super().extra_repr() + f", output_padding={self.output_padding}"
                f", bias={'b' in self.params}")
