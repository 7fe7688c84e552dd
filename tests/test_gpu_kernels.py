"""The CUDA C kernels against NumPy, on a GPU: every SGEMM version, im2col and col2im.

Skipped (with the reason) without CuPy or without a CUDA device; marked ``gpu``. The
sources are compile-checked without a GPU by ``tests/test_cuda_sources.py``.

Tolerances. float64: |ours − ref| ≤ 1e-10 · (|A|·|B|) entrywise, with ref the float64
NumPy product and |A|·|B| the product of absolute values (every correct summation order
is ~K·1e-16 of it). float32: ≤ 4·√K·ε₃₂ · (|A|·|B|), a bound on float32 round-off in a
sum of K terms that grows with K, far above what correct code produces and far below
what one missed or doubled term costs (about 1/K of |A|·|B|). The reference is computed
in float64 from the same float32 inputs, so TF32 or other reduced-precision paths on the
GPU cannot leak into it.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

cupy = pytest.importorskip("cupy", reason="the GPU kernels need CuPy (pip install -e '.[gpu]')")

from kernels.conv import col2im_reference, im2col_reference  # noqa: E402
from scratchvae import backend  # noqa: E402

if not backend.gpu_available():
    pytest.skip(f"CuPy is installed but sees no CUDA device ({backend._cupy_error})",
                allow_module_level=True)

from kernels.cuda.conv import col2im_cuda, im2col_cuda  # noqa: E402
from kernels.cuda.gemm import DTYPES, VERSIONS, sgemm  # noqa: E402

pytestmark = pytest.mark.gpu

EPS32 = float(np.finfo(np.float32).eps)
#: (M, K, N): tiny, odd (not multiples of any tile or of 4), around the tile edges, and the
#: VAE's products (batch 128, 784-400-20: forward, dX and dW of the first layer).
SHAPES = [(1, 1, 1), (1, 7, 1), (3, 5, 2), (17, 33, 9), (31, 1, 65), (129, 127, 131),
          (128, 8, 128), (7, 0, 5), (128, 784, 400), (128, 400, 784), (400, 128, 784),
          (784, 128, 400), (128, 400, 20)]
BIG = (4096, 4096, 4096)


def _operands(rng, M, K, N, dtype, ta, tb):
    """A (M, K) and B (K, N) as NumPy arrays and as CuPy arrays of the same layout: a
    transposed flag gives a transposed view of a C-order array, as the layers pass."""
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(dtype)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(dtype)
    ga, gb = cupy.asarray(a), cupy.asarray(b)
    return (a.T if ta else a), (b.T if tb else b), (ga.T if ta else ga), (gb.T if tb else gb)


def _check(got, a, b, extra=0.0, label=""):
    """|got − (a·b + extra)| within the module docstring's bound (a, b NumPy)."""
    got = cupy.asnumpy(got)
    K = a.shape[1]
    ref = a.astype(np.float64) @ b.astype(np.float64) + extra
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64) + np.abs(extra)
    tol = 1e-10 if a.dtype == np.float64 else 4 * np.sqrt(max(K, 1)) * EPS32
    err = np.abs(got - ref)
    bound = tol * scale + (1e-300 if a.dtype == np.float64 else 1e-30)
    worst = np.unravel_index(np.argmax(err / bound), err.shape) if err.size else None
    assert np.all(err <= bound), (
        f"{label}: worst entry {worst}: got {got[worst]!r}, want {ref[worst]!r}, "
        f"|error| {err[worst]:.3e} > bound {bound[worst]:.3e} (tolerance {tol:.1e} of |A|·|B|)")


def _cases():
    for version in VERSIONS:
        for dtype in DTYPES[version]:
            yield version, dtype


@pytest.mark.parametrize("version,dtype", list(_cases()))
def test_sgemm_matches_numpy_on_every_shape_and_transposition(version, dtype):
    rng = np.random.default_rng(0)
    for (M, K, N), ta, tb in itertools.product(SHAPES, (False, True), (False, True)):
        a, b, ga, gb = _operands(rng, M, K, N, dtype, ta, tb)
        _check(sgemm(ga, gb, version=version), a, b,
               label=f"{version} {dtype} {M}x{K}x{N} transA={ta} transB={tb}")


