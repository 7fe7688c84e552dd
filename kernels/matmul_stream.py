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

__all__ = ["ST_MR", "PASS_MR", "KCH", "STREAM_MAX_MN", "stream_width", "stream_rows"]

# Rows of a C tile: 8 broadcasts of A per k; at W = 32 float32 the tile is 16 zmm
# accumulators (plus 2 for B and the broadcasts: within AVX-512's 32 registers).
ST_MR = 8
# Rows of a tile on 16-register CPUs (AVX2), computed in two passes of three rows: eight
# rows x 16 columns there are 16 ymm accumulators, and LLVM spilled them (17-22 GFLOP/s on
# a Zen 3 core against OpenBLAS's 37-57 in single exploratory runs; the fresh-process
# before/after medians: docs/kernels/gemm.md).
PASS_MR = 6
# Depth of a K chunk: one chunk of A and B rows (KCH x (M + N) elements) is what the
# tiles share; 256 rows of (32 + 16) float32 = 48 KiB.
KCH = 256
# Largest C this kernel takes (above it, the slab GEMM of kernels/gemm_driver.py, which
# re-reads a packed B panel from L1 instead of B's rows from L2): 64 x 128.
STREAM_MAX_MN = 8192

_tile = make_register_tile(ST_MR * 32)


def _store_py(acc, c, N, W, i0, ilo, rows, j0, jlo, first):
    """C[i0+ilo : i0+rows, j0+jlo : j0+W] (= if first, else +=) the tile acc (rows, W)."""
    for i in range(ilo, rows):
        row = c[(i0 + i) * N + j0: (i0 + i) * N + j0 + W]
        if first:
            for j in range(jlo, W):
                row[j] = acc[i * W + j]
        else:
            for j in range(jlo, W):
                row[j] += acc[i * W + j]


_store = njit(inline="always")(_store_py)


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
                    # the rows and columns this tile owns ('=' on the first chunk)
                    _store(acc, c, N, W, i0, ti * ST_MR - i0, ST_MR, j0, tj * W - j0, k0 == 0)

    stream_py.__name__ = stream_py.__qualname__ = f"_stream_{W}_py"
    return stream_py


def _make_stream_pass(W, r0):
    """acc[r0 : r0+3, :W] += A[rows r0..r0+2 of the tile, k0:k1] @ B[k0:k1, :W], for the
    tile whose A column k starts at a[a0 + k*a_cs] and B row k at b[b0 + k*b_rs]."""
    def stream_pass_py(acc, a, a0, a_cs, b, b0, b_rs, k0, k1):
        for k in range(k0, k1):
            ak = a[a0 + k * a_cs + r0: a0 + k * a_cs + r0 + 3]   # 3 broadcasts of A
            bk = b[b0 + k * b_rs: b0 + k * b_rs + W]               # (W,) B row k
            x0 = ak[0]
            x1 = ak[1]
            x2 = ak[2]
            for j in range(W):
                bj = bk[j]
                acc[(r0 + 0) * W + j] += x0 * bj
                acc[(r0 + 1) * W + j] += x1 * bj
                acc[(r0 + 2) * W + j] += x2 * bj

    stream_pass_py.__name__ = stream_pass_py.__qualname__ = f"_stream_pass_{W}_{r0}_py"
    return njit(inline="always", fastmath={"contract"})(stream_pass_py)


def _make_stream_passes(W):
    """The streaming kernel for 16-register CPUs: tiles of PASS_MR = 6 rows x W (32 or 24)
    columns, each computed in two passes of three rows over the K chunk (12 or 9 ymm
    accumulators per pass), as the BLIS micro-kernel does there (``gemm_tiles``)."""
    passes = [_make_stream_pass(W, r0) for r0 in (0, 3)]
    top, bottom = passes

    def stream_passes_py(M, N, K, a, a_off, a_cs, b, b_off, b_rs, c):
        """As the eight-row kernel; needs M >= PASS_MR and N >= W."""
        nti = (M + PASS_MR - 1) // PASS_MR           # tiles down C
        ntj = (N + W - 1) // W                       # tiles across C
        for k0 in range(0, K, KCH):
            k1 = min(K, k0 + KCH)
            for ti in range(nti):
                i0 = min(ti * PASS_MR, M - PASS_MR)  # last tile moved back: overlaps
                for tj in range(ntj):
                    j0 = min(tj * W, N - W)
                    acc = _tile(c.dtype)             # (PASS_MR*W used) registers
                    top(acc, a, a_off + i0, a_cs, b, b_off + j0, b_rs, k0, k1)      # rows 0-2
                    bottom(acc, a, a_off + i0, a_cs, b, b_off + j0, b_rs, k0, k1)   # rows 3-5
                    _store(acc, c, N, W, i0, ti * PASS_MR - i0, PASS_MR, j0, tj * W - j0,
                           k0 == 0)

    stream_passes_py.__name__ = stream_passes_py.__qualname__ = f"_stream_passes_{W}_py"
    return stream_passes_py


_PASSES = _target.VECTOR_REGISTERS < 32         # 16 registers: the two-pass tiles
_stream_16_py = _make_stream_kernel(16)
_stream_32_py = _make_stream_passes(32) if _PASSES else _make_stream_kernel(32)
_stream_24_py = _make_stream_passes(24)
# FMA contraction only, as in the BLIS macro-kernel: one rounding per update, no
# reassociation (the k order is the loop's, so results are deterministic).
_stream_16 = njit(fastmath={"contract"}, cache=True)(_stream_16_py)
_stream_32 = njit(fastmath={"contract"}, cache=True)(_stream_32_py)
_stream_24 = njit(fastmath={"contract"}, cache=True)(_stream_24_py)


def stream_width(M, N, a_rs, b_cs, dtype):
    """W (16, 24 or 32) of the streaming kernel for this product, or 0 when it does not
    apply.

    Applies to k-major operands (a_rs = b_cs = 1) with at least one tile's rows
    (``stream_rows``) and 16 <= N, and M·N <= STREAM_MAX_MN. With AVX-512's 32
    registers: W = 32 for float32 and N >= 32 (at float64 a 32-wide tile is 32 zmm
    accumulators: it would spill), else 16, on the eight-row tiles. With 16 (AVX2):
    the two-pass six-row tiles, W = 32 for N >= 32 and 24 for N >= 24 (float32; a
    three-row float64 pass would be 24 ymm), else the eight-row 16-wide tile.
    """
    if a_rs != 1 or b_cs != 1 or N < 16 or M * N > STREAM_MAX_MN:
        return 0
    f32 = np.dtype(dtype) == np.float32
    if _target.VECTOR_REGISTERS >= 32:
        width = 32 if N >= 32 and f32 else 16
    else:
        width = 32 if N >= 32 and f32 else 24 if N >= 24 and f32 else 16
    return width if M >= stream_rows(width) else 0


def stream_rows(width):
    """The rows of one tile of the kernel ``stream_width`` picked (M must reach them)."""
    return PASS_MR if _PASSES and width in (24, 32) else ST_MR
