"""Large temporaries without page faults: glibc malloc's thresholds for a training process.

A training step allocates and frees the same multi-megabyte arrays every step (a conv
layer's output, its input gradient, the padded images of the direct convolution). glibc
serves a request above its *mmap threshold* with fresh pages from the kernel and gives
them back on ``free``; below it, from its heap, whose free top it returns to the kernel
above the *trim threshold*. The thresholds adapt to what the program frees, but not well
enough for this pattern: the conv VAE's step took ~3,200 minor page faults (12.5 MB of
pages zero-filled by the kernel, then faulted in one by one), and its median step time
went from 57.8 ms [48.6–62.2] to 51.3 ms [48.3–53.2] with the thresholds raised (five
fresh processes each, alternating; Intel Xeon VM, 2 threads; docs/benchmarks.md).

``keep_freed_memory()`` raises both thresholds, so freed blocks stay in the heap and the
next step reuses them: the process keeps up to ``trim_threshold`` bytes of freed memory
instead of returning them. The Trainer calls it when it starts, and the benchmarks do
before timing (PyTorch, in the same process, gets the same allocator). It does nothing
when

* the C library is not glibc (macOS, musl, Windows): there is no ``mallopt`` to call;
* the user set ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_`` (their choice wins);
* ``SCRATCHVAE_KEEP_FREED_MEMORY=0`` is set (the opt-out).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["keep_freed_memory"]

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3          # glibc's <malloc.h> parameter numbers
_done: dict | None = None


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 512 << 20) -> dict:
    """Raise glibc's mmap and trim thresholds once per process (module docstring).

    32 MiB is the largest mmap threshold glibc accepts on 64-bit systems; every array of
    the library's models is smaller. Returns what was done: ``{"applied": bool, "reason":
    str, ...}`` (the same dict on later calls).
    """
    global _done
    if _done is not None:
        return _done
    if os.environ.get("SCRATCHVAE_KEEP_FREED_MEMORY", "1").strip() in ("0", "false", "no"):
        _done = {"applied": False, "reason": "SCRATCHVAE_KEEP_FREED_MEMORY=0"}
    elif any(v in os.environ for v in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        _done = {"applied": False, "reason": "the user's MALLOC_* settings"}
    else:
        libc = _glibc()
        if libc is None:
            _done = {"applied": False, "reason": "not glibc: no mallopt"}
        else:
            ok = (libc.mallopt(M_MMAP_THRESHOLD, int(mmap_threshold)) == 1
                  and libc.mallopt(M_TRIM_THRESHOLD, int(trim_threshold)) == 1)
            _done = {"applied": ok, "reason": "mallopt" if ok else "mallopt refused",
                     "mmap_threshold": int(mmap_threshold),
                     "trim_threshold": int(trim_threshold)}
    return _done


def _glibc():
    """The process's C library if it is glibc (it has gnu_get_libc_version), else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version                      # noqa: B018 - glibc only
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    return libc
