"""GEMM on the CPU: a BLAS-independent reference and a BLIS-style Numba kernel.

This module is the public entry point; the kernel itself is spread over one module per
concern, each with its own docstring:

    gemm_reference   the oracle ``matmul_reference`` and the operand checks
    gemm_tiles       the MR x NR register tile, the micro-kernel, the macro-kernels
    gemm_pack        packing A and B into unit-stride micro-panels
    gemm_driver      cache blocking, threads, the choice of loop nest, ``matmul_numba``
    matmul_stream    the unpacked streaming kernel for long-K, small-C products

Notation (used in every docstring and shape comment of these modules):

    M   rows of A and C            (the batch, for a Linear forward)
    K   inner dimension            (summed over)
    N   columns of B and C

    C (M, N) = A (M, K) @ B (K, N)        C[m, n] = sum_k A[m, k] * B[k, n]

Public API
----------
``matmul_reference(A, B)``          the oracle: an explicit (m, n) loop nest whose
                                    innermost dot is a plain NumPy sum in float64.
                                    Never calls BLAS; slow; for tests.
``matmul_numba(A, B, out=None)``    the fast kernel (float32/float64, any strides).
``matmul(A, B, backend=...)``       dispatcher: "numba" or "blas" (numpy.matmul).
``parallel_diagnostics(level=4)``   prints Numba's parfor report for the kernel.
``long_k``, ``use_ksplit``          which loop nest a shape gets (see gemm_driver).

The fast kernel, loop by loop (BLIS naming)
-------------------------------------------
    for t in prange(nthreads):      # 1/nthreads of B's panels:
        pack B cols -> Bp[q] (K, NR), k-major, zero cols past N
    for task in prange(mb * nb):                # 2-D grid of C blocks, <= MC rows
        for k0:k1 in K slices:                  # ceil(K/KC) slices of equal length
            pack the task's A rows, k0:k1 -> Ap (task-local, <= MC x KC: stays in L2)
            for q in the task's NR-panels:      # B micro-panel (kc, NR) stays in L1
                macro-kernel (W = NR, or NR/2 when <= 16 columns are left):
                for p in the task's MR-panels:  # A micro-panel (kc, MR) from L2
                    acc (MR, W) = 0             # registers
                    for k in range(kc):         # the k-loop is innermost
                        a0..a5 = Ap[p, k, 0..5]              (unrolled row loads)
                        acc[i, :W] += a_i * Bp[q, k, :W]     (W-wide vector ops)
                    C[tile] (=|+=) acc          # '=' on the first K slice: no zero-fill

Why this shape of loop nest. Each level of the nest keeps one operand block in one level
of the memory hierarchy while the level inside it re-reads that block: the MR x NR tile of
C in registers across the whole k-loop, a B micro-panel in L1 across all A micro-panels
of a task, the task's packed A block in L2 across all its B micro-panels. Packing makes
every operand layout unit-stride, so one compiled inner loop per dtype serves C order,
transposed views and strided slices. Long-K, small-C products (weight gradients) get
other loop nests -- split over K, and without packing where the layout allows; see
``gemm_driver`` and ``matmul_stream``.

Fallback: every kernel is a plain Python function ``_name_py`` compiled under the
name ``_name``. With NUMBA_DISABLE_JIT=1 the same bodies run as ordinary Python (slowly)
-- useful in a debugger.

Speed: ``benchmarks/matmul.py`` measures against OpenBLAS side by side (``--fail-below``
turns it into a regression check); run it after any change to these modules.
Measurements and what was tried: docs/kernels/gemm.md.
"""
from __future__ import annotations

from . import target as _target  # noqa: F401 - sets the vector width before anything compiles
import numba
import numpy as np
from numba import njit

from .gemm_driver import (KC, KSPLIT_K_RATIO, KSPLIT_MAX_MN, KSPLIT_MIN_K, MC,
                          PARALLEL_MIN_FLOPS, _flat_operand, _gemm_py, _renamed, long_k,
                          matmul_numba, use_ksplit)
from .gemm_reference import MatmulDTypeError, _check_operands, matmul_reference
from .gemm_tiles import MR, NR

__all__ = ["matmul", "matmul_numba", "matmul_add_numba", "matmul_reference",
           "parallel_diagnostics",
           "MR", "NR", "KC", "MC", "PARALLEL_MIN_FLOPS", "KSPLIT_K_RATIO",
           "KSPLIT_MIN_K", "KSPLIT_MAX_MN", "long_k", "use_ksplit", "MatmulDTypeError"]


def matmul(A, B, backend="numba", out=None):
    """C (M, N) = A (M, K) @ B (K, N) on the chosen backend.

    backend: "numba" (``matmul_numba``) or "blas" (``numpy.matmul``, i.e. the BLAS
    NumPy links, OpenBLAS in the wheels).
    """
    if backend == "numba":
        return matmul_numba(A, B, out=out)
    if backend == "blas":
        A, B, _, _, _ = _check_operands(A, B, out)
        return np.matmul(A, B, out=out)
    raise ValueError(f"unknown matmul backend {backend!r}; use 'numba' or 'blas'")


def matmul_add_numba(C, A, B):
    """C (M, N) += A (M, K) @ B (K, N) in place, the sum in the GEMM's write-back
    (``matmul_numba(A, B, out=C, accumulate=True)``); returns C. The op ``matmul_add``
    of ``scratchvae.functional.gemm``, argument order as there."""
    return matmul_numba(A, B, out=C, accumulate=True)


def parallel_diagnostics(level=4, dtype=np.float32):
    """Compile the parallel kernel for ``dtype`` and print Numba's parfor report.

    Shows which prange loops became parallel regions (the packing loop and the
    task loop), what was hoisted, and at level 4 the allocation hoisting. The
    report only exists for code compiled in this process, not for code loaded
    from the on-disk cache, so this compiles an uncached copy (a few seconds).
    """
    if numba.config.DISABLE_JIT:
        print("NUMBA_DISABLE_JIT=1: no parallel diagnostics for the Python fallback")
        return
    gemm = njit(parallel=True, cache=False, fastmath=False)(
        _renamed(_gemm_py, "_diagnostics"))
    M, K, N = 2 * MR + 1, 3, 2 * NR + 1             # edge tiles on both sides
    A = np.ones((M, K), dtype=dtype)
    B = np.ones((K, N), dtype=dtype)
    C = np.empty((M, N), dtype=dtype)
    gemm(M, N, K, *_flat_operand(A), *_flat_operand(B), C.reshape(-1), KC, MC,
         numba.get_num_threads(), False)
    gemm.parallel_diagnostics(level=level)
