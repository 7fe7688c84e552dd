"""Direct (implicit-GEMM) convolution on the CPU: the GEMM's register tile fed straight from
the NHWC image, with no patch matrix.

Notation as in ``scratchvae.functional.conv``: x (N, H, W, C) NHWC, W (F, C, KH, KW),
stride (SH, SW), padding (PH, PW), output (N, OH, OW, F); MR x NR is the GEMM's register
tile (``gemm_tiles``: 6 x 32).

The im2col path writes every window as a row of a patch matrix, cols (N·OH·OW, KH·KW·C),
and multiplies it by the weights: for the conv VAE's 32→64 conv that is 12.8 MB written,
read back, and packed again by the GEMM. Here the GEMM's A operand is read where it lies.
In a zero-padded NHWC image one kernel row of a window, (kw, c) for kw < KW, is KW·C
consecutive values, so a window is KH runs of L = KW·C values, one per kernel row, an
image row (Wp·C values) apart:

    y[n, i, j, :] = b + Σ_kh  x_pad[n, i·SH + kh, j·SW : j·SW + KW, :]  (a run of L)
                              · Wk[kh]                                   (L, F)

with Wk[kh, kw·C + c, f] = W[f, c, kh, kw]. This is the GEMM's micro-kernel with six
output pixels as the six rows of A, each row a pointer into the image:

    for each task (a range of MR-row panels of output pixels):       # prange
        for each group of kernel rows (KG rows: a B sub-panel of <= 2·KC rows, L1 and L2):
            for q in the B panels (NR output channels each):
                for p in the task's panels:
                    acc (MR, NR) = 0                                  # registers
                    for kh in the group:
                        x_0..x_5 = the six pixels' runs for kernel row kh  (in place)
                        for t < L:  acc[r, :] += x_r[t] · Bp[q, kh·L + t, :]
                    out rows (= on the first group, with the bias | += after) acc

**One kernel, three uses.** The kernel only needs, for output row r = (n, a, b) of a
grid (N, GA, GB), where its window starts in the input and where its result goes:

    in  offset = n·i_n + a·i_a + b·i_b + i_0    (+ kh·i_kh for kernel row kh)
    out offset = n·o_n + a·o_a + b·o_b + o_0

* **Forward** (``conv2d_direct``): the input is x padded by (PH, PW), i_a = SH·Wp·C,
  i_b = SW·C, i_kh = Wp·C; the output is y (N·OH·OW, F) row by row.
* **Input gradient** (``conv2d_input_grad_direct``), the adjoint: a stride-S conv's dx
  splits into SH·SW *phases*. A dx pixel at padded row h' = SH·a + ph only meets the
  kernel rows kh ≡ ph (mod SH), kh = ph + SH·u, from the output rows i = a − u. With
  KH = UH·SH (and KW = UW·SW) every phase is a stride-1 convolution of dy, padded by
  UH − 1 rows (UW − 1 columns), with the UH x UW sub-kernel flipped:

      dx[n, SH·a + ph − PH, SW·b + pw − PW, :]
          = Σ_{u' < UH}  dy_pad[n, a + u', b : b + UW, :]  (a run of UW·F)
                         · Wk_phase[u']                      (UW·F, C)
      Wk_phase[u', v'·F + f, c] = W[f, c, ph + SH·(UH − 1 − u'), pw + SW·(UW − 1 − v')]

  and the phase's output rows are scattered into dx with o_a = SH·W·C, o_b = SW·C.
  Every dx pixel belongs to exactly one phase: dx is written once, never accumulated,
  and no patch matrix (dcols) or col2im runs.
* **Transposed convolution**: its forward is a conv's input gradient and its input
  gradient a conv's forward (``functional/conv.py``), so it runs on the same two calls.

**The weight gradient** (``conv2d_weight_grad_direct``) is a GEMM with a long K, the
output pixels: dW (F, K) = dy2ᵀ (F, R) · P (R, K), P the patch rows. It runs as the GEMM's
slab loop with K-split threads (``gemm_driver._gemm_slab`` / ``_gemm_ksplit``), except that
the B panels of each slice of ≤ KC patch rows are packed straight from the padded image
(``_pack_patch_rows``: a row is KH runs of L values) instead of from a patch matrix:

    for t in prange(threads):                   # thread t: pixel rows r_t .. r_t+1
        for each slice of ≤ KC rows:
            pack P rows -> Bp (from the image);  pack dy2 columns -> Ap
            macro-kernels into the private partial C_t   (= on the first slice, += after)
    dW = (…(C_0 + C_1) + …)                     # fixed order: deterministic per thread count

(a float32 result for one thread differs from two in the last bits: another order of sums.)

Where it applies: float32/float64 operands of one dtype, at least MR output pixels, at
least MIN_CHANNELS output channels and runs of at least MIN_RUN values (the conv VAE's 1-channel
ends keep the im2col path: there a tile would be mostly padding), and for the input
gradient KH % SH == 0 and KW % SW == 0 (the conv VAE's 4x4 kernels with stride 2; any
stride-1 kernel). Elsewhere the callers get None and run the im2col path,
which stays beside this one as the reference (as do the loop oracles of
``functional/conv_reference.py``; ``direct_conv_reference`` is this module's own loop nest).

Summation order (forward and input gradient): each output element is summed kernel row by
kernel row in registers, and across groups of KG kernel rows in memory; a float32 result differs from the im2col path
(whose GEMM sums in K slices of 256) by round-off only. The order is fixed by the shape,
so results are bit-identical from run to run and for any thread count.

The padded images live in scratch buffers reused from call to call (``_scratch``): fresh
multi-megabyte arrays are fresh pages, and page faults cost more than the padding.

Measurements: docs/kernels/conv.md.
"""
from __future__ import annotations

