"""GEMM on the CPU: a BLAS-independent reference and a BLIS-style Numba kernel.

Notation (used in every docstring and shape comment below):

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

The fast kernel, loop by loop (BLIS naming; constants are defined below)
----------------------------------------------------------------------
    for t in prange(nthreads):      # 1/nthreads of B's panels:
        pack B cols -> Bp[q] (K, NR), k-major, zero cols past N
    for task in prange(mb * nb):                # 2-D grid of C blocks, <= MC x NC
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

What was optimised, and why
---------------------------
* A is packed per task and K slice, right before use, into a task-local block that
  fits L2 (BLIS's order). Packing all of A up front, as a first version did, streamed
  a large A through memory twice: for the conv VAE's (6272x512)@(512x64) it took
  4.60 ms on 2 threads (5.38 on one), 1.77 ms now (OpenBLAS: 2.6). A task that
  shares its rows with another (nb > 1) repacks them; the A block is small.
* Packing turns every operand layout (C order, Fortran order / transposed views,
  strided slices) into unit-stride panels, so there is one compiled inner loop
  per dtype: two vector loads and MR broadcasts per k. Strides are handled while
  packing (flat buffer + element offset + row/column stride), so inputs are never
  copied first, except for negative, zero (broadcast) or non-itemsize-multiple
  strides and misaligned data, which are made contiguous. The packers have unit-
  stride fast paths (see their docstrings): packing was 20-25 % of the time on
  the VAE shapes before them.
* The MR x NR accumulator lives in a stack buffer (``_register_tile``, an
  ``alloca``); LLVM can prove it aliases nothing, fully unrolls the constant MR and
  NR loops and keeps the whole tile in zmm registers. A heap buffer (np.zeros)
  cannot be promoted that way and runs at ~40 % of the speed (measured: 77 vs
  170 GFLOP/s single-core float32), and without the manual unroll of the MR row
  loads LLVM vectorised the wrong loop (over rows, with gathers: 2.5 GFLOP/s).
* Index arithmetic inside hot loops only uses non-negative ``range`` variables on
  slices, so Numba's negative-index wraparound folds away; an index built from a
  runtime offset (``off + k*NR + j``) kept a per-element select and turned the
  vector loop into gathers (5.5 GFLOP/s).
* Fused multiply-add in the macro-kernels only: fastmath={'contract'} lets LLVM turn
  acc += a*b into one FMA (one rounding instead of two) and nothing else -- no
  reassociation, so the summation order stays the k-loop's. Measured on the conv
  VAE's GEMMs, single thread: 4.64 instead of 5.96 ms for (6272x512)@(512x64), 2.54
  instead of 3.03 ms for (6272x64)@(64x512); ~+30 % on the micro-kernel. The price: a
  float32 result differs from the Python fallback (and from a CPU without FMA) by
  round-off, within the tests' |A|@|B|-scaled bound; it is still deterministic on
  one machine (fixed order, fixed task grid), so resumed runs stay bit-identical.
  The packers and the driver keep fastmath=False.
* Edge tiles: panels are zero-padded, so the inner loop never branches; only the
  write-back is masked. A last panel with <= 16 valid columns runs a half-width
  copy of the macro-kernel (N = 40 = 32 + 8 would otherwise compute 64 columns).
* The loop over A panels lives inside the compiled macro-kernel, not in the
  caller: per-tile call overhead cost ~25 % at K = 20.
* Long K, small C (weight gradients: dW = dYᵀ @ cols with K = N·H·W, ``long_k``):
  for a small C and k-major operands, the streaming kernel of matmul_stream.py
  reads A and B where they lie (packing cost more than the arithmetic there);
  otherwise the slab GEMM (``_gemm_slab``) packs B one K slice at a time, row by
  row in B's memory order, instead of all of B up front. With several threads K
  is split across them (``_gemm_ksplit``): each runs one of the two on its K range
  into a private partial C, and the partials are summed in a fixed order.
* Parallelism: prange over a grid of C blocks chosen by a small cost model
  (``_task_grid``: prange gives each thread a contiguous chunk of tasks, so the
  grid minimises the slowest thread's panels), and packing is split across
  panels. Products below PARALLEL_MIN_FLOPS run the serial build of the same
  body: a parallel region costs ~5 us to start and join here, and there are two
  (packing, tiles).

Fragility (STYLE lesson 4): the speed depends on LLVM keeping ``acc`` in
registers and vectorising the packers. Small rewrites -- indexing with a runtime
offset, allocating ``acc`` on the heap, letting MR or W be runtime values,
looping over rows instead of unrolling them, one write-back loop with a runtime
step, a slice with a runtime step in a packer -- silently cost 1.3-30x. Two
measured oddities: a W = 8 or 24 tile was not vectorised well (8: scalar), and a
row copy with a constant NR trip count was 2x slower than with the runtime nr.
``benchmarks/matmul.py`` measures against OpenBLAS side by side (``--fail-below``
turns it into a regression check); run it after any change here.

Threads: on a 2-core machine do not alternate this kernel with multi-threaded
OpenBLAS calls in a hot loop: OpenBLAS's workers busy-wait ~0.1 s after each call,
and a parallel call here inside that window took 16 ms instead of 0.4 ms. Use one
backend for the GEMMs, or OPENBLAS_NUM_THREADS=1 next to this kernel.

Fallback: every kernel is a plain Python function ``_name_py`` compiled under the
name ``_name`` (minitorch convention). With NUMBA_DISABLE_JIT=1 the same bodies run
as ordinary Python (slowly) -- useful in a debugger.
"""
from __future__ import annotations

