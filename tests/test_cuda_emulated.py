"""The CUDA C kernels' numbers against NumPy without a GPU, on a CPU emulator of CUDA.

``tests/cuemu/`` has a header that maps the CUDA built-ins our kernels use onto plain
C++17 (``cuda_shim.h``: each thread of a block is a fiber, ``__shared__`` is shared by a
block's threads, ``__syncthreads`` is a barrier) and a small host driver (``host.cpp``).
g++ compiles ``kernels/cuda/sgemm.cu`` and ``conv.cu`` unchanged into one shared library,
built once per test session into pytest's temporary directory, with every instantiation
the launchers can ask for.

The launches are the launchers' own. ``kernels.cuda.gemm.sgemm``, ``im2col_cuda`` and
``col2im_cuda`` run unchanged. The few CuPy calls they make (``empty``,
``ascontiguousarray``, ``.data.ptr``) and ``kernels.cuda.build``'s ``cuda_module`` and
``array_module`` are replaced, for the duration of a test, by an emulated device:
``cuda_module`` returns
kernels that run in the emulator. So the template instantiation, the grid and block, the
argument list and the float4 flags are exactly those that CuPy would launch. Each
argument list is also checked against the kernel's parameter types. Every array that
the device allocates sits between NaN guard regions. A kernel that reads outside its
operands gets NaN into its results, and a kernel that writes outside its output fails the
guard check after the launch.

What this checks: index arithmetic, tiling, edge tiles, barrier placement and the
results. What it does not: warps (the threads of a block run one at a time, with no
lockstep), memory coalescing, bank conflicts, timing, and register or shared-memory limits
(see ``tests/cuemu/cuda_shim.h``). Those need a GPU (``tests/test_gpu_kernels.py``).
``tests/test_cuda_sources.py`` checks with NVRTC that the sources compile for the GPU.

The tests are skipped when g++ is missing, or when it cannot build the shim alone (a
toolchain problem). They fail when the kernels do not build under the emulator or when
a result is wrong.

Tolerance. With ref the float64 product of the same inputs and scale = |A|·|B| (plus
|bias| and |C| where those are added), every entry must satisfy
|got − ref| ≤ (K + 2)·ε·scale, where ε is the machine epsilon of the dtype. This is a
rigorous bound on the round-off of any summation order (at most 2e-14 of scale for
float64, 5e-6 for float32 at K = 41). A term that is missed or doubled costs about 1/K of
scale, far more than the bound.
"""
from __future__ import annotations

import ctypes
import functools
import itertools
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import kernels.cuda.conv as kconv
import kernels.cuda.gemm as kgemm
from kernels.conv import col2im_reference, im2col_reference
from kernels.cuda import build as kbuild

CUEMU = Path(__file__).resolve().parent / "cuemu"
CUDA_DIR = Path(kgemm.__file__).resolve().parent
#: each .cu file → every name expression its launcher can ask for
LAUNCHERS = {kgemm.SOURCE: kgemm.name_expressions(), kconv.SOURCE: kconv.name_expressions()}
CXXFLAGS = ("-std=c++17", "-O1", "-fno-strict-aliasing", "-fPIC", "-shared",
            "-Wall", "-Wno-unknown-pragmas")
TRANSPOSITIONS = list(itertools.product((False, True), (False, True)))
SGEMM_CASES = [(v, dt) for v in kgemm.VERSIONS for dt in kgemm.DTYPES[v]]


# ------------------------------------------------------------------ building
class BuildError(RuntimeError):
    """g++ could not build the emulator; the message holds the command and its log."""


