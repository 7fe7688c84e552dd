"""Launcher of the SGEMM kernels of ``sgemm.cu``: C (M, N) = act(A (M, K) · B (K, N) + bias).

Notation as in ``kernels/matmul.py``: M rows of A and C, K the summed dimension, N columns
of B and C. The kernels and their progression are described in ``sgemm.cu``; this module
does what is left on the host, in plain functions that need no GPU (and are tested
without one, ``tests/test_cuda_sources.py``):

``VERSIONS``                    the five kernels in reading order.
``DTYPES``                      the dtypes each version is instantiated for.
``best_version(dtype)``         the fastest version for a dtype (v5 float32, v4 float64).
``operand_layout(...)``         (transposed?, leading dimension) of a 2-D operand, read
                                from its strides: C order → ("N", lda); a transposed
                                view (Fortran order) → ("T", lda); no copy for either.
``launch_geometry(v, M, N)``    (grid, block) of a version for an M×N output.
``kernel_name(v, dtype, ta, tb)``  the template instantiation, e.g.
                                ``"sgemm_v4_regblock<double, false, true>"``.
``name_expressions()``          every instantiation a launch can ask for (the compile test
                                builds exactly these).
``check_operands(...)``         shape/dtype validation with errors that name the problem.
``sgemm(a, b, ...)``            the launch, on CuPy arrays.

Layouts. A 2-D operand is passed as a pointer, a leading dimension and a transposition
flag: row-major (strides (ld, 1)) or column-major (strides (1, ld), what ``W.T`` of a
C-order W is). Only an operand with neither unit stride (a strided slice, a negative
stride) is copied to C order first. The output is written row-major with leading
dimension ldc; ``out`` may be any array whose rows are contiguous.

float4 (v5). An operand is read with 16-byte loads when its base address is a multiple
of 16 bytes and its leading dimension a multiple of 4 floats; the flags are computed
here per operand (``float4_ok``), and the kernel falls back to scalar loads without them
and at the matrix edges.

Reference: the product in float64 NumPy under the CPU emulator
(``tests/test_cuda_emulated.py``) and ``cupy.matmul`` (cuBLAS) on a GPU
(``tests/test_gpu_kernels.py``); ``benchmarks/gpu.py`` times every version against cuBLAS.
"""
from __future__ import annotations

import numpy as np

from ..errors import KernelDTypeError, KernelShapeError
from . import build

__all__ = ["VERSIONS", "DTYPES", "TILES", "ACTIVATIONS", "best_version", "operand_layout",
           "launch_geometry", "kernel_name", "name_expressions", "check_operands",
           "float4_ok", "sgemm", "SOURCE", "OPTIONS"]

SOURCE = "sgemm.cu"
OPTIONS = ("--std=c++17",)

VERSIONS = ("v1_naive", "v2_coalesced", "v3_smem", "v4_regblock", "v5_vectorized")

#: dtypes each version is compiled for (v5's float4 loads are float-only).
DTYPES = {
    "v1_naive": ("float32", "float64"),
    "v2_coalesced": ("float32", "float64"),
    "v3_smem": ("float32", "float64"),
    "v4_regblock": ("float32", "float64"),
    "v5_vectorized": ("float32",),
}

#: Launch constants of each version, mirroring sgemm.cu (a test reads them back from the
#: source). block: threads per block (x, y); tile: (rows, columns) of C per block.
TILES = {
    "v1_naive": dict(block=(32, 8), tile=(32, 8)),       # x runs along m
    "v2_coalesced": dict(block=(32, 8), tile=(8, 32)),   # x runs along n
    "v3_smem": dict(block=(32, 32), tile=(32, 32)),      # V3_TILE
    "v4_regblock": dict(block=(256, 1), tile=(128, 128)),   # V4_BM, V4_BN; 8×8 per thread
    "v5_vectorized": dict(block=(256, 1), tile=(128, 128)),
}

ACTIVATIONS = {"none": 0, "relu": 1}

_CTYPE = {"float32": "float", "float64": "double"}
_INT32_MAX = 2**31 - 1
_GRID_Y_MAX = 65535


def best_version(dtype) -> str:
    """The fastest version compiled for ``dtype``: v5_vectorized for float32,
    v4_regblock for float64 (v5's float4 loads have no double form)."""
    name = np.dtype(dtype).name
    if name == "float32":
        return "v5_vectorized"
    if name == "float64":
        return "v4_regblock"
    raise KernelDTypeError(f"sgemm supports float32 and float64, got {name}")


