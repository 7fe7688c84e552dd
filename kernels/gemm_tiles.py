"""The inner loops of the BLIS-style GEMM: the register tile, the micro-kernel and the
macro-kernels that sweep it over a block of C.

Notation as in ``gemm_reference``: C (M, N) = A (M, K) @ B (K, N). Reference:
``kernels.gemm_reference.matmul_reference``.

The micro-kernel computes one MR x W tile of C (W = NR, or NARROW at an edge) from
a packed A micro-panel (kc, MR) and a packed B micro-panel (kc, NR), as kc rank-1 updates:

    acc (MR, W) = 0                                  # in registers
    for each pass of PASS_ROWS rows (6: one pass; 3: two, on 16-register CPUs):
        for k < kc:
            a_i = A[p*MR + i, k] for the pass's rows   # broadcasts
            acc[i, :W] += a_i * B[k, c0 : c0+W]        # one W-wide vector FMA per row
    C[tile] (= on the first K slice | += after) acc

A macro-kernel runs that for every A micro-panel p0..p1 against ONE B micro-panel, so the
B panel is loaded from L1 again and again while the A panels stream from L2:

    for p in p0..p1:                                 # A micro-panels
        micro-kernel(p, q)

The ideas that make it fast:

* The accumulator is a stack buffer of compile-time size (``make_register_tile``, an
  ``alloca``): LLVM proves it aliases nothing, unrolls the constant MR and W loops and
  keeps the whole tile in vector registers. A heap buffer (``np.zeros``) stays in memory.
* The row values are loaded by hand (a0..a5, ``_make_rank1_update``). With a loop over
  rows LLVM vectorises across rows, with gathers, instead of across the W columns.
* MR and W are compile-time constants: one macro-kernel body is compiled twice, for
  W = NR (full panels) and W = NARROW (a last panel with at most NARROW valid columns:
  16, or 24 with three-row passes, whose 16-wide loop LLVM turned into scalar FMAs), so
  a narrow edge does not compute a full tile of zeros. Panels are zero-padded, so the
  k-loop never branches; only the write-back (``_store_tile``) is masked.
* The loop over A panels lives inside the compiled macro-kernel, not in its caller, so
  the per-call overhead is paid once per B panel, not once per tile (it shows at small K).
* ``fastmath={'contract'}``: LLVM may fuse acc += a*b into one FMA (one rounding instead
  of two) and may do nothing else -- no reassociation, so the summation order is the
  k-loop's and a result is deterministic on a given machine. A float32 result differs
  from the Python fallback (and a CPU without FMA) by round-off, within the tests' bound.
* ``_macro_kernel_rows`` reads A in place instead of from a packed panel: with one B
  panel (N <= NR) every element of A is used once, so packing A would be a copy for
  nothing. Its last panel, when M is not a multiple of MR, is moved back to end at row M
  (so it never reads past A) and writes only the rows it owns.

Why MR x NR = 6 x 32, in one pass or two: the rows of the tile that one k-loop updates
must fit the vector registers with room for the B vectors and the broadcasts, or LLVM
spills accumulators to the stack inside the k-loop. With AVX-512's 32 registers, 6 x 32
float32 is 12 zmm accumulators (float64, 24 zmm, fits too) and one pass does all six
rows (PASS_ROWS = 6). With AVX2's 16 ymm registers six rows do not fit at any useful
width: 6 x 32 is 24 accumulators, and 6 x 16 (12 accumulators, 2 B vectors, 6
broadcasts: 20 live values) spilled an accumulator to the stack and back on every k
step, 28 GFLOP/s on a Zen 3 core where OpenBLAS ran 69-87. So there the micro-kernel
makes two passes over the same B panel, rows 0-2 and then rows 3-5 (PASS_ROWS = 3),
each 3 x 32 = 12 accumulators + 4 B vectors: 72-77 GFLOP/s on the VAE's products.
NR = 32 and MR = 6 on every machine, so the packed panels, the blocking and the task
grid are the same everywhere. At float64 on AVX2 a three-row pass is 12 ymm as well.
The tile never changes a result: each element of C is summed over k in the same order,
slice by slice, whatever the number of passes.

Fragility: the speed depends on LLVM keeping ``acc`` in registers and vectorising across
the columns. Indexing with a runtime offset (``off + k*NR + j`` instead of a slice and a
non-negative ``range`` index), a heap accumulator, a runtime MR or W, a loop over rows
instead of the unrolled loads: each silently costs 1.3-30x. Run ``benchmarks/matmul.py``
after any change here. Measurements: docs/kernels/gemm.md.
"""
from __future__ import annotations

