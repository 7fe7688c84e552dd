"""kernels.matmul: the Numba GEMM against the BLAS-free loop-nest oracle.

Notation: C (M, N) = A (M, K) @ B (K, N). Awkward shapes (size 1, primes, tall and
skinny, wide, tile multiples and off-by-one sizes around MR, NR and KC, the
half-width edge kernel), non-contiguous layouts, both builds (serial and
parallel), then numpy.matmul on the VAE's own GEMM shapes, the error messages,
and the NUMBA_DISABLE_JIT=1 Python fallback in a subprocess.

Tolerance: |C - R| <= rtol * (|A| @ |B|) elementwise, R the float64 oracle; rtol is
1e-5 * sqrt(K) for float32 (round-off of a K-term sum) and 1e-12 for float64.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kernels.blocking import MC
from kernels.gemm_driver import _task_grid_py
from kernels.target import VECTOR_REGISTERS
from kernels.gemm_tiles import NARROW
from kernels.matmul import (KC, MR, NR, PARALLEL_MIN_FLOPS, matmul, matmul_numba,
                            matmul_reference, parallel_diagnostics)

DTYPES = [np.float32, np.float64]
REPO = Path(__file__).resolve().parents[1]


def _rtol(dtype, K):
    return 1e-5 * np.sqrt(max(K, 1)) if dtype == np.float32 else 1e-12


def assert_gemm_close(C, A, B, oracle=matmul_reference):
    """C matches A @ B to the dtype's round-off, scaled by |A| @ |B|."""
    M, K = A.shape
    N = B.shape[1]
    assert C.shape == (M, N) and C.dtype == A.dtype
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    R = oracle(A64, B64)                                  # (M, N) float64
    scale = oracle(np.abs(A64), np.abs(B64))              # (M, N) sum_k |A||B|
    tol = _rtol(A.dtype, K) * scale + np.finfo(A.dtype).tiny
    err = np.abs(C.astype(np.float64) - R)
    worst = np.unravel_index(np.argmax(err - tol), err.shape)
    assert np.all(err <= tol), (
        f"{A.dtype} A{A.shape} @ B{B.shape}: worst index {worst}: got {C[worst]!r}, "
        f"expected {R[worst]!r} (|err| {err[worst]:.3g} > tol {tol[worst]:.3g})")


def _operands(M, K, N, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((M, K)).astype(dtype),
            rng.standard_normal((K, N)).astype(dtype))


# ----------------------------------------------------------------- the oracle
def test_reference_is_the_textbook_sum():
    A = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    B = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]])
    expected = [[1, 2, 0], [3, 4, 2], [5, 6, 4]]
    np.testing.assert_array_equal(matmul_reference(A, B), expected)
    assert matmul_reference(A.astype(np.float32), B.astype(np.float32)).dtype == np.float32


