"""Custom kernels: Numba on the CPU (this package), CUDA on the GPU (``kernels.cuda``).

The rule of this package: every fast kernel has a naive reference -- an explicit loop nest
in NumPy/Python, independent of BLAS -- and its module names it. The tests compare each
fast kernel with its reference over a grid of awkward shapes and layouts (size 1, primes,
tall and skinny, tile multiples and off-by-one sizes, transposed and strided views), and
with ``numpy.matmul`` on the shapes the models use.

Conventions of every kernel module:

* flat arrays and ints in; the block and tile constants are named at the top of the module;
* the module docstring teaches the kernel: notation, the math, the loop nest, and the idea
  behind each optimization; the measurements behind the choices are in ``docs/kernels/``;
* the plain-Python body ``_name_py`` is compiled under a second name ``_name``, so
  ``NUMBA_DISABLE_JIT=1`` runs the kernels as ordinary Python (in a debugger, say);
* every compiled kernel is cached on disk (``cache=True``), and the cache is cleared when
  any file of the package changes (``cache_guard``: Numba only watches a function's own file);
* a benchmark script in ``benchmarks/`` compares the kernel with the vendor library side
  by side, because the speed of these kernels is fragile to small rewrites.

``kernels`` imports nothing from ``scratchvae`` (``tests/test_kernels_leaf.py`` checks it):
the library calls the kernels, never the other way round. Its errors are in
``kernels/errors.py``.

Modules (the index, with each kernel's reference, test and benchmark: docs/kernels/README.md)
-------
matmul          GEMM, the public entry: ``matmul_reference`` (the oracle), ``matmul_numba``
                (BLIS-style: packed panels, MR x NR register tile, KC/MC cache blocking,
                prange over blocks of C), ``matmul`` (dispatcher "numba" | "blas").
gemm_reference  the oracle and the operand checks.
gemm_tiles      the tile constants, the register tile and the macro-kernels.
gemm_pack       packing A and B into unit-stride panels.
gemm_driver     the drivers: the C-split GEMM, the slab GEMM, the K-split GEMM, and the
                rule that picks one for a shape.
matmul_stream   the unpacked streaming kernel for long-K, small-C products with k-major
                operands (weight gradients such as dW = dYᵀ @ cols).
registers       ``make_register_tile``: accumulator tiles on the stack (alloca), which LLVM
                keeps in registers.
blocking        KC, MC: the GEMM's cache blocking, MC sized from this machine's L2.
conv            im2col / col2im on NHWC memory beside their loop-nest references.
conv_direct     the direct convolution (forward, input gradient by phases, weight gradient)
                with the GEMM's register tile fed straight from the NHWC image.
elementwise     fused one-pass ReLU forward/backward, the gate of the gated layers, stable
                BCE from logits with its gradient, and the Adam update, each beside its
                NumPy reference.
mixture         the log terms of a diagonal-Gaussian mixture (the VampPrior) and their
                gradients, without the (N, K, L) temporaries, beside naive loop references.
errors          the error classes.
cache_guard     one cache key for the whole package: the compiled kernels are recompiled
                after an edit to any kernels/*.py file, not only to their own.
target          the vector width LLVM compiles for: 512-bit on Intel's AVX-512 servers,
                where LLVM's own tuning prefers 256 (``SCRATCHVAE_VECTOR_WIDTH``).

The library reaches these through one switch, ``scratchvae.backend.cpu_kernels()``
("numba" by default, "numpy" for the reference path).

Threads: the parallel kernels run on Numba's OpenMP pool, left in the OpenMP runtime's
default waiting policy (threads spin briefly after a parallel region, then sleep). On a
machine shared with other busy processes, set ``OMP_WAIT_POLICY=PASSIVE`` before the first
parallel call, or ``NUMBA_NUM_THREADS=1``. Why, with the measurements: docs/kernels/threads.md.

The names below are importable from ``kernels`` itself; they are loaded on first access,
so that ``import kernels.errors`` (which ``scratchvae.errors`` does) does not load Numba.
The dispatcher is reached as ``kernels.matmul.matmul`` and is deliberately not re-exported
here: binding a function to the name ``kernels.matmul`` would shadow the submodule.
"""
from __future__ import annotations

import importlib

__all__ = ["matmul_numba", "matmul_reference", "parallel_diagnostics",
           "MR", "NR", "KC", "MC", "PARALLEL_MIN_FLOPS"]


def __getattr__(name):
    """``kernels.MR``, ``from kernels import matmul_numba``: loaded from kernels.matmul."""
    if name in __all__:
        return getattr(importlib.import_module(".matmul", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
