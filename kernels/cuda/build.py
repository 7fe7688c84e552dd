"""Compiling the CUDA C kernels of this folder, and finding the array module of a launch.

A ``.cu`` file here is plain CUDA C++ source, shipped with the package. At the first
launch that needs a kernel, ``cuda_module`` hands the source and the kernel's template
instantiations ("name expressions", e.g. ``"sgemm_v4_regblock<double, false, true>"``)
to ``cupy.RawModule``, which compiles them with NVRTC for the current GPU; the module is
cached for the life of the process, and CuPy also keeps the binary in its on-disk kernel
cache, so a later process skips the compile.

    cuda_source(filename)                         the text of kernels/cuda/<filename>
    cuda_module(filename, name_expressions, options)
                                                  the compiled module, built once per
                                                  (file, options, name expressions)
    array_module(*arrays)                         cupy if any argument is a CuPy array,
                                                  else numpy

Caching per (file, options, name expressions) means a launcher that asks for one
instantiation at a time compiles only what it uses. Fetch a kernel with
``module.get_function(expr)`` using exactly the string that was compiled.

Nothing here imports CuPy at import time: ``cuda_module`` imports it at the first
compile, and ``array_module`` only when an argument already is a CuPy array. Without CuPy
or a GPU, ``cuda_module`` raises ``KernelDeviceError`` naming what to install.
``scratchvae.backend.cuda_module`` and ``cuda_source`` delegate here. ``nvrtc.py`` compiles
the same sources without a GPU (``tests/test_cuda_sources.py``).
"""
from __future__ import annotations

from importlib.resources import files

import numpy as np

from ..errors import KernelDeviceError

__all__ = ["cuda_source", "cuda_module", "array_module"]

_modules = {}    # (filename, options, name_expressions) → cupy.RawModule


def cuda_source(filename: str) -> str:
    """The text of ``kernels/cuda/<filename>`` (found through the installed ``kernels`` package)."""
    path = files("kernels.cuda") / filename
    if not path.is_file():
        raise FileNotFoundError(f"no CUDA source {filename!r} in kernels/cuda/")
    return path.read_text(encoding="utf-8")


def _cupy_with_a_gpu(filename):
    """CuPy, imported now, if it sees a CUDA device; else KernelDeviceError."""
    try:
        import cupy  # noqa: PLC0415 - lazy on purpose: CuPy is an optional extra
        cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # ImportError, CUDARuntimeError, ...
        raise KernelDeviceError(
            f"CUDA kernel {filename!r} needs CuPy and a GPU ({type(exc).__name__}: {exc}). "
            "Install the GPU extra (pip install -e '.[gpu]') on a machine with an NVIDIA "
            "GPU.") from exc
    return cupy


def cuda_module(filename: str, name_expressions=(), options=()):
    """The compiled ``cupy.RawModule`` of ``kernels/cuda/<filename>``, built once and cached.

    Args:
        filename: a ``.cu`` file of ``kernels/cuda/``, e.g. ``"sgemm.cu"``.
        name_expressions: the template instantiations to compile, e.g.
            ``("sgemm_v4_regblock<double, false, true>",)``; fetch each with
            ``module.get_function(expr)`` using exactly the same string.
        options: NVRTC options (CuPy adds ``-arch`` for the current device itself).
    Raises:
        KernelDeviceError when CuPy or a GPU is missing.

    NVRTC runs at the first ``get_function``.
    """
    key = (filename, tuple(options), tuple(name_expressions))
    module = _modules.get(key)
    if module is None:
        cupy = _cupy_with_a_gpu(filename)
        module = cupy.RawModule(code=cuda_source(filename), options=tuple(options),
                                name_expressions=list(name_expressions) or None)
        _modules[key] = module
    return module


def array_module(*arrays):
    """``cupy`` if any argument is a CuPy array, else ``numpy``.

    Arguments that are not arrays (None, floats) are ignored, so callers can pass
    optional operands straight through. CuPy is imported only when one of the arguments
    already is a CuPy array (so it is installed and imported).
    """
    for a in arrays:
        if type(a).__module__.split(".")[0] == "cupy":
            import cupy  # noqa: PLC0415 - an array of it exists: already imported
            return cupy
    return np
