"""Custom GPU kernels, reached through CuPy, each beside a reference it is tested against.

Two ways of writing a GPU kernel live here, chosen per kernel by how much control it needs:

CUDA C (``*.cu``, compiled by NVRTC through ``cupy.RawModule`` at first use)
    ``sgemm.cu``   the GEMM progression C = act(A·B + bias [+ β·C]), five versions in
                   reading order: v1_naive → v2_coalesced → v3_smem → v4_regblock →
                   v5_vectorized, each with a header saying what it fixes and where it
                   is expected to be bound. Launcher: ``kernels.cuda.gemm.sgemm``.
    ``conv.cu``    NHWC im2col (a gather) and col2im written as a gather too (every
                   pixel sums the patch entries that were copied from it: no atomics,
                   deterministic). Launchers: ``kernels.cuda.conv.im2col_cuda`` and
                   ``col2im_cuda``, the GPU twins of ``kernels.conv``'s Numba kernels.

    These need what only CUDA C gives: ``__shared__`` tiles and ``__syncthreads()`` at
    chosen points, a register tile whose size the compiler knows (``T acc[TM][TN]``
    with constant bounds, fully unrolled), ``float4`` loads with an explicit alignment
    contract, and C++ templates instantiated per dtype and transposition, so that one
    readable source yields float and double kernels whose operand layouts are
    compile-time constants. The launchers get their kernels only through
    ``build.cuda_module``, which compiles and caches them (``build.py``).

numba.cuda (``fused.py``, written in Python)
    the fused elementwise kernels (BCE from logits with its gradient, reparameterization
    and the Gaussian KL with their gradients, the Adam update): grid-stride loops over
    elements, plus a small shared-memory tree for the deterministic row sums of the
    losses. No tiling, so Python syntax loses nothing, keeps them next to their NumPy
    references, and lets the CUDA simulator run them on machines without a GPU.

Checks without a GPU: ``nvrtc.py`` is a ctypes binding to NVRTC (pip wheel
``nvidia-cuda-nvrtc``), and ``tests/test_cuda_sources.py`` compiles every ``.cu`` here
with every name expression the launchers use, for more than one architecture;
``tests/test_cuda_emulated.py`` runs the real launchers' CUDA C kernels on a CPU emulator
(``tests/cuemu``: fibers for threads, a barrier for ``__syncthreads``) against NumPy;
``tests/test_cuda_fused_sim.py`` runs ``fused.py`` under ``NUMBA_ENABLE_CUDASIM=1``. The
numbers are checked on a GPU by ``tests/test_gpu_kernels.py`` and
``tests/test_gpu_layers.py`` (marked ``gpu``).

Nothing here imports CuPy at import time: it is imported inside functions, at the first
launch (``build.py`` to compile, the conv launchers to allocate their outputs). Nothing here
imports ``scratchvae`` either; the errors are those of ``kernels/errors.py``.
"""