def build(gxx: str, outdir: Path, launchers=LAUNCHERS, cuda_dir: Path = CUDA_DIR) -> Path:
    """Compile the emulator with the kernels of ``launchers`` ({file: name expressions})
    into ``outdir/libcuemu.so``. An empty ``launchers`` builds the shim alone."""
    entries = [f'    K("{name}", {name})' for names in launchers.values() for name in names]
    (outdir / "kernels.inc").write_text(
        "// Written by tests/test_cuda_emulated.py: the kernels the emulator can launch.\n"
        + "".join(f'#include "{cuda_dir / f}"\n' for f in launchers)
        + "#define CUEMU_KERNEL_TABLE(K) \\\n" + " \\\n".join(entries) + "\n")
    lib = outdir / "libcuemu.so"
    cmd = [gxx, *CXXFLAGS, f"-I{CUEMU}", f"-I{outdir}", str(CUEMU / "host.cpp"), "-o", str(lib)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"{' '.join(cmd)}: {exc}") from exc
    if proc.returncode != 0:
        raise BuildError(f"{' '.join(cmd)}\n--- g++ log ---\n{proc.stderr[-6000:]}")
    return lib


class LaunchError(AssertionError):
    """The emulator refused or aborted a launch (bad geometry, barrier divergence, ...)."""


class Emulator:
    """The built library: kernel names, their parameter signatures, and launches."""

    _CODES = {np.int32: "i", np.int64: "q", np.float32: "f", np.float64: "d"}
    _POINTERS = {np.dtype(np.float32): "f*", np.dtype(np.float64): "d*"}
    _CTYPES = {"i": ctypes.c_int32, "q": ctypes.c_int64, "f": ctypes.c_float, "d": ctypes.c_double}

    def __init__(self, path: Path):
        self.lib = lib = ctypes.CDLL(str(path))
        lib.cuemu_kernel_name.restype = ctypes.c_char_p
        lib.cuemu_signature.restype = ctypes.c_char_p
        lib.cuemu_signature.argtypes = [ctypes.c_char_p]
        lib.cuemu_launch.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint),
                                     ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_void_p),
                                     ctypes.c_char_p, ctypes.c_int]
        self.names = {lib.cuemu_kernel_name(i).decode() for i in range(lib.cuemu_kernel_count())}

    def launch(self, name: str, grid, block, args):
        """Run kernel ``name`` like ``cupy.RawKernel(grid, block, args)``: arrays are passed
        as pointers, NumPy scalars by value; the types must match the kernel's parameters."""
        signature = self.lib.cuemu_signature(name.encode())
        if signature is None:
            raise LaunchError(f"the emulator has no kernel {name!r}")
        codes, values = [], []
        for a in args:
            if isinstance(a, np.ndarray) and a.dtype in self._POINTERS:
                codes.append(self._POINTERS[a.dtype])
                values.append(ctypes.c_void_p(a.__array_interface__["data"][0]))
            elif type(a) in self._CODES:
                codes.append(self._CODES[type(a)])
                values.append(self._CTYPES[codes[-1]](a.item()))
            else:
                raise LaunchError(f"{name}: argument {a!r} of type {type(a).__name__} "
                                  "(pass float arrays and NumPy scalars with an explicit width)")
        if ",".join(codes) != signature.decode():
            raise LaunchError(f"{name}: arguments ({','.join(codes)}) do not match the "
                              f"kernel's parameters ({signature.decode()})")
        params = (ctypes.c_void_p * max(len(values), 1))(*map(ctypes.addressof, values))
        dims = [(ctypes.c_uint * 3)(*(int(d) for d in dim)) for dim in (grid, block)]
        err = ctypes.create_string_buffer(512)
        if self.lib.cuemu_launch(name.encode(), dims[0], dims[1], params, err, len(err)):
            raise LaunchError(f"{name} grid {tuple(grid)} block {tuple(block)}: "
                              f"{err.value.decode()}")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """The emulator, built once for this module. Skipped without a working g++; a
    failure to build the kernels themselves fails."""
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ not found: the CUDA emulator is compiled with g++ (C++17)")
    try:
        return Emulator(build(gxx, tmp_path_factory.mktemp("cuemu")))
    except BuildError as exc:
        kernels_error = exc
    try:                                       # the shim alone: is it the toolchain?
        build(gxx, tmp_path_factory.mktemp("cuemu_shim"), launchers={})
    except BuildError as shim_error:
        pytest.skip(f"this g++ cannot build the emulator's shim (a toolchain problem, "
                    f"not the kernels): {shim_error}")
    pytest.fail(f"kernels/cuda/*.cu do not build under the emulator (the shim alone does: "
                f"a kernel uses something tests/cuemu/cuda_shim.h lacks, or does not "
                f"compile):\n{kernels_error}", pytrace=False)