import types as pytypes

import numba
import numpy as np
from numba import njit, prange

from scratchvae.errors import DTypeError, ShapeError

from .matmul_stream import _stream_16, _stream_32, stream_width
from .registers import make_register_tile

__all__ = ["matmul", "matmul_numba", "matmul_reference", "parallel_diagnostics",
           "MR", "NR", "KC", "MC", "NC", "PARALLEL_MIN_FLOPS", "long_k", "use_ksplit"]

# ----------------------------------------------------------------------- constants
# Register tile. AVX-512 has 32 zmm registers of 16 float32 / 8 float64. A row of
# NR = 32 columns is 2 zmm (float32) or 4 zmm (float64), so the MR x NR = 6 x 32 tile
# holds 12 (float32) or 24 (float64) accumulators, plus the B vectors and one
# broadcast: it fits the register file for both dtypes, which lets one MR (the
# unrolled row loads in _make_macro_kernel) serve both. Measured single-core, data
# in cache: float32 6x32 170 GFLOP/s (8x32 160, 12x32 98: spills); float64 6x32
# 109 (6x16 101, 8x24 69). Zen 5 issues two multiplies and two adds per cycle, so
# without FMA contraction 12 independent accumulators already cover the latency.
MR = 6
NR = 32
# Depth of one packed slice (K is cut into ceil(K/KC) equal slices). The B
# micro-panel (KC, NR) is reused by every MR-panel of the task's A block, so it
# should stay near the core: 32 KiB at float32 = 2/3 of the 48 KiB L1. Measured
# (single core, geometric mean of the big VAE and square shapes): float32
# KC=128 167, 192 172, 256 179, 384 179, 512 178 GFLOP/s; float64 (64 KiB panel,
# spilling to L2) still preferred 256 to 128 (92 vs 86 GFLOP/s), so one KC in
# elements serves both.
KC = 256
# Rows of A per task (a multiple of MR): the A block (MC, KC) is re-read once per
# B micro-panel, so it should live in L2 (1 MiB per core): 288 KiB at float32,
# 576 KiB at float64. Measured (float32, geometric mean of six VAE/square shapes,
# noisy machine): 1 thread MC=72 165, 144 166, 288 178, 576 166 GFLOP/s;
# 2 threads 144 -> 288: 248 -> 333.
MC = 288
# Columns of C per task (a multiple of NR): caps a task's B block (KC, NC) so that
# the block (512 KiB at float32) stays in L2/L3 and tasks stay small enough to
# balance (1 thread: NC=256 176, 512 178, 1024 171; 2 threads 512 beat 1024).
NC = 512
# Below this many flops (2*M*N*K) the serial build runs: the two parallel regions
# (packing, tiles) cost ~5 us each to start and join. Measured float32, 2 threads
# vs 1: 0.5 MFLOP 10.4 vs 8.0 us; 2 MFLOP (128x20x400, 128x64x128) even; 4 MFLOP
# (128x400x40 and its gradients) 7-30 % faster; 8 MFLOP 15 % faster.
PARALLEL_MIN_FLOPS = 4_000_000
# K-split: a weight-gradient GEMM such as the conv VAE's dW (64, 512) = dYᵀ (64, 6272)
# @ cols (6272, 512) has a small C and a long K. Splitting C gives each thread a
# sliver of it but the whole of the big B to pack and stream; splitting K instead
# gives each thread half of A and B, one pass, into a private partial C that is
# summed afterwards. Used when K ≥ KSPLIT_K_RATIO · max(M, N) and K ≥ KSPLIT_MIN_K,
# and the nthreads partial C's are small (M·N ≤ KSPLIT_MAX_MN: 256 KiB float32).
KSPLIT_K_RATIO = 8
KSPLIT_MIN_K = 4 * KC
KSPLIT_MAX_MN = 65_536
_SUPPORTED = (np.dtype(np.float32), np.dtype(np.float64))


# ------------------------------------------------------------------ input checks
class MatmulDTypeError(DTypeError, ValueError):
    """A and B (or out) have different dtypes, or a dtype the kernel does not support."""