import threading

import numpy as np
from . import target as _target  # noqa: F401 - sets the vector width before anything compiles
import numba
from numba import njit, prange

from .blocking import CACHES, KC
from .gemm_driver import _renamed
from .gemm_pack import _pack_a_panel, _pack_b_panel
from .gemm_tiles import (MR, NARROW, NR, _macro_kernel_full, _macro_kernel_half, _micro_kernel_full,
                         _micro_kernel_half, _register_tile)

__all__ = ["conv2d_direct", "conv2d_input_grad_direct", "conv2d_weight_grad_direct",
           "direct_conv_reference", "DIRECT_MIN_FLOPS"]

# Below this many flops one thread runs the kernel (a parallel region costs ~5-10 us).
DIRECT_MIN_FLOPS = 4_000_000
# The kernel declines (the im2col path runs) when its tile would be mostly padding: fewer
# output channels than half a tile (a 1-channel output fills 1 of 16 lanes), or runs
# shorter than MIN_RUN (the first conv's KW·C = 4: a tile set up per 4 FMAs).
MIN_CHANNELS = 16
MIN_RUN = 16
# A task's input pixels are read again for every channel panel and kernel-row group, so a
# task's share of the input is kept within half of one core's L2 (the rest holds the
# packed weights and the output rows): with one task per thread, a 1-thread forward of
# the 32→64 conv swept the whole 4.2 MB padded image per channel panel and ran 1.2-1.5x slower than
# in 8 tasks (docs/kernels/conv.md, "Tasks sized by the L2").
TASK_BYTES = CACHES["l2"] // 2


