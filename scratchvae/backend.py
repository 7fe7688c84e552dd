"""The device gateway: the only module that imports CuPy, and the one dispatch to kernels.

Op code is written once against an array module ``xp`` that is either NumPy (CPU) or
CuPy (CUDA GPU), and once as the NumPy reference of its math. This module answers the
questions op code must never answer for itself:

* which array module holds these arrays?         ``get_array_module(*arrays)``
* move an array to a device                       ``to_device(x, "cpu" | "cuda")``
* is a GPU usable at all?                         ``gpu_available()``
* on the CPU, custom Numba kernels or plain NumPy? ``cpu_kernels()``, ``use_cpu_kernels(name)``
* on the GPU, our SGEMM or cuBLAS?                 ``gpu_gemm()``, ``set_gpu_gemm(name)``
* which implementation runs this op here?         ``KERNELS``, ``@dispatched(op)``
* run some ops' references on every path          ``reference_ops(*ops)``
* compile a CUDA kernel of ``kernels/cuda/``      ``cuda_module(filename, name_expressions)``

The dispatch, in one place. An op whose body is its NumPy reference is decorated with
``@dispatched("name")``. At each call the gateway looks at the call's arrays:

    path = "numba"  NumPy float32/float64 arrays of one dtype, CPU path "numba" (default)
           "cuda"   CuPy float32/float64 arrays of one dtype
           "numpy"  anything else, or the CPU path "numpy"

(Boolean arrays, such as a ReLU's mask, go with the device of the others and do not count
as a second dtype.)

and runs ``KERNELS[name][path]`` — a function of ``kernels/`` with the op's own signature —
if there is one and its condition holds; otherwise the reference body. One convention
for "not available": a kernel returns None when it cannot take these arrays (a layout it
does not handle, a CUDA toolchain that cannot launch), and the reference runs instead.
A kernel's own error (``kernels.errors``) reaches the caller as the library's
:class:`ShapeError`/:class:`DTypeError`.

Importing scratchvae never imports CuPy or Numba: CuPy is imported the first time someone
asks for the GPU (asking without one raises a clear error), a kernel module the first
time its op runs on its path.
"""
from __future__ import annotations

import os
import functools
import importlib
from contextlib import contextmanager

import numpy as np

from kernels.cuda import build as _cuda_build
from kernels.errors import KernelDTypeError, KernelShapeError

from .errors import DTypeError, ScratchVAEError, ShapeError

_cupy = None          # the cupy module once imported successfully
_cupy_error = None    # why importing it failed (str), if it did


class DeviceError(ScratchVAEError, RuntimeError):
    """The requested device cannot be used (no CuPy, no GPU, unknown name)."""


def _import_cupy():
    global _cupy, _cupy_error
    if _cupy is None and _cupy_error is None:
        try:
            import cupy  # noqa: PLC0415 - lazy on purpose: CuPy is an optional extra
            cupy.cuda.runtime.getDeviceCount()
            _cupy = cupy
        except Exception as exc:  # ImportError, CUDARuntimeError, ...
            _cupy_error = f"{type(exc).__name__}: {exc}"
    return _cupy


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    return _import_cupy() is not None


def get_array_module(*arrays):
    """Return ``cupy`` if any argument is a CuPy array, else ``numpy``.

    Arguments that are not arrays (None, floats) are ignored, so callers can
    pass optional operands straight through.
    """
    for a in arrays:
        if type(a).__module__.split(".")[0] == "cupy":
            return _import_cupy()
    return np


def device_of(x) -> str:
    """``"cuda"`` for a CuPy array, ``"cpu"`` otherwise."""
    return "cuda" if get_array_module(x) is not np else "cpu"


def check_device(device: str) -> str:
    """Normalise a device name and make sure it can be used."""
    name = str(device).lower()
    if name in ("cpu", "numpy"):
        return "cpu"
    if name in ("cuda", "gpu") or name.startswith("cuda:"):
        if _import_cupy() is None:
            raise DeviceError(
                "device 'cuda' was requested but CuPy cannot use a GPU here "
                f"({_cupy_error}). Install the GPU extra (pip install -e '.[gpu]') on a "
                "machine with an NVIDIA GPU, or use device='cpu'.")
        return "cuda"
    raise DeviceError(f"unknown device {device!r}; use 'cpu' or 'cuda'")


