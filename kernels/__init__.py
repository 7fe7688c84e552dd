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
import os

# Numba's OpenMP threads spin after each parallel region by default. On a machine whose
# cores are shared (other processes, or OpenBLAS's own spinning workers), a parallel
# region must then wait for a thread that spins where it cannot run: measured with a
# load average of ~5 on the 2-core development machine, a conv VAE training step took
# 976 ms with spinning threads and 171 ms with OMP_WAIT_POLICY=PASSIVE (167 ms with one
# thread; 148 ms with Numba's "workqueue" layer). Sleeping threads cost a wake-up per
# region instead, which is small next to these kernels. Set before the OpenMP runtime
# loads (Numba loads it at the first parallel call); an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .matmul import (KC, MC, MR, NC, NR, PARALLEL_MIN_FLOPS, matmul_numba,  # noqa: E402
                     matmul_reference, parallel_diagnostics)

__all__ = ["matmul_numba", "matmul_reference", "parallel_diagnostics",
           "MR", "NR", "KC", "MC", "NC", "PARALLEL_MIN_FLOPS"]
