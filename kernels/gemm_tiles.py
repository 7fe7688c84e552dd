"""The inner loops of the BLIS-style GEMM: the register tile, the micro-kernel and the
macro-kernels that sweep it over a block of C.

Notation as in ``gemm_reference``: C (M, N) = A (M, K) @ B (K, N). Reference:
``kernels.gemm_reference.matmul_reference``.

The micro-kernel computes one MR x W tile of C (W = NR, or NR/2 at a narrow edge) from
a packed A micro-panel (kc, MR) and a packed B micro-panel (kc, NR), as kc rank-1 updates:

    acc (MR, W) = 0                                  # in registers
    for k < kc:
        a_0..a_5 = A[p*MR + 0..5, k]                 # six broadcasts
        acc[i, :W] += a_i * B[k, c0 : c0+W]          # one W-wide vector FMA per row
    C[tile] (= on the first K slice | += after) acc

A macro-kernel runs that for every A micro-panel p0..p1 against ONE B micro-panel, so the
B panel is loaded from L1 again and again while the A panels stream from L2:

    for p in p0..p1:                                 # A micro-panels
        micro-kernel(p, q)

The ideas that make it fast:

* The accumulator is a stack buffer of compile-time size (``make_register_tile``, an
  ``alloca``): LLVM proves it aliases nothing, unrolls the constant MR and W loops and
  keeps the whole tile in vector registers. A heap buffer (``np.zeros``) stays in memory.
* The MR = 6 row values are loaded by hand (a0..a5, ``_make_rank1_update``). With a loop
  over rows LLVM vectorises across rows, with gathers, instead of across the W columns.
* MR and W are compile-time constants: one macro-kernel body is compiled twice, for
  W = NR (full panels) and W = NR/2 (a last panel with at most NR/2 valid columns), so a
  narrow edge does not compute a full tile of zeros. Panels are zero-padded, so the
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

Why MR x NR = 6 x 32 or 6 x 16: the tile must fit the vector registers with room for the B
vectors and the broadcasts, or LLVM spills accumulators to the stack inside the k-loop.
With AVX-512's 32 registers, 6 x 32 float32 is 12 zmm (or 24 ymm) accumulators, and
float64 (24 zmm) fits too. With AVX2's 16 ymm registers 6 x 32 float32 would be 24
accumulators: on a Zen 2/3 EPYC it ran at 0.53-0.60x OpenBLAS on the VAE's large
products, 6 x 16 (12 accumulators) at 0.71-0.95x in the same session
(docs/kernels/gemm.md). So NR follows the register count of the compiled code
(``target.VECTOR_REGISTERS``): 32 with AVX-512, 16 without. MR = 6 in both: six
broadcasts per k against NR/8 (AVX2) or NR/16 (AVX-512) vector loads of B. At float64 on
AVX2 the 6 x 16 tile is 24 accumulators and spills; float64 is the gradient checks'
dtype, where speed does not matter. The tile never changes a result: each element of C
is summed over k in the same order, slice by slice, whatever the tile's shape.

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

__all__ = ["MR", "NR"]

# ----------------------------------------------------------------------- constants
# Register tile: MR rows x NR columns of C in vector registers (see the module
# docstring; the tile sizes that were measured: docs/kernels/gemm.md).
MR = 6
NR = 32 if _target.VECTOR_REGISTERS >= 32 else 16


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
    panel with at most NR/2 valid columns, e.g. N = 40 = 32 + 8 at NR = 32), so a
    narrow edge does not pay for a full NR-wide tile of zeros. Only NR and NR/2 are
    compiled (32 and 16, or 16 and 8: whole vectors): LLVM vectorises other widths
    badly (docs/kernels/gemm.md).
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
        out of small-K products.
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
    copy for nothing (the conv VAE's (25088x32)@(32x16) spent most of its time
    packing A). This variant reads the MR rows of a panel straight from A (six unit-
    stride slices, as in the row packer) and is otherwise the macro-kernel above.

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