def to_device(x, device: str):
    """Return ``x`` as an array on ``device`` (a no-op when it is already there)."""
    device = check_device(device)
    if device == "cpu":
        return x.get() if device_of(x) == "cuda" else np.asarray(x)
    return _cupy.asarray(x)


def to_numpy(x):
    """A NumPy copy/view of ``x`` wherever it lives (for saving, plotting, printing)."""
    return to_device(x, "cpu")


# ------------------------------------------------------------------ CPU kernels
#: "numba": the custom kernels of ``kernels/`` (GEMM, im2col/col2im, fused ops);
#: "numpy": NumPy everywhere, GEMMs through ``numpy.matmul`` (BLAS) -- the reference path.
CPU_KERNELS = ("numba", "numpy")
_cpu_kernels = os.environ.get("SCRATCHVAE_CPU_KERNELS", "numba")
if _cpu_kernels not in CPU_KERNELS:
    raise DeviceError(f"SCRATCHVAE_CPU_KERNELS={_cpu_kernels!r}; use one of {CPU_KERNELS}")


def prefer_sleeping_threads() -> bool:
    """For a process of ours (the CLI, a tutorial): let the Numba kernels' OpenMP threads
    sleep when idle (``OMP_WAIT_POLICY=PASSIVE``) unless the user chose a policy.

    Measured with ``python -m scratchvae train`` on a 2-core VM (docs/kernels/threads.md):
    44.9 s spinning against 45.2 s sleeping when the machine is quiet, 298 s against 61 s
    with the other core busy. It must run before the first parallel kernel (OpenMP reads
    the variable when Numba loads it), and it is not done on ``import scratchvae``: the
    setting would reach every OpenMP library of the user's process. Returns whether it set
    the variable.
    """
    if "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True


def cpu_kernels() -> str:
    """Which CPU path layers take for NumPy arrays: "numba" (default) or "numpy".

    Set once with the environment variable ``SCRATCHVAE_CPU_KERNELS`` or at run time with
    :func:`set_cpu_kernels` / :func:`use_cpu_kernels`. Both paths compute the same
    numbers to float round-off; "numpy" is the plain reference the tests compare against.
    One path for a whole training step matters on few cores: OpenBLAS's threads
    busy-wait ~0.1 s after each call and slow a Numba parallel region started within
    that window by up to 40x (docs/benchmarks.md).
    """
    return _cpu_kernels


def set_cpu_kernels(name: str) -> str:
    """Select the CPU path ("numba" or "numpy"); returns the previous one."""
    global _cpu_kernels
    if name not in CPU_KERNELS:
        raise DeviceError(f"unknown CPU kernel path {name!r}; use one of {CPU_KERNELS}")
    previous, _cpu_kernels = _cpu_kernels, name
    return previous


@contextmanager
def use_cpu_kernels(name: str):
    """``with use_cpu_kernels("numpy"): ...`` runs the block on that CPU path."""
    previous = set_cpu_kernels(name)
    try:
        yield
    finally:
        set_cpu_kernels(previous)


# ------------------------------------------------------------------ custom CUDA kernels
#: GEMMs of CuPy arrays: "custom" (default), the SGEMM kernels of ``kernels/cuda/sgemm.cu``;
#: "cublas", ``cupy.matmul`` -- the vendor reference benchmarks and tests compare against.
GPU_GEMMS = ("custom", "cublas")
_gpu_gemm = os.environ.get("SCRATCHVAE_GPU_GEMM", "custom")
if _gpu_gemm not in GPU_GEMMS:
    raise DeviceError(f"SCRATCHVAE_GPU_GEMM={_gpu_gemm!r}; use one of {GPU_GEMMS}")


def gpu_gemm() -> str:
    """Which GEMM CuPy arrays take: "custom" or "cublas" (env ``SCRATCHVAE_GPU_GEMM``)."""
    return _gpu_gemm


