"""The errors the kernels raise on bad input: a wrong shape, a wrong dtype, a missing GPU.

``kernels`` is a leaf package (it imports nothing from ``scratchvae``), so it has its own
small error classes. Each is also a standard Python error, so ``except ValueError`` /
``except TypeError`` keeps working for callers that know nothing of this module:

    KernelError                     the base class of all three
    KernelShapeError(ValueError)    an operand has the wrong rank or size, or operands disagree
    KernelDTypeError(TypeError)     a dtype the kernel is not compiled for, or mixed dtypes
    KernelDeviceError(RuntimeError) a CUDA kernel was asked for without CuPy or a GPU

Every message names the operands, their shapes or dtypes, and what to change.
``scratchvae.errors.ShapeError`` and ``DTypeError`` subclass the first two, so
``except KernelShapeError`` also catches the library's own shape errors.
"""
from __future__ import annotations

__all__ = ["KernelError", "KernelShapeError", "KernelDTypeError", "KernelDeviceError"]


class KernelError(Exception):
    """Base class of every error a kernel raises on purpose."""


class KernelShapeError(KernelError, ValueError):
    """An operand has the wrong number of dimensions or the wrong size."""


class KernelDTypeError(KernelError, TypeError):
    """An operand has a dtype the kernel is not compiled for, or the operands' dtypes differ."""


class KernelDeviceError(KernelError, RuntimeError):
    """A CUDA kernel was requested, but CuPy does not import or sees no GPU."""
