"""The drivers of the BLIS-style GEMM: cache blocking, threads, and which loop nest a
shape gets. ``matmul_numba`` is the entry point.

Notation as in ``gemm_reference``: C (M, N) = A (M, K) @ B (K, N); the register tile is
MR x NR (``gemm_tiles``), the packed panels are described in ``gemm_pack``. Reference:
``kernels.gemm_reference.matmul_reference``.

Blocking. K is cut into ceil(K/KC) slices of equal length; A into blocks of at most MC
rows, and C's columns into as many blocks as the task grid chooses. A task is one block
of C (at most MC rows):

    C-split GEMM (``_gemm_py``), the general case:
        for t in prange(nthreads):                  # 1/nthreads of B's panels each
            pack B cols -> Bp[q] (K, NR)            # all of B, once, shared
        for task in prange(mb * nb):                # 2-D grid of C blocks (<= MC rows)
            for k0:k1 in K slices:
                pack the task's A rows, k0:k1 -> Ap # task-local, <= MC x KC: stays in L2
                for q in the task's NR-panels:      # B micro-panel (kc, NR) stays in L1
                    macro-kernel over the task's MR-panels   (C '=' on the first slice)

    Slab GEMM (``_gemm_slab``), serial, for a long K and a small C:
        for k0:k1 in K slices:
            pack B[k0:k1, :] -> Bp                  # one slab of <= KC x N: stays in L2
            pack A[:, k0:k1] -> Ap
            for q in B panels: macro-kernel over all A panels

    K-split GEMM (``_gemm_ksplit``), parallel, for a long K and a small C:
        for t in prange(nthreads):                  # thread t owns K range k_t .. k_t+1
            C_t = A[:, k_t:k_t+1] @ B[k_t:k_t+1, :] # slab GEMM, or the streaming kernel
        C = (..((C_0 + C_1) + C_2)..)               # a fixed order: deterministic

The ideas behind the blocking and the choice of loop nest:

* The B micro-panel (KC x NR) is re-read by every A micro-panel of a task, so KC keeps it
  in L1; the A block (MC x KC) is re-read once per B micro-panel, so MC keeps it in L2.
  B is packed whole before the tasks start and each B micro-panel is read from there once
  per task and K slice, so no B block must stay in L2: there is no NC (BLIS's cap on a
  B block's columns), and the task grid alone splits the columns.
* A is packed per task and per K slice, right before use, into a task-local block that
  fits L2 (BLIS's order): packing all of A up front would stream a large A through
  memory twice. A task that shares its rows with another (nb > 1) repacks them.
* With one B panel (N <= NR) and A's rows contiguous, A is not packed at all: the
  macro-kernel reads it in place (every element of A is used once).
* Threads. prange hands each thread a contiguous chunk of the tasks; ``_task_grid`` picks
  the grid (mb, nb) whose slowest thread has the fewest panels to multiply. Products below
  PARALLEL_MIN_FLOPS run a serial build of the same body, since starting and joining the
  two parallel regions (packing, tiles) costs more than the work they would split.
* Long K, small C (``long_k``: weight gradients, dW = dYᵀ @ cols with K = batch·pixels).
  Splitting C would give each thread a sliver of C but the whole of the big B to pack and
  stream; splitting K gives each thread its share of A and B, in one pass, into a private
  partial C, and the partials are summed in a fixed order afterwards. The product itself
  runs on the streaming kernel (``matmul_stream``: no packing at all) when both operands
  are k-major and C is small, else on the slab GEMM, which packs B one K slice at a time,
  in B's memory order, instead of all of B up front. One thread runs either directly.
* Strides are handled while packing (``_flat_operand``: flat buffer, offset, row and
  column strides), so inputs are never copied first -- except negative, zero (broadcast)
  or non-itemsize-multiple strides and misaligned data, which are made contiguous.
* Determinism: the task grid, the K slices and the K-split's summation order depend only
  on the shape and the thread count, so a result is bit-identical from run to run (a
  K-split result may differ from the C-split one in the last bits: another order).

The packers and the drivers keep ``fastmath=False``; only the macro-kernels contract FMAs.

Threads and OpenBLAS: on a machine with few cores do not alternate this kernel with
multi-threaded OpenBLAS calls in a hot loop. OpenBLAS's workers busy-wait for a while
after each call, and a parallel region here inside that window is slowed many times.
Use one backend for the GEMMs, or OPENBLAS_NUM_THREADS=1 next to this kernel.

Measurements behind every constant and choice: docs/kernels/gemm.md.
"""
from __future__ import annotations

