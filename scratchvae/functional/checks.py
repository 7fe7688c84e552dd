"""Argument checks shared by the ops, the losses, the layers and the models.

Each check raises one of the library's errors (``scratchvae.errors``) with a one-line
message that names the argument, says what was wrong and how to fix it, and returns the
value (normalised where that is free: an ``int``, a ``float``, a ``np.dtype``).

What they cost, since some run on every training step:

* the array checks (:func:`check_array`, :func:`check_grad`) read only ``dtype``,
  ``ndim``, ``shape`` and ``size``: O(1), a fraction of a microsecond each;
* :func:`check_finite` is the one that reads the data: one ``isfinite`` pass, and the
  count and first index of the bad values only when there are some;
* the number checks (:func:`check_int`, :func:`check_real`, ...) run once, when a layer,
  a model or an optimizer is built.

Which errors: a wrong array type or dtype is a :class:`DTypeError`, a wrong rank or size a
:class:`ShapeError`, an empty batch a :class:`DataError`, NaN/Inf in data a
:class:`NonFiniteError`, and a constructor argument out of its range, of the wrong type or
not one of the known names a :class:`ConfigError`.
"""
from __future__ import annotations

import math
import numbers
import sys

import numpy as np

from ..errors import ConfigError, DataError, DTypeError, NonFiniteError, ShapeError

#: the dtypes the library computes in (the kernels' and the docs' "float32 or float64")
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# ------------------------------------------------------------------------ arrays
def _dtype_fix(dtype, name: str) -> str:
    """How to turn an array of ``dtype`` into one the library can use."""
    kind = dtype.kind
    if kind in "ui":
        return (f"integer data (0–255 pixels?): scale it to [0, 1] first, "
                f"{name}.astype(np.float32) / 255")
    if kind == "b":
        return f"cast it: {name}.astype(np.float32)"
    if kind == "c":
        return f"pass real numbers: {name}.real.astype(np.float32)"
    if dtype == np.float16:
        return (f"float16 is too coarse for the sums computed here: "
                f"{name}.astype(np.float32)")
    if kind == "f":
        return f"cast it: {name}.astype(np.float32)"
    return f"convert it: np.asarray({name}, dtype=np.float32)"


def _shape_fix(shape: tuple, name: str, ndim: int, layout: str) -> str:
    """How to give an array of ``shape`` the rank ``ndim`` of ``layout``."""
    if len(shape) == 0:
        return f"pass a batch {layout}, not a 0-d scalar"
    if len(shape) < ndim:
        return f"for a single example add the batch axis: {name}[None]"
    if ndim == 2:
        return f"flatten each example: {name}.reshape(len({name}), -1)"
    return f"reshape it to {layout}"


_F32, _F64 = FLOAT_DTYPES          # built-in dtypes are singletons: `is` is the fast test


def check_array(x, name: str, ndim: int | None = None, min_ndim: int | None = None,
                layout: str | None = None, dtypes=FLOAT_DTYPES, allow_empty: bool = False):
    """Check that ``x`` is an array of one of ``dtypes`` with the right rank; O(1).

    Args:
        x: the argument.
        name: its name, as the caller knows it ("x", "logits", "eps").
        ndim: the rank it must have, or None; ``min_ndim``: the least rank, or None.
        layout: how the shape is written in the messages, e.g. "(N, D)".
        dtypes: the dtypes accepted (float32/float64 by default); None accepts any
            floating dtype (float16 included).
        allow_empty: accept an array with no elements.
    Returns:
        ``x``, unchanged.
    """
    dtype = getattr(x, "dtype", None)
    if (dtype is _F32 or dtype is _F64) and (dtypes is FLOAT_DTYPES or dtypes is None) \
            and (ndim is None or x.ndim == ndim) and (min_ndim is None or x.ndim >= min_ndim) \
            and (allow_empty or x.size):
        return x                                   # the common case, in a few comparisons
    if not isinstance(dtype, np.dtype) or not hasattr(x, "shape"):
        raise DTypeError(f"{name} must be an array, got {type(x).__name__}; "
                         f"wrap it with np.asarray({name}, dtype=np.float32)")
    if dtype not in (dtypes or ()) and not (dtypes is None and dtype.kind == "f"):
        want = "float32 or float64" if dtypes in (None, FLOAT_DTYPES) else \
            " or ".join(str(d) for d in dtypes)
        raise DTypeError(f"{name} must be a {want} array, got dtype {dtype}; "
                         f"{_dtype_fix(dtype, name)}")
    shape = tuple(x.shape)
    if ndim is not None and len(shape) != ndim:
        layout = layout or "(" + ", ".join(["N"] + ["…"] * (ndim - 1)) + ")"
        raise ShapeError(f"{name} must have {ndim} dimensions {layout}, got shape {shape}; "
                         f"{_shape_fix(shape, name, ndim, layout)}")
    if min_ndim is not None and len(shape) < min_ndim:
        layout = layout or "(N, …)"
        raise ShapeError(f"{name} must have at least {min_ndim} dimension"
                         f"{'s' if min_ndim > 1 else ''} {layout}, got shape {shape}; "
                         f"{_shape_fix(shape, name, min_ndim, layout)}")
    if not allow_empty and x.size == 0:
        raise DataError(f"{name} is empty (shape {shape}): there is nothing to compute on; "
                        f"pass at least one example")
    return x