from . import target as _target  # sets the vector width before anything compiles
from numba import njit

from .registers import make_register_tile

__all__ = ["MR", "NR", "PASS_ROWS", "NARROW"]

# ----------------------------------------------------------------------- constants
# Register tile: MR rows x NR columns of C, computed in passes of PASS_ROWS rows that
# each hold 12 vector accumulators (see the module docstring; the tiles that were
# measured: docs/kernels/gemm.md).
MR = 6
NR = 32
PASS_ROWS = 6 if _target.VECTOR_REGISTERS >= 32 else 3
# The narrow tile of a last panel with few valid columns: NR/2 = 16, or 24 in three-row
# passes, whose 16-column loop LLVM unrolls into scalar FMAs (4.8 GFLOP/s against 91 at
# 24 columns on a Zen 3 core, docs/kernels/gemm.md).
NARROW = NR // 2 if PASS_ROWS == 6 else 24


# ------------------------------------------------- the register tile (a stack array)
# The MR x NR accumulator: a stack buffer, so that LLVM keeps it in registers
# (see kernels/registers.py).
_register_tile = make_register_tile(MR * NR)


# ------------------------------------------------------- macro- and micro-kernel
def _make_rank1_update(W, r0, rows):
    """acc[r0+i, :W] += a_i * bq[k, :W] for ``rows`` = 6 or 3 rows from row r0: one k
    step of one pass of the micro-kernel.

    Inlined into the micro-kernel (``inline="always"``, at Numba's IR level), so the
    tile stays in the caller's registers. The row values arrive unrolled (a0, a1, ...):
    with a loop over rows LLVM vectorised across rows with gathers instead of across
    the W columns.
    """
    if rows == 6:
        def rank1_update_py(acc, a0, a1, a2, a3, a4, a5, bq, k):
            for j in range(W):
                b = bq[k * NR + j]
                acc[(r0 + 0) * NR + j] += a0 * b
                acc[(r0 + 1) * NR + j] += a1 * b
                acc[(r0 + 2) * NR + j] += a2 * b
                acc[(r0 + 3) * NR + j] += a3 * b
                acc[(r0 + 4) * NR + j] += a4 * b
                acc[(r0 + 5) * NR + j] += a5 * b
    else:
        def rank1_update_py(acc, a0, a1, a2, bq, k):
            for j in range(W):
                b = bq[k * NR + j]
                acc[(r0 + 0) * NR + j] += a0 * b
                acc[(r0 + 1) * NR + j] += a1 * b
                acc[(r0 + 2) * NR + j] += a2 * b

    rank1_update_py.__name__ = rank1_update_py.__qualname__ = \
        f"_rank1_update_{W}_{r0}_{rows}_py"
    return njit(inline="always", fastmath={"contract"})(rank1_update_py)


def _make_micro_kernel(W):
    """acc (MR, W) += A (MR, kc) @ bq (kc, W), in one pass of six rows (32 vector
    registers) or two passes of three (16): the micro-kernel of every macro-kernel here
    and of the direct convolution (``conv_direct``).

    Row i's k-th value is ``x_i[k*sk]``, x_i a view that starts at the row's first
    value: into a packed A panel (sk = MR), a row of A read in place (sk = 1) or an
    image's pixels (conv_direct, sk = 1). The callers make the views: made in here, or
    replaced by one buffer and six runtime offsets, they cost a negative-index check on
    every load or kept the tile in memory, 12 stores per k (``inspect_asm``).

    Each pass holds PASS_ROWS x W values in registers: at W = NR = 32 float32 that is
    12 accumulators, 12 zmm of AVX-512's 32 or 12 ymm of AVX2's 16. The two passes read
    the B panel twice (from L1), and sum each element of C over k in the same order as
    one pass: the result does not depend on PASS_ROWS.
    """
    six = _make_rank1_update(W, 0, 6)
    top = _make_rank1_update(W, 0, 3)
    bottom = _make_rank1_update(W, 3, 3)

    def micro_kernel_py(acc, x0, x1, x2, x3, x4, x5, sk, kc, bq):
        if PASS_ROWS == 6:                            # a compile-time constant
            for k in range(kc):                       # 12 zmm: six broadcasts, two loads
                t = k * sk
                six(acc, x0[t], x1[t], x2[t], x3[t], x4[t], x5[t], bq, k)
        else:
            for k in range(kc):                       # rows 0-2: 12 ymm, four loads of B
                t = k * sk
                top(acc, x0[t], x1[t], x2[t], bq, k)
            for k in range(kc):                       # rows 3-5, the same B panel again
                t = k * sk
                bottom(acc, x3[t], x4[t], x5[t], bq, k)

    micro_kernel_py.__name__ = micro_kernel_py.__qualname__ = f"_micro_kernel_{W}_py"
    return njit(inline="always", fastmath={"contract"})(micro_kernel_py)


