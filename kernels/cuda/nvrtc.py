"""A tiny ctypes binding to NVRTC, for compiling the ``.cu`` files without a GPU.

CuPy compiles our CUDA C with NVRTC at first use (``cupy.RawModule``), on the machine that
runs it. A typo in a kernel would then surface only there. NVRTC itself needs no GPU: it
is a library that turns CUDA C++ source into PTX, shipped on its own as the pip wheel
``nvidia-cuda-nvrtc``. This module loads it with ctypes so that the tests can compile
every kernel, with every template instantiation the launchers use, on any machine
(``tests/test_cuda_sources.py``). It is the CUDA kernels' diagnostics entry point (every
kernel family has one, because the kernels are fragile): the compile log is the report.

Public API
----------
``available()``            True when a ``libnvrtc.so`` was found and loads.
``why_unavailable()``      where it was looked for, when it was not found ("" otherwise).
``version()``              NVRTC's (major, minor).
``compile_program(...)``   source → ``Program``: PTX, the compile log, and the lowered
                           (mangled) name of every requested name expression.
``compile_source(...)``    source → PTX string (``compile_program(...).ptx``).
``NVRTCError``             raised on a failed compile; its message holds the full log.

Where the library is looked for, in order: ``$SCRATCHVAE_NVRTC`` (a path to the .so),
the ``nvidia`` pip wheels' ``lib`` folders on ``sys.path`` (``nvidia/cu13/lib``,
``nvidia/cuda_nvrtc/lib``, ...), ``$CUDA_PATH/lib64`` and ``$CUDA_HOME/lib64``,
``/usr/local/cuda/lib64``, and finally the dynamic loader's own search (``libnvrtc.so``).
"""
from __future__ import annotations

import ctypes
import glob
import os
import sys
from dataclasses import dataclass, field

__all__ = ["NVRTCError", "Program", "available", "why_unavailable", "version",
           "compile_program", "compile_source", "library_path", "DEFAULT_OPTIONS"]

#: C++17 (``constexpr`` tile constants, templates) and PTX for Hopper (sm_90, the H100).
DEFAULT_OPTIONS = ("--std=c++17", "-arch=compute_90")

_lib = None             # the loaded ctypes.CDLL
_lib_path = None        # the file it was loaded from
_lib_error = None       # why loading failed (str)


class NVRTCError(RuntimeError):
    """An NVRTC call failed; for a compile error the message ends with the full log."""


@dataclass
class Program:
    """The result of one compile."""
    ptx: str                                   # the PTX text
    log: str                                   # NVRTC's log (warnings; empty when clean)
    lowered_names: dict = field(default_factory=dict)   # name expression → mangled name


# ------------------------------------------------------------------ finding libnvrtc
def _candidates():
    """Paths of libnvrtc.so* to try, most specific first."""
    env = os.environ.get("SCRATCHVAE_NVRTC")
    if env:
        yield env
    patterns = ("libnvrtc.so", "libnvrtc.so.[0-9]*")
    roots = []
    for entry in sys.path:                     # the pip wheels: site-packages/nvidia/*/lib
        base = os.path.join(entry or ".", "nvidia")
        if os.path.isdir(base):
            # cu13 wheels put every library in nvidia/cu13/lib, cu12 ones in
            # nvidia/cuda_nvrtc/lib; prefer the newest major version.
            roots += sorted(glob.glob(os.path.join(base, "cu[0-9]*", "lib")), reverse=True)
            roots.append(os.path.join(base, "cuda_nvrtc", "lib"))
    for var in ("CUDA_PATH", "CUDA_HOME"):
        if os.environ.get(var):
            roots += [os.path.join(os.environ[var], "lib64"), os.path.join(os.environ[var], "lib")]
    roots.append("/usr/local/cuda/lib64")
    for root in roots:
        for pattern in patterns:
            # libnvrtc.so.13 before libnvrtc.so.13.5.37-style names; skip the builtins library
            for path in sorted(glob.glob(os.path.join(root, pattern)), key=len):
                if "builtins" not in path:
                    yield path
    yield "libnvrtc.so"                        # whatever the dynamic loader finds


def _load():
    global _lib, _lib_path, _lib_error
    if _lib is not None or _lib_error is not None:
        return _lib
    tried = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            lib.nvrtcVersion                   # noqa: B018 - is it NVRTC at all?
        except (OSError, AttributeError) as exc:
            tried.append(f"{path} ({exc})")
            continue
        _declare(lib)
        _lib, _lib_path = lib, path
        return _lib
    _lib_error = ("libnvrtc.so was not found (pip install nvidia-cuda-nvrtc, or set "
                  "SCRATCHVAE_NVRTC / CUDA_PATH); tried: " + "; ".join(tried))
    return None


