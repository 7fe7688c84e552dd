"""Packing for the BLIS-style GEMM: copy A and B into unit-stride micro-panels.

Notation as in ``gemm_reference``: C (M, N) = A (M, K) @ B (K, N); MR x NR is the register
tile (``gemm_tiles``). Reference for the GEMM these feed: ``matmul_reference``.

An operand arrives as a flat buffer, an element offset and two element strides,

    A[m, k] = a[a_off + m*a_rs + k*a_cs]          B[k, n] = b[b_off + k*b_rs + n*b_cs]

which covers C order, Fortran order (transposed views) and strided slices without a copy.
Packing rewrites a block of each operand in the order the micro-kernel reads it:

    A panel p (K, MR):  Ap[p, k, i] = A[p*MR + i, k]       zero for rows past M
    B panel q (K, NR):  Bp[q, k, j] = B[k, q*NR + j]       zero for columns past N

so the micro-kernel makes two unit-stride vector loads and MR broadcasts per k whatever
the operands' layouts were: one compiled inner loop per dtype. The zero padding means the
k-loop never branches at an edge.

The ideas in the packers:

* Each has a fast path for the layout it meets most, written as unit-stride slices read
  with non-negative ``range`` indices, so Numba's wraparound check folds away and LLVM
  vectorises the copy:
  - ``_pack_a_panel``, A in C order: six row slices interleaved, the six stores unrolled
    (LLVM vectorises them as one interleaved group); A a transposed view: one contiguous
    MR-run per k; anything else: one strided slice per k.
  - ``_pack_b_panel``, B in C order: one contiguous row slice per k; B a transposed view
    (W.T in dx = dy @ W.T): a strided slice per k, which LLVM turns into gathers -- better
    than walking B's contiguous columns with scattered stores.
* ``_pack_b_rows`` fills every B panel in B's memory order: row k of B is read once,
  front to back, and its NR-column pieces go to the panels. Panel by panel, a packer walks
  down B's rows once per panel, touching a few cache lines of each row each time, and the
  hardware prefetcher does not keep up when B comes from memory. The slab GEMM uses it.
* A row copy loops to the runtime column count nr, not to the constant NR.

No fastmath here: packing is copying. Measurements: docs/kernels/gemm.md.
"""
from __future__ import annotations

from . import target as _target  # noqa: F401 - sets the vector width before anything compiles
from numba import njit

from .gemm_tiles import MR, NR

__all__ = []


def _pack_a_panel_py(a, a_off, a_rs, a_cs, M, K, p, ap):
    """Ap panel p (K, MR) <- rows p*MR .. p*MR+MR of A, k-major, zero rows past M.

    a: flat buffer holding A; A[m, k] = a[a_off + m*a_rs + k*a_cs] (strides > 0).
    ap: (npa*K*MR,) all A panels; panel p occupies ap[p*K*MR : (p+1)*K*MR].

    Three paths: rows contiguous (A in C order) interleaves six unit-stride row
    slices with the six stores unrolled, which LLVM vectorises as one interleaved
    group; columns contiguous (A a transposed view) copies one MR-run per k;
    anything else (slices, the edge panel) copies column k's mr values through one
    strided slice per k.
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
    is in C order (a vector copy, bound by reading B), else a strided slice
    (B = W.T in dx = dy @ W.T), which LLVM turns into gathers -- still better than
    walking B's contiguous columns with scattered stores.
    """
    c0 = q * NR
    nr = min(NR, N - c0)
    dst = bp[q * K * NR: (q + 1) * K * NR]          # (K*NR,)
    if b_cs == 1:                                    # rows contiguous (B = W)
        for k in range(K):
            start = b_off + k * b_rs + c0
            src = b[start: start + nr]               # (nr,) row k, unit stride
            d = dst[k * NR: k * NR + NR]             # (NR,)
            for j in range(nr):                      # runtime nr: faster than a
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
