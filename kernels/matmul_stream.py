"""A GEMM without packing, for weight gradients with a long K and a small C.

Notation as in ``kernels/gemm_reference.py``: C (M, N) = A (M, K) @ B (K, N). Its
reference is the GEMM oracle, ``kernels.gemm_reference.matmul_reference``
(tests/test_kernels_matmul.py compares the two).

A weight gradient dW = Xᵀ @ dY sums over every position of the batch: K = B·H·W is
long, and C = dW is small (the conv VAE's first conv: (32, 16) = dYᵀ (32, 25088) @
cols (25088, 16)). Both operands arrive k-major -- column k of A is row k of dY and row
k of B is row k of cols, each a contiguous run in memory -- so C is a sum of K outer
products, and the operands can be read where they lie:

    C[i, j] = sum_k A[i, k] B[k, j],  A[i, k] = a[a_off + k*a_cs + i]    (a_rs = 1)
                                      B[k, j] = b[b_off + k*b_rs + j]    (b_cs = 1)

The BLIS-style kernel packs both operands into panels first. Here that costs more than
the arithmetic: for the first conv's dW it would copy 25,088 six-element pieces of A and
pad 25,088 rows of B from 16 to 32 columns, for only 26 MFLOP. This kernel packs nothing:

    for k0:k1 in K chunks of KCH:                 # the chunk's rows of A and B stay
        for every (ST_MR x W) tile of C:          #   in L1/L2 while the tiles re-read them
            acc (ST_MR, W) = 0                    # registers (16 zmm at W = 32 float32)
            for k in k0..k1:
                a0..a7 = A[i0:i0+8, k]            # 8 broadcasts from one contiguous run
                acc[i, :] += a_i * B[k, j0:j0+W]  # one or two vector loads, 8 FMAs per W/16
            C tile (=|+=) acc                     # '=' on the first chunk

Edges without branches in the k-loop: a tile that would run past M (or N) is moved
back to end at the last row (column), overlapping the tile before it; it recomputes
the overlap and writes back only the rows and columns it owns, so every element of C
is written by exactly one tile (which also makes ``+=`` across chunks safe). So
M >= ST_MR and N >= W are required; ``stream_width`` picks W and says when this
kernel applies: k-major operands and a C of at most STREAM_MAX_MN elements (above it,
the B rows the tiles re-read from L2 lie far apart, and the slab GEMM, which re-reads a
packed B panel from L1, is faster).

Fragility: the same rules as the BLIS macro-kernel (kernels/gemm_tiles.py) -- the 8 row
broadcasts are unrolled by hand (with a loop over rows LLVM neither kept acc in registers
nor vectorised across columns), W and ST_MR are compile-time constants, and the operands
are read through slices, not runtime-offset indexing.

Measurements (against the slab GEMM and OpenBLAS): docs/kernels/gemm.md.
"""
from __future__ import annotations

import numpy as np
from . import target as _target  # sets the vector width before anything compiles
from numba import njit

from .registers import make_register_tile

__all__ = ["ST_MR", "KCH", "STREAM_MAX_MN", "stream_width"]

# Rows of a C tile: 8 broadcasts of A per k; at W = 32 float32 the tile is 16 zmm
# accumulators (plus 2 for B and the broadcasts: within AVX-512's 32 registers).
ST_MR = 8
# Depth of a K chunk: one chunk of A and B rows (KCH x (M + N) elements) is what the
# tiles share; 256 rows of (32 + 16) float32 = 48 KiB.
KCH = 256
# Largest C this kernel takes (above it, the slab GEMM of kernels/gemm_driver.py, which
# re-reads a packed B panel from L1 instead of B's rows from L2): 64 x 128.
STREAM_MAX_MN = 8192

_tile = make_register_tile(ST_MR * 32)