import types as pytypes

from . import target as _target  # noqa: F401 - sets the vector width before anything compiles
import numba
import numpy as np
from numba import njit, prange

from .blocking import KC, MC
from .gemm_pack import _pack_a_panel, _pack_b_panel, _pack_b_rows
from .errors import KernelShapeError
from .gemm_reference import _check_operands
from .gemm_tiles import (MR, NARROW, NR, _macro_kernel_full, _macro_kernel_half,
                         _macro_kernel_rows_full, _macro_kernel_rows_half)
from .matmul_stream import _stream_16, _stream_24, _stream_32, stream_width

__all__ = ["matmul_numba", "KC", "MC", "PARALLEL_MIN_FLOPS", "KSPLIT_K_RATIO",
           "KSPLIT_MIN_K", "KSPLIT_MAX_MN", "long_k", "use_ksplit"]

# ----------------------------------------------------------------------- constants
# KC, MC: the cache blocking, MC sized from this machine's L2 at import
# (``kernels/blocking.py``: KC = 256 always; MC = 288 for a 1 MiB L2). MC reaches the
# compiled code as an argument, never as a compile-time constant, so a kernel cached
# on disk on one machine is right on another.
# Below this many flops (2*M*N*K) the serial build runs: the two parallel regions
# (packing, tiles) cost more to start and join than they save.
PARALLEL_MIN_FLOPS = 4_000_000
# K-split / long K (``long_k``): K ≥ KSPLIT_K_RATIO · max(M, N) and K ≥ KSPLIT_MIN_K,
# and the nthreads partial C's are small (M·N ≤ KSPLIT_MAX_MN: 256 KiB float32).
KSPLIT_K_RATIO = 8
KSPLIT_MIN_K = 4 * KC
KSPLIT_MAX_MN = 65_536
# Packing one A panel (MR x K) costs about half of multiplying it by one B panel
# (per k: six scalar loads and stores against twelve vector FMAs).
PACK_A_COST = 0.5