def _check_operands(A, B, out=None):
    """Validate (A, B[, out]) and return (M, K, N). Errors name the shapes."""
    A = np.asarray(A) if not isinstance(A, np.ndarray) else A
    B = np.asarray(B) if not isinstance(B, np.ndarray) else B
    if A.ndim != 2 or B.ndim != 2:
        raise ShapeError(f"matmul needs 2-D operands, got A{A.shape} and B{B.shape}")
    (M, K), (K2, N) = A.shape, B.shape
    if K != K2:
        raise ShapeError(f"matmul inner dimensions differ: A{A.shape} @ B{B.shape} "
                         f"(A has K={K} columns, B has {K2} rows)")
    if A.dtype != B.dtype:
        raise MatmulDTypeError(f"matmul dtypes differ: A{A.shape} is {A.dtype}, "
                               f"B{B.shape} is {B.dtype}; cast one of them first")
    if A.dtype not in _SUPPORTED:
        raise MatmulDTypeError(f"matmul supports float32 and float64, got {A.dtype} "
                               f"for A{A.shape} @ B{B.shape}")
    if out is not None:
        if not isinstance(out, np.ndarray) or out.shape != (M, N) or out.dtype != A.dtype:
            raise ShapeError(f"out must be a {A.dtype} array of shape {(M, N)} for "
                             f"A{A.shape} @ B{B.shape}, got "
                             f"{getattr(out, 'dtype', type(out).__name__)}"
                             f"{getattr(out, 'shape', '')}")
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise ShapeError(f"out{out.shape} must be C-contiguous and writeable")
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


# ------------------------------------------------- the register tile (a stack array)
# The MR x NR accumulator: a stack buffer, so that LLVM keeps it in registers
# (see kernels/registers.py).
_register_tile = make_register_tile(MR * NR)


# ------------------------------------------------------- macro- and micro-kernel
def _make_rank1_update(W):
    """acc[i, :W] += a_i * bq[k, :W] for the MR = 6 rows: one k step of the micro-kernel.

    Shared by both macro-kernels and inlined into them (``inline="always"``, at
    Numba's IR level), so the tile stays in the caller's registers. The six row
    values arrive unrolled (a0..a5): with a loop over rows LLVM vectorised across
    rows with gathers instead of across the W columns.
    """
    def rank1_update_py(acc, a0, a1, a2, a3, a4, a5, bq, k):
        for j in range(W):
            b = bq[k * NR + j]
            acc[0 * NR + j] += a0 * b
            acc[1 * NR + j] += a1 * b
            acc[2 * NR + j] += a2 * b
            acc[3 * NR + j] += a3 * b
            acc[4 * NR + j] += a4 * b
            acc[5 * NR + j] += a5 * b

    rank1_update_py.__name__ = rank1_update_py.__qualname__ = f"_rank1_update_{W}_py"
    return rank1_update_py


def _store_tile_py(acc, c, r0, i0, i1, ldc, c0, nr, first):
    """C[r0+i0 : r0+i1, c0 : c0+nr] (= if first, else +=) rows i0..i1 of the tile acc."""
    for i in range(i0, i1):
        start = (r0 + i) * ldc + c0
        row = c[start: start + nr]                # (nr,) a view: no index wraparound
        if first:
            for j in range(nr):
                row[j] = acc[i * NR + j]
        else:
            for j in range(nr):
                row[j] += acc[i * NR + j]


