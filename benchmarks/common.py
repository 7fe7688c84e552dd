"""What every benchmark here shares: the machine's description, thread control,
side-by-side interleaved timing (ratios are what to read on a shared, noisy machine),
and GEMM operands in the layouts the layers pass them.

The scripts import it as ``from common import ...``: Python puts a script's own folder
first on ``sys.path``, so ``python benchmarks/<name>.py`` finds it with no set-up.
"""
from __future__ import annotations

import ctypes
import glob
import os
import platform
import statistics
import time

import numba
import numpy as np


def machine_info():
    """CPU model, cores, per-core caches and the GEMM blocking they give, library versions
    and NumPy's BLAS, as a dict."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = "unknown"
    try:
        cfg = np.show_config(mode="dicts")
        dep = cfg["Build Dependencies"]["blas"]
        blas = f"{dep.get('name')} {dep.get('version')}"
        if dep.get("openblas configuration"):
            blas += f" ({dep['openblas configuration'].strip()})"
    except Exception:  # noqa: BLE001 - older NumPy: no dict mode; it is only a label
        pass
    from kernels.blocking import CACHES, KC, MC  # noqa: PLC0415 - after the threads are set
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "python": platform.python_version(),
            "caches": dict(CACHES), "gemm_blocking": {"KC": KC, "MC": MC},
            "numpy": np.__version__, "numba": numba.__version__, "blas": blas,
            "numba_threads": numba.get_num_threads(),
            "numba_threading_layer": _threading_layer(),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "(unset)"),
            "openmp_runtimes": _openmp_runtimes(),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
            "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT", "(unset)")}


def _openmp_runtimes():
    """The OpenMP runtime libraries mapped into this process (Linux), e.g. PyTorch's and
    the system's libgomp: which one each library binds to changes its speed."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "omp" in line.rsplit("/", 1)[-1]}
    except OSError:
        return "(unknown)"
    return sorted(p for p in paths if p.endswith(".so") or ".so." in p) or "(none)"


def _threading_layer():
    try:
        return numba.threading_layer()
    except ValueError:          # no parallel region has run yet
        return "(not started)"


def _calls_per_sample(fn, target_s):
    """How many back-to-back calls make one timed sample of about target_s seconds."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= target_s / 4 or n >= 1 << 16:
            return max(1, int(n * target_s / max(dt, 1e-9)))
        n *= 4


def time_side_by_side(fns, repeats, target_s, pause_s):
    """Median and best seconds per call of each fn, sampled interleaved.

    One sample = back-to-back calls for ~target_s; the order of the backends
    alternates every repeat, and the script sleeps pause_s before each sample so
    that the other backend's thread pool has gone idle (see the module docstring).
    """
    calls = {name: _calls_per_sample(fn, target_s) for name, fn in fns.items()}
    samples = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            fn, n = fns[name], calls[name]
            time.sleep(pause_s)
            fn()                                     # wake the pool up, untimed
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    return ({name: statistics.median(s) for name, s in samples.items()},
            {name: min(s) for name, s in samples.items()})


def set_threads(n):
    """Use n threads in Numba and in NumPy's OpenBLAS; returns what was set. Also keeps
    freed memory in the heap, as the Trainer does (``scratchvae.allocator``), for every
    contender of the process alike."""
    from scratchvae.allocator import keep_freed_memory  # noqa: PLC0415
    numba.set_num_threads(n)
    done = [f"numba={n}", f"keep_freed_memory={keep_freed_memory()['applied']}"]
    libdir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in glob.glob(os.path.join(libdir, "*openblas*")):
        lib = ctypes.CDLL(path)
        for sym in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                    "scipy_openblas_set_num_threads", "openblas_set_num_threads"):
            if hasattr(lib, sym):
                getattr(lib, sym)(n)
                done.append(f"openblas={n}")
                return ", ".join(done)
    return ", ".join(done) + " (OpenBLAS not found: set OPENBLAS_NUM_THREADS)"


def make_operands(M, K, N, la, lb, dtype, rng):
    """A (M, K) and B (K, N) in the requested layouts ('t' = transposed view)."""
    A = rng.standard_normal((K, M)).astype(dtype).T if la == "t" else \
        rng.standard_normal((M, K)).astype(dtype)
    B = rng.standard_normal((N, K)).astype(dtype).T if lb == "t" else \
        rng.standard_normal((K, N)).astype(dtype)
    return A, B