_micro_kernel_full = _make_micro_kernel(NR)
_micro_kernel_half = _make_micro_kernel(NARROW)


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


_store_tile = njit(inline="always")(_store_tile_py)


def _make_macro_kernel(W):
    """The plain-Python macro-kernel for tiles W <= NR columns wide (W is a constant).

    One body, compiled for W = NR (every full panel) and W = NARROW (a last
    panel with at most NARROW valid columns, e.g. N = 40 = 32 + 8), so a narrow edge
    does not pay for a full NR-wide tile of zeros. Only whole vectors are compiled
    (32 and 16 or 24): LLVM vectorises other widths badly (docs/kernels/gemm.md).
    """
    micro_kernel = _micro_kernel_full if W == NR else _micro_kernel_half

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
                for each pass of PASS_ROWS rows:   # micro-kernel, one pass or two
                    for k < kc:                    # k innermost
                        broadcasts of A;  acc[i, :W] += a_i * bq[k, :W]
                C tile (=|+=) acc
        Looping over p here rather than in the caller keeps the call overhead
        out of small-K products.
        """
        for p in range(p0, p1):
            s = p * ap_stride                       # A[p*MR + i, k] = ap[s + i + k*MR]
            x0, x1, x2 = ap[s + 0:], ap[s + 1:], ap[s + 2:]
            x3, x4, x5 = ap[s + 3:], ap[s + 4:], ap[s + 5:]
            acc = _register_tile(ap.dtype)                      # (MR*NR,) registers
            micro_kernel(acc, x0, x1, x2, x3, x4, x5, MR, kc, bq)
            _store_tile(acc, c, p * MR, 0, min(MR, M - p * MR), ldc, c0, nr, first)

    macro_kernel_py.__name__ = macro_kernel_py.__qualname__ = f"_macro_kernel_{W}_py"
    return macro_kernel_py


_macro_kernel_full_py = _make_macro_kernel(NR)
_macro_kernel_half_py = _make_macro_kernel(NARROW)
_macro_kernel_full = njit(fastmath={"contract"}, cache=True)(_macro_kernel_full_py)
_macro_kernel_half = njit(fastmath={"contract"}, cache=True)(_macro_kernel_half_py)


def _make_macro_kernel_rows(W):
    """The macro-kernel reading A in place, for A with contiguous rows and N <= NR.

    With one B panel (N <= NR) every element of A is used once, so packing A is a
    copy for nothing (the conv VAE's (25088x32)@(32x16) spent most of its time
    packing A). This variant reads the MR rows of a panel straight from A (six unit-
    stride slices, as in the row packer) and is otherwise the macro-kernel above.

    Panels are global (p = 0..npa-1, rows p*MR ..). The last panel, if M is not a
    multiple of MR, is moved back to end at row M (so it never reads past A) and
    overlaps its neighbour: it recomputes the shared rows and writes only its own,
    so each row of C is written by one panel. Needs M >= MR.
    """
    micro_kernel = _micro_kernel_full if W == NR else _micro_kernel_half

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
            micro_kernel(acc, x0, x1, x2, x3, x4, x5, 1, kc, bq)
            # only the rows this panel owns (the moved-back last panel shares some)
            _store_tile(acc, c, r0, p * MR - r0, MR, ldc, c0, nr, first)

    macro_kernel_rows_py.__name__ = macro_kernel_rows_py.__qualname__ = \
        f"_macro_kernel_rows_{W}_py"
    return macro_kernel_rows_py


_macro_kernel_rows_full_py = _make_macro_kernel_rows(NR)
_macro_kernel_rows_half_py = _make_macro_kernel_rows(NARROW)
_macro_kernel_rows_full = njit(fastmath={"contract"}, cache=True)(_macro_kernel_rows_full_py)
_macro_kernel_rows_half = njit(fastmath={"contract"}, cache=True)(_macro_kernel_rows_half_py)