def _make_stream_kernel(W):
    """The plain-Python streaming kernel for tiles W = 16 or 32 columns wide."""
    def stream_py(M, N, K, a, a_off, a_cs, b, b_off, b_rs, c):
        """C (M, N) = A (M, K) @ B (K, N) for k-major A and B; see the module docstring.

        a: flat buffer, A[i, k] = a[a_off + k*a_cs + i]  (A's columns contiguous)
        b: flat buffer, B[k, j] = b[b_off + k*b_rs + j]  (B's rows contiguous)
        c: (M*N,) C, row-major, fully overwritten. Needs M >= ST_MR, N >= W.
        """
        nti = (M + ST_MR - 1) // ST_MR               # tiles down C
        ntj = (N + W - 1) // W                       # tiles across C
        for k0 in range(0, K, KCH):
            k1 = min(K, k0 + KCH)
            for ti in range(nti):
                i0 = min(ti * ST_MR, M - ST_MR)      # last tile moved back: overlaps
                for tj in range(ntj):
                    j0 = min(tj * W, N - W)
                    acc = _tile(c.dtype)             # (ST_MR*32,) registers; W used per row
                    for k in range(k0, k1):
                        ak = a[a_off + k * a_cs + i0: a_off + k * a_cs + i0 + ST_MR]
                        bk = b[b_off + k * b_rs + j0: b_off + k * b_rs + j0 + W]
                        a0 = ak[0]                   # A[i0 + 0, k] ... A[i0 + 7, k]
                        a1 = ak[1]
                        a2 = ak[2]
                        a3 = ak[3]
                        a4 = ak[4]
                        a5 = ak[5]
                        a6 = ak[6]
                        a7 = ak[7]
                        for j in range(W):           # acc[i, j] += A[i0+i, k] B[k, j0+j]
                            bj = bk[j]
                            acc[0 * W + j] += a0 * bj
                            acc[1 * W + j] += a1 * bj
                            acc[2 * W + j] += a2 * bj
                            acc[3 * W + j] += a3 * bj
                            acc[4 * W + j] += a4 * bj
                            acc[5 * W + j] += a5 * bj
                            acc[6 * W + j] += a6 * bj
                            acc[7 * W + j] += a7 * bj
                    ilo = ti * ST_MR - i0            # rows / columns this tile owns
                    jlo = tj * W - j0
                    for i in range(ilo, ST_MR):
                        row = c[(i0 + i) * N + j0: (i0 + i) * N + j0 + W]
                        if k0 == 0:
                            for j in range(jlo, W):
                                row[j] = acc[i * W + j]
                        else:
                            for j in range(jlo, W):
                                row[j] += acc[i * W + j]

    stream_py.__name__ = stream_py.__qualname__ = f"_stream_{W}_py"
    return stream_py


_stream_16_py = _make_stream_kernel(16)
_stream_32_py = _make_stream_kernel(32)
# FMA contraction only, as in the BLIS macro-kernel: one rounding per update, no
# reassociation (the k order is the loop's, so results are deterministic).
_stream_16 = njit(fastmath={"contract"}, cache=True)(_stream_16_py)
_stream_32 = njit(fastmath={"contract"}, cache=True)(_stream_32_py)


def stream_width(M, N, a_rs, b_cs, dtype):
    """W (16 or 32) of the streaming kernel for this product, or 0 when it does not apply.

    Applies to k-major operands (a_rs = b_cs = 1) with ST_MR <= M and 16 <= N, and
    M·N <= STREAM_MAX_MN. W = 32 needs N >= 32, float32 (at float64 a 32-wide tile is
    32 zmm accumulators: it would spill) and AVX-512's 32 vector registers: with 16
    (AVX2) an 8 x 32 float32 tile is 32 ymm accumulators, and even 8 x 16 spills some.
    """
    if a_rs != 1 or b_cs != 1 or M < ST_MR or N < 16 or M * N > STREAM_MAX_MN:
        return 0
    if N >= 32 and np.dtype(dtype) == np.float32 and _target.VECTOR_REGISTERS >= 32:
        return 32
    return 16

