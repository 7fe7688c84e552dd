"""The one place layer code multiplies matrices: C (M, N) = A (M, K) @ B (K, N).

Linear and the convolutions call :func:`matmul` for every GEMM of their forward and
backward passes, so the device gateway's choices of path (``backend.cpu_kernels`` and
``backend.gpu_gemm``) reach all of them at once:

    CuPy arrays, GEMM "custom" (default)  kernels.cuda.gemm.sgemm: the CUDA C kernels of
                                          kernels/cuda/sgemm.cu, best version per dtype
                                          (v5_vectorized float32, v4_regblock float64)
    CuPy arrays, GEMM "cublas"            cupy.matmul (cuBLAS); SCRATCHVAE_GPU_GEMM=cublas
                                          or backend.set_gpu_gemm("cublas")
    NumPy arrays, path "numba" (default)  kernels.matmul.matmul_numba (BLIS-style Numba GEMM)
    NumPy arrays, path "numpy"            numpy.matmul (OpenBLAS in the NumPy wheels)

Operands that are not 2-D float32/float64 of one dtype go to the array module's own
matmul on either device. Operands may be transposed views (``W.T``, ``x.T``); no copy is
made for them on any path.
"""
from __future__ import annotations

from ..backend import cuda_path, get_array_module, gpu_gemm, numba_path


def matmul(a, b):
    """a (M, K) @ b (K, N) → (M, N) on the selected backend (see the module docstring)."""
    if a.ndim == 2 and b.ndim == 2:
        if numba_path(a, b):
            from kernels.matmul import matmul_numba  # noqa: PLC0415 - Numba loads on first use
            return matmul_numba(a, b)
        if gpu_gemm() == "custom" and cuda_path(a, b):
            from kernels.cuda.gemm import sgemm  # noqa: PLC0415 - compiled at first use
            return sgemm(a, b)
    return get_array_module(a).matmul(a, b)