@pytest.mark.parametrize("version", [v for v in VERSIONS if "float32" in DTYPES[v]])
def test_sgemm_4096_squared(version):
    rng = np.random.default_rng(1)
    a, b, ga, gb = _operands(rng, *BIG, np.float32, False, False)
    _check(sgemm(ga, gb, version=version), a, b, label=f"{version} 4096²")


@pytest.mark.parametrize("version,dtype", list(_cases()))
def test_sgemm_epilogue_bias_relu_and_accumulate(version, dtype):
    rng = np.random.default_rng(2)
    for (M, K, N), ta, tb in itertools.product([(5, 3, 7), (129, 40, 131), (128, 784, 400)],
                                               (False, True), (False, True)):
        a, b, ga, gb = _operands(rng, M, K, N, dtype, ta, tb)
        bias = rng.standard_normal(N).astype(dtype)
        label = f"{version} {dtype} {M}x{K}x{N} transA={ta} transB={tb}"
        # bias: C = A·B + bias
        _check(sgemm(ga, gb, bias=cupy.asarray(bias), version=version), a, b, bias, label + " bias")
        # ReLU(A·B + bias): compare on entries away from the kink (|pre-activation| > bound)
        got = cupy.asnumpy(sgemm(ga, gb, bias=cupy.asarray(bias), activation="relu", version=version))
        pre = a.astype(np.float64) @ b.astype(np.float64) + bias
        assert np.all(got >= 0), label
        away = np.abs(pre) > 1e-3
        np.testing.assert_allclose(got[away], np.maximum(pre, 0)[away],
                                   rtol=1e-9 if dtype == "float64" else 1e-3, atol=1e-6,
                                   err_msg=label + " relu")
        # accumulate: C ← C + A·B (beta = 1), into a given out
        c0 = rng.standard_normal((M, N)).astype(dtype)
        out = cupy.asarray(c0)
        assert sgemm(ga, gb, version=version, out=out, accumulate=True) is out
        _check(out, a, b, c0, label + " accumulate")


@pytest.mark.parametrize("version,dtype", list(_cases()))
def test_sgemm_unaligned_views_and_padded_out(version, dtype):
    """Operands that start off a 16-byte boundary with leading dimensions that are not
    multiples of 4 (v5's scalar fallback), and an ``out`` inside a larger buffer: only
    its own entries are written."""
    rng = np.random.default_rng(3)
    base = rng.standard_normal((300, 301)).astype(dtype)          # ld 301
    gbase = cupy.asarray(base)
    for M, K, N in [(129, 9, 130), (33, 17, 65), (128, 128, 128)]:
        a, b = base[1:1 + M, 3:3 + K], base[2:2 + K, 1:1 + N]
        ga, gb = gbase[1:1 + M, 3:3 + K], gbase[2:2 + K, 1:1 + N]
        buf = cupy.full((M + 2, N + 5), np.nan, dtype=dtype)
        out = buf[1:1 + M, 3:3 + N]
        sgemm(ga, gb, version=version, out=out)
        _check(out, a, b, label=f"{version} {dtype} {M}x{K}x{N} unaligned")
        host = cupy.asnumpy(buf)
        host[1:1 + M, 3:3 + N] = 0
        assert np.isnan(host).sum() == host.size - M * N, "sgemm wrote outside out"


def test_sgemm_copies_only_non_unit_stride_operands_and_is_deterministic():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((40, 90)).astype(np.float32)            # [::2, ::3] → (20, 30)
    b = rng.standard_normal((30, 50)).astype(np.float32)
    ga, gb = cupy.asarray(a)[::2, ::3], cupy.asarray(b)[:, ::-1]      # neither axis unit-stride
    first = sgemm(ga, gb)
    _check(first, a[::2, ::3], b[:, ::-1])
    assert cupy.array_equal(first, sgemm(ga, gb))                     # bit-identical