def kernel_name(version: str, dtype, trans_a: bool, trans_b: bool) -> str:
    """The name expression of one instantiation, exactly as compiled and fetched."""
    name = np.dtype(dtype).name
    if version not in VERSIONS:
        raise ValueError(f"unknown sgemm version {version!r}; use one of {VERSIONS}")
    if name not in DTYPES[version]:
        have = [v for v in VERSIONS if name in DTYPES[v]]
        raise KernelDTypeError(f"sgemm {version} is compiled for {DTYPES[version]} only, got {name}; "
                        f"versions for {name}: {have}")
    flags = f"{'true' if trans_a else 'false'}, {'true' if trans_b else 'false'}"
    if version == "v5_vectorized":
        return f"sgemm_{version}<{flags}>"
    return f"sgemm_{version}<{_CTYPE[name]}, {flags}>"


def name_expressions() -> tuple[str, ...]:
    """Every instantiation :func:`sgemm` can launch: version × dtype × (TA, TB)."""
    return tuple(kernel_name(v, dt, ta, tb) for v in VERSIONS for dt in DTYPES[v]
                 for ta in (False, True) for tb in (False, True))


def operand_layout(shape, strides, itemsize):
    """How the kernels can read a 2-D operand in place, or None if they cannot.

    Args:
        shape: (rows, cols); strides: in bytes, as NumPy/CuPy report them.
    Returns:
        ``(False, ld)`` for row-major storage X(r, c) = X[r·ld + c],
        ``(True, ld)`` for column-major storage X(r, c) = X[c·ld + r] (a transposed view),
        ``None`` when neither axis has unit stride (or a stride is negative or not a
        multiple of the item size): the caller copies to C order.
    A size-1 axis has no meaningful stride, so it never forces a copy.
    """
    rows, cols = (int(s) for s in shape)
    if any(s % itemsize for s in strides):
        return None
    s0, s1 = (int(s) // itemsize for s in strides)
    if cols <= 1 or s1 == 1:
        ld = s0 if rows > 1 else max(cols, 1)
        return (False, ld) if ld >= 0 else None
    if rows <= 1 or s0 == 1:
        ld = s1 if cols > 1 else max(rows, 1)
        return (True, ld) if ld >= 0 else None
    return None


def float4_ok(ptr: int, ld: int) -> bool:
    """Can runs of 4 floats starting at multiples of 4 be read as float4? (16-byte base,
    leading dimension a multiple of 4 floats.)"""
    return ptr % 16 == 0 and ld % 4 == 0


def launch_geometry(version: str, M: int, N: int):
    """(grid, block) for an M×N output; blockIdx.x runs over row tiles, y over column
    tiles (the kernels' convention). Raises KernelShapeError past CUDA's grid limits."""
    if version not in TILES:
        raise ValueError(f"unknown sgemm version {version!r}; use one of {VERSIONS}")
    if M < 1 or N < 1:
        raise KernelShapeError(f"sgemm launch needs M, N >= 1, got M={M}, N={N}")
    bx, by = TILES[version]["block"]
    tm, tn = TILES[version]["tile"]
    grid = (-(-M // tm), -(-N // tn), 1)
    if grid[1] > _GRID_Y_MAX:
        raise KernelShapeError(f"sgemm {version}: N={N} needs {grid[1]} column tiles, more than "
                         f"CUDA's gridDim.y limit {_GRID_Y_MAX}")
    return grid, (bx, by, 1)


def check_operands(a, b, bias=None, out=None, activation="none", version=None):
    """Validate the operands of :func:`sgemm`; return (M, K, N, dtype, version).

    Works on anything with ``ndim``, ``shape`` and ``dtype`` (NumPy arrays too), so it is
    tested without a GPU. ``version=None`` picks :func:`best_version`.
    """
    if a.ndim != 2 or b.ndim != 2:
        raise KernelShapeError(f"sgemm needs 2-D operands, got a {tuple(a.shape)} and b {tuple(b.shape)}")
    M, K = (int(s) for s in a.shape)
    K2, N = (int(s) for s in b.shape)
    if K != K2:
        raise KernelShapeError(f"sgemm: a (M, K) = {tuple(a.shape)} and b (K, N) = {tuple(b.shape)} "
                         f"disagree on K ({K} vs {K2})")
    if a.dtype != b.dtype:
        raise KernelDTypeError(f"sgemm: a is {a.dtype} but b is {b.dtype}; cast one first")
    dtype = np.dtype(a.dtype)
    if dtype.name not in ("float32", "float64"):
        raise KernelDTypeError(f"sgemm supports float32 and float64, got {dtype.name}")
    if max(M, K, N) > _INT32_MAX:
        raise KernelShapeError(f"sgemm: dimensions must fit in int32, got M={M}, K={K}, N={N}")
    version = best_version(dtype) if version is None else version
    kernel_name(version, dtype, False, False)          # unknown version / dtype → clear error
    if activation not in ACTIVATIONS:
        raise ValueError(f"sgemm: activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
    if bias is not None:
        if tuple(bias.shape) != (N,):
            raise KernelShapeError(f"sgemm: bias must have shape ({N},) (one per column), "
                             f"got {tuple(bias.shape)}")
        if bias.dtype != dtype:
            raise KernelDTypeError(f"sgemm: bias is {bias.dtype} but the operands are {dtype.name}")
    if out is not None:
        if tuple(out.shape) != (M, N) or out.dtype != dtype:
            raise KernelShapeError(f"sgemm: out must be ({M}, {N}) {dtype.name}, "
                             f"got {tuple(out.shape)} {out.dtype}")
        layout = operand_layout(out.shape, out.strides, dtype.itemsize)
        if M > 0 and N > 0 and (layout is None or (layout[0] and N > 1)):
            raise KernelShapeError(f"sgemm: out must have contiguous rows (strides (ldc·itemsize, "
                             f"itemsize)), got strides {tuple(out.strides)}")
    return M, K, N, dtype, version


def sgemm(a, b, *, bias=None, activation="none", version=None, out=None, accumulate=False):
    """C = act(a · b + bias) on the GPU, with one of the kernels of ``sgemm.cu``.

    Args:
        a: (M, K) CuPy array, float32 or float64; any strides (transposed views are read
            in place; see the module docstring).
        b: (K, N) CuPy array of the same dtype.
        bias: (N,) added to every row, or None.
        activation: "none" or "relu", applied after the bias (and the accumulation).
        version: one of ``VERSIONS``; None picks :func:`best_version` for the dtype.
        out: (M, N) array with contiguous rows to write into; allocated if None.
        accumulate: C = act(out + a·b + bias) (out required): beta = 1 in BLAS terms.
    Returns:
        out (M, N).
    """
    M, K, N, dtype, version = check_operands(a, b, bias, out, activation, version)
    if accumulate and out is None:
        raise ValueError("sgemm: accumulate=True adds into out, so out must be given")
    cp = build.array_module(a, b)
    if cp is np:
        raise TypeError("sgemm runs on CuPy arrays; for NumPy arrays use "
                        "scratchvae.functional.gemm.matmul")
    if out is None:
        out = cp.empty((M, N), dtype=dtype)
    if M == 0 or N == 0:
        return out
    ops = []
    for x in (a, b):
        layout = operand_layout(x.shape, x.strides, dtype.itemsize)
        if layout is None:                     # neither axis unit-stride: copy to C order
            x = cp.ascontiguousarray(x)
            layout = operand_layout(x.shape, x.strides, dtype.itemsize)
        ops.append((x, *layout))
    (a, ta, lda), (b, tb, ldb) = ops
    ldc = int(out.strides[0]) // dtype.itemsize if M > 1 else N
    has_bias = bias is not None
    if has_bias:
        bias = cp.ascontiguousarray(bias)      # (N,): read as bias[n]
    name = kernel_name(version, dtype, ta, tb)
    kernel = build.cuda_module(SOURCE, (name,), OPTIONS).get_function(name)
    grid, block = launch_geometry(version, M, N)
    args = [np.int32(M), np.int32(N), np.int32(K),
            a, np.int64(lda), b, np.int64(ldb), out, np.int64(ldc),
            bias if has_bias else out, np.int32(has_bias),
            dtype.type(1 if accumulate else 0), np.int32(ACTIVATIONS[activation])]
    if version == "v5_vectorized":
        args += [np.int32(float4_ok(a.data.ptr, lda)), np.int32(float4_ok(b.data.ptr, ldb)),
                 np.int32(float4_ok(out.data.ptr, ldc))]
    kernel(grid, block, tuple(args))
    return out
