"""The one place layer code multiplies matrices: C (M, N) = A (M, K) @ B (K, N).

Linear and the convolutions call :func:`matmul` for every GEMM of their forward and
backward passes, so the device gateway's choice of CPU path (``backend.cpu_kernels``)
reaches all of them at once:

    CuPy arrays                          cupy.matmul (cuBLAS)
    NumPy arrays, path "numba" (default) kernels.matmul.matmul_numba (BLIS-style Numba GEMM)
    NumPy arrays, path "numpy"           numpy.matmul (OpenBLAS in the NumPy wheels)

Operands may be transposed views (``W.T``, ``x.T``); no copy is made for them.
"""
from __future__ import annotations

from ..backend import get_array_module, numba_path


def matmul(a, b):
    """a (M, K) @ b (K, N) → (M, N) on the selected backend (see the module docstring)."""
    if a.ndim == 2 and b.ndim == 2 and numba_path(a, b):
        from kernels.matmul import matmul_numba  # noqa: PLC0415 - Numba loads on first use
        return matmul_numba(a, b)
    return get_array_module(a).matmul(a, b)
