"""The GEMM oracle, and the operand checks every GEMM entry point shares.

Notation (used by every GEMM module of this package):

    M   rows of A and C            (the batch, for a Linear forward)
    K   inner dimension            (summed over)
    N   columns of B and C

    C (M, N) = A (M, K) @ B (K, N)        C[m, n] = sum_k A[m, k] * B[k, n]

``matmul_reference`` is the naive reference beside the fast kernels of ``gemm_driver``
(the BLIS-style GEMM) and ``matmul_stream`` (the streaming kernel): the definition
above as an explicit loop nest, independent of BLAS,

    for m < M:
        for n < N:
            C[m, n] = sum over k of A[m, k] * B[k, n]     (NumPy's pairwise sum, float64)

and rounded once to the input dtype at the end, so for float32 inputs it is more accurate
than any kernel it checks. It runs M·N Python iterations: it is meant for test sizes.

``_check_operands`` validates (A, B[, out]) for ``matmul_numba`` and the ``matmul``
dispatcher alike, so both backends reject the same inputs with the same messages.
"""
from __future__ import annotations

import numpy as np

from .errors import KernelDTypeError, KernelShapeError

__all__ = ["matmul_reference", "MatmulDTypeError"]

_SUPPORTED = (np.dtype(np.float32), np.dtype(np.float64))


# ------------------------------------------------------------------ input checks
class MatmulDTypeError(KernelDTypeError, ValueError):
    """A and B (or out) have different dtypes, or a dtype the kernel does not support."""


def _check_operands(A, B, out=None):
    """Validate (A, B[, out]) and return (M, K, N). Errors name the shapes."""
    A = np.asarray(A) if not isinstance(A, np.ndarray) else A
    B = np.asarray(B) if not isinstance(B, np.ndarray) else B
    if A.ndim != 2 or B.ndim != 2:
        raise KernelShapeError(f"matmul needs 2-D operands, got A{A.shape} and B{B.shape}")
    (M, K), (K2, N) = A.shape, B.shape
    if K != K2:
        raise KernelShapeError(f"matmul inner dimensions differ: A{A.shape} @ B{B.shape} "
                               f"(A has K={K} columns, B has {K2} rows)")
    if A.dtype != B.dtype:
        raise MatmulDTypeError(f"matmul dtypes differ: A{A.shape} is {A.dtype}, "
                               f"B{B.shape} is {B.dtype}; cast one of them first")
    if A.dtype not in _SUPPORTED:
        raise MatmulDTypeError(f"matmul supports float32 and float64, got {A.dtype} "
                               f"for A{A.shape} @ B{B.shape}")
    if out is not None:
        if not isinstance(out, np.ndarray) or out.shape != (M, N) or out.dtype != A.dtype:
            raise KernelShapeError(f"out must be a {A.dtype} array of shape {(M, N)} for "
                                   f"A{A.shape} @ B{B.shape}, got "
                                   f"{getattr(out, 'dtype', type(out).__name__)}"
                                   f"{getattr(out, 'shape', '')}")
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise KernelShapeError(f"out{out.shape} must be C-contiguous and writeable")
    return A, B, M, K, N


# ------------------------------------------------------------------- the oracle
def matmul_reference(A, B):
    """C = A @ B by an explicit loop nest; the oracle the fast kernels are tested against.

    A (M, K), B (K, N) -> C (M, N) in A's dtype. Independent of BLAS: the (m, n)
    loops are Python loops and each dot product is ``np.sum`` of the elementwise
    products (pairwise summation), accumulated in float64 and rounded once to the
    input dtype -- so for float32 inputs it is more accurate than the kernel under
    test. O(M*N) Python iterations: meant for test sizes (<= ~1e5 outputs).
    """
    A, B, M, K, N = _check_operands(A, B)
    A64 = A.astype(np.float64)                       # (M, K)
    Bt64 = np.ascontiguousarray(B.T, dtype=np.float64)   # (N, K): row n = column n of B
    C = np.empty((M, N), dtype=np.float64)           # (M, N)
    for m in range(M):
        a_row = A64[m]                               # (K,)
        for n in range(N):
            C[m, n] = np.sum(a_row * Bt64[n])        # sum_k A[m, k] B[k, n]
    return C.astype(A.dtype)