def check_same_shapes(reference, ref_name: str, **others):
    """ShapeError unless every array of ``others`` has the shape of ``reference``; O(1)."""
    want = tuple(reference.shape)
    for name, a in others.items():
        if tuple(a.shape) != want:
            raise ShapeError(f"{name} must have the shape of {ref_name}, {want}, got "
                             f"{tuple(a.shape)}; pass matching arrays (one row per example)")


def check_finite(x, name: str):
    """NonFiniteError if ``x`` holds NaN or Inf (how many, and the first index): one
    ``isfinite`` pass over x, the count only when it fails."""
    xp = _module_of(x)
    ok = xp.isfinite(x)
    if bool(ok.all()):
        return x
    bad = ~ok
    count = int(bad.sum())
    first = tuple(int(i) for i in np.argwhere(_host(bad))[0])
    raise NonFiniteError(f"{name} holds {count} NaN/Inf value(s), first at index {first}; "
                         f"clean the data (e.g. np.nan_to_num) before using it")


def _module_of(x):
    # NumPy or CuPy, from the array itself (the array exists, so its module is imported)
    if type(x).__module__.split(".")[0] == "cupy":
        return sys.modules["cupy"]
    return np


def _host(x):
    return x.get() if hasattr(x, "get") else np.asarray(x)


def check_floating(x, owner: str, name: str, what: str, fix: str):
    """Refuse (DTypeError) ``x`` unless it is a floating array (any float dtype); O(1).

    ``owner`` names the caller in the message (``"Linear(4, 3, bias=True)"``), ``what`` says
    what ``x`` is to it ("input", "gradient dL/dy") and ``fix`` how to make a non-array one.
    """
    dtype = getattr(x, "dtype", None)
    if dtype is _F32 or dtype is _F64:
        return x                                   # the common case
    if not isinstance(dtype, np.dtype) or not hasattr(x, "shape"):
        raise DTypeError(f"{owner}: {name} must be an array ({what}), got "
                         f"{type(x).__name__}; {fix}")
    if dtype.kind != "f":
        raise DTypeError(f"{owner}: {name} must be a floating array ({what}), got dtype "
                         f"{dtype}; {_dtype_fix(dtype, name)}")
    return x


def check_grad(dy, shape, owner: str, name: str = "dy"):
    """The upstream gradient of a backward: a floating array shaped like the forward's
    output ``shape``; ``owner`` names the backward in the message
    (``"Linear(4, 3, bias=True).backward"``, ``"linear_backward"``). O(1)."""
    check_floating(dy, owner, name, "the gradient dL/dy",
                   f"pass an array shaped like the forward's output {tuple(shape)}")
    if tuple(dy.shape) != tuple(shape):
        raise ShapeError(f"{owner}: {name} must have the shape of the output its "
                         f"forward produced, {tuple(shape)}, got {tuple(dy.shape)}; pass dL/d(that "
                         f"output), after this layer's own forward")
    return dy


