"""What three ideas of issue 15 could still buy, measured before building them: Adam as one
call per parameter array against one pass over all of them (the MLP VAE's 8 arrays), the
NCHW ↔ NHWC copy in NumPy against a parallel blocked transpose in Numba (the conv VAE's
two shapes), and a 4-array triad for the memory system's rate. 2 threads; prints one JSON
line (medians of 300 or 50 calls); run it in several fresh processes:

    for i in 1 2 3; do python benchmarks/overhead_ceilings.py >> ceilings.jsonl; done
"""
import json
import time

import numpy as np
from numba import njit, prange
from common import set_threads
set_threads(2)
from kernels.elementwise import adam_update, _adam

@njit(parallel=True)
def to_nchw(src, dst):
    N, P, C = src.shape
    B = 32
    nb = (P + B - 1) // B
    for t in prange(N * nb):
        n = t // nb; p0 = (t % nb) * B; p1 = min(P, p0 + B)
        for c in range(C):
            for p in range(p0, p1):
                dst[n, c, p] = src[n, p, c]

@njit(parallel=True)
def triad(a, b, c, d):
    for i in prange(a.size):
        a[i] = b[i] + 0.5 * c[i] * d[i]

def med(f, n):
    f()
    ts = []
    for _ in range(n):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return float(np.median(ts))

rng = np.random.default_rng(0)
shapes = [(784, 400), (400,), (400, 40), (40,), (20, 400), (400,), (400, 784), (784,)]
P = [[rng.standard_normal(s).astype(np.float32) for _ in range(4)] for s in shapes]
flat = [np.concatenate([p[i].ravel() for p in P]) for i in range(4)]
n = flat[0].size
out = {}
out["adam_per_tensor_ms"] = 1e3 * med(lambda: [adam_update(*p, 1e-3, .9, .999, 1e-8, .1, .001, 0.) for p in P], 300)
out["adam_one_pass_ms"] = 1e3 * med(lambda: _adam(*flat, 1e-3, .9, .999, 1e-8, .1, .001, 0.), 300)
out["adam_GBps"] = 7 * 4 * n / out["adam_one_pass_ms"] / 1e6
a, b, c, d = (rng.random(n).astype(np.float32) for _ in range(4))
out["triad_GBps"] = 4 * 4 * n / med(lambda: triad(a, b, c, d), 300) / 1e9
for (N, C, H, W) in [(128, 64, 7, 7), (128, 32, 14, 14)]:
    mem = rng.random((N, H, W, C)).astype(np.float32)
    v = mem.transpose(0, 3, 1, 2)
    dst = np.empty((N, C, H * W), np.float32)
    out[f"copy_numpy_us_{C}x{H}"] = 1e6 * med(lambda: v.reshape(N, -1), 50)
    out[f"copy_numba_us_{C}x{H}"] = 1e6 * med(lambda: to_nchw(mem.reshape(N, H * W, C), dst), 50)
print(json.dumps(out))
