"""Custom CPU kernels (Numba), each with a naive reference beside it.

The rule of this package (STYLE lesson 2): every fast kernel has a naive
NumPy/Python reference in the same module -- written as an explicit loop nest
and independent of BLAS -- and the tests compare the fast kernel against that
oracle over a grid of awkward shapes and layouts (size 1, primes, tall/skinny,
tile multiples and off-by-one sizes, transposed and strided views), and against
``numpy.matmul`` on the shapes the models actually use.

Kernel conventions (STYLE lesson 4):

* flat arrays and ints in; named block/tile constants at the top of the module;
* a docstring with the loop nest, what was optimised and why;
* the plain-Python body ``_name_py`` is JIT-compiled under a second name
  ``_name``, so ``NUMBA_DISABLE_JIT=1`` turns the kernels back into Python;
* a diagnostics entry point (``parallel_diagnostics``) and a benchmark script
  (``benchmarks/<kernel>.py``) that compares with the vendor library side by side,
  because the speed of these kernels is fragile to small rewrites.

Modules
-------
matmul    GEMM: ``matmul_reference`` (oracle), ``matmul_numba`` (BLIS-style:
          packed panels, MR x NR register tile, KC/MC/NC cache blocking, prange
          over C blocks), ``matmul`` (backend dispatcher "numba" | "blas").
matmul_stream  the unpacked streaming kernel ``matmul_numba`` uses for long-K, small-C
          products with k-major operands (weight gradients such as dW = dYᵀ @ cols).
registers ``make_register_tile``: accumulator tiles on the stack (alloca), which LLVM
          keeps in registers.
conv      im2col / col2im on NHWC memory: ``im2col_numba``, ``col2im_numba``
          (parallel over the batch, padding by bounds, one contiguous run per kernel
          row) beside the loop nests ``im2col_reference``, ``col2im_reference``.
elementwise  fused one-pass ReLU forward/backward, stable BCE from logits with its
          gradient, and the Adam update, each beside its NumPy reference.

The library reaches these through one switch, ``scratchvae.backend.cpu_kernels()``
("numba" by default, "numpy" for the reference path): ``scratchvae.functional.gemm``
routes every Linear/conv GEMM, and the conv, activation, likelihood and Adam code
call the other kernels on that path.

The dispatcher is reached as ``kernels.matmul.matmul`` (``from kernels.matmul import
matmul``) and is deliberately not re-exported here: binding a function to the name
``kernels.matmul`` would shadow the submodule, and ``import kernels.matmul as km``
would then return the function.
"""
# Threads and waiting. Numba's parallel regions run on an OpenMP pool, and this package
# leaves that pool in the OpenMP runtime's default: after a region its threads spin for a
# short while (libgomp: GOMP_SPINCOUNT = 300,000 turns) before they sleep, as PyTorch's and
# every other OpenMP library's threads do. Measured on the 2-core development VM, quiet,
# 2 threads, GFLOP/s of (6272x512)@(512x64) / (64x6272)@(6272x512) / (128x784)@(784x400):
# default spin 200-236 / 173-227 / 220-230, OMP_WAIT_POLICY=PASSIVE 117-127 / 123-137 /
# 113-157 -- on a VM, waking a sleeping thread costs ~0.15 ms per region, so a passive
# pool gave no gain over one thread. With the other core busy, the order flips: spin
# 43-50 / 45-50 / 13, passive 80-111 / 91-111 / 120-129 (a thread that spins through its
# time slice loses the core to the other process; a sleeper that wakes gets it back).
# So on a machine shared with other busy processes, run with OMP_WAIT_POLICY=PASSIVE
# (set before the first parallel call; Numba loads OpenMP then) or NUMBA_NUM_THREADS=1.
# This package once set PASSIVE itself; it no longer does, because the setting also
# reaches every other OpenMP library loaded into the process (PyTorch's included).
from .matmul import (KC, MC, MR, NC, NR, PARALLEL_MIN_FLOPS, matmul_numba,
                     matmul_reference, parallel_diagnostics)

__all__ = ["matmul_numba", "matmul_reference", "parallel_diagnostics",
           "MR", "NR", "KC", "MC", "NC", "PARALLEL_MIN_FLOPS"]