_rank1_update_full = njit(inline="always", fastmath={"contract"})(_make_rank1_update(NR))
_rank1_update_half = njit(inline="always", fastmath={"contract"})(_make_rank1_update(NR // 2))
_store_tile = njit(inline="always")(_store_tile_py)


def _make_macro_kernel(W):
    """The plain-Python macro-kernel for tiles W <= NR columns wide (W is a constant).

    One body, compiled for W = NR (every full panel) and W = NR // 2 (a last
    panel with at most 16 valid columns, e.g. N = 40 = 32 + 8), so a narrow edge
    does not pay for a full NR-wide tile of zeros. Measured single-core float32
    (acc in zmm registers unless noted): W=32 205 GFLOP/s, W=16 162, W=24 110
    (ymm only: worse than a zero-padded W=32 for 17..24 columns), W=8 10 (LLVM
    left it scalar) -- so only 32 and 16 are compiled.
    """
    rank1_update = _rank1_update_full if W == NR else _rank1_update_half

    def macro_kernel_py(kc, ap, p0, p1, ap_stride, M, bq, c, c0, ldc, nr, first):
        """C[p0*MR : p1*MR, c0 : c0+nr] (=|+=) A panels p0..p1 (kc) @ one B panel (kc).

        ap: packed A from the current K slice on; panel p's slice is
            ap[p*ap_stride : p*ap_stride + kc*MR], ap[.. + k*MR + i] = A[p*MR + i, k0 + k]
        bq: (kc*NR,) packed B slice, bq[k*NR + j] = B[k0 + k, c0 + j]
        c:  (M*N,) C, row-major with leading dimension ldc
        nr: valid columns (<= W; the padded lanes of the panels are zero, so only
            the write-back is masked, as are the rows past M)
        first: True on the first K slice -> store, else accumulate.

        Loop nest (the B panel bq stays in L1 across the p loop):
            for p in p0..p1:                       # A micro-panels, from L2
                acc (MR, W) = 0                    # registers
                for k < kc:                        # micro-kernel, k innermost
                    a0..a5 = 6 broadcasts of A;  acc[i, :W] += a_i * bq[k, :W]
                C tile (=|+=) acc
        The MR = 6 row loads are unrolled by hand (a0..a5): with a loop over rows
        LLVM vectorised across rows with gathers instead of across the columns.
        Looping over p here rather than in the caller keeps the call overhead
        out of small-K products (K = 20: 56 -> 74 GFLOP/s).
        """
        for p in range(p0, p1):
            apn = ap[p * ap_stride: p * ap_stride + kc * MR]    # (kc*MR,)
            acc = _register_tile(ap.dtype)                      # (MR*NR,) registers
            for k in range(kc):
                rank1_update(acc, apn[k * MR + 0], apn[k * MR + 1], apn[k * MR + 2],
                             apn[k * MR + 3], apn[k * MR + 4], apn[k * MR + 5], bq, k)
            _store_tile(acc, c, p * MR, 0, min(MR, M - p * MR), ldc, c0, nr, first)

    macro_kernel_py.__name__ = macro_kernel_py.__qualname__ = f"_macro_kernel_{W}_py"
    return macro_kernel_py


_macro_kernel_full_py = _make_macro_kernel(NR)
_macro_kernel_half_py = _make_macro_kernel(NR // 2)
_macro_kernel_full = njit(fastmath={"contract"}, cache=True)(_macro_kernel_full_py)
_macro_kernel_half = njit(fastmath={"contract"}, cache=True)(_macro_kernel_half_py)


def _make_macro_kernel_rows(W):
    """The macro-kernel reading A in place, for A with contiguous rows and N <= NR.

    With one B panel (N <= NR) every element of A is used once, so packing A is a
    copy for nothing: the conv VAE's (25088x32)@(32x16) spent most of its time
    packing A. This variant reads the MR rows of a panel straight from A (six unit-
    stride slices, as in the row packer) and is otherwise the macro-kernel above.
    Measured single-core float32, warm: 25088x32x16 nn 0.79 -> 0.53 ms (OpenBLAS 0.43).

    Panels are global (p = 0..npa-1, rows p*MR ..). The last panel, if M is not a
    multiple of MR, is moved back to end at row M (so it never reads past A) and
    overlaps its neighbour: it recomputes the shared rows and writes only its own,
    so each row of C is written by one panel. Needs M >= MR.
    """
    rank1_update = _rank1_update_full if W == NR else _rank1_update_half

    def macro_kernel_rows_py(kc, a, a_base, a_rs, p0, p1, M, bq, c, c0, ldc, nr, first):
        """C[p0*MR : p1*MR, c0 : c0+nr] (=|+=) A[rows, k0 : k0+kc] @ one B panel.

        a: flat buffer, A[m, k0 + k] = a[a_base + m*a_rs + k]  (rows contiguous)
        bq, c, ldc, nr, first: as in the packed macro-kernel.
        """
        for p in range(p0, p1):
            r0 = min(p * MR, M - MR)                # the last panel moves back
            s = a_base + r0 * a_rs
            x0 = a[s + 0 * a_rs: s + 0 * a_rs + kc]  # (kc,) row r0 + 0 of the K slice
            x1 = a[s + 1 * a_rs: s + 1 * a_rs + kc]
            x2 = a[s + 2 * a_rs: s + 2 * a_rs + kc]
            x3 = a[s + 3 * a_rs: s + 3 * a_rs + kc]
            x4 = a[s + 4 * a_rs: s + 4 * a_rs + kc]
            x5 = a[s + 5 * a_rs: s + 5 * a_rs + kc]
            acc = _register_tile(a.dtype)            # (MR*NR,) registers
            for k in range(kc):
                rank1_update(acc, x0[k], x1[k], x2[k], x3[k], x4[k], x5[k], bq, k)
            # only the rows this panel owns (the moved-back last panel shares some)
            _store_tile(acc, c, r0, p * MR - r0, MR, ldc, c0, nr, first)

    macro_kernel_rows_py.__name__ = macro_kernel_rows_py.__qualname__ = \
        f"_macro_kernel_rows_{W}_py"
    return macro_kernel_rows_py


_macro_kernel_rows_full_py = _make_macro_kernel_rows(NR)
_macro_kernel_rows_half_py = _make_macro_kernel_rows(NR // 2)
_macro_kernel_rows_full = njit(fastmath={"contract"}, cache=True)(_macro_kernel_rows_full_py)
_macro_kernel_rows_half = njit(fastmath={"contract"}, cache=True)(_macro_kernel_rows_half_py)


# ------------------------------------------------------------------------- packing
def _pack_a_panel_py(a, a_off, a_rs, a_cs, M, K, p, ap):
    """Ap panel p (K, MR) <- rows p*MR .. p*MR+MR of A, k-major, zero rows past M.

    a: flat buffer holding A; A[m, k] = a[a_off + m*a_rs + k*a_cs] (strides > 0).
    ap: (npa*K*MR,) all A panels; panel p occupies ap[p*K*MR : (p+1)*K*MR].

    Two paths, both measured (float32, 400x784): rows contiguous (A in C order)
    interleaves six unit-stride row slices with the six stores unrolled, which
    LLVM vectorises as one interleaved group: ~11 Gelem/s, against ~3 for a loop
    over rows. Anything else (transposed views, slices, the edge panel) copies
    column k's mr values through one strided slice per k: ~4-5 Gelem/s.
    """
    r0 = p * MR
    mr = min(MR, M - r0)
    dst = ap[p * K * MR: (p + 1) * K * MR]          # (K*MR,)
    if a_cs == 1 and mr == MR:
        s = a_off + r0 * a_rs
        x0 = a[s + 0 * a_rs: s + 0 * a_rs + K]       # (K,) row r0 + 0
        x1 = a[s + 1 * a_rs: s + 1 * a_rs + K]
        x2 = a[s + 2 * a_rs: s + 2 * a_rs + K]
        x3 = a[s + 3 * a_rs: s + 3 * a_rs + K]
        x4 = a[s + 4 * a_rs: s + 4 * a_rs + K]
        x5 = a[s + 5 * a_rs: s + 5 * a_rs + K]
        for k in range(K):
            dst[k * MR + 0] = x0[k]
            dst[k * MR + 1] = x1[k]
            dst[k * MR + 2] = x2[k]
            dst[k * MR + 3] = x3[k]
            dst[k * MR + 4] = x4[k]
            dst[k * MR + 5] = x5[k]
    elif a_rs == 1 and mr == MR:                     # columns contiguous (A = X.T)
        for k in range(K):
            start = a_off + r0 + k * a_cs
            src = a[start: start + MR]               # (MR,) column k, unit stride
            d = dst[k * MR: k * MR + MR]             # (MR,)
            for i in range(MR):
                d[i] = src[i]
    else:                                            # edge panel, or other strides
        for k in range(K):
            start = a_off + r0 * a_rs + k * a_cs
            src = a[start: start + (mr - 1) * a_rs + 1: a_rs]   # (mr,) column k
            d = dst[k * MR: k * MR + MR]             # (MR,)
            for i in range(mr):
                d[i] = src[i]
            for i in range(mr, MR):                  # zero padding rows past M
                d[i] = 0


def _pack_b_panel_py(b, b_off, b_rs, b_cs, K, N, q, bp):
    """Bp panel q (K, NR) <- columns q*NR .. q*NR+NR of B, k-major, zero cols past N.

    b: flat buffer holding B; B[k, n] = b[b_off + k*b_rs + n*b_cs] (strides > 0).
    bp: (npb*K*NR,) all B panels; panel q occupies bp[q*K*NR : (q+1)*K*NR].

    Row k of the panel is nr elements of row k of B: a unit-stride slice when B
    is in C order (a vector copy, ~5.5 Gelem/s float32, bound by reading B), else
    a strided slice (B = W.T in dx = dy @ W.T): LLVM emits gathers, ~3.9 Gelem/s,
    better than walking B's contiguous columns with scattered stores (~2.9).
    """
    c0 = q * NR
    nr = min(NR, N - c0)
    dst = bp[q * K * NR: (q + 1) * K * NR]          # (K*NR,)
    if b_cs == 1:                                    # rows contiguous (B = W)
        for k in range(K):
            start = b_off + k * b_rs + c0
            src = b[start: start + nr]               # (nr,) row k, unit stride
            d = dst[k * NR: k * NR + NR]             # (NR,)
            for j in range(nr):                      # runtime nr: 2x faster than a
                d[j] = src[j]                        # constant NR (measured)
            for j in range(nr, NR):                  # zero padding columns past N
                d[j] = 0
    elif nr == NR:                                   # e.g. B = W.T: strided rows
        for k in range(K):
            start = b_off + k * b_rs + c0 * b_cs
            src = b[start: start + (NR - 1) * b_cs + 1: b_cs]   # (NR,) row k
            d = dst[k * NR: k * NR + NR]
            for j in range(NR):
                d[j] = src[j]
    else:                                            # edge panel
        for k in range(K):
            start = b_off + k * b_rs + c0 * b_cs
            src = b[start: start + (nr - 1) * b_cs + 1: b_cs]   # (nr,) row k
            d = dst[k * NR: k * NR + NR]
            for j in range(nr):
                d[j] = src[j]
            for j in range(nr, NR):                  # zero padding columns past N
                d[j] = 0


def _pack_b_rows_py(b, b_off, b_rs, K, N, bp):
    """Bp (npb, K, NR) <- every panel of B (K, N) whose rows are contiguous (b_cs = 1).

    The same panels as ``_pack_b_panel`` for q = 0..npb-1, filled in B's memory
    order instead: row k of B is read once, front to back, and its NR-column
    pieces go to the npb panels (zero columns past N). Panel by panel, the packer
    walks B down its rows npb times, touching 128 bytes of every 2 KiB row each
    time, and the hardware prefetcher does not keep up when B comes from memory.
    Measured single-core, float32, caches flushed before each call, the slab GEMM
    (``_gemm_slab``) on the conv VAE's dW (64, 512) = dYᵀ (64, K) @ cols (K, 512):
    K = 6272 4.56 -> 3.80 ms, K = 3136 2.66 -> 2.10 ms (packing alone: 2.78 -> 1.76
    and 1.10 -> 0.89 ms).
    """
    npb = (N + NR - 1) // NR
    for k in range(K):
        start = b_off + k * b_rs
        src = b[start: start + N]                    # (N,) row k, unit stride
        for q in range(npb):
            c0 = q * NR
            nr = min(NR, N - c0)
            d = bp[(q * K + k) * NR: (q * K + k) * NR + NR]      # (NR,) panel q, row k
            s = src[c0: c0 + nr]
            for j in range(nr):
                d[j] = s[j]
            for j in range(nr, NR):                  # zero padding columns past N
                d[j] = 0


_pack_a_panel = njit(fastmath=False, cache=True)(_pack_a_panel_py)
_pack_b_panel = njit(fastmath=False, cache=True)(_pack_b_panel_py)
_pack_b_rows = njit(fastmath=False, cache=True)(_pack_b_rows_py)


# ----------------------------------------------------------------------- task grid
def _task_grid_py(npa, npb, nthreads):
    """(mb, nb): split npa MR-panels into mb blocks and npb NR-panels into nb blocks.

    Blocks hold at most MC rows and NC columns. Among the grids up to 2*nthreads
    blocks finer in each direction, pick the one whose slowest thread finishes
    first: prange hands each thread a contiguous chunk of ceil(T/nthreads) of the
    T = mb*nb tasks, and a task costs ~ (its panels of A) x (its panels of B).
    E.g. M = 128, N = 400 (22 x 13 panels) on 2 threads: 2 x 1 (11 | 11 A panels),
    not 1 x 2 (7 | 6 B panels, 8 % slower in the worst task).
    """
    mb0 = max(1, -(-(npa * MR) // MC))
    nb0 = max(1, -(-(npb * NR) // NC))
    best_mb, best_nb, best_cost = mb0, nb0, -1
    for nb in range(nb0, min(npb, nb0 + 2 * nthreads) + 1):    # ties: split M (its
        for mb in range(mb0, min(npa, mb0 + 2 * nthreads) + 1):  # panels are all equal)
            tasks = mb * nb
            cost = -(-tasks // nthreads) * -(-npa // mb) * -(-npb // nb)
            if best_cost < 0 or cost < best_cost:
                best_mb, best_nb, best_cost = mb, nb, cost
    return best_mb, best_nb


_task_grid = njit(cache=True)(_task_grid_py)


# ----------------------------------------------------------------------- the GEMM
def _gemm_py(M, N, K, a, a_off, a_rs, a_cs, b, b_off, b_rs, b_cs, c, kc_max, nthreads):
    """C (M, N) = A (M, K) @ B (K, N) on flat buffers; see the module docstring.

    a, b: flat buffers with element offsets and positive element strides;
    c: (M*N,) row-major output, fully overwritten (K >= 1).
    kc_max: the K slice length (KC); nthreads: threads the packing and the task
    grid are split for (1 in the serial build).
    """
    npa = (M + MR - 1) // MR                         # A panels of MR rows
    npb = (N + NR - 1) // NR                         # B panels of NR columns
    bp = np.empty(npb * K * NR, dtype=c.dtype)       # (npb, K, NR), shared by all tasks
    # B is packed once, up front, each thread packing 1/nthreads of its panels.
    for t in prange(nthreads):
        for q in range(t * npb // nthreads, (t + 1) * npb // nthreads):
            _pack_b_panel(b, b_off, b_rs, b_cs, K, N, q, bp)

    mb, nb = _task_grid(npa, npb, nthreads)
    nkb = (K + kc_max - 1) // kc_max                 # K slices, balanced in length
    kc_cap = (K + nkb - 1) // nkb                    # the longest slice
    # One B panel and A's rows contiguous: every A element is used once, so A is
    # read where it lies (``_macro_kernel_rows``) instead of being packed first.
    a_in_place = npb == 1 and a_cs == 1 and M >= MR
    for t in prange(mb * nb):
        bi = t // nb
        bj = t - bi * nb
        p0 = bi * npa // mb
        p1 = (bi + 1) * npa // mb
        q0 = bj * npb // nb
        q1 = (bj + 1) * npb // nb
        # A is packed per task and per K slice, into a task-local block of at most
        # MC x KC (288 KiB float32): packed, then used at once while it is in L2.
        # (Packing all of A up front streamed it through memory twice: the conv
        # VAE's 12.8 MB patch matrix took 4.6 ms with 2 threads, 5.4 ms with one.)
        # The task works on the sub-matrix starting at row p0*MR: its panels are
        # numbered from 0, and C and M are offset to match.
        npan = p1 - p0
        m_sub = M - p0 * MR
        c_sub = c[p0 * MR * N:]
        a_sub = a_off + p0 * MR * a_rs
        ap = np.empty(0 if a_in_place else npan * kc_cap * MR, dtype=c.dtype)  # (npan, kc, MR)
        for kb in range(nkb):
            k0 = kb * K // nkb
            k1 = (kb + 1) * K // nkb
            kc = k1 - k0
            if a_in_place:                           # one B panel: A is read once, in place
                bq = bp[k0 * NR: k1 * NR]            # (kc*NR,) the only panel
                if N > NR // 2:
                    _macro_kernel_rows_full(kc, a, a_off + k0, a_rs, p0, p1, M, bq, c, 0, N,
                                            N, kb == 0)
                else:
                    _macro_kernel_rows_half(kc, a, a_off + k0, a_rs, p0, p1, M, bq, c, 0, N,
                                            N, kb == 0)
                continue
            for p in range(npan):
                _pack_a_panel(a, a_sub + k0 * a_cs, a_rs, a_cs, m_sub, kc, p, ap)
            for q in range(q0, q1):
                c0 = q * NR
                nr = min(NR, N - c0)
                bq = bp[q * K * NR + k0 * NR: q * K * NR + k1 * NR]      # (kc*NR,)
                if nr > NR // 2:
                    _macro_kernel_full(kc, ap, 0, npan, kc * MR, m_sub, bq, c_sub, c0, N,
                                       nr, kb == 0)
                else:
                    _macro_kernel_half(kc, ap, 0, npan, kc * MR, m_sub, bq, c_sub, c0, N,
                                       nr, kb == 0)


def _renamed(fn, suffix):
    """A copy of ``fn`` under another name. Numba's on-disk cache is keyed by the
    function's qualified name and signature, not by the ``parallel`` flag: two
    dispatchers built from one function object would load each other's machine code."""
    twin = pytypes.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix,
                                fn.__defaults__, fn.__closure__)
    twin.__qualname__ = fn.__qualname__ + suffix
    twin.__doc__ = fn.__doc__
    return twin


_gemm_parallel = njit(parallel=True, cache=True, fastmath=False)(_gemm_py)
_gemm_serial = njit(parallel=False, cache=True, fastmath=False)(_renamed(_gemm_py, "_serial"))


def _gemm_slab_py(M, N, K, a, a_off, a_rs, a_cs, b, b_off, b_rs, b_cs, c, kc_max):
    """Serial C = A @ B that packs B one K slice at a time (BLIS's loop order).

        for each K slice k0:k1 (kc ≤ KC rows):
            pack B[k0:k1, :] -> Bp (npb, kc, NR)    a slab of ≤ KC·N: stays in L2
            pack A[:, k0:k1] -> Ap (npa, kc, MR)
            for q in B panels: macro-kernel over all A panels (C '=' on the first slice)

    For a long K this streams B once, slice by slice, while the slab is hot; the
    C-split body packs the whole of B first (12.8 MB for the conv VAE's patch matrix)
    and reads it back from memory. Used by the K-split driver, where C is small.
    """
    npa = (M + MR - 1) // MR
    npb = (N + NR - 1) // NR
    nkb = (K + kc_max - 1) // kc_max                 # K slices, balanced in length
    kc_cap = (K + nkb - 1) // nkb
    bp = np.empty(npb * kc_cap * NR, dtype=c.dtype)  # (npb, kc, NR)
    ap = np.empty(npa * kc_cap * MR, dtype=c.dtype)  # (npa, kc, MR)
    for kb in range(nkb):
        k0 = kb * K // nkb
        k1 = (kb + 1) * K // nkb
        kc = k1 - k0
        if b_cs == 1:                                # rows contiguous: B's memory order
            _pack_b_rows(b, b_off + k0 * b_rs, b_rs, kc, N, bp)
        else:
            for q in range(npb):
                _pack_b_panel(b, b_off + k0 * b_rs, b_rs, b_cs, kc, N, q, bp)
        for p in range(npa):
            _pack_a_panel(a, a_off + k0 * a_cs, a_rs, a_cs, M, kc, p, ap)
        for q in range(npb):
            c0 = q * NR
            nr = min(NR, N - c0)
            bq = bp[q * kc * NR:(q + 1) * kc * NR]                 # (kc*NR,)
            if nr > NR // 2:
                _macro_kernel_full(kc, ap, 0, npa, kc * MR, M, bq, c, c0, N, nr, kb == 0)
            else:
                _macro_kernel_half(kc, ap, 0, npa, kc * MR, M, bq, c, c0, N, nr, kb == 0)


_gemm_slab = njit(parallel=False, cache=True, fastmath=False)(_gemm_slab_py)


def _gemm_ksplit_py(M, N, K, a, a_off, a_rs, a_cs, b, b_off, b_rs, b_cs, c, kc_max, nthreads,
                    width):
    """C = A @ B with K cut into nthreads contiguous ranges, one per thread.

        C_t (M, N) = A[:, k_t:k_t+1] @ B[k_t:k_t+1, :]     thread t: ``_gemm_slab``, or
                                                          the streaming kernel of width
                                                          ``width`` (16, 32; 0: slab)
        C          = (…((C_0 + C_1) + C_2) …)               fixed order: deterministic

    Each thread packs and streams only its own share of A and B. The sum's order is
    fixed by nthreads, so a result is reproducible for a given thread count (it may
    differ from the C-split result in the last bits: another summation order).
    """
    mn = M * N
    partial = np.empty(nthreads * mn, dtype=c.dtype)     # (nthreads, M*N)
    for t in prange(nthreads):
        k0 = t * K // nthreads
        k1 = (t + 1) * K // nthreads
        part = partial[t * mn:(t + 1) * mn]
        if width == 32:
            _stream_32(M, N, k1 - k0, a, a_off + k0 * a_cs, a_cs, b, b_off + k0 * b_rs, b_rs,
                       part)
        elif width == 16:
            _stream_16(M, N, k1 - k0, a, a_off + k0 * a_cs, a_cs, b, b_off + k0 * b_rs, b_rs,
                       part)
        else:
            _gemm_slab(M, N, k1 - k0, a, a_off + k0 * a_cs, a_rs, a_cs,
                       b, b_off + k0 * b_rs, b_rs, b_cs, part, kc_max)
    for i in prange(mn):
        acc = partial[i]
        for t in range(1, nthreads):
            acc += partial[t * mn + i]
        c[i] = acc


_gemm_ksplit = njit(parallel=True, cache=True, fastmath=False)(_gemm_ksplit_py)


def long_k(M, N, K):
    """True for a long-K, small-C product (a weight gradient; see KSPLIT_K_RATIO).

    Such a product runs on the streaming kernel (kernels/matmul_stream.py: no
    packing) when its operands are k-major and C is small, else on the slab GEMM,
    which packs B one K slice at a time; one thread runs either itself, several the
    K-split driver around it. (The C-split body packs the whole of B first: single-
    core float32, 64x6272x512 tn ran at 63 GFLOP/s there and 92 on the slab.)
    """
    return (K >= KSPLIT_MIN_K and K >= KSPLIT_K_RATIO * max(M, N)
            and M * N <= KSPLIT_MAX_MN)


def use_ksplit(M, N, K, nthreads):
    """True when the K-split driver runs for this shape: long K and threads to split it."""
    return nthreads > 1 and long_k(M, N, K)


# ----------------------------------------------------------------- the public API
def _flat_operand(X):
    """(flat, offset, row_stride, col_stride) in elements for a 2-D array X.

    Any layout with positive strides (C order, Fortran order / transposed views,
    strided slices) is used in place through a read-only 1-D view of the memory
    it spans. Negative, zero (broadcast) or non-itemsize-multiple strides and
    misaligned data are copied to C order first. A size-1 dimension gets stride 1 (its stride is never
    used, but NumPy may report any value there).
    """
    item = X.itemsize
    rs = X.strides[0] // item if X.shape[0] > 1 else 1
    cs = X.strides[1] // item if X.shape[1] > 1 else 1
    if not X.flags.aligned:                          # (another Numba type: copy)
        X = np.ascontiguousarray(X)
        flat, rs, cs = X.reshape(-1), X.shape[1], 1
    elif X.flags.c_contiguous:
        flat, rs, cs = X.reshape(-1), X.shape[1], 1
    elif X.flags.f_contiguous:                       # a transposed C array: X.T is C order
        flat, rs, cs = X.T.reshape(-1), 1, X.shape[0]
    elif (rs > 0 and cs > 0 and X.strides[0] % item == 0 and X.strides[1] % item == 0):
        span = 1 + (X.shape[0] - 1) * rs + (X.shape[1] - 1) * cs
        flat = np.lib.stride_tricks.as_strided(X, shape=(span,), strides=(item,),
                                               writeable=False)
    else:
        X = np.ascontiguousarray(X)
        flat, rs, cs = X.reshape(-1), X.shape[1], 1
    if flat.flags.writeable:                         # one Numba type for every input
        flat = flat.view()
        flat.flags.writeable = False
    return flat, 0, rs, cs


def matmul_numba(A, B, out=None, parallel=None):
    """C = A @ B with the BLIS-style Numba kernel.

    Args:
        A: (M, K) float32 or float64, any strides (see ``_flat_operand``).
        B: (K, N) same dtype as A.
        out: optional (M, N) C-contiguous array of that dtype to write into.
        parallel: None picks by size (serial below PARALLEL_MIN_FLOPS); True/False force.
    Returns:
        C (M, N) (``out`` when given).
    Raises:
        ShapeError (a ValueError) for non-2-D operands, mismatched inner dimensions
        or a wrong ``out``; MatmulDTypeError (a ValueError) for mixed/unsupported dtypes.
    """
    A, B, M, K, N = _check_operands(A, B, out)
    C = np.empty((M, N), dtype=A.dtype) if out is None else out     # (M, N)
    if M == 0 or N == 0:
        return C
    if K == 0:
        C[...] = 0
        return C
    a, a_off, a_rs, a_cs = _flat_operand(A)
    b, b_off, b_rs, b_cs = _flat_operand(B)
    if parallel is None:
        parallel = 2 * M * N * K >= PARALLEL_MIN_FLOPS
    nthreads = numba.get_num_threads() if parallel else 1
    c = C.reshape(-1)
    if long_k(M, N, K):                           # long K, small C (dW GEMMs)
        width = stream_width(M, N, a_rs, b_cs, A.dtype)     # 0: the slab GEMM
        if nthreads > 1:                          # split K across the threads
            _gemm_ksplit(M, N, K, a, a_off, a_rs, a_cs, b, b_off, b_rs, b_cs, c, KC,
                         nthreads, width)
        elif width == 32:
            _stream_32(M, N, K, a, a_off, a_cs, b, b_off, b_rs, c)
        elif width == 16:
            _stream_16(M, N, K, a, a_off, a_cs, b, b_off, b_rs, c)
        else:
            _gemm_slab(M, N, K, a, a_off, a_rs, a_cs, b, b_off, b_rs, b_cs, c, KC)
        return C
    gemm = _gemm_parallel if parallel and nthreads > 1 else _gemm_serial
    gemm(M, N, K, a, a_off, a_rs, a_cs, b, b_off, b_rs, b_cs, c, KC, nthreads)
    return C


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
    gemm(M, N, K, *_flat_operand(A), *_flat_operand(B), C.reshape(-1), KC,
         numba.get_num_threads())
    gemm.parallel_diagnostics(level=level)
