"""cuDNN, the reference of ``gpu.py``'s conv section, behind one small interface.

Two ways to reach cuDNN, the same five calls each (on CuPy arrays in and out):

    TorchCudnn   PyTorch's own cuDNN calls, ``aten.convolution`` and
                 ``aten.convolution_backward`` (the ops autograd runs), through DLPack
    CupyxCudnn   ``cupyx.cudnn``'s three primitives of a convolution A: forward,
                 backward data (Aᵀ) and backward filter

    prepare(*arrays)         the library's own arrays of the inputs
    fwd(x, W, b, stride, padding, transposed)                         y
    bwd(dy, x, W, stride, padding, transposed, input_grad)            (dx, dW, db)
    to_cupy(t)               a result back as a CuPy array

``conv_reference(cp, torch, choice, log)`` picks one: cupyx.cudnn when it imports and
runs a tiny convolution, else PyTorch's.
"""
from __future__ import annotations

from gpu_device import cudnn_version

__all__ = ["TorchCudnn", "CupyxCudnn", "conv_reference"]


class TorchCudnn:
    """cuDNN as PyTorch calls it: ``aten.convolution`` and ``aten.convolution_backward``
    (the ops autograd runs for conv2d and conv_transpose2d). Takes and returns CuPy
    arrays (zero-copy through DLPack)."""

    def __init__(self, torch, cp):
        self.torch, self.cp = torch, cp
        self.name = f"cuDNN {cudnn_version(torch.backends.cudnn.version())} via PyTorch"

    def _t(self, a):
        return self.torch.from_dlpack(self.cp.ascontiguousarray(a))

    def prepare(self, *arrays):
        return [self._t(a) for a in arrays]

    def fwd(self, x, W, b, stride, padding, transposed):
        return self.torch.ops.aten.convolution(x, W, b, [stride] * 2, [padding] * 2, [1, 1],
                                               transposed, [0, 0], 1)

    def bwd(self, dy, x, W, stride, padding, transposed, input_grad):
        C_out = W.shape[1] if transposed else W.shape[0]
        return self.torch.ops.aten.convolution_backward(
            dy, x, W, [C_out], [stride] * 2, [padding] * 2, [1, 1], transposed, [0, 0], 1,
            [bool(input_grad), True, True])

    def to_cupy(self, t):
        return None if t is None else self.cp.asarray(t)


class CupyxCudnn:
    """cuDNN through ``cupyx.cudnn``: the three primitives of a convolution A —
    forward, backward data (Aᵀ) and backward filter — give both layers:

        Conv2d:  y = A x,   dx = Aᵀ dy,  dW = filter(x, dy)
        ConvT:   y = Aᵀ x,  dx = A dy,   dW = filter(dy, x)      (W read as A's weight)
    """

    def __init__(self, cudnn, cp):
        self.cudnn, self.cp = cudnn, cp
        self.name = f"cuDNN {cudnn_version(cp.cuda.cudnn.getVersion())} via cupyx.cudnn"

    def prepare(self, *arrays):
        return [None if a is None else self.cp.ascontiguousarray(a) for a in arrays]

    def _a(self, x, W, b, s, p, out_hw):
        y = self.cp.empty((x.shape[0], W.shape[0], *out_hw), dtype=x.dtype)
        self.cudnn.convolution_forward(x, W, b, y, (p, p), (s, s), (1, 1), 1,
                                       auto_tune=True, tensor_core="never")
        return y

    def _at(self, W, gy, b, s, p, out_hw):
        gx = self.cp.empty((gy.shape[0], W.shape[1], *out_hw), dtype=gy.dtype)
        self.cudnn.convolution_backward_data(W, gy, b, gx, (p, p), (s, s), (1, 1), 1,
                                             deterministic=False, auto_tune=True,
                                             tensor_core="never")
        return gx

    def _filter(self, x, gy, W_shape, s, p):
        gW = self.cp.empty(W_shape, dtype=x.dtype)
        self.cudnn.convolution_backward_filter(x, gy, gW, (p, p), (s, s), (1, 1), 1,
                                               deterministic=False, auto_tune=True,
                                               tensor_core="never")
        return gW

    def fwd(self, x, W, b, stride, padding, transposed):
        H, W_ = x.shape[2:]
        K = W.shape[2]
        if transposed:
            hw = ((H - 1) * stride - 2 * padding + K, (W_ - 1) * stride - 2 * padding + K)
            return self._at(W, x, b, stride, padding, hw)
        hw = ((H + 2 * padding - K) // stride + 1, (W_ + 2 * padding - K) // stride + 1)
        return self._a(x, W, b, stride, padding, hw)

    def bwd(self, dy, x, W, stride, padding, transposed, input_grad):
        db = dy.sum(axis=(0, 2, 3))
        hw = x.shape[2:]
        if transposed:
            dx = self._a(dy, W, None, stride, padding, hw) if input_grad else None
            return dx, self._filter(dy, x, W.shape, stride, padding), db
        dx = self._at(W, dy, None, stride, padding, hw) if input_grad else None
        return dx, self._filter(x, dy, W.shape, stride, padding), db

    def to_cupy(self, a):
        return a


def conv_reference(cp, torch, choice, log):
    """The cuDNN backend: cupyx.cudnn when it imports and runs a tiny conv, else PyTorch."""
    if choice in ("auto", "cupyx"):
        try:
            import cupyx.cudnn as cudnn  # noqa: PLC0415 - optional; gone in newer CuPy
            ref = CupyxCudnn(cudnn, cp)
            ref.fwd(cp.ones((1, 1, 4, 4), cp.float32), cp.ones((1, 1, 2, 2), cp.float32), None,
                    1, 0, False)
            return ref, None
        except Exception as exc:  # noqa: BLE001 - no cuDNN library, removed module, ...
            why = f"cupyx.cudnn unusable ({type(exc).__name__}: {str(exc)[:120]})"
            if choice == "cupyx":
                return None, why
            log(f"{why}; using PyTorch's cuDNN")
    if torch is None:
        return None, "no cuDNN reference: cupyx.cudnn unusable and PyTorch not importable"
    return TorchCudnn(torch, cp), None
