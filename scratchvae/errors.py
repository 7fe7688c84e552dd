"""Errors that name the problem, and the input checks that raise them.

Every public entry point that takes user data (models, losses, data loaders,
the trainer) calls one of the ``check_*`` helpers below, so that a wrong shape,
an integer image, a NaN or an empty data set is reported at the boundary with
a message that says what was wrong and how to fix it — instead of surfacing
ten frames deep as a broadcasting error.
"""
from __future__ import annotations

import sys

import numpy as np

from kernels.errors import KernelDTypeError, KernelShapeError


class ScratchVAEError(Exception):
    """Base class of every error scratchvae raises on purpose."""


class ShapeError(ScratchVAEError, KernelShapeError):
    """An array has the wrong number of dimensions or the wrong size (a ValueError; a
    ``kernels.errors.KernelShapeError`` too, so ``except KernelShapeError`` catches both)."""


class DTypeError(ScratchVAEError, KernelDTypeError):
    """An array has a dtype the operation cannot use (e.g. integer pixels); a TypeError,
    and a ``kernels.errors.KernelDTypeError``."""


class NonFiniteError(ScratchVAEError, FloatingPointError):
    """NaN or Inf in data, in a loss, or in a gradient."""


class DataError(ScratchVAEError, ValueError):
    """A data set is empty, unknown, corrupt, truncated or cannot be fetched."""


class ConfigError(ScratchVAEError, ValueError):
    """An option or setting that cannot be used: out of range, or not one the model can
    honour (e.g. KL warm-up for a model without a KL weight)."""


class CheckpointError(ScratchVAEError, ValueError):
    """A checkpoint file is missing, unreadable or does not fit the model."""


class WriteError(ScratchVAEError, OSError):
    """A file could not be written (disk full, read-only file system, no permission).

    The message is one line naming the file, the cause and the fix, e.g. ``could not write
    runs/x/checkpoint.npz: No space left on device (errno 28); free some space or write to
    another directory (--out)``. It is an OSError too, with ``errno`` and ``filename`` set,
    so ``except OSError`` code keeps working; ``str()`` is the message alone.
    """

    def __init__(self, message: str, *, filename=None, errno: int | None = None):
        super().__init__(message)
        self.errno = errno
        self.filename = None if filename is None else str(filename)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def check_float_array(x, name: str, ndim: int | tuple[int, ...] | None = None,
                      allow_empty: bool = False, finite: bool = True):
    """Validate ``x`` as a floating-point array and return it unchanged.

    Raises
    ------
    DTypeError       if ``x`` is not an array of float16/32/64 (integer images must be
                     scaled to [0, 1] first, e.g. ``x.astype(np.float32) / 255``).
    ShapeError       if ``ndim`` is given and ``x.ndim`` is not one of them.
    DataError        if ``x`` has no elements and ``allow_empty`` is False.
    NonFiniteError   if ``finite`` and ``x`` holds NaN or Inf (names how many and where).
    """
    dtype = getattr(x, "dtype", None)
    if dtype is None or not hasattr(x, "shape"):
        raise DTypeError(f"{name} must be an array, got {type(x).__name__}; "
                         f"wrap it with np.asarray(..., dtype=np.float32)")
    if dtype.kind != "f":
        hint = (" (integer pixels? scale them: x.astype(np.float32) / 255)"
                if dtype.kind in "ui" else "")
        raise DTypeError(f"{name} must have a floating dtype, got {dtype}{hint}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(d) for d in allowed)
            raise ShapeError(f"{name} must have {want} dimensions, got shape {tuple(x.shape)}")
    if not allow_empty and x.size == 0:
        raise DataError(f"{name} is empty (shape {tuple(x.shape)}); there is nothing to compute on")
    if finite:
        bad = ~_isfinite(x)
        if bad.any():
            count = int(bad.sum())
            first = tuple(int(i) for i in np.argwhere(_to_numpy(bad))[0])
            raise NonFiniteError(f"{name} holds {count} NaN/Inf value(s), first at index {first}; "
                                 f"clean the data (e.g. np.nan_to_num) before using it")
    return x


def check_last_dim(x, name: str, size: int):
    """Raise ShapeError unless ``x.shape[-1] == size``."""
    if x.shape[-1] != size:
        raise ShapeError(f"{name} must have {size} features in its last dimension, "
                         f"got shape {tuple(x.shape)}")
    return x


def check_same_shape(a, b, name_a: str, name_b: str):
    """Raise ShapeError unless ``a`` and ``b`` have the same shape."""
    if tuple(a.shape) != tuple(b.shape):
        raise ShapeError(f"{name_a} and {name_b} must have the same shape, "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")


def _isfinite(x):
    # NumPy and CuPy arrays alike: a CuPy array's own module (already imported, since the
    # array exists) computes it on the device; nothing here imports CuPy
    mod = type(x).__module__.split(".")[0]
    if mod == "cupy":
        return sys.modules["cupy"].isfinite(x)
    return np.isfinite(x)


def _to_numpy(x):
    return x.get() if hasattr(x, "get") else np.asarray(x)