# ----------------------------------------------------------------------- task grid
def _task_grid_py(npa, npb, nthreads, mc):
    """(mb, nb): split npa MR-panels into mb blocks and npb NR-panels into nb blocks.

    Blocks hold at most mc rows (MC); columns are not capped (module docstring). Among
    the grids up to 2*nthreads blocks finer in each direction, pick the one whose slowest thread
    finishes first: prange hands each thread a contiguous chunk of ceil(T/nthreads)
    of the T = mb*nb tasks, and a task costs

        (its A panels) x (its B panels + PACK_A_COST)

    in units of one A panel times one B panel: every task packs its own A panels,
    so a grid that cuts N into nb blocks packs all of A nb times. E.g. M = 6272,
    N = 64 (1046 x 2 panels) on 2 threads: 22 x 1, not 22 x 2 (which packs A twice;
    measured 208 vs 186 GFLOP/s); M = 128, N = 784: 2 x 1, not 2 x 5 (148 vs 112
    GFLOP/s on 2 threads), which a cap of 256 columns per task forced before.
    """
    mb0 = max(1, -(-(npa * MR) // mc))
    nb0 = 1
    best_mb, best_nb, best_cost = mb0, nb0, -1.0
    for nb in range(nb0, min(npb, nb0 + 2 * nthreads) + 1):    # ties: split M (its
        for mb in range(mb0, min(npa, mb0 + 2 * nthreads) + 1):  # panels are all equal)
            tasks = mb * nb
            cost = -(-tasks // nthreads) * -(-npa // mb) * (-(-npb // nb) + PACK_A_COST)
            if best_cost < 0 or cost < best_cost:
                best_mb, best_nb, best_cost = mb, nb, cost
    return best_mb, best_nb


_task_grid = njit(cache=True)(_task_grid_py)


# ----------------------------------------------------------------- the C-split GEMM
def _gemm_py(M, N, K, a, a_off, a_rs, a_cs, b, b_off, b_rs, b_cs, c, kc_max, mc,
             nthreads, accumulate):
    """C (M, N) = A (M, K) @ B (K, N) on flat buffers (C += A @ B with ``accumulate``);
    see the module docstring.

    a, b: flat buffers with element offsets and positive element strides;
    c: (M*N,) row-major output, fully overwritten (K >= 1), or added to.
    kc_max: the K slice length (KC); mc: the most rows of a task (MC);
    nthreads: threads the packing and the task grid are split for (1 in the serial
    build).
    """
    npa = (M + MR - 1) // MR                         # A panels of MR rows
    npb = (N + NR - 1) // NR                         # B panels of NR columns
    bp = np.empty(npb * K * NR, dtype=c.dtype)       # (npb, K, NR), shared by all tasks
    # B is packed once, up front, each thread packing 1/nthreads of its panels.
    for t in prange(nthreads):
        for q in range(t * npb // nthreads, (t + 1) * npb // nthreads):
            _pack_b_panel(b, b_off, b_rs, b_cs, K, N, q, bp)

    mb, nb = _task_grid(npa, npb, nthreads, mc)
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
        # MC x KC (9/32 of L2): packed, then used at once while it is in L2.
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
            first = kb == 0 and not accumulate       # '=' on the first slice, else '+='
            if a_in_place:                           # one B panel: A is read once, in place
                bq = bp[k0 * NR: k1 * NR]            # (kc*NR,) the only panel
                if N > NARROW:
                    _macro_kernel_rows_full(kc, a, a_off + k0, a_rs, p0, p1, M, bq, c, 0, N,
                                            N, first)
                else:
                    _macro_kernel_rows_half(kc, a, a_off + k0, a_rs, p0, p1, M, bq, c, 0, N,
                                            N, first)
                continue
            for p in range(npan):
                _pack_a_panel(a, a_sub + k0 * a_cs, a_rs, a_cs, m_sub, kc, p, ap)
            for q in range(q0, q1):
                c0 = q * NR
                nr = min(NR, N - c0)
                bq = bp[q * K * NR + k0 * NR: q * K * NR + k1 * NR]      # (kc*NR,)
                if nr > NARROW:
                    _macro_kernel_full(kc, ap, 0, npan, kc * MR, m_sub, bq, c_sub, c0, N,
                                       nr, first)
                else:
                    _macro_kernel_half(kc, ap, 0, npan, kc * MR, m_sub, bq, c_sub, c0, N,
                                       nr, first)


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


# -------------------------------------------------------------------- the slab GEMM
def _gemm_slab_py(M, N, K, a, a_off, a_rs, a_cs, b, b_off, b_rs, b_cs, c, kc_max,
                  accumulate):
    """Serial C = A @ B (C += A @ B with ``accumulate``) that packs B one K slice at a
    time (BLIS's loop order).

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
        first = kb == 0 and not accumulate
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
            if nr > NARROW:
                _macro_kernel_full(kc, ap, 0, npa, kc * MR, M, bq, c, c0, N, nr, first)
            else:
                _macro_kernel_half(kc, ap, 0, npa, kc * MR, M, bq, c, c0, N, nr, first)


_gemm_slab = njit(parallel=False, cache=True, fastmath=False)(_gemm_slab_py)


# ----------------------------------------------------------------- the K-split GEMM
def _gemm_ksplit_py(M, N, K, a, a_off, a_rs, a_cs, b, b_off, b_rs, b_cs, c, kc_max, nthreads,
                    width):
    """C = A @ B with K cut into nthreads contiguous ranges, one per thread.

        C_t (M, N) = A[:, k_t:k_t+1] @ B[k_t:k_t+1, :]     thread t: ``_gemm_slab``, or
                                                          the streaming kernel of width
                                                          ``width`` (16, 24, 32; 0: slab)
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
        elif width == 24:
            _stream_24(M, N, k1 - k0, a, a_off + k0 * a_cs, a_cs, b, b_off + k0 * b_rs, b_rs,
                       part)
        elif width == 16:
            _stream_16(M, N, k1 - k0, a, a_off + k0 * a_cs, a_cs, b, b_off + k0 * b_rs, b_rs,
                       part)
        else:
            _gemm_slab(M, N, k1 - k0, a, a_off + k0 * a_cs, a_rs, a_cs,
                       b, b_off + k0 * b_rs, b_rs, b_cs, part, kc_max, False)
    for i in prange(mn):
        acc = partial[i]
        for t in range(1, nthreads):
            acc += partial[t * mn + i]
        c[i] = acc


_gemm_ksplit = njit(parallel=True, cache=True, fastmath=False)(_gemm_ksplit_py)


# ------------------------------------------------------------- which loop nest runs
def long_k(M, N, K):
    """True for a long-K, small-C product (a weight gradient; see KSPLIT_K_RATIO).

    Such a product runs on the streaming kernel (kernels/matmul_stream.py: no
    packing) when its operands are k-major and C is small, else on the slab GEMM,
    which packs B one K slice at a time; one thread runs either itself, several the
    K-split driver around it. (The C-split body would pack the whole of B first.)
    """
    return (K >= KSPLIT_MIN_K and K >= KSPLIT_K_RATIO * max(M, N)
            and M * N <= KSPLIT_MAX_MN)


def use_ksplit(M, N, K, nthreads):
    """True when the K-split driver runs for this shape: long K and threads to split it."""
    return nthreads > 1 and long_k(M, N, K)


# ----------------------------------------------------------------- the entry point
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


def matmul_numba(A, B, out=None, parallel=None, accumulate=False):
    """C = A @ B with the BLIS-style Numba kernel, or C += A @ B.

    Args:
        A: (M, K) float32 or float64, any strides (see ``_flat_operand``).
        B: (K, N) same dtype as A.
        out: optional (M, N) C-contiguous array of that dtype to write into.
        parallel: None picks by size (serial below PARALLEL_MIN_FLOPS); True/False force.
        accumulate: add the product to ``out`` (required then) instead of overwriting
            it. The packed paths add in the tiles' write-back, slice by slice: out =
            ((out + S₁) + S₂) + … for the K slices S, which is bit for bit
            out + (S₁ + S₂ + …) when out starts at zero (a gradient buffer after
            ``zero_grad``); the long-K paths compute the product first and add it.
    Returns:
        C (M, N) (``out`` when given).
    Raises:
        KernelShapeError (a ValueError) for non-2-D operands, mismatched inner dimensions
        or a wrong ``out``; MatmulDTypeError (a ValueError) for mixed/unsupported dtypes.
    """
    A, B, M, K, N = _check_operands(A, B, out)
    if accumulate and out is None:
        raise KernelShapeError("matmul_numba: accumulate=True adds into out; pass the "
                               "(M, N) array to add to as out=")
    C = np.empty((M, N), dtype=A.dtype) if out is None else out     # (M, N)
    if M == 0 or N == 0:
        return C
    if K == 0:
        if not accumulate:
            C[...] = 0
        return C
    a, a_off, a_rs, a_cs = _flat_operand(A)
    b, b_off, b_rs, b_cs = _flat_operand(B)
    if parallel is None:
        parallel = 2 * M * N * K >= PARALLEL_MIN_FLOPS
    nthreads = numba.get_num_threads() if parallel else 1
    c = C.reshape(-1)
    if accumulate and long_k(M, N, K):            # (the paths below overwrite C)
        C += matmul_numba(A, B, parallel=parallel)
        return C
    if long_k(M, N, K):                           # long K, small C (dW GEMMs)
        width = stream_width(M, N, a_rs, b_cs, A.dtype)     # 0: the slab GEMM
        if width == 16 and stream_width(N, M, b_cs, a_rs, A.dtype) > 16:
            # Cᵀ = Bᵀ Aᵀ on a wider tile (N < 24 <= M on a 16-register CPU): Bᵀ is
            # k-major and Aᵀ has contiguous rows exactly when A and B qualified, so the
            # swapped product streams the same memory; only C (M·N small) is transposed.
            ct = matmul_numba(B.T, A.T, parallel=parallel)     # (N, M)
            C[...] = ct.T
            return C
        if nthreads > 1:                          # split K across the threads
            _gemm_ksplit(M, N, K, a, a_off, a_rs, a_cs, b, b_off, b_rs, b_cs, c, KC,
                         nthreads, width)
        elif width == 32:
            _stream_32(M, N, K, a, a_off, a_cs, b, b_off, b_rs, c)
        elif width == 24:
            _stream_24(M, N, K, a, a_off, a_cs, b, b_off, b_rs, c)
        elif width == 16:
            _stream_16(M, N, K, a, a_off, a_cs, b, b_off, b_rs, c)
        else:
            _gemm_slab(M, N, K, a, a_off, a_rs, a_cs, b, b_off, b_rs, b_cs, c, KC, False)
        return C
    gemm = _gemm_parallel if parallel and nthreads > 1 else _gemm_serial
    gemm(M, N, K, a, a_off, a_rs, a_cs, b, b_off, b_rs, b_cs, c, KC, MC, nthreads,
         accumulate)
    return C