# --------------------------------------------------------- awkward shapes (M, K, N)
AWKWARD = [
    (1, 1, 1), (7, 13, 11), (31, 17, 29),                  # size 1 and primes
    (1000, 3, 5), (3, 1000, 2), (2, 5, 1000),              # tall, deep, wide
    (MR, 8, NR), (2 * MR, 9, 2 * NR),                       # exact register tiles
    (MR - 1, 8, NR - 1), (MR + 1, 8, NR + 1),              # off by one around them
    (MR + 1, 5, NARROW), (MR + 1, 5, NARROW + 1),          # the narrow edge tile (16 or 24)
    (MR + 1, 5, NR // 2), (MR + 1, 5, NR // 2 + 1),        # half a tile, 16 | 17
    (13, 6, NR + NARROW + 1),                               # N = 32 + narrow + 1: full edge
    (5, 7, 40), (20, 11, 20),                               # the VAE's narrow 40 / 20
    (MR, KC, NR), (MR, KC - 1, NR), (MR + 1, KC + 1, NR - 1),   # around the K slice
    (2 * MR + 1, 2 * KC + 3, NR + 3),                       # three K slices, all edges
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", AWKWARD, ids=lambda s: "x".join(map(str, s)))
def test_matches_reference_on_awkward_shapes(shape, dtype):
    A, B = _operands(*shape, dtype)
    assert_gemm_close(matmul_numba(A, B), A, B)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_serial_and_parallel_builds_agree(dtype):
    # Small enough for the oracle, big enough for a multi-task grid with edges.
    A, B = _operands(3 * MR + 2, KC + 5, 3 * NR + 9, dtype, seed=1)
    C_par = matmul_numba(A, B, parallel=True)
    C_ser = matmul_numba(A, B, parallel=False)
    assert_gemm_close(C_par, A, B)
    # Same tiles, same K slices, same order of additions: bit-identical.
    np.testing.assert_array_equal(C_par, C_ser)


# ------------------------------------------------------------- layouts and strides
def _layouts(M, K, N, dtype):
    rng = np.random.default_rng(2)
    A = rng.standard_normal((M, K)).astype(dtype)
    B = rng.standard_normal((K, N)).astype(dtype)
    big_A = rng.standard_normal((2 * M + 1, 3 * K)).astype(dtype)
    big_B = rng.standard_normal((3 * K, 2 * N + 1)).astype(dtype)
    return {
        "A.T-view": (np.ascontiguousarray(A.T).T, B),          # Fortran-order A
        "B.T-view": (A, np.ascontiguousarray(B.T).T),          # B = W.T, as in dx
        "both-T": (np.ascontiguousarray(A.T).T, np.ascontiguousarray(B.T).T),
        "strided-slices": (big_A[1::2, ::3], big_B[::3, 1::2]),
        "column-slices": (big_A[:M, K:2 * K], big_B[K:2 * K, :N]),
        "negative-strides": (A[::-1, ::-1], B[:, ::-1]),       # copied first
        "broadcast-row": (np.broadcast_to(A[:1], (M, K)), B),  # stride 0: copied
        "misaligned": (_misaligned(A), B),                     # copied
    }


def _misaligned(X):
    buf = np.zeros(X.nbytes + 1, dtype=np.uint8)
    Y = np.ndarray(X.shape, dtype=X.dtype, buffer=buf, offset=1)
    Y[...] = X
    return Y


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("layout", ["A.T-view", "B.T-view", "both-T", "strided-slices",
                                    "column-slices", "negative-strides", "broadcast-row",
                                    "misaligned"])
def test_non_contiguous_inputs(layout, dtype):
    A, B = _layouts(2 * MR + 1, 37, NR + 5, dtype)[layout]
    assert A.shape == (2 * MR + 1, 37) and B.shape == (37, NR + 5)
    if layout not in ("misaligned",):
        assert not (A.flags.c_contiguous and B.flags.c_contiguous)
    assert_gemm_close(matmul_numba(A, B), A, B)


def test_out_argument_is_filled_and_returned():
    A, B = _operands(9, 14, 35, np.float32)
    out = np.full((9, 35), np.nan, dtype=np.float32)
    C = matmul_numba(A, B, out=out)
    assert C is out
    assert_gemm_close(out, A, B)


def test_empty_and_zero_depth_products():
    A, B = _operands(4, 0, 3, np.float64)
    np.testing.assert_array_equal(matmul_numba(A, B), np.zeros((4, 3)))
    out = np.full((4, 3), 7.0)
    matmul_numba(A, B, out=out)
    np.testing.assert_array_equal(out, 0.0)
    A, B = _operands(0, 5, 3, np.float32)
    assert matmul_numba(A, B).shape == (0, 3)


def test_non_finite_values_stay_where_they_belong():
    # The zero padding of edge tiles must not turn into NaN (0 * inf) in C.
    A, B = _operands(MR + 1, 9, NR + 3, np.float64, seed=3)
    A[2, 4] = np.inf
    B[7, NR + 1] = np.nan
    C, R = matmul_numba(A, B), matmul_reference(A, B)
    np.testing.assert_array_equal(np.isnan(C), np.isnan(R))
    np.testing.assert_array_equal(np.isinf(C), np.isinf(R))
    finite = np.isfinite(R)
    np.testing.assert_allclose(C[finite], R[finite], rtol=1e-12, atol=1e-12)


# ----------------------------------------------- the VAE's GEMMs, against numpy.matmul
def _blas64(A, B):
    return np.matmul(A, B)


VAE_CASES = {
    # name: (M, K, N, A transposed view?, B transposed view?)
    "fwd Linear(784,400)": (128, 784, 400, False, False),
    "fwd Linear(400,40)": (128, 400, 40, False, False),
    "dW Linear(400,784) = x.T @ dy": (400, 128, 784, True, False),
    "transposed-A 128x784 @ 784x400": (128, 784, 400, True, False),
    "dx Linear(784,400) = dy @ W.T": (128, 400, 784, False, True),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", list(VAE_CASES))
def test_vae_shapes_match_numpy_matmul(case, dtype):
    M, K, N, ta, tb = VAE_CASES[case]
    rng = np.random.default_rng(4)
    A = rng.standard_normal((K, M)).astype(dtype).T if ta else \
        rng.standard_normal((M, K)).astype(dtype)
    B = rng.standard_normal((N, K)).astype(dtype).T if tb else \
        rng.standard_normal((K, N)).astype(dtype)
    assert 2 * M * N * K >= PARALLEL_MIN_FLOPS               # the parallel build runs
    assert_gemm_close(matmul_numba(A, B), A, B, oracle=_blas64)


def test_dispatcher_backends_agree():
    A, B = _operands(128, 400, 40, np.float32, seed=5)
    C_numba = matmul(A, B, backend="numba")
    C_blas = matmul(A, B, backend="blas")
    np.testing.assert_allclose(C_numba, C_blas, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="unknown matmul backend 'cuda'"):
        matmul(A, B, backend="cuda")


# ------------------------------------------------------------------------- errors
@pytest.mark.parametrize("fn", [matmul_numba, matmul_reference,
                                lambda A, B: matmul(A, B, backend="blas")],
                         ids=["numba", "reference", "blas"])
def test_errors_name_the_shapes(fn):
    A32 = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"A\(3, 4\) @ B\(5, 2\)"):
        fn(A32, np.ones((5, 2), np.float32))                  # inner dimensions
    with pytest.raises(ValueError, match=r"A\(3, 4\) is float32, B\(4, 2\) is float64"):
        fn(A32, np.ones((4, 2), np.float64))                  # mixed dtypes
    with pytest.raises(ValueError, match="float32 and float64, got int64"):
        fn(np.ones((3, 4), np.int64), np.ones((4, 2), np.int64))
    with pytest.raises(ValueError, match=r"2-D operands, got A\(4,\)"):
        fn(np.ones(4, np.float32), np.ones((4, 2), np.float32))


def test_wrong_out_is_rejected():
    A, B = _operands(3, 4, 5, np.float32)
    with pytest.raises(ValueError, match=r"shape \(3, 5\)"):
        matmul_numba(A, B, out=np.empty((5, 3), np.float32))
    with pytest.raises(ValueError, match="float32"):
        matmul_numba(A, B, out=np.empty((3, 5), np.float64))
    with pytest.raises(ValueError, match="C-contiguous"):
        matmul_numba(A, B, out=np.empty((5, 3), np.float32).T)


# -------------------------------------------------------------- grid, diagnostics
@pytest.mark.parametrize("npa,npb", [(1, 1), (22, 13), (131, 13), (22, 2), (4, 25), (171, 32)])
@pytest.mark.parametrize("nthreads", [1, 2, 3])
def test_task_grid_covers_every_panel_once(npa, npb, nthreads):
    mb, nb = _task_grid_py(npa, npb, nthreads, MC)
    assert 1 <= mb <= npa and 1 <= nb <= npb
    rows = [p for bi in range(mb) for p in range(bi * npa // mb, (bi + 1) * npa // mb)]
    cols = [q for bj in range(nb) for q in range(bj * npb // nb, (bj + 1) * npb // nb)]
    assert rows == list(range(npa)) and cols == list(range(npb))
    if nthreads > 1 and npa * npb >= nthreads:
        assert mb * nb >= nthreads                            # no idle thread


def test_parallel_diagnostics_reports_the_prange_loops(capsys):
    parallel_diagnostics(level=1)
    out = capsys.readouterr().out
    assert "Parallel" in out and "prange" in out.lower()


# ---------------------------------------------------------- the Python fallback
FALLBACK = """
import numba, numpy as np
assert numba.config.DISABLE_JIT
from kernels.matmul import matmul_numba, matmul_reference
from kernels.gemm_driver import _gemm_parallel, _gemm_py
assert _gemm_parallel is _gemm_py                  # really the plain Python body
rng = np.random.default_rng(0)
A = rng.standard_normal((13, 7)).astype(np.float32)
B = rng.standard_normal((41, 7)).astype(np.float32).T        # B.T view, N = 32 + 9
for parallel in (False, True):
    C = matmul_numba(A, B, parallel=parallel)
    R = matmul_reference(A, B).astype(np.float64)
    err = float(np.abs(C - R).max() / np.abs(R).max())
    assert err < 1e-6, err
print("fallback ok")
"""


def test_python_fallback_with_jit_disabled():
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    proc = subprocess.run([sys.executable, "-c", FALLBACK], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "fallback ok" in proc.stdout


# ------------------------------------------------------------------ K-split driver
@pytest.mark.parametrize("width,dtype", [(0, np.float32), (0, np.float64), (16, np.float32),
                                         (16, np.float64), (32, np.float32)],
                         ids=["slab-f32", "slab-f64", "stream16-f32", "stream16-f64",
                              "stream32-f32"])        # no 32-wide float64 tile (it would spill)
@pytest.mark.parametrize("nthreads", [2, 3])
def test_ksplit_driver_matches_the_reference(width, dtype, nthreads):
    # A weight-gradient shape in miniature: small C, long K, A a transposed view (dYᵀ);
    # each thread runs the slab GEMM or the streaming kernel (width 16 or 32).
    from kernels.gemm_driver import _flat_operand, _gemm_ksplit
    rng = np.random.default_rng(7)
    M, K, N = MR + 3, 3 * KC + 17, (37 if width == 32 else 19)   # a W-wide tile needs N >= W
    A = rng.standard_normal((K, M)).astype(dtype).T          # (M, K), column-major view
    B = rng.standard_normal((K, N)).astype(dtype)
    C = np.full((M, N), np.nan, dtype=dtype)
    _gemm_ksplit(M, N, K, *_flat_operand(A), *_flat_operand(B), C.reshape(-1), KC, nthreads, width)
    assert_gemm_close(C, A, B)
    # the partial sums are added in a fixed order: the same call gives the same bits
    C2 = np.empty_like(C)
    _gemm_ksplit(M, N, K, *_flat_operand(A), *_flat_operand(B), C2.reshape(-1), KC, nthreads, width)
    np.testing.assert_array_equal(C, C2)


def test_ksplit_is_chosen_for_long_k_small_c_only():
    from kernels.matmul import KSPLIT_MIN_K, use_ksplit
    assert use_ksplit(64, 512, 6272, 2)          # conv VAE dW of the 32→64 conv
    assert use_ksplit(32, 16, 25088, 2)          # conv VAE dW of the first conv
    assert not use_ksplit(32, 16, 25088, 1)      # one thread: nothing to split
    assert not use_ksplit(128, 512, 784, 2)      # a forward GEMM: C is the big side
    assert not use_ksplit(784, 400, 128, 2)      # MLP dW: short K
    assert not use_ksplit(8, 8, KSPLIT_MIN_K - 1, 2)


def test_public_matmul_takes_the_ksplit_path_when_threads_allow():
    import numba
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one Numba thread: the K-split path never runs")
    rng = np.random.default_rng(8)
    A = rng.standard_normal((20000, 24)).astype(np.float32).T      # (24, 20000)
    B = rng.standard_normal((20000, 16)).astype(np.float32)
    previous = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        C = matmul_numba(A, B, parallel=True)
    finally:
        numba.set_num_threads(previous)
    assert_gemm_close(C, A, B)


# ------------------------------------------------------------------ slab GEMM
@pytest.mark.parametrize("b_layout", ["n", "t"], ids=["B-rows", "B-transposed"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_slab_gemm_matches_the_reference(b_layout, dtype):
    # Several K slices, an edge A panel, two full B panels and an edge one: B's rows
    # contiguous (the row-by-row packer) or B a transposed view (the panel packer).
    from kernels.gemm_driver import _flat_operand, _gemm_slab
    rng = np.random.default_rng(9)
    M, K, N = 2 * MR + 1, 2 * KC + 5, 2 * NR + 5
    A = rng.standard_normal((K, M)).astype(dtype).T          # (M, K): dYᵀ
    B = (rng.standard_normal((N, K)).astype(dtype).T if b_layout == "t"
         else rng.standard_normal((K, N)).astype(dtype))
    C = np.full((M, N), np.nan, dtype=dtype)
    _gemm_slab(M, N, K, *_flat_operand(A), *_flat_operand(B), C.reshape(-1), KC, False)
    assert_gemm_close(C, A, B)


def test_long_k_products_run_on_the_slab_with_one_thread():
    from kernels.matmul import KSPLIT_MIN_K, long_k
    assert long_k(32, 16, 25088) and long_k(64, 512, 6272)
    assert not long_k(128, 512, 784) and not long_k(8, 8, KSPLIT_MIN_K - 1)
    rng = np.random.default_rng(10)
    A = rng.standard_normal((5000, 24)).astype(np.float32).T      # (24, 5000)
    B = rng.standard_normal((5000, 40)).astype(np.float32)
    assert long_k(24, 40, 5000)
    assert_gemm_close(matmul_numba(A, B, parallel=False), A, B)


# ------------------------------------------------------------ streaming kernel
@pytest.mark.parametrize("M,N", [(6, 24), (7, 25), (8, 16), (9, 17), (17, 31), (20, 40),
                                 (24, 32), (13, 69)])
@pytest.mark.parametrize("K", [1, 100, 2 * 256 + 3], ids=["K1", "K100", "3chunks"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_streaming_kernel_matches_the_reference(M, N, K, dtype):
    # Every width's kernel that fits the shape (eight-row tiles, or the two-pass six-row
    # ones of 16-register CPUs), tiles that overlap at the bottom and right edges, one K
    # chunk or several; C starts as NaN, so an element no tile owns (or one written twice
    # with += on the first chunk) shows up.
    from kernels.gemm_driver import _flat_operand
    from kernels.matmul_stream import _stream_16, _stream_24, _stream_32, stream_rows
    rng = np.random.default_rng(M * 1000 + N + K)
    A = rng.standard_normal((K, M)).astype(dtype).T          # (M, K), k-major: dYᵀ
    B = rng.standard_normal((K, N)).astype(dtype)            # (K, N), rows contiguous
    a, a_off, a_rs, a_cs = _flat_operand(A)
    b, b_off, b_rs, b_cs = _flat_operand(B)
    ran = 0
    for width, kernel in ((16, _stream_16), (24, _stream_24), (32, _stream_32)):
        if M < stream_rows(width) or N < width or (width == 24 and VECTOR_REGISTERS >= 32):
            continue                                # 24 is built for 16-register CPUs
        C = np.full((M, N), np.nan, dtype=dtype)
        kernel(M, N, K, a, a_off, a_cs, b, b_off, b_rs, C.reshape(-1))
        assert_gemm_close(C, A, B)
        ran += 1
    assert ran >= 1


def test_streaming_kernel_applies_to_small_k_major_products_only():
    from kernels.matmul_stream import ST_MR, STREAM_MAX_MN, stream_width
    f32 = np.float32
    assert stream_width(32, 16, 1, 1, f32) == 16          # conv VAE: first conv's dW
    assert stream_width(64, 64, 1, 1, f32) == 32          # 8 rows, or 2 passes of 3 (AVX2)
    assert stream_width(64, 24, 1, 1, f32) == (16 if VECTOR_REGISTERS >= 32 else 24)
    assert stream_width(6, 64, 1, 1, f32) == (0 if VECTOR_REGISTERS >= 32 else 32)
    assert stream_width(64, 64, 1, 1, np.float64) == 16   # 32 wide would spill at f64
    assert stream_width(32, 16, 32, 1, f32) == 0          # A not k-major
    assert stream_width(32, 16, 1, 25088, f32) == 0       # B not k-major
    assert stream_width(ST_MR - 1, 16, 1, 1, f32) == 0    # too few rows for one tile
    assert stream_width(32, 15, 1, 1, f32) == 0           # too few columns
    assert stream_width(64, 512, 1, 1, f32) == 0 and 64 * 512 > STREAM_MAX_MN


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_public_matmul_streams_a_first_conv_weight_gradient(parallel):
    # The conv VAE's first-layer dW in miniature, through the public entry point.
    rng = np.random.default_rng(11)
    dy = rng.standard_normal((6000, 32)).astype(np.float32)      # (K, M) C order
    cols = rng.standard_normal((6000, 16)).astype(np.float32)    # (K, N)
    C = matmul_numba(dy.T, cols, parallel=parallel)
    assert_gemm_close(C, dy.T, cols)
    # N = 16 < 24 <= M: a 16-register CPU streams Cᵀ = colsᵀ dy on its wider tile; every
    # element is the same k-ordered FMA sum either way, so the bits agree
    np.testing.assert_array_equal(C, matmul_numba(cols.T, dy, parallel=parallel).T)


# ---------------------------------------------- A read in place (one B panel)
@pytest.mark.parametrize("M,N", [(MR, 1), (MR + 1, NARROW), (4 * MR + 5, NARROW + 1),
                                 (301, NR), (1000, 7)])
@pytest.mark.parametrize("K", [3, KC + 9], ids=["1slice", "2slices"])
@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_one_b_panel_reads_a_in_place(M, N, K, parallel):
    # N <= NR and A in C order: the macro-kernel reads A's rows where they lie; the
    # last panel, when M is not a multiple of MR, is moved back and overlaps. C
    # starts as NaN and 'out' is given, so a row written by no panel shows up.
    rng = np.random.default_rng(M + N + K)
    A = rng.standard_normal((M, K)).astype(np.float32)
    B = rng.standard_normal((K, N)).astype(np.float32)
    C = np.full((M, N), np.nan, dtype=np.float32)
    matmul_numba(A, B, out=C, parallel=parallel)
    assert_gemm_close(C, A, B)


# ------------------------------------------- C += A @ B in the write-back (accumulate)
@pytest.mark.parametrize("M,K,N,ta", [
    (2 * MR + 1, 3, 2 * NR + 1, False),          # edge tiles both ways, one K slice
    (37, 2 * KC + 5, NARROW + 3, True),          # three slices, Aᵀ view (a dW)
    (4 * MR + 5, KC + 9, NR, False),             # one B panel: A read in place
    (40, 20 * KC, 24, True),                     # long K: the streaming/slab path
])
@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_accumulate_adds_into_out(M, K, N, ta, parallel):
    rng = np.random.default_rng(M + K + N)
    A = rng.standard_normal((K, M)).astype(np.float32).T if ta else \
        rng.standard_normal((M, K)).astype(np.float32)
    B = rng.standard_normal((K, N)).astype(np.float32)
    C0 = rng.standard_normal((M, N)).astype(np.float32)
    C = C0.copy()
    assert matmul_numba(A, B, out=C, accumulate=True, parallel=parallel) is C
    A64, B64, C64 = A.astype(np.float64), B.astype(np.float64), C0.astype(np.float64)
    err = np.abs(C - (C64 + A64 @ B64))
    assert np.all(err <= _rtol(np.float32, K) * (np.abs(A64) @ np.abs(B64) + np.abs(C64)))
    # from zero, every path gives the bits of the plain product: 0 + S₁ = S₁ exactly,
    # and the later slices add in the same order (a gradient buffer after zero_grad)
    Z = np.zeros((M, N), np.float32)
    matmul_numba(A, B, out=Z, accumulate=True, parallel=parallel)
    np.testing.assert_array_equal(Z, matmul_numba(A, B, parallel=parallel))


def test_accumulate_needs_out_and_zero_depth_keeps_it():
    A = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="accumulate=True adds into out"):
        matmul_numba(A, A.T, accumulate=True)
    C = np.full((3, 5), 2.0, np.float32)
    matmul_numba(np.ones((3, 0), np.float32), np.ones((0, 5), np.float32), out=C,
                 accumulate=True)
    np.testing.assert_array_equal(C, 2.0)                  # K = 0 adds nothing