def set_gpu_gemm(name: str) -> str:
    """Select the GPU GEMM ("custom" or "cublas"); returns the previous one."""
    global _gpu_gemm
    if name not in GPU_GEMMS:
        raise DeviceError(f"unknown GPU GEMM {name!r}; use one of {GPU_GEMMS}")
    previous, _gpu_gemm = _gpu_gemm, name
    return previous


def cuda_source(filename: str) -> str:
    """The text of ``kernels/cuda/<filename>``: ``kernels.cuda.build.cuda_source``."""
    return _cuda_build.cuda_source(filename)


def cuda_module(filename: str, name_expressions=(), options=()):
    """The compiled ``cupy.RawModule`` of ``kernels/cuda/<filename>``, built once and cached
    by ``kernels.cuda.build.cuda_module`` (its docstring has the details).

    Raises:
        DeviceError when CuPy or a GPU is missing.
    """
    if _import_cupy() is None:
        raise DeviceError(f"CUDA kernel {filename!r} needs CuPy and a GPU ({_cupy_error}). "
                          "Install the GPU extra (pip install -e '.[gpu]') on a machine with "
                          "an NVIDIA GPU.")
    return _cuda_build.cuda_module(filename, name_expressions, options)


# ------------------------------------------------------------------ the kernel registry
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_NOT_ARRAYS = (float, int, bool, str, tuple, type(None))
_CUPY_TYPES = set()            # array types seen to come from CuPy (checked once per type)


def path_of(*args) -> str:
    """"numba", "cuda" or "numpy": the path these arrays take (module docstring).
    Arguments that are not arrays (None, numbers) are ignored. Called on every dispatched
    op, so it is written for speed: one pass, type checks before attribute lookups."""
    path = dtype = None
    for a in args:
        t = type(a)
        if t is np.ndarray:
            p = "numba"
        elif t in _NOT_ARRAYS:
            continue
        elif t in _CUPY_TYPES or t.__module__.split(".")[0] == "cupy":
            _CUPY_TYPES.add(t)
            p = "cuda"
        elif hasattr(a, "dtype") and hasattr(a, "shape"):
            return "numpy"                 # another array type (a subclass, a memmap view)
        else:
            continue
        if a.dtype == np.bool_:            # a mask: its device counts, not its dtype
            if path is None:
                path = p
            elif p != path:
                return "numpy"
            continue
        if dtype is None:
            if path is not None and p != path:
                return "numpy"
            path, dtype = p, a.dtype
        elif p != path or a.dtype != dtype:
            return "numpy"                 # mixed devices or dtypes: the reference decides
    if dtype is None or dtype not in _FLOAT_DTYPES:      # (no float array: nothing to run)
        return "numpy"
    if path == "numba" and _cpu_kernels != "numba":
        return "numpy"
    return path


def _two_d(*arrays):
    return all(a.ndim == 2 for a in arrays if hasattr(a, "ndim"))


def _two_d_c_order(*arrays):
    return all(a.ndim == 2 and a.flags.c_contiguous for a in arrays if hasattr(a, "ndim"))


def _into_c_order(c, *arrays):
    """matmul_add's condition: a writeable C-order 2-D target and 2-D operands."""
    return c.flags.c_contiguous and c.flags.writeable and _two_d(c, *arrays)


def _custom_gemm(*arrays):
    return _two_d(*arrays) and _gpu_gemm == "custom"