def _declare(lib):
    """Argument and result types of the NVRTC functions we call (all return nvrtcResult)."""
    P, c, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t
    sigs = {
        "nvrtcVersion": [ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)],
        "nvrtcCreateProgram": [ctypes.POINTER(P), c, c, ctypes.c_int, cp, cp],
        "nvrtcAddNameExpression": [P, c],
        "nvrtcCompileProgram": [P, ctypes.c_int, cp],
        "nvrtcGetProgramLogSize": [P, ctypes.POINTER(sz)],
        "nvrtcGetProgramLog": [P, ctypes.c_char_p],
        "nvrtcGetPTXSize": [P, ctypes.POINTER(sz)],
        "nvrtcGetPTX": [P, ctypes.c_char_p],
        "nvrtcGetLoweredName": [P, c, ctypes.POINTER(ctypes.c_char_p)],
        "nvrtcDestroyProgram": [ctypes.POINTER(P)],
    }
    for name, argtypes in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, ctypes.c_int
    lib.nvrtcGetErrorString.argtypes, lib.nvrtcGetErrorString.restype = [ctypes.c_int], ctypes.c_char_p


def available() -> bool:
    """True when NVRTC can be loaded on this machine."""
    return _load() is not None


def why_unavailable() -> str:
    """Why NVRTC cannot be loaded ("" when it can)."""
    return "" if _load() is not None else _lib_error


def library_path() -> str | None:
    """The libnvrtc file in use, or None."""
    _load()
    return _lib_path


def _check(result: int, what: str):
    if result != 0:
        msg = _lib.nvrtcGetErrorString(result).decode()
        raise NVRTCError(f"{what} failed: {msg} (nvrtcResult {result})")


def version() -> tuple[int, int]:
    """NVRTC's (major, minor) version."""
    if _load() is None:
        raise NVRTCError(_lib_error)
    major, minor = ctypes.c_int(), ctypes.c_int()
    _check(_lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "nvrtcVersion")
    return major.value, minor.value


# ------------------------------------------------------------------------ compiling
def _c_strings(strings):
    arr = (ctypes.c_char_p * max(len(strings), 1))()
    for i, s in enumerate(strings):
        arr[i] = s.encode()
    return arr


def compile_program(source: str, name: str = "kernel.cu", options=DEFAULT_OPTIONS,
                    name_expressions=()) -> Program:
    """Compile CUDA C++ ``source`` to PTX.

    Args:
        source: the CUDA C++ text (no ``#include`` of system headers: NVRTC has no libc).
        name: the file name NVRTC reports in its log.
        options: NVRTC options, e.g. ``("--std=c++17", "-arch=compute_80")``.
        name_expressions: template instantiations to force, exactly as CuPy's
            ``RawModule(name_expressions=...)`` would, e.g. ``"sgemm_v4<float,false,true>"``.
    Returns:
        a :class:`Program` with the PTX, the log and each name expression's lowered name.
    Raises:
        NVRTCError with the full compile log when the source does not compile.
    """
    if _load() is None:
        raise NVRTCError(_lib_error)
    prog = ctypes.c_void_p()
    _check(_lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(),
                                   0, None, None), "nvrtcCreateProgram")
    try:
        for expr in name_expressions:
            _check(_lib.nvrtcAddNameExpression(prog, expr.encode()),
                   f"nvrtcAddNameExpression({expr!r})")
        opts = list(options)
        result = _lib.nvrtcCompileProgram(prog, len(opts), _c_strings(opts))
        size = ctypes.c_size_t()
        _check(_lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size)), "nvrtcGetProgramLogSize")
        buf = ctypes.create_string_buffer(size.value)
        _check(_lib.nvrtcGetProgramLog(prog, buf), "nvrtcGetProgramLog")
        log = buf.value.decode(errors="replace")
        if result != 0:
            msg = _lib.nvrtcGetErrorString(result).decode()
            raise NVRTCError(f"NVRTC could not compile {name} with options {opts}: {msg}\n"
                             f"--- compile log ---\n{log}")
        _check(_lib.nvrtcGetPTXSize(prog, ctypes.byref(size)), "nvrtcGetPTXSize")
        buf = ctypes.create_string_buffer(size.value)
        _check(_lib.nvrtcGetPTX(prog, buf), "nvrtcGetPTX")
        ptx = buf.value.decode()
        lowered = {}
        for expr in name_expressions:
            out = ctypes.c_char_p()
            _check(_lib.nvrtcGetLoweredName(prog, expr.encode(), ctypes.byref(out)),
                   f"nvrtcGetLoweredName({expr!r})")
            lowered[expr] = out.value.decode()   # owned by prog: copied before destroying it
        return Program(ptx=ptx, log=log, lowered_names=lowered)
    finally:
        _lib.nvrtcDestroyProgram(ctypes.byref(prog))


def compile_source(source: str, name: str = "kernel.cu", options=DEFAULT_OPTIONS,
                   name_expressions=()) -> str:
    """Compile CUDA C++ ``source`` and return the PTX (see :func:`compile_program`)."""
    return compile_program(source, name, options, name_expressions).ptx
