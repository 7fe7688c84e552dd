"""Where a training step's time goes: ms per step of each kind of kernel in the conv VAE
and MLP VAE steps (Numba path, batch 128; 2 threads, or --threads N) under cProfile, and
the step time with and without the profiler. Prints one JSON line; run it in several
fresh processes and take medians (docs/performance.md, "Where a step's time goes"):

    for i in 1 2 3; do python benchmarks/step_profile.py >> step_profile.jsonl; done
    python benchmarks/step_profile.py --threads 1        # one thread for every library
"""
import argparse
import cProfile
import json
import pstats
import time

import numpy as np
from contenders import import_torch, step_contenders
from common import set_threads
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=int, default=2, help="threads for every library")
THREADS = parser.parse_args().threads
import_torch(THREADS)               # as the benchmarks do: PyTorch's OpenMP first
set_threads(THREADS)
ITEMS = {"conv VAE": {
    "direct fwd+dx": ["_direct_driver_py", "_direct_driver_py_serial"],
    "direct dW": ["_weight_grad_py", "_weight_grad_py_serial"],
    "GEMMs": ["_gemm_py", "_gemm_py_serial", "_gemm_ksplit_py", "_gemm_ksplit_py_serial"],
    "im2col/col2im": ["_im2col_py", "_col2im_py"],
    "pads": ["_pad_py"], "relu fwd": ["_relu_forward_py"],
    "relu bwd": ["_relu_backward_py", "_relu_backward_4d_py"],
    "layout copies": ["<method 'reshape' of 'numpy.ndarray' objects>",
                      "<built-in method numpy.ascontiguousarray>"],
    "col sums + adam": ["_column_sums_py", "_adam_py"]},
  "MLP VAE": {"GEMMs": ["_gemm_py", "_gemm_py_serial"], "adam": ["_adam_py"],
              "bce": ["_bce_combine_py", "bce_logits"],
              "relu": ["_relu_forward_py", "_relu_backward_py"]}}
out = {}
for kind, steps in (("conv VAE", 100), ("MLP VAE", 200)):
    run = step_contenders(kind, None, np.random.default_rng(0))["numba"]
    for _ in range(20):
        run()
    t = time.perf_counter()
    for _ in range(steps):
        run()
    plain = (time.perf_counter() - t) / steps
    pr = cProfile.Profile(); pr.enable(); t = time.perf_counter()
    for _ in range(steps):
        run()
    prof = (time.perf_counter() - t) / steps
    pr.disable()
    st = pstats.Stats(pr).stats
    tot = {}
    for (file, line, name), (cc, nc, tt, ct, callers) in st.items():
        tot[name] = tot.get(name, 0.0) + tt
    row = {"step_ms": plain * 1e3, "profiled_step_ms": prof * 1e3}
    for item, names in ITEMS[kind].items():
        row[item] = sum(tot.get(n, 0.0) for n in names) / steps * 1e3
    out[kind] = row
out["threads"] = THREADS
print(json.dumps(out))
