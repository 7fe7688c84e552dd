"""The one place layer code multiplies matrices: C (M, N) = A (M, K) @ B (K, N).

    C[m, n] = Σ_k A[m, k] · B[k, n]

Linear and the convolutions call :func:`matmul` for every GEMM of their forward and
backward passes. Its body is the NumPy reference (``numpy.matmul``, i.e. OpenBLAS in the
NumPy wheels, or ``cupy.matmul``, cuBLAS); the device gateway runs the custom kernels
instead where they apply (``scratchvae.backend.KERNELS["matmul"]``):

    NumPy arrays, CPU path "numba" (default)  kernels.matmul.matmul_numba: the BLIS-style
                                              Numba GEMM (kernels/gemm_*.py)
    CuPy arrays, GPU GEMM "custom" (default)  kernels.cuda.gemm.sgemm: the CUDA C SGEMM of
                                              kernels/cuda/sgemm.cu (SCRATCHVAE_GPU_GEMM=cublas
                                              for cuBLAS)

both for 2-D float32/float64 operands of one dtype; anything else takes the reference.
Operands may be transposed views (``W.T``, ``x.T``); no path copies them.

:func:`matmul_add` is C += A @ B in place, for gradients that accumulate into a buffer
(``Linear.grads["W"]``): on the Numba path the sum goes into the GEMM's write-back, so
no (M, N) temporary is made and no second pass reads it (``matmul_numba(...,
accumulate=True)``); elsewhere it is the reference, the product and then ``+=``.
"""
from __future__ import annotations

from ..backend import dispatched, get_array_module

__all__ = ["matmul", "matmul_add"]


@dispatched("matmul")
def matmul(a, b):
    """a (M, K) @ b (K, N) → (M, N) (module docstring)."""
    return get_array_module(a).matmul(a, b)


@dispatched("matmul_add")
def matmul_add(c, a, b):
    """c (M, N) += a (M, K) @ b (K, N) in place; returns c (module docstring)."""
    c += get_array_module(a).matmul(a, b)
    return c
