"""Accumulator tiles on the stack, so that LLVM keeps them in registers.

A GEMM micro-kernel accumulates a small tile of C (e.g. 6 x 32 float32) across the
whole k-loop. Written as ``acc = np.zeros(n)`` the tile lives on the heap, LLVM cannot
prove that stores to it never alias the operands, and every ``acc[i] += ...`` goes
through memory, at less than half the speed (docs/kernels/gemm.md). An ``alloca`` of a
compile-time size can be promoted to registers.

Used by the macro-kernels of ``kernels/gemm_tiles.py`` and the streaming kernel of
``kernels/matmul_stream.py``; tested through them (tests/test_kernels_matmul.py).

``make_register_tile(size)`` returns a function ``tile(dtype)`` giving a zeroed
(size,) array of that dtype: an ``np.zeros`` in plain Python (``NUMBA_DISABLE_JIT=1``),
a stack buffer inside Numba-compiled code. ``inline="always"`` is required, not a
tuning knob: the alloca must sit in the caller's frame (a separate function would
return a dangling stack pointer).
"""
from __future__ import annotations

from . import target as _target  # noqa: F401 - sets the vector width before anything compiles
import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

__all__ = ["make_register_tile", "stack_buffer"]


@intrinsic
def stack_buffer(typingctx, size, dtype):
    """Pointer to ``size`` (a compile-time constant) elements on the stack (alloca)."""
    if not isinstance(size, types.IntegerLiteral):
        return None

    def codegen(context, builder, signature, args):
        n = context.get_constant(types.intp, size.literal_value)
        return cgutils.alloca_once(builder, context.get_value_type(dtype.dtype), size=n)

    return types.CPointer(dtype.dtype)(size, dtype), codegen


def make_register_tile(size):
    """``tile(dtype)`` -> a zeroed (size,) accumulator: NumPy in Python, alloca in Numba."""
    def tile(dtype):
        return np.zeros(size, dtype=dtype)

    tile.__name__ = tile.__qualname__ = f"register_tile_{size}"

    @overload(tile, inline="always")
    def tile_jit(dtype):
        def impl(dtype):
            acc = numba.carray(stack_buffer(size, dtype), size)
            for t in range(size):
                acc[t] = 0
            return acc
        return impl

    return tile