# ------------------------------------------------------------------ the emulated device
class DeviceArray(np.ndarray):
    """A host array that answers ``.data.ptr`` as a CuPy array does."""

    @property
    def data(self):
        return types.SimpleNamespace(ptr=self.__array_interface__["data"][0])


class EmulatedDevice:
    """Everything the launchers use from CuPy and from ``kernels.cuda.build``, backed by the
    emulator. The ``gpu`` fixture installs it."""

    GUARD = 64                                 # NaN elements on each side of an allocation

    def __init__(self, emulator: Emulator):
        self.emulator = emulator
        self.buffers = []                      # (buffer, first, last) of every allocation
        self.launches = []                     # (name, grid, block, args) of every launch

    # --- the CuPy calls
    def empty(self, shape, dtype=np.float64):
        """An uninitialised array: NaN, between NaN guards, 64-byte aligned."""
        dtype = np.dtype(dtype)
        n = int(np.prod(shape, dtype=np.int64))
        raw = np.full(n + 2 * self.GUARD + 64 // dtype.itemsize, np.nan, dtype)
        first = self.GUARD + (-raw.ctypes.data % 64) // dtype.itemsize
        self.buffers.append((raw, first, first + n))
        return raw[first:first + n].reshape(shape).view(DeviceArray)

    def asarray(self, x):
        out = self.empty(np.shape(x), np.asarray(x).dtype)
        out[...] = x
        return out

    def ascontiguousarray(self, x):
        return np.ascontiguousarray(x).view(DeviceArray)

    # --- kernels.cuda.build.cuda_module
    def cuda_module(self, filename, name_expressions=(), options=()):
        assert filename in LAUNCHERS, f"no emulated source {filename!r}"
        missing = set(name_expressions) - self.emulator.names
        assert not missing, f"{filename}: the emulator was not built with {sorted(missing)}"
        return types.SimpleNamespace(get_function=functools.partial(self._kernel, name_expressions))

    def _kernel(self, name_expressions, name):
        assert name in name_expressions, f"{name!r} was not among the compiled {name_expressions}"
        return functools.partial(self._launch, name)

    def _launch(self, name, grid, block, args):
        self.launches.append((name, tuple(grid), tuple(block), tuple(args)))
        self.emulator.launch(name, grid, block, args)
        for raw, first, last in self.buffers:
            if not (np.isnan(raw[:first]).all() and np.isnan(raw[last:]).all()):
                raise AssertionError(f"{name} grid {grid} block {block} wrote outside an array")


@pytest.fixture
def gpu(emulator, monkeypatch):
    """The emulated device, standing in for CuPy and the kernel cache during one test."""
    device = EmulatedDevice(emulator)
    monkeypatch.setattr(kbuild, "cuda_module", device.cuda_module)
    monkeypatch.setattr(kbuild, "array_module", lambda *arrays: device)
    monkeypatch.setitem(sys.modules, "cupy", device)      # the conv launchers `import cupy`
    return device


# ------------------------------------------------------------------ sgemm
def _matrix(gpu, rng, rows, cols, dtype, trans, ld=None, offset=0):
    """A (rows, cols) operand on the device: a transposed view of a (cols, rows) array if
    ``trans``, stored with leading dimension ``ld`` (padding NaN) from element ``offset``
    of its allocation."""
    sr, sc = (cols, rows) if trans else (rows, cols)
    ld = sc if ld is None else ld
    flat = gpu.empty(offset + sr * ld, dtype)
    stored = flat[offset:].reshape(sr, ld)[:, :sc]
    stored[...] = rng.standard_normal((sr, sc))
    return stored.T if trans else stored


def _check(got, a, b, extra=None, relu=False, label=""):
    """|got − act(a·b + extra)| within the module docstring's bound."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ref, scale = a64 @ b64, np.abs(a64) @ np.abs(b64)
    if extra is not None:
        extra = np.asarray(extra, np.float64)
        ref, scale = ref + extra, scale + np.abs(extra)
    if relu:
        ref = np.maximum(ref, 0)
    finfo = np.finfo(a.dtype)
    bound = (a.shape[1] + 2) * float(finfo.eps) * scale + float(finfo.tiny)
    err = np.abs(np.asarray(got, np.float64) - ref)
    ratio = np.where(np.isnan(err), np.inf, err / bound)
    if ratio.size and ratio.max() > 1:
        w = tuple(int(i) for i in np.unravel_index(np.argmax(ratio), ratio.shape))
        raise AssertionError(f"{label}: {int(np.sum(ratio > 1))} of {ratio.size} entries wrong; "
                             f"at {w}: got {float(got[w])!r}, want {float(ref[w])!r} "
                             f"(bound {float(bound[w]):.2e})")


def _shapes(version):
    """(M, K, N): 1×1×1; K = 0 (the epilogue alone); K below every tile; and one row and
    three columns past the version's output tile (read from the launcher), with K = 41:
    past v3's 32-deep tile and v4/v5's 8-deep steps with a remainder, and not a multiple
    of 4 (v5's float4 runs)."""
    tm, tn = kgemm.TILES[version]["tile"]
    return [(1, 1, 1), (4, 0, 5), (5, 3, 7), (tm + 1, 41, tn + 3)]


@pytest.mark.parametrize("version,dtype", SGEMM_CASES)
def test_sgemm_shapes_transpositions_and_epilogues(gpu, version, dtype):
    rng = np.random.default_rng(0)
    for (M, K, N), (ta, tb) in itertools.product(_shapes(version), TRANSPOSITIONS):
        a, b = _matrix(gpu, rng, M, K, dtype, ta), _matrix(gpu, rng, K, N, dtype, tb)
        bias = gpu.asarray(rng.standard_normal(N).astype(dtype))
        c0 = rng.standard_normal((M, N)).astype(dtype)
        label = f"{version} {dtype} M={M} K={K} N={N} transA={ta} transB={tb}"

        _check(kgemm.sgemm(a, b, version=version), a, b, label=label)
        _check(kgemm.sgemm(a, b, bias=bias, activation="relu", version=version),
               a, b, bias, relu=True, label=label + " bias+relu")
        out = gpu.asarray(c0)
        assert kgemm.sgemm(a, b, version=version, out=out, accumulate=True) is out
        _check(out, a, b, c0, label=label + " accumulate")
    # the transposed views reached the transposed instantiations, with no copies
    launched = {name for name, *_ in gpu.launches}
    assert launched == {kgemm.kernel_name(version, dtype, ta, tb) for ta, tb in TRANSPOSITIONS}


@pytest.mark.parametrize("version,dtype", SGEMM_CASES)
def test_sgemm_padded_and_unaligned_operands_write_only_out(gpu, version, dtype):
    """Operands and out inside larger buffers. Aligned: leading dimensions padded to a
    multiple of 4, base 16-byte aligned (v5's float4 path, scalar only at the edges).
    Unaligned: odd leading dimensions, base one element off (v5's scalar fallback).
    The guards and the NaN padding catch any read or write outside the matrices.
    K = 43 leaves 3 of a float4 run inside K: a full float4 load at that edge would read
    one padding NaN into a stored result."""
    rng = np.random.default_rng(1)
    tm, tn = kgemm.TILES[version]["tile"]
    M, K, N = tm + 1, 43, tn + 3
    for (ta, tb), offset in itertools.product(TRANSPOSITIONS, (0, 1)):
        def ld(cols):                           # > cols; a multiple of 4, or odd
            return (cols + 4) // 4 * 4 if offset == 0 else (cols + 2) | 1
        a = _matrix(gpu, rng, M, K, dtype, ta, ld(M if ta else K), offset)
        b = _matrix(gpu, rng, K, N, dtype, tb, ld(K if tb else N), offset)
        buf = gpu.empty((M + 2, ld(N) + 4), dtype)
        out = buf[1:1 + M, 4 + offset:4 + offset + N]
        assert kgemm.sgemm(a, b, version=version, out=out) is out
        _check(out, a, b, label=f"{version} {dtype} transA={ta} transB={tb} offset={offset}")
        outside = np.delete(buf, np.s_[4 + offset:4 + offset + N], 1), buf[[0, -1]]
        assert all(np.isnan(part).all() for part in outside), "sgemm wrote outside out"
    if version == "v5_vectorized":              # both paths were taken, for all three
        flags = {tuple(int(f) for f in args[-3:]) for *_, args in gpu.launches}
        assert flags == {(1, 1, 1), (0, 0, 0)}, flags


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sgemm_copies_operands_without_a_unit_stride(gpu, dtype):
    rng = np.random.default_rng(2)
    a = _matrix(gpu, rng, 40, 90, dtype, False)[::2, ::3]             # (20, 30)
    b = _matrix(gpu, rng, 30, 50, dtype, False)[:, ::-1]
    _check(kgemm.sgemm(a, b), a, b, label=f"best version, {dtype}, strided operands")


# ------------------------------------------------------------------ im2col / col2im
#: (N, C, H, W, KH, KW, SH, SW, PH, PW)
GEOMETRIES = [
    (2, 3, 9, 7, 4, 3, 2, 1, 1, 2),     # rectangular, padding wider than the stride
    (1, 1, 5, 5, 1, 1, 1, 1, 0, 0),     # 1×1 kernel, one channel
    (1, 2, 3, 4, 5, 5, 1, 2, 3, 2),     # kernel larger than the image
    (3, 2, 8, 6, 3, 3, 3, 2, 0, 1),     # stride 3: an image row no window covers
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("max_blocks", [kconv.MAX_BLOCKS, 3])
def test_im2col_and_col2im_match_the_references(gpu, monkeypatch, dtype, max_blocks):
    """Strided inputs (an NCHW array's NHWC view; offset-major cols), read in place.
    ``max_blocks=3`` shrinks the grid so that the grid-stride loops wrap, as they do on a
    GPU only for inputs too large to emulate."""
    monkeypatch.setattr(kconv, "launch_geometry",
                        functools.partial(kconv.launch_geometry, max_blocks=max_blocks))
    rng = np.random.default_rng(3)
    eps = float(np.finfo(dtype).eps)
    for N, C, H, W, KH, KW, SH, SW, PH, PW in GEOMETRIES:
        label = f"{dtype} N={N} C={C} H={H} W={W} kernel {KH}×{KW} stride {SH},{SW} pad {PH},{PW}"
        x = gpu.asarray(rng.standard_normal((N, C, H, W)).astype(dtype)).transpose(0, 2, 3, 1)
        cols = kconv.im2col_cuda(x, KH, KW, SH, SW, PH, PW)
        ref = im2col_reference(np.ascontiguousarray(x), KH, KW, SH, SW, PH, PW)
        assert np.array_equal(cols, ref), label + " im2col"

        c = gpu.asarray(rng.standard_normal(ref.shape).astype(dtype))
        offset_major = gpu.asarray(np.ascontiguousarray(c.transpose(3, 4, 0, 1, 2, 5)))
        want = col2im_reference(np.asarray(c), H, W, SH, SW, PH, PW)
        bound = KH * KW * eps * col2im_reference(np.abs(np.asarray(c)), H, W, SH, SW, PH, PW)
        for layout in (c, offset_major.transpose(2, 3, 4, 0, 1, 5)):
            err = np.abs(kconv.col2im_cuda(layout, H, W, SH, SW, PH, PW) - want)
            assert (err <= bound).all(), f"{label} col2im, cols strides {layout.strides}"
    assert len(gpu.launches) == 3 * len(GEOMETRIES)
