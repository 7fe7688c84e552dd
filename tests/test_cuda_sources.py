"""The CUDA C sources compile, and the launchers' host-side arithmetic is right -- no GPU.

* Every ``.cu`` file of ``kernels/cuda/`` is compiled through NVRTC (``kernels.cuda.nvrtc``,
  the pip wheel ``nvidia-cuda-nvrtc``) with every template instantiation its launcher can
  ask for, for two architectures, and the PTX is checked for an entry point per
  instantiation, a clean log, register tiles that stayed in registers and v5's 128-bit
  loads. A broken source must raise with the compiler's log. These tests are skipped, with
  the reason, only when no libnvrtc can be found.
* The launchers' shape/dtype validation, operand-layout detection and launch geometry are
  plain functions, tested here on NumPy arrays (CuPy is not needed).

The numbers the kernels compute are checked on a GPU by ``tests/test_gpu_kernels.py``.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pytest

import kernels.cuda.conv as kconv
import kernels.cuda.gemm as kgemm
from kernels.cuda import build, nvrtc
from kernels.errors import KernelDeviceError, KernelDTypeError, KernelShapeError
from scratchvae import backend

CUDA_DIR = Path(kgemm.__file__).parent
ARCHS = ("compute_80", "compute_90")          # A100, H100
#: each .cu file → (its launcher's NVRTC options, its launcher's name expressions)
LAUNCHERS = {
    "sgemm.cu": (kgemm.OPTIONS, kgemm.name_expressions()),
    "conv.cu": (kconv.OPTIONS, kconv.name_expressions()),
}
needs_nvrtc = pytest.mark.skipif(not nvrtc.available(),
                                 reason=f"NVRTC not found: {nvrtc.why_unavailable()}")


@functools.cache
def _compiled(filename: str, arch: str) -> nvrtc.Program:
    options, names = LAUNCHERS[filename]
    source = (CUDA_DIR / filename).read_text()
    return nvrtc.compile_program(source, filename, (*options, f"-arch={arch}"), names)


def _entries(ptx: str) -> dict[str, str]:
    """PTX text of each kernel, by mangled name (from its .entry line to the next one)."""
    starts = [(m.start(), m.group(1)) for m in re.finditer(r"\.entry\s+(\w+)\s*\(", ptx)]
    bounds = [s for s, _ in starts[1:]] + [len(ptx)]
    return {name: ptx[s:e] for (s, name), e in zip(starts, bounds)}


# ---------------------------------------------------------------- compile checks
def test_every_cu_file_has_a_compile_check():
    assert sorted(p.name for p in CUDA_DIR.glob("*.cu")) == sorted(LAUNCHERS)


@needs_nvrtc
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("filename", sorted(LAUNCHERS))
def test_source_compiles_with_every_instantiation(filename, arch):
    program = _compiled(filename, arch)
    assert program.log.strip() == "", f"{filename} compiles with warnings:\n{program.log}"
    entries = _entries(program.ptx)
    _, names = LAUNCHERS[filename]
    assert set(program.lowered_names) == set(names)
    for expr, lowered in program.lowered_names.items():
        assert lowered in entries, f"{expr} ({lowered}) has no .entry in the PTX"
    # no local-memory arrays: every thread's tile (acc[TM][TN], a[TM], b[TN]) is in registers
    assert ".local" not in program.ptx


@needs_nvrtc
def test_v5_moves_tiles_with_128_bit_loads():
    program = _compiled("sgemm.cu", "compute_90")
    entries = _entries(program.ptx)
    for expr, lowered in program.lowered_names.items():
        body = entries[lowered]
        if "v5_vectorized" in expr:
            assert "ld.global.nc.v4.f32" in body, expr      # float4 global loads
            assert "ld.shared.v4.f32" in body, expr         # float4 shared → register loads
            assert "st.global.v4.f32" in body, expr         # float4 epilogue stores
        if "<double" in expr:
            assert "fma.rn.f64" in body and ".f32" not in body.replace("cvt", ""), expr


@needs_nvrtc
def test_broken_source_raises_with_the_log():
    good = (CUDA_DIR / "sgemm.cu").read_text()
    source = good.replace("acc[i][j] += a[i] * b[j];", "acc[i][j] += a[i] * b[j]", 1)  # no ';'
    assert source != good
    with pytest.raises(nvrtc.NVRTCError) as info:
        # (the broken line is v4's; a template body is checked where it is instantiated)
        nvrtc.compile_source(source, "broken_sgemm.cu",
                             name_expressions=(kgemm.kernel_name("v4_regblock", np.float32, 0, 0),))
    message = str(info.value)
    assert "compile log" in message and "broken_sgemm.cu(" in message and "error" in message
    with pytest.raises(nvrtc.NVRTCError, match="undefined"):
        nvrtc.compile_source("__global__ void k() { undefined_name(); }", "k.cu")


@needs_nvrtc
def test_unknown_name_expression_raises():
    source = (CUDA_DIR / "conv.cu").read_text()
    with pytest.raises(nvrtc.NVRTCError):
        nvrtc.compile_source(source, "conv.cu", name_expressions=("im2col_nhwc<int3>",))


def test_nvrtc_reports_why_when_missing(monkeypatch):
    monkeypatch.setattr(nvrtc, "_lib", None)
    monkeypatch.setattr(nvrtc, "_lib_error", None)
    monkeypatch.setattr(nvrtc, "_candidates", lambda: iter(["/nonexistent/libnvrtc.so"]))
    assert not nvrtc.available()
    assert "/nonexistent/libnvrtc.so" in nvrtc.why_unavailable()
    with pytest.raises(nvrtc.NVRTCError, match="not found"):
        nvrtc.compile_source("__global__ void k() {}")


def test_tile_constants_match_the_source():
    source = (CUDA_DIR / "sgemm.cu").read_text()
    const = {name: int(value) for name, value in re.findall(r"\b(V\d_[A-Z]+)\s*=\s*(\d+)", source)}
    assert kgemm.TILES["v3_smem"]["tile"] == (const["V3_TILE"],) * 2
    assert kgemm.TILES["v3_smem"]["block"] == (const["V3_TILE"],) * 2
    for v, p in (("v4_regblock", "V4"), ("v5_vectorized", "V5")):
        bm, bn, tm, tn = (const[f"{p}_{k}"] for k in ("BM", "BN", "TM", "TN"))
        assert kgemm.TILES[v]["tile"] == (bm, bn)
        assert kgemm.TILES[v]["block"] == ((bm // tm) * (bn // tn), 1)


# ------------------------------------------------------------- SGEMM launcher
def test_versions_and_best_version():
    assert kgemm.VERSIONS == ("v1_naive", "v2_coalesced", "v3_smem", "v4_regblock", "v5_vectorized")
    assert kgemm.best_version(np.float32) == "v5_vectorized"
    assert kgemm.best_version("float64") == "v4_regblock"
    for v in kgemm.VERSIONS[:4]:
        assert kgemm.DTYPES[v] == ("float32", "float64")
    with pytest.raises(KernelDTypeError, match="float16"):
        kgemm.best_version(np.float16)


def test_name_expressions():
    names = kgemm.name_expressions()
    assert len(names) == len(set(names)) == 4 * 2 * 4 + 4
    assert kgemm.kernel_name("v4_regblock", np.float64, False, True) == \
        "sgemm_v4_regblock<double, false, true>"
    assert kgemm.kernel_name("v5_vectorized", np.float32, True, False) == \
        "sgemm_v5_vectorized<true, false>"
    with pytest.raises(KernelDTypeError, match="v4_regblock"):       # names the versions that work
        kgemm.kernel_name("v5_vectorized", np.float64, False, False)
    with pytest.raises(ValueError, match="unknown sgemm version"):
        kgemm.kernel_name("v6", np.float32, False, False)
    assert kconv.name_expressions() == ("im2col_nhwc<float>", "im2col_nhwc<double>",
                                        "col2im_nhwc<float>", "col2im_nhwc<double>")


def _read_as_kernel(view, base, layout):
    """Rebuild ``view`` from the flat ``base`` buffer the way the kernels index it."""
    trans, ld = layout
    flat = base.reshape(-1)
    offset = (view.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // base.itemsize
    r, c = np.meshgrid(np.arange(view.shape[0]), np.arange(view.shape[1]), indexing="ij")
    return flat[offset + (c * ld + r if trans else r * ld + c)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_operand_layout_reads_every_view_in_place(dtype):
    base = np.arange(12 * 10, dtype=dtype).reshape(12, 10)
    views = {
        "C order": (base, False),
        "transposed": (base.T, True),
        "row slice": (base[2:9], False),
        "column slice": (base[:, 3:7], False),            # rows still contiguous: ld = 10
        "transposed slice": (base[1:11, 2:5].T, True),
        "single row": (base[4:5, :], False),
        "single column": (base[:, 6:7], False),            # cols == 1: any row stride works
        "transposed row": (base[4:5, :].T, False),         # (10, 1): one column, ld = 1
        "1x1": (base[3:4, 5:6], False),
    }
    for label, (view, trans) in views.items():
        layout = kgemm.operand_layout(view.shape, view.strides, view.itemsize)
        assert layout is not None and layout[0] == trans, label
        np.testing.assert_array_equal(_read_as_kernel(view, base, layout), view, err_msg=label)


def test_operand_layout_refuses_what_needs_a_copy():
    base = np.zeros((12, 10), np.float32)
    for view in (base[::2, ::3], base[::-1], base[:, ::-1].T):
        assert kgemm.operand_layout(view.shape, view.strides, view.itemsize) is None
    assert kgemm.operand_layout((3, 4), (17, 1), 4) is None      # not a multiple of the item


def test_float4_ok():
    assert kgemm.float4_ok(1024, 64)
    assert not kgemm.float4_ok(1028, 64)        # base 4 bytes past a 16-byte boundary
    assert not kgemm.float4_ok(1024, 30)        # rows 120 bytes apart: every other one misaligned


@pytest.mark.parametrize("version", kgemm.VERSIONS)
def test_launch_geometry_covers_the_output_exactly(version):
    tm, tn = kgemm.TILES[version]["tile"]
    for M, N in [(1, 1), (1, 400), (128, 400), (400, 128), (129, 127), (4096, 4096), (6272, 64)]:
        grid, block = kgemm.launch_geometry(version, M, N)
        assert block[0] * block[1] * block[2] <= 1024
        assert grid[2] == 1
        assert (grid[0] - 1) * tm < M <= grid[0] * tm        # every row tile holds some rows
        assert (grid[1] - 1) * tn < N <= grid[1] * tn
    assert kgemm.launch_geometry("v4_regblock", 129, 257)[0] == (2, 3, 1)
    with pytest.raises(KernelShapeError, match="gridDim.y"):
        kgemm.launch_geometry(version, 1, 70000 * tn)
    with pytest.raises(KernelShapeError):
        kgemm.launch_geometry(version, 0, 5)


def test_check_operands_accepts_and_names_problems():
    f32, f64 = np.float32, np.float64
    a, b = np.zeros((5, 3), f32), np.zeros((3, 7), f32)
    assert kgemm.check_operands(a, b)[:4] == (5, 3, 7, np.dtype(f32))
    assert kgemm.check_operands(a, b)[4] == "v5_vectorized"
    assert kgemm.check_operands(a.astype(f64), b.astype(f64))[4] == "v4_regblock"
    assert kgemm.check_operands(np.zeros((3, 5), f32).T, b, bias=np.zeros(7, f32),
                                out=np.zeros((5, 7), f32), activation="relu")[:3] == (5, 3, 7)
    cases = [
        ((a, b.T), {}, KernelShapeError, "disagree on K"),
        ((a, np.zeros(3, f32)), {}, KernelShapeError, "2-D"),
        ((a, b.astype(f64)), {}, KernelDTypeError, "float32 but b is float64"),
        ((a.astype(np.int32), b.astype(np.int32)), {}, KernelDTypeError, "int32"),
        ((a, b), {"bias": np.zeros(5, f32)}, KernelShapeError, r"bias must have shape \(7,\)"),
        ((a, b), {"bias": np.zeros(7, f64)}, KernelDTypeError, "bias is float64"),
        ((a, b), {"out": np.zeros((7, 5), f32)}, KernelShapeError, r"out must be \(5, 7\)"),
        ((a, b), {"out": np.zeros((7, 5), f32).T}, KernelShapeError, "contiguous rows"),
        ((a, b), {"activation": "tanh"}, ValueError, "activation"),
        ((a, b), {"version": "v9"}, ValueError, "unknown sgemm version"),
        ((a.astype(f64), b.astype(f64)), {"version": "v5_vectorized"}, KernelDTypeError, "float32"),
    ]
    for args, kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            kgemm.check_operands(*args, **kwargs)


def test_sgemm_refuses_numpy_arrays_after_validating():
    a, b = np.zeros((2, 3), np.float32), np.zeros((3, 4), np.float32)
    with pytest.raises(TypeError, match="CuPy"):
        kgemm.sgemm(a, b)
    with pytest.raises(KernelShapeError):                      # validation comes first
        kgemm.sgemm(a, a)
    with pytest.raises(ValueError, match="accumulate"):
        kgemm.sgemm(a, b, accumulate=True)


# -------------------------------------------------------------- conv launcher
def test_conv_launch_geometry():
    assert kconv.launch_geometry(1) == ((1, 1, 1), (kconv.THREADS, 1, 1))
    assert kconv.launch_geometry(257)[0] == (2, 1, 1)
    big = kconv.THREADS * kconv.MAX_BLOCKS * 3            # the grid-stride loop takes the rest
    assert kconv.launch_geometry(big)[0] == (kconv.MAX_BLOCKS, 1, 1)
    with pytest.raises(KernelShapeError):
        kconv.launch_geometry(0)
    with pytest.raises(KernelDTypeError, match="float16"):
        kconv.kernel_name("im2col", np.float16)


# ------------------------------------------------------------------- gateway
def test_cuda_source_and_module_gateway():
    assert "sgemm_v1_naive" in backend.cuda_source("sgemm.cu")
    assert backend.cuda_source("sgemm.cu") == build.cuda_source("sgemm.cu")
    with pytest.raises(FileNotFoundError):
        backend.cuda_source("nope.cu")
    if not backend.gpu_available():
        with pytest.raises(backend.DeviceError, match="needs CuPy and a GPU"):
            backend.cuda_module("sgemm.cu", ("sgemm_v1_naive<float, false, false>",))
        with pytest.raises(KernelDeviceError, match=r"needs CuPy and a GPU.*\[gpu\]"):
            build.cuda_module("sgemm.cu", ("sgemm_v1_naive<float, false, false>",))
    assert build.array_module(np.zeros(2), None, 1.5) is np and build.array_module() is np


def test_gpu_gemm_switch():
    assert backend.gpu_gemm() in backend.GPU_GEMMS
    previous = backend.set_gpu_gemm("cublas")
    try:
        assert backend.gpu_gemm() == "cublas"
        with pytest.raises(backend.DeviceError):
            backend.set_gpu_gemm("magma")
    finally:
        backend.set_gpu_gemm(previous)
    assert backend.path_of(np.zeros(3, np.float32)) != "cuda"   # NumPy arrays never take it
