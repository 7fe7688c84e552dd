"""The GPU machine of ``gpu.py``: finding it, describing it, and timing on it.

    probe_gpu()                 (cupy, None) with a usable CUDA device, else (None, why)
    import_torch_cuda()         PyTorch with CUDA, TF32 off and cuDNN autotuned, or None
    gpu_info(cp, torch, ref)    the GPU, CUDA, driver and library versions, as a dict
    cuda_version(v)             CUDA's version integer → "major.minor"
    cudnn_version(v)            cuDNN's version integer → "major.minor.patch"
    Clock(lib, name)            CUDA events of CuPy or PyTorch
    time_cuda(fn, clock, cfg)   median and best seconds per call, from event pairs

Timing: a warm-up (which compiles the kernels and fills the memory pools), one call to
size the samples, then samples of back-to-back calls of at least ``cfg["sample_s"]``
each, between two events; the median per-call time over the samples is what the tables
report (and the best). Nothing here imports CuPy or PyTorch at import time.
"""
from __future__ import annotations

import importlib
import math
import platform
import statistics
import subprocess

import numpy as np

__all__ = ["probe_gpu", "import_torch_cuda", "gpu_info", "cuda_version", "cudnn_version",
           "Clock", "time_cuda"]


def probe_gpu(import_module=importlib.import_module):
    """(cupy, None) when CuPy imports and sees a CUDA device, else (None, one-line reason)."""
    try:
        cp = import_module("cupy")
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken CUDA install
        return None, (f"CuPy is not installed or does not import ({type(exc).__name__}: {exc}); "
                      "this benchmark needs CuPy and an NVIDIA GPU (pip install -e '.[gpu]')")
    try:
        n = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - CUDARuntimeError without a driver or device
        return None, f"no CUDA GPU usable by CuPy ({type(exc).__name__}: {exc})"
    if n < 1:
        return None, "no CUDA GPU: CuPy sees 0 devices"
    return cp, None


def import_torch_cuda():
    """PyTorch with CUDA and TF32 off, or None."""
    try:
        import torch  # noqa: PLC0415 - optional: the reference of sections 2 and 3
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True          # cuDNN autotuned, as cupyx's auto_tune
    return torch


def gpu_info(cp, torch, ref):
    """The machine entry of a run's JSON: GPU, compute capability, CUDA, driver, versions."""
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    info = {"gpu": name, "compute_capability": f"{props['major']}.{props['minor']}",
            "sms": props.get("multiProcessorCount"),
            "memory_gib": props.get("totalGlobalMem", 0) / 2 ** 30,
            "cuda_runtime": cuda_version(cp.cuda.runtime.runtimeGetVersion()),
            "cuda_driver": cuda_version(cp.cuda.runtime.driverGetVersion()),
            "cupy": cp.__version__, "torch": torch.__version__ if torch else "(not installed)",
            "cudnn": ref.name if ref else "(none)", "python": platform.python_version(),
            "numpy": np.__version__}
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        info["driver"] = out.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        info["driver"] = "?"
    return info


def cuda_version(v: int) -> str:
    """CUDA's version integer 1000·major + 10·minor → "major.minor"."""
    return f"{v // 1000}.{v % 1000 // 10}"


def cudnn_version(v) -> str:
    """cuDNN's version integer → "major.minor.patch": 10000·major + 100·minor + patch from
    cuDNN 9 on, 1000·major + 100·minor + patch before."""
    v = int(v)
    major, rest = (v // 10000, v % 10000) if v >= 90000 else (v // 1000, v % 1000)
    return f"{major}.{rest // 100}.{rest % 100}"


# ------------------------------------------------------------------ timing
class Clock:
    """CUDA events of one library ("cupy" or "torch"): ``event()`` and ``elapsed_s(start, end)``."""

    def __init__(self, lib, name):
        self.lib, self.name = lib, name

    def event(self):
        if self.name == "torch":
            return self.lib.cuda.Event(enable_timing=True)
        return self.lib.cuda.Event()

    def elapsed_s(self, a, b):
        b.synchronize()
        if self.name == "torch":
            return a.elapsed_time(b) / 1e3
        return self.lib.cuda.get_elapsed_time(a, b) / 1e3


def time_cuda(fn, clock, cfg):
    """Median and best seconds per call of fn on the GPU.

    Warm-up (``cfg["warmup"]`` calls: kernels compile, pools fill), one call to size
    the samples, then samples of ``calls`` back-to-back calls (≥ cfg["sample_s"]) each
    between two events, as many as fit in cfg["target_s"] (cfg["min"]…cfg["max"]).
    """
    a, b = clock.event(), clock.event()
    for _ in range(cfg["warmup"]):
        fn()
    a.record()
    fn()
    b.record()
    t1 = max(clock.elapsed_s(a, b), 1e-7)
    calls = max(1, math.ceil(cfg["sample_s"] / t1))
    n = int(min(max(cfg["target_s"] / (calls * t1), cfg["min"]), cfg["max"]))
    samples = []
    for _ in range(n):
        a.record()
        for _ in range(calls):
            fn()
        b.record()
        samples.append(clock.elapsed_s(a, b) / calls)
    return {"median_s": statistics.median(samples), "best_s": min(samples),
            "samples": n, "calls_per_sample": calls}