def test_matmul_routes_cupy_through_sgemm_and_cublas_switch():
    from scratchvae.functional.gemm import matmul  # noqa: PLC0415

    rng = np.random.default_rng(5)
    a, b, ga, gb = _operands(rng, 128, 784, 400, np.float32, False, True)
    ours = matmul(ga, gb)
    assert cupy.array_equal(ours, sgemm(ga, gb))                      # the same kernel
    previous = backend.set_gpu_gemm("cublas")
    try:
        theirs = matmul(ga, gb)
    finally:
        backend.set_gpu_gemm(previous)
    _check(ours, a, b, label="matmul custom")
    _check(theirs, a, b, label="matmul cublas (is TF32 on? set CUPY_TF32=0)")


# ------------------------------------------------------------------- im2col / col2im
#: (N, C, H, W, KH, KW, SH, SW, PH, PW): the conv VAE's layers, odd sizes, stride > 1,
#: padding ≥ kernel (windows that miss the image), 1×1 kernels, kernel = image, batch 1.
GEOMETRIES = [
    (2, 1, 28, 28, 4, 4, 2, 2, 1, 1), (2, 32, 14, 14, 4, 4, 2, 2, 1, 1),
    (2, 3, 9, 7, 4, 3, 2, 1, 1, 2), (1, 1, 5, 5, 1, 1, 1, 1, 0, 0),
    (1, 2, 3, 4, 5, 5, 1, 2, 3, 2), (3, 2, 8, 6, 3, 3, 3, 2, 0, 1),
    (1, 3, 7, 7, 7, 7, 1, 1, 0, 0), (4, 5, 11, 13, 3, 5, 2, 3, 2, 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_im2col_col2im_match_the_references(geometry, dtype):
    N, C, H, W, KH, KW, SH, SW, PH, PW = geometry
    rng = np.random.default_rng(6)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)           # NCHW, as the layers hold it
    gx = cupy.asarray(x).transpose(0, 2, 3, 1)                    # strided NHWC view: no copy
    ref = im2col_reference(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), KH, KW, SH, SW, PH, PW)
    cols = im2col_cuda(gx, KH, KW, SH, SW, PH, PW)
    assert cols.flags.c_contiguous and cols.shape == ref.shape
    np.testing.assert_array_equal(cupy.asnumpy(cols), ref)       # a copy: exact

    dcols = rng.standard_normal(ref.shape).astype(dtype)
    ref_dx = col2im_reference(dcols, H, W, SH, SW, PH, PW)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for label, g in [("C order", cupy.asarray(dcols)),
                     ("offset-major", cupy.asarray(np.ascontiguousarray(      # another layout
                         dcols.transpose(3, 4, 0, 1, 2, 5))).transpose(2, 3, 4, 0, 1, 5))]:
        dx = col2im_cuda(g, H, W, SH, SW, PH, PW)
        assert dx.shape == (N, H, W, C), label
        np.testing.assert_allclose(cupy.asnumpy(dx), ref_dx, rtol=rtol, atol=rtol, err_msg=label)
    first = col2im_cuda(cupy.asarray(dcols), H, W, SH, SW, PH, PW)
    assert cupy.array_equal(first, col2im_cuda(cupy.asarray(dcols), H, W, SH, SW, PH, PW))


def test_col2im_is_the_adjoint_of_im2col():
    rng = np.random.default_rng(7)
    N, C, H, W, KH, KW, SH, SW, PH, PW = GEOMETRIES[2]
    x = cupy.asarray(rng.standard_normal((N, H, W, C)))
    cols = im2col_cuda(x, KH, KW, SH, SW, PH, PW)
    c = cupy.asarray(rng.standard_normal(cols.shape))
    lhs = float(cupy.sum(col2im_cuda(c, H, W, SH, SW, PH, PW) * x))   # <col2im(c), x>
    rhs = float(cupy.sum(c * cols))                                     # <c, im2col(x)>
    assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), 1.0)