def task_count(input_bytes: int, flops: int, threads: int) -> int:
    """How many contiguous ranges of output panels the driver's prange splits the rows
    into: one below DIRECT_MIN_FLOPS; else at least one per thread and enough that each
    range's share of the input fits in TASK_BYTES, rounded up to a multiple of the
    threads (equal shares). The split never changes a result: each output row is
    computed by the same micro-kernel calls in the same order in any task."""
    if flops < DIRECT_MIN_FLOPS:
        return 1
    tasks = max(threads, -(-input_bytes // TASK_BYTES))
    return -(-tasks // threads) * threads


# ------------------------------------------------------------------ the kernel
def _next_pixel_py(n, a, b, GA, GB):
    """The output row after (n, a, b) on the grid (N, GA, GB), in row-major order."""
    b += 1
    if b == GB:
        b, a = 0, a + 1
        if a == GA:
            a, n = 0, n + 1
    return n, a, b


_next_pixel = njit(inline="always")(_next_pixel_py)


def _make_direct_kernel(W):
    """The plain-Python direct-conv body for output-channel tiles W <= NR wide (W constant:
    one body compiled for W = NR and W = NARROW, as the GEMM's macro-kernels)."""
    micro_kernel = _micro_kernel_full if W == NR else _micro_kernel_half

    def direct_py(x, i_n, i_a, i_b, i_0, i_kh, nkh, L, N, GA, GB, bp, F, kg,
                  out, o_n, o_a, o_b, o_0, bias, has_bias, p0, p1, q):
        """Output rows of panels p0..p1, channels q·NR.. (see the module docstring).

        x:   flat input, the window of output row r = (n, a, b) starting at
             n·i_n + a·i_a + b·i_b + i_0, kernel row kh at + kh·i_kh, L values long.
        bp:  packed weights, (npb, nkh·L, NR), panel q = output channels q·NR ..
        out: flat output, row r's F channels at n·o_n + a·o_a + b·o_b + o_0.
        """
        R = N * GA * GB
        K = nkh * L
        c0 = q * NR
        nr = min(NR, F - c0)
        gab = GA * GB
        for g0 in range(0, nkh, kg):                     # groups of kernel rows
            g1 = min(nkh, g0 + kg)
            first = g0 == 0
            for p in range(p0, p1):
                r0 = min(p * MR, R - MR)                 # the last panel moves back
                # each of the six rows: its window in x and its place in out
                n_ = r0 // gab
                rem = r0 - n_ * gab
                a_ = rem // GB
                b_ = rem - a_ * GB
                s0 = n_ * i_n + a_ * i_a + b_ * i_b + i_0
                n_, a_, b_ = _next_pixel(n_, a_, b_, GA, GB)
                s1 = n_ * i_n + a_ * i_a + b_ * i_b + i_0
                n_, a_, b_ = _next_pixel(n_, a_, b_, GA, GB)
                s2 = n_ * i_n + a_ * i_a + b_ * i_b + i_0
                n_, a_, b_ = _next_pixel(n_, a_, b_, GA, GB)
                s3 = n_ * i_n + a_ * i_a + b_ * i_b + i_0
                n_, a_, b_ = _next_pixel(n_, a_, b_, GA, GB)
                s4 = n_ * i_n + a_ * i_a + b_ * i_b + i_0
                n_, a_, b_ = _next_pixel(n_, a_, b_, GA, GB)
                s5 = n_ * i_n + a_ * i_a + b_ * i_b + i_0
                acc = _register_tile(x.dtype)             # (MR*NR,) registers
                for kh in range(g0, g1):
                    o = kh * i_kh
                    x0 = x[s0 + o: s0 + o + L]            # (L,) pixel 0's kernel row kh
                    x1 = x[s1 + o: s1 + o + L]
                    x2 = x[s2 + o: s2 + o + L]
                    x3 = x[s3 + o: s3 + o + L]
                    x4 = x[s4 + o: s4 + o + L]
                    x5 = x[s5 + o: s5 + o + L]
                    bq = bp[q * K * NR + kh * L * NR: q * K * NR + (kh + 1) * L * NR]
                    micro_kernel(acc, x0, x1, x2, x3, x4, x5, 1, L, bq)
                # write back the rows this panel owns (the moved-back one shares some)
                for i in range(p * MR - r0, MR):
                    r = r0 + i
                    n_ = r // gab
                    rem = r - n_ * gab
                    a_ = rem // GB
                    start = n_ * o_n + a_ * o_a + (rem - a_ * GB) * o_b + o_0 + c0
                    row = out[start: start + nr]          # (nr,) a view: no wraparound
                    if first:
                        if has_bias:
                            bb = bias[c0: c0 + nr]
                            for j in range(nr):
                                row[j] = acc[i * NR + j] + bb[j]
                        else:
                            for j in range(nr):
                                row[j] = acc[i * NR + j]
                    else:
                        for j in range(nr):
                            row[j] += acc[i * NR + j]

    direct_py.__name__ = direct_py.__qualname__ = f"_direct_{W}_py"
    return direct_py


_direct_full = njit(fastmath={"contract"}, cache=True)(_make_direct_kernel(NR))
_direct_half = njit(fastmath={"contract"}, cache=True)(_make_direct_kernel(NARROW))


def _direct_driver_py(x, i_n, i_a, i_b, i_0, i_kh, nkh, L, N, GA, GB, bp, F, kg,
                      out, o_n, o_a, o_b, o_0, bias, has_bias, ntask):
    """Every output row: ``ntask`` contiguous ranges of panels, each doing all the
    channel panels (so a task's input pixels are read by all of them while in cache)."""
    npa = (N * GA * GB + MR - 1) // MR
    npb = (F + NR - 1) // NR
    for t in prange(ntask):
        p0 = t * npa // ntask
        p1 = (t + 1) * npa // ntask
        for q in range(npb):
            if F - q * NR > NARROW:
                _direct_full(x, i_n, i_a, i_b, i_0, i_kh, nkh, L, N, GA, GB, bp, F, kg,
                             out, o_n, o_a, o_b, o_0, bias, has_bias, p0, p1, q)
            else:
                _direct_half(x, i_n, i_a, i_b, i_0, i_kh, nkh, L, N, GA, GB, bp, F, kg,
                             out, o_n, o_a, o_b, o_0, bias, has_bias, p0, p1, q)


def _pack_weights_py(Wk, bp):
    """bp (npb, K, NR) <- Wk (K, F) C-contiguous, in NR-column panels, zero past F."""
    K, F = Wk.shape
    flat = Wk.reshape(-1)
    for q in range((F + NR - 1) // NR):
        _pack_b_panel(flat, 0, F, 1, K, F, q, bp)


_direct_parallel = njit(parallel=True, cache=True)(_direct_driver_py)
_direct_serial = njit(parallel=False, cache=True)(_renamed(_direct_driver_py, "_serial"))
_pack_weights = njit(cache=True)(_pack_weights_py)


# --------------------------------------------------------- the weight gradient
def _pack_patch_rows_py(xp, i_n, i_a, i_b, i_kh, nkh, L, GA, GB, r0, kc, bp):
    """Bp (npb, kc, NR) <- patch rows r0 .. r0+kc of the padded image, zero past K.

    Row r = (n, a, b) of the patch matrix is the window at n·i_n + a·i_a + b·i_b: nkh runs
    of L values (K = nkh·L columns), read straight from the image; ``_pack_b_rows`` of
    the GEMM does the same from a patch matrix in memory."""
    K = nkh * L
    npb = (K + NR - 1) // NR
    gab = GA * GB
    for k in range(kc):
        r = r0 + k
        n_ = r // gab
        rem = r - n_ * gab
        a_ = rem // GB
        base = n_ * i_n + a_ * i_a + (rem - a_ * GB) * i_b
        for kh in range(nkh):
            src = xp[base + kh * i_kh: base + kh * i_kh + L]      # (L,) kernel row kh
            col = kh * L
            t = 0
            while t < L:                                          # pieces within a panel
                q = (col + t) // NR
                j0 = col + t - q * NR
                m = min(NR - j0, L - t)
                d = bp[(q * kc + k) * NR + j0: (q * kc + k) * NR + j0 + m]
                s = src[t: t + m]
                for j in range(m):
                    d[j] = s[j]
                t += m
        for col in range(K, npb * NR):                            # zero padding past K
            q = col // NR
            bp[(q * kc + k) * NR + col - q * NR] = 0


def _weight_grad_py(g, M, xp, i_n, i_a, i_b, i_kh, nkh, L, N, GA, GB, c, kc_max, nthreads):
    """C (M, K) = G (R, M)ᵀ @ P (R, K), P the patch rows of the padded image, R = N·GA·GB.

    The slab GEMM (``gemm_driver._gemm_slab``) with K-split threads, its B operand packed
    from the image: thread t sums rows r_t .. r_t+1 of G and P into a private partial,

        for each slice of ≤ KC rows:  pack P rows -> Bp; pack Gᵀ columns -> Ap;
                                      macro-kernels (C '=' on the first slice, '+=' after)

    and the partials are added in a fixed order (deterministic for a thread count).
    g: (R·M,) flat, row r of G at g[r·M : r·M + M] (dy or x as NHWC rows).
    """
    K = nkh * L
    R = N * GA * GB
    mk = M * K
    npa = (M + MR - 1) // MR
    npb = (K + NR - 1) // NR
    partial = np.empty(nthreads * mk, dtype=c.dtype)
    for t in prange(nthreads):
        r_lo = t * R // nthreads
        r_hi = (t + 1) * R // nthreads
        part = partial[t * mk:(t + 1) * mk]
        nkb = max(1, (r_hi - r_lo + kc_max - 1) // kc_max)       # slices, balanced
        kc_cap = (r_hi - r_lo + nkb - 1) // nkb
        bp = np.empty(npb * kc_cap * NR, dtype=c.dtype)          # (npb, kc, NR)
        ap = np.empty(npa * kc_cap * MR, dtype=c.dtype)          # (npa, kc, MR)
        if r_hi == r_lo:
            for i in range(mk):
                part[i] = 0
            continue
        for kb in range(nkb):
            k0 = r_lo + kb * (r_hi - r_lo) // nkb
            k1 = r_lo + (kb + 1) * (r_hi - r_lo) // nkb
            kc = k1 - k0
            _pack_patch_rows(xp, i_n, i_a, i_b, i_kh, nkh, L, GA, GB, k0, kc, bp)
            for p in range(npa):                                 # Gᵀ: A[m, r] = g[r·M + m]
                _pack_a_panel(g, k0 * M, 1, M, M, kc, p, ap)
            for q in range(npb):
                c0 = q * NR
                nr = min(NR, K - c0)
                bq = bp[q * kc * NR:(q + 1) * kc * NR]
                if nr > NARROW:
                    _macro_kernel_full(kc, ap, 0, npa, kc * MR, M, bq, part, c0, K, nr, kb == 0)
                else:
                    _macro_kernel_half(kc, ap, 0, npa, kc * MR, M, bq, part, c0, K, nr, kb == 0)
    for i in prange(mk):
        acc = partial[i]
        for t in range(1, nthreads):
            acc += partial[t * mk + i]
        c[i] = acc


_pack_patch_rows = njit(cache=True)(_pack_patch_rows_py)
_weight_grad_parallel = njit(parallel=True, cache=True)(_weight_grad_py)
_weight_grad_serial = njit(parallel=False, cache=True)(_renamed(_weight_grad_py, "_serial"))


# ------------------------------------------------------------------ the reference
def direct_conv_reference(x, i_n, i_a, i_b, i_0, i_kh, nkh, L, N, GA, GB, Wk, out,
                          o_n, o_a, o_b, o_0, bias=None):
    """The kernel's contract as a loop nest: for every output row r = (n, a, b),

        out[o(r) : o(r) + F] = bias + Σ_kh x[s(r) + kh·i_kh : + L] @ Wk[kh·L : (kh+1)·L]

    with s(r) = n·i_n + a·i_a + b·i_b + i_0 and o(r) = n·o_n + a·o_a + b·o_b + o_0;
    Wk (nkh·L, F). ``out`` (flat) is written in place."""
    F = Wk.shape[1]
    for n in range(N):
        for a in range(GA):
            for b in range(GB):
                s = n * i_n + a * i_a + b * i_b + i_0
                o = n * o_n + a * o_a + b * o_b + o_0
                acc = np.zeros(F, dtype=out.dtype) if bias is None else bias.astype(out.dtype)
                for kh in range(nkh):
                    acc = acc + x[s + kh * i_kh: s + kh * i_kh + L] @ Wk[kh * L:(kh + 1) * L]
                out[o: o + F] = acc


# ------------------------------------------------------------------ public API
def _run(x, geom_in, nkh, L, grid, Wk, out, geom_out, bias):
    """Pack Wk (nkh·L, F), then the kernel over the grid (N, GA, GB); out is flat."""
    K, F = Wk.shape
    bp = np.empty(((F + NR - 1) // NR) * K * NR, dtype=x.dtype)
    _pack_weights(np.ascontiguousarray(Wk, dtype=x.dtype), bp)
    N, GA, GB = grid
    # kernel rows per group: a B sub-panel (kg·L, NR) of up to 2·KC rows (64 KiB float32),
    # summed in registers; the 32→64 conv's forward (4 rows of L = 128) ran 2.18 → 1.98 ms
    # on one thread with all four rows in one group instead of two groups of two
    # (docs/kernels/conv.md, "Kernel-row groups")
    kg = max(1, (2 * KC) // L)
    flops = 2 * N * GA * GB * K * F
    threads = numba.get_num_threads() if flops >= DIRECT_MIN_FLOPS else 1
    ntask = task_count(x.nbytes, flops, threads)
    # The parallel=True build even on one thread: the parallel=False build of the same
    # driver ran the input gradient 1.5-1.9x and the forward 1.1x slower on one thread
    # (docs/kernels/conv.md, "The serial build"); the serial one is for the small problems,
    # where a parallel region's start-up (~5-10 us) would show.
    run = _direct_parallel if flops >= DIRECT_MIN_FLOPS else _direct_serial
    has_bias = bias is not None
    b = bias.astype(x.dtype) if has_bias else np.zeros(1, dtype=x.dtype)
    run(x, *geom_in, nkh, L, N, GA, GB, bp, F, kg, out, *geom_out, b, has_bias, ntask)


def _usable(*arrays):
    dtype = arrays[0].dtype
    return dtype in (np.float32, np.float64) and all(a.dtype == dtype for a in arrays)


def _pad_py(x, top, left, xp):
    """xp (N, Hp, Wp, C) <- x (N, H, W, C) at (top, left), zeros around: every element of
    xp written once (no separate zeroing pass), x read with any strides."""
    N, H, W, C = x.shape
    _, Hp, Wp, _ = xp.shape
    for n in prange(N):
        for r in range(Hp):
            row = xp[n, r]                              # (Wp, C)
            h = r - top
            if h < 0 or h >= H:
                for s in range(Wp):
                    for c in range(C):
                        row[s, c] = 0
                continue
            for s in range(Wp):
                w = s - left
                if w < 0 or w >= W:
                    for c in range(C):
                        row[s, c] = 0
                else:
                    for c in range(C):
                        row[s, c] = x[n, h, w, c]


_pad = njit(parallel=True, cache=True)(_pad_py)


# Scratch buffers for the padded images, kept between calls: a fresh multi-megabyte
# array is fresh pages, and the conv VAE's step took ~3,500 page faults (14 MB of
# zero-filled pages) with them. Keyed by the calling Python thread as well, so two
# threads never share one; _pad writes every element, so a reused buffer needs no
# clearing. At most WORKSPACE_BYTES are kept (then the cache starts over).
WORKSPACE_BYTES = 256 * 1024 * 1024
_workspace = {}


def _scratch(shape, dtype):
    """An uninitialised C-contiguous array of this shape, reused from earlier calls."""
    key = (threading.get_ident(), shape, np.dtype(dtype))
    buf = _workspace.get(key)
    if buf is None:
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if sum(b.nbytes for b in _workspace.values()) + size > WORKSPACE_BYTES:
            _workspace.clear()
        buf = _workspace[key] = np.empty(shape, dtype=dtype)
    return buf


def _pad_nhwc(x, top, bottom, left, right):
    """x (N, H, W, C) → zero-padded C-contiguous (N, H + top + bottom, W + left + right, C),
    in a scratch buffer that the next call of the same shape overwrites: use it at once."""
    N, H, W, C = x.shape
    xp = _scratch((N, H + top + bottom, W + left + right, C), x.dtype)
    _pad(x, top, left, xp)
    return xp


def conv2d_direct(x, W, b, SH, SW, PH, PW):
    """y = conv2d(x, W) + b on an NHWC image, with no patch matrix.

    Args:
        x: (N, H, W, C) float32/float64, any strides (copied once, zero-padded).
        W: (F, C, KH, KW); b: (F,) or None; stride and padding as ints.
    Returns:
        y (N, OH, OW, F) C-contiguous, or None where the kernel does not apply
        (fewer than MR output pixels, mixed or non-float dtypes).
    """
    if not _usable(x, W) or (b is not None and b.dtype != x.dtype):
        return None
    N, H, Wd, C = x.shape
    F, _, KH, KW = W.shape
    if F < MIN_CHANNELS or KW * C < MIN_RUN:
        return None
    OH, OW = (H + 2 * PH - KH) // SH + 1, (Wd + 2 * PW - KW) // SW + 1
    if N * OH * OW < MR or OH < 1 or OW < 1:
        return None
    xp = _pad_nhwc(x, PH, PH, PW, PW)                     # (N, Hp, Wp, C)
    Hp, Wp = H + 2 * PH, Wd + 2 * PW
    Wk = W.transpose(2, 3, 1, 0).reshape(KH * KW * C, F)  # (kh, kw, c) rows, F columns
    y = np.empty((N, OH, OW, F), dtype=x.dtype)
    _run(xp.reshape(-1), (Hp * Wp * C, SH * Wp * C, SW * C, 0, Wp * C), KH, KW * C,
         (N, OH, OW), Wk, y.reshape(-1), (OH * OW * F, OW * F, F, 0), b)
    return y


def conv2d_input_grad_direct(dy, W, H, Wd, SH, SW, PH, PW):
    """dx of a convolution (equally: a transposed convolution's forward) by phases.

    Args:
        dy: (N, OH, OW, F) float32/float64, any strides.
        W: (F, C, KH, KW) the convolution's weight; H, Wd: the input size to produce.
    Returns:
        dx (N, H, W, C) C-contiguous, or None where the kernel does not apply
        (KH % SH or KW % SW nonzero, a phase with fewer than MR pixels, other dtypes).
    """
    if not _usable(dy, W):
        return None
    N, OH, OW, F = dy.shape
    _, C, KH, KW = W.shape
    if KH % SH or KW % SW or C < MIN_CHANNELS or (KW // SW) * F < MIN_RUN:
        return None
    UH, UW = KH // SH, KW // SW
    phases = []
    for ph in range(SH):
        a0 = -(-(PH - ph) // SH)                          # first a with h = SH·a + ph − PH ≥ 0
        a1 = (H - 1 + PH - ph) // SH                      # last a with h ≤ H − 1
        for pw in range(SW):
            b0 = -(-(PW - pw) // SW)
            b1 = (Wd - 1 + PW - pw) // SW
            if a1 >= a0 and b1 >= b0:
                if N * (a1 - a0 + 1) * (b1 - b0 + 1) < MR:
                    return None
                phases.append((ph, pw, a0, a1, b0, b1))
    # dy padded so that every phase's window rows a + u' (a0 ≤ a ≤ a1) exist: UH − 1 rows
    # on top (the output rows i = a − u < 0), enough below for the largest a
    a_lo = min(p[2] for p in phases)
    a_hi = max(p[3] for p in phases)
    b_lo = min(p[4] for p in phases)
    b_hi = max(p[5] for p in phases)
    top, left = UH - 1 - min(a_lo, 0), UW - 1 - min(b_lo, 0)
    bottom = max(0, a_hi + 1 - OH)
    right = max(0, b_hi + 1 - OW)
    dyp = _pad_nhwc(dy, top, bottom, left, right)        # (N, OHp, OWp, F)
    OHp, OWp = OH + top + bottom, OW + left + right
    flat = dyp.reshape(-1)
    dx = np.empty((N, H, Wd, C), dtype=dy.dtype)
    for ph, pw, a0, a1, b0, b1 in phases:
        # window of phase pixel (a, b): dy_pad rows a + u', i.e. padded row a − (UH − 1) + top
        # + u'; Wk_phase[u', v'·F + f, c] = W[f, c, ph + SH(UH−1−u'), pw + SW(UW−1−v')]
        Wsub = W[:, :, ph::SH, pw::SW][:, :, ::-1, ::-1]  # (F, C, UH, UW), flipped
        Wk = Wsub.transpose(2, 3, 0, 1).reshape(UH * UW * F, C)
        r0 = a0 - (UH - 1) + top                          # padded row of the first window
        c0 = b0 - (UW - 1) + left
        h0, w0 = SH * a0 + ph - PH, SW * b0 + pw - PW     # its dx pixel
        _run(flat, (OHp * OWp * F, OWp * F, F, (r0 * OWp + c0) * F, OWp * F), UH, UW * F,
             (N, a1 - a0 + 1, b1 - b0 + 1), Wk, dx.reshape(-1),
             (H * Wd * C, SH * Wd * C, SW * C, (h0 * Wd + w0) * C), None)
    return dx


def conv2d_weight_grad_direct(x, dy, KH, KW, SH, SW, PH, PW):
    """dW (F, C, KH, KW) of a convolution, dW = dy2ᵀ · patches(x), with no patch matrix.

    Args:
        x: (N, H, W, C) the input, any strides (copied once, zero-padded).
        dy: (N, OH, OW, F) the output gradient, any strides (made C-contiguous).
        KH, KW, SH, SW, PH, PW: kernel, stride, padding.
    Returns:
        dW (F, C, KH, KW), or None where the kernel does not apply (fewer than MR output
        channels, runs shorter than MIN_RUN, other dtypes).
    """
    if not _usable(x, dy):
        return None
    N, H, Wd, C = x.shape
    _, OH, OW, F = dy.shape
    if F < MR or KW * C < MIN_RUN or (H + 2 * PH - KH) // SH + 1 != OH \
            or (Wd + 2 * PW - KW) // SW + 1 != OW:
        return None
    xp = _pad_nhwc(x, PH, PH, PW, PW)                     # (N, Hp, Wp, C)
    Hp, Wp = H + 2 * PH, Wd + 2 * PW
    g = np.ascontiguousarray(dy).reshape(-1)              # (N·OH·OW·F,) rows of G = dy2
    K = KH * KW * C
    c = np.empty(F * K, dtype=x.dtype)
    R = N * OH * OW
    threads = numba.get_num_threads() if 2 * R * K * F >= DIRECT_MIN_FLOPS else 1
    threads = max(1, min(threads, R // MR))
    run = _weight_grad_parallel if threads > 1 else _weight_grad_serial
    run(g, F, xp.reshape(-1), Hp * Wp * C, SH * Wp * C, SW * C, Wp * C, KH, KW * C,
        N, OH, OW, c, KC, threads)
    return c.reshape(F, KH, KW, C).transpose(0, 3, 1, 2)  # (F, C, KH, KW)