def _interval(low, high, low_open: bool, high_open: bool) -> str:
    lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
    hi = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
    return f"{lo}, {hi}"


def check_real(value, name: str, low=None, high=None, low_open: bool = False,
               high_open: bool = False, hint: str = "") -> float:
    """A finite real number in the interval given (None: unbounded); returns a float."""
    where = _interval(low, high, low_open, high_open)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a finite number in {where}, got {value!r}"
                          f"{'; ' + hint if hint else ''}")
    v = float(value)
    ok = math.isfinite(v) and (low is None or (v > low if low_open else v >= low)) \
        and (high is None or (v < high if high_open else v <= high))
    if not ok:
        raise ConfigError(f"{name} must be a finite number in {where}, got {value!r}"
                          f"{'; ' + hint if hint else ''}")
    return v


def is_integer(value) -> bool:
    """An int (or NumPy integer, or an integral float such as 20.0), not a bool."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, numbers.Integral):
        return True
    return isinstance(value, numbers.Real) and math.isfinite(float(value)) \
        and float(value).is_integer()


def check_int(value, name: str, minimum: int | None = 1, maximum: int | None = None,
              hint: str = "") -> int:
    """An integer in [minimum, maximum] (None: unbounded); returns an int."""
    lo = "" if minimum is None else f" ≥ {minimum}"
    hi = "" if maximum is None else f" ≤ {maximum}"
    if not is_integer(value) or (minimum is not None and int(value) < minimum) \
            or (maximum is not None and int(value) > maximum):
        raise ConfigError(f"{name} must be an integer{lo}{' and' if lo and hi else ''}{hi}, "
                          f"got {value!r}{'; ' + hint if hint else ''}")
    return int(value)


def check_sizes(values, name: str, min_len: int = 0, example: str = "(400,)",
                length: int | None = None, what: str = "") -> list[int]:
    """A sequence of positive integers (layer widths, channels, an image shape), at least
    ``min_len`` long or exactly ``length``; ``what`` says what they are. Returns a list
    of ints."""
    seq = not isinstance(values, (str, bytes)) and hasattr(values, "__iter__")
    values = list(values) if seq else values
    if length is not None:
        need = f"{length} "
    else:
        need = f"at least {min_len} " if min_len else ""
    if not seq or (length is not None and len(values) != length) or len(values) < min_len \
            or not all(is_integer(v) and int(v) >= 1 for v in values):
        raise ConfigError(f"{name} must be a sequence of {need}positive integers{what}, e.g. "
                          f"{name}={example}, got {values!r}")
    return [int(v) for v in values]


def check_choice(value, name: str, choices) -> str:
    """One of ``choices`` (strings); the error lists them."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"unknown {name} {value!r}; choose one of {choices}")
    return value


def check_dtype(dtype, name: str = "dtype",
                hint: str = "the layers, kernels and losses compute in one of those two"
                ) -> np.dtype:
    """float32 or float64 as a ``np.dtype`` (DTypeError for anything else, ending in
    ``hint``)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in FLOAT_DTYPES:          # (None == a dtype can be True)
        raise DTypeError(f"{name} must be np.float32 or np.float64, got {dtype!r}; {hint}")
    return dt


def check_seed(seed, name: str = "seed", generator: bool = True):
    """A seed for ``numpy.random.default_rng``: None, an int ≥ 0 or a sequence of them, a
    SeedSequence or (if ``generator``) a Generator/BitGenerator; returns it unchanged."""
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return seed
    if generator and isinstance(seed, (np.random.Generator, np.random.BitGenerator)):
        return seed
    if is_integer(seed) and int(seed) >= 0:
        return seed
    if isinstance(seed, (list, tuple)) and seed and all(is_integer(s) and int(s) >= 0
                                                          for s in seed):
        return seed
    kinds = "an int ≥ 0" + (", a numpy.random.Generator" if generator else "")
    raise ConfigError(f"{name} must be {kinds} or None, got {seed!r}; e.g. {name}=0")


__all__ = ["FLOAT_DTYPES", "check_array", "check_same_shapes", "check_finite", "check_grad",
           "check_real", "check_int", "is_integer", "check_sizes", "check_choice",
           "check_dtype", "check_seed"]