#: op → {path: ("module:function", condition or None)}: every custom kernel of kernels/
#: and when it runs. Each function takes the op's arguments and returns the op's result,
#: or None when it cannot (the NumPy reference then runs).
KERNELS = {
    "matmul": {"numba": ("kernels.matmul:matmul_numba", _two_d),
               "cuda": ("kernels.cuda.gemm:sgemm", _custom_gemm)},
    "matmul_add": {"numba": ("kernels.matmul:matmul_add_numba", _into_c_order)},
    "im2col_nhwc": {"numba": ("kernels.conv:im2col_numba", None),
                    "cuda": ("kernels.cuda.conv:im2col_cuda", None)},
    "col2im_nhwc": {"numba": ("kernels.conv:col2im_numba", None),
                    "cuda": ("kernels.cuda.conv:col2im_cuda", None)},
    "conv2d_nhwc": {"numba": ("kernels.conv_direct:conv2d_direct", None)},
    "conv2d_input_grad_nhwc": {"numba": ("kernels.conv_direct:conv2d_input_grad_direct", None)},
    "conv2d_weight_grad_nhwc": {"numba": ("kernels.conv_direct:conv2d_weight_grad_direct", None)},
    "bias_grad": {"numba": ("kernels.elementwise:column_sums", None)},
    "relu_forward": {"numba": ("kernels.elementwise:relu_forward", None)},
    "relu_backward": {"numba": ("kernels.elementwise:relu_backward", None)},
    "gate_forward": {"numba": ("kernels.elementwise:gate_forward", None)},
    "gate_backward": {"numba": ("kernels.elementwise:gate_backward", None)},
    "mixture_log_terms": {"numba": ("kernels.mixture:mixture_log_terms", None)},
    "mixture_grads": {"numba": ("kernels.mixture:mixture_grads", None)},
    "bernoulli_log_density": {"numba": ("kernels.log_density:bernoulli_log_density", None)},
    "bce_logits": {"numba": ("kernels.elementwise:bce_logits", _two_d_c_order),
                   "cuda": ("kernels.cuda.fused:bce_logits", _two_d)},
    "kl_standard_normal_rows": {"cuda": ("kernels.cuda.fused:kl_standard_normal", _two_d)},
    "reparameterize_z": {"cuda": ("kernels.cuda.fused:reparameterize", None)},
    "reparameterize_grads": {"cuda": ("kernels.cuda.fused:reparameterize_backward", None)},
    "adam_update": {"numba": ("kernels.elementwise:adam_update", None),
                    "cuda": ("kernels.cuda.fused:adam_update", None)},
}
_loaded = {}          # "module:function" → the function, imported at its first use


_references_only = set()      # ops whose reference runs whatever the path (``reference_ops``)


@contextmanager
def reference_ops(*ops: str):
    """``with reference_ops("conv2d_nhwc"): ...`` runs those ops' reference bodies on every
    path, e.g. the im2col path of the convolutions instead of the direct kernels (the
    benchmarks compare the two; the FLOP floor is defined by the im2col GEMMs)."""
    unknown = [op for op in ops if op not in KERNELS]
    if unknown:
        raise KeyError(f"reference_ops: no kernels registered for {unknown}; "
                       f"choose among {sorted(KERNELS)}")
    added = set(ops) - _references_only
    _references_only.update(added)
    try:
        yield
    finally:
        _references_only.difference_update(added)


def kernel(op: str, *args):
    """The kernel that runs ``op`` on these arguments, or None (run the NumPy reference)."""
    if _references_only and op in _references_only:
        return None
    entry = KERNELS[op].get(path_of(*args))
    if entry is None:
        return None
    target, condition = entry
    if condition is not None and not condition(*args):
        return None
    fn = _loaded.get(target)
    if fn is None:
        module, name = target.split(":")
        fn = _loaded[target] = getattr(importlib.import_module(module), name)
    return fn


def dispatched(op: str):
    """Decorate an op whose body is its NumPy reference: the gateway runs the op's kernel
    where ``KERNELS`` has one for the call's path, the body otherwise (module docstring).
    The undecorated body stays reachable as ``fn.reference`` (tests compare against it)."""
    if op not in KERNELS:
        raise KeyError(f"no kernels registered for op {op!r}; add it to backend.KERNELS")

    def decorate(reference):
        @functools.wraps(reference)
        def run(*args):
            fast = kernel(op, *args)
            if fast is not None:
                try:
                    out = fast(*args)
                except KernelShapeError as exc:          # the library's error types
                    raise ShapeError(str(exc)) from exc
                except KernelDTypeError as exc:
                    raise DTypeError(str(exc)) from exc
                if out is not None:
                    return out
            return reference(*args)

        run.reference = reference
        run.op = op
        return run
    return decorate
