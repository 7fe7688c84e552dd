"""kernels/cuda/fused.py under Numba's CUDA simulator: every kernel on small NumPy arrays
against its NumPy reference, with odd sizes and launch shapes small enough that the
grid-stride loops wrap and several blocks run the row reductions.

The simulator must be switched on (NUMBA_ENABLE_CUDASIM=1) before Numba is imported, and
this process has imported it already, so one subprocess runs all the checks and prints a
JSON summary ({check: [max relative error, tolerance]} plus flags) that the tests read.
float64 must agree to ~1e-13; float32 to its round-off.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, numba, numpy as np
from numba import cuda
assert numba.config.ENABLE_CUDASIM, "the simulator is not on"
from kernels.cuda import fused as F
from kernels import elementwise as E

out = {}
def err(a, b):                       # normwise: max |a - b| / max |b|
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
def rec(name, *pairs, tol):
    out[name] = [max(err(a, b) for a, b in pairs), tol]

TOL = {np.float64: 1e-14, np.float32: 1e-6}
LAUNCHES = {"default": {}, "strided": {"threads": 32, "blocks": 3}}
rng = np.random.default_rng(0)

for dtype in (np.float64, np.float32):
    dn = np.dtype(dtype).name
    tol = TOL[dtype]
    # ------------------------------------------------- 1. BCE from logits, (5, 97)
    logits = (rng.standard_normal((5, 97)) * 5).astype(dtype)
    logits[0, :3] = [1e4, -1e4, 0.0]                  # exp would overflow naively
    x_wide = rng.uniform(0, 1, (5, 2 * 97)).astype(dtype)
    x, x_dev = x_wide[:, ::2], cuda.to_device(x_wide)[:, ::2]   # a strided device view
    rows_ref, dl_ref = F.bce_logits_reference(logits.astype(np.float64), x.astype(np.float64), 1 / 5)
    for launch, kw in LAUNCHES.items():
        rows, dl = F.bce_logits(logits, x_dev, 1 / 5, **kw)
        rec(f"bce_{dn}_{launch}", (rows, rows_ref), (dl, dl_ref), tol=tol)
        out[f"bce_{dn}_{launch}_dtype_ok"] = dl.dtype == dtype and rows.dtype == np.float64
    again = F.bce_logits(logits, x_dev, 1 / 5, **kw)        # the "strided" launch again
    out[f"bce_{dn}_bitwise_repeatable"] = bool(np.array_equal(rows, again[0])
                                               and np.array_equal(dl, again[1]))

    # ------------------------- 2. reparameterization and KL, halves of (13, 2·29)
    N, L = 13, 29                                      # 377 elements: not a block multiple
    h = (rng.standard_normal((N, 2 * L)) * 1.5).astype(dtype)
    h[0, L:L + 2] = [1e-9, -1e-9]                      # expm1 territory: KL ~ 1e-18
    mu, logvar = h[:, :L], h[:, L:]
    h_dev = cuda.to_device(h)
    mu_dev, lv_dev = h_dev[:, :L], h_dev[:, L:]        # strided device views, as in the VAE
    eps = rng.standard_normal((N, L)).astype(dtype)
    dz = rng.standard_normal((N, L)).astype(dtype)
    z_ref, std_ref = F.reparameterize_reference(mu.astype(np.float64), logvar.astype(np.float64), eps)
    _, dlv_ref = F.reparameterize_backward_reference(dz.astype(np.float64), eps, std_ref)
    kl_ref, dmu_kl_ref, dlv_kl_ref = F.kl_standard_normal_reference(
        mu.astype(np.float64), logvar.astype(np.float64), 1 / N)
    for launch, kw in {"default": {}, "strided": {"threads": 64, "blocks": 3}}.items():
        z, std = F.reparameterize(mu_dev, lv_dev, eps, **kw)
        rec(f"reparam_{dn}_{launch}", (z, z_ref), (std, std_ref), tol=tol)
        dmu, dlv = F.reparameterize_backward(dz, eps, std, **kw)
        out[f"reparam_backward_{dn}_{launch}_dmu_is_dz"] = dmu is dz
        rec(f"reparam_backward_{dn}_{launch}", (dlv, dlv_ref), tol=tol)
    for launch, kw in {"default": {}, "strided": {"threads": 8, "blocks": 3}}.items():
        rows, dmu, dlv = F.kl_standard_normal(mu_dev, lv_dev, 1 / N, **kw)
        rec(f"kl_{dn}_{launch}", (rows, kl_ref), (dmu, dmu_kl_ref), (dlv, dlv_kl_ref), tol=tol)
        out[f"kl_{dn}_{launch}_nonnegative"] = bool((rows >= 0).all())
        if dtype == np.float64:           # row 0 holds the two ~1e-18 terms: elementwise check
            out[f"kl_expm1_row_{launch}"] = [abs(rows[0] / kl_ref[0] - 1), 1e-14]

    # --------------------------------------- 3. Adam, (31, 17) = 527 elements, 5 steps
    for wd in (0.0, 0.01):
        p = rng.standard_normal((31, 17)).astype(dtype)
        m, v = np.zeros_like(p), np.zeros_like(p)
        ref = [p.copy(), m.copy(), v.copy()]                 # optim/adam.py's NumPy math
        cpu = [p.copy(), m.copy(), v.copy()]                 # the CPU kernel's body, as Python
        ok = True
        for t in range(1, 6):
            g = rng.standard_normal(p.shape).astype(dtype)
            args = (1e-2, 0.9, 0.999, 1e-8, 1 - 0.9 ** t, 1 - 0.999 ** t, wd)
            ok &= F.adam_update(p, g, m, v, *args, threads=64, blocks=3) is p
            F.adam_update_reference(ref[0], g, ref[1], ref[2], *args)
            E._adam_py(*(a.reshape(-1) for a in (cpu[0], g, cpu[1], cpu[2])),
                       *E.adam_constants(p.dtype, *args))
        out[f"adam_{dn}_wd{wd}_launched"] = bool(ok)
        rec(f"adam_{dn}_wd{wd}_vs_reference", *zip((p, m, v), ref), tol=tol)
        rec(f"adam_{dn}_wd{wd}_vs_cpu_kernel", *zip((p, m, v), cpu), tol=tol)

# ------------------------------------------------------------ the library's dispatch
# The gateway's backend.path_of() says "cuda" only for CuPy arrays; here it is replaced by
# one that says so for C-contiguous NumPy arrays (the simulator copies host arrays whole,
# so it refuses strided ones -- the VAE's μ/logvar halves then take the fallback), with the
# registry's CUDA C entries (GEMM, im2col/col2im: CuPy RawKernels) removed, so the
# distributions' and Adam's ops run the simulated fused kernels through backend.KERNELS.
# It is compared with the same calls on the NumPy path (CPU kernels off in both).
from scratchvae import backend
from scratchvae.distributions import bernoulli_nll, kl_standard_normal, reparam
from scratchvae.models import VAE
from scratchvae.optim import Adam
backend.set_cpu_kernels("numpy")
for op in ("matmul", "im2col_nhwc", "col2im_nhwc"):
    backend.KERNELS[op].pop("cuda")
real_path_of = backend.path_of
def numpy_as_device(*args):
    arrays = [a for a in args if hasattr(a, "dtype")]
    ok = (arrays and all(type(a) is np.ndarray and a.flags.c_contiguous for a in arrays)
          and len({a.dtype for a in arrays}) == 1 and arrays[0].dtype in (np.float32, np.float64))
    return "cuda" if ok else "numpy"
calls = {}
def counted(name, fn):
    def wrapper(*args, **kwargs):
        calls[name] = calls.get(name, 0) + 1
        return fn(*args, **kwargs)
    return wrapper
for name in ("bce_logits", "kl_standard_normal", "reparameterize", "reparameterize_backward",
             "adam_update"):
    setattr(F, name, counted(name, getattr(F, name)))
def dispatch(on):
    backend.path_of = numpy_as_device if on else real_path_of
def vae_run():
    model = VAE(input_dim=12, hidden=(8,), latent_dim=2, seed=0, dtype=np.float64)
    opt = Adam(model.parameters(), lr=1e-2, weight_decay=0.01)
    x = np.random.default_rng(5).uniform(0, 1, (6, 12))
    losses = []
    for _ in range(2):                               # ε from model.rng: the same in both runs
        model.zero_grad()
        r = model.loss_and_grads(x)
        losses.append([r["loss"], r["recon"], r["kl"]])
        opt.step()
    return losses, model.state_dict()
logits, x = rng.standard_normal((5, 40)), rng.uniform(0, 1, (5, 40))
mu, logvar = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
for on in (True, False):
    dispatch(on)
    res = {r: (bernoulli_nll(logits, x, r), kl_standard_normal(mu, logvar, r))
           for r in ("mean", "sum", "none")}
    z, cache = reparam.reparameterize_forward(mu, logvar, eps=logits[:, :3].copy())
    res["reparam"] = (z, cache[1]) + reparam.reparameterize_backward(x[:, :3].copy(), cache)
    res["vae"] = vae_run()
    if on:
        fused_res = res
        out["dispatch_reached_every_kernel"] = len(calls) == 5
        # 3 reductions + 1 direct call, then 2 VAE steps; the VAE's μ/logvar are strided views,
        # so its reparameterize and KL fall back here (not on CuPy); 8 parameters × 2 steps
        out["dispatch_counts_as_expected"] = calls == {
            "bce_logits": 3 + 2, "kl_standard_normal": 3, "reparameterize": 1,
            "reparameterize_backward": 1 + 2, "adam_update": 8 * 2}
for r in ("mean", "sum", "none"):
    (l1, d1), (k1, g1) = fused_res[r]
    (l0, d0), (k0, g0) = res[r]
    rec(f"dispatch_bce_{r}", (l1, l0), (d1["logits"], d0["logits"]), tol=1e-14)
    rec(f"dispatch_kl_{r}", (k1, k0), (g1["mu"], g0["mu"]), (g1["logvar"], g0["logvar"]),
        tol=1e-14)
    out[f"dispatch_{r}_shapes_ok"] = np.shape(l1) == np.shape(l0) and np.shape(k1) == np.shape(k0)
rec("dispatch_reparam", *zip(fused_res["reparam"], res["reparam"]), tol=1e-14)
(loss1, sd1), (loss0, sd0) = fused_res["vae"], res["vae"]
rec("dispatch_vae_two_adam_steps", (loss1, loss0), *((sd1[k], sd0[k]) for k in sd0), tol=1e-13)
out["dispatch_vae_loss_moved"] = loss0[1][0] != loss0[0][0]

# ---------------------------------------------------------------- refusals
a = np.ones((4, 6))
out["refuse_mixed_dtypes"] = F.bce_logits(a, a.astype(np.float32), 1.0) is None
out["refuse_wrong_rank"] = F.kl_standard_normal(a.ravel(), a.ravel(), 1.0) is None
out["refuse_shape_mismatch"] = F.reparameterize(a, a, a[:, :3]) is None
out["refuse_gapped_adam"] = F.adam_update(a[:, ::2], a[:, ::2], a[:, ::2], a[:, ::2],
                                          1e-3, .9, .999, 1e-8, .1, .001, 0.0) is None
try:
    F.bce_logits(a, a, 1.0, threads=48)
    out["non_power_of_two_block_raises"] = False
except ValueError:
    out["non_power_of_two_block_raises"] = True
print("JSON" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def summary():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"the simulator run failed:\n{proc.stderr[-3000:]}"
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("JSON")]
    assert line, f"no JSON summary in the output:\n{proc.stdout[-2000:]}"
    return json.loads(line[-1][4:])


def test_every_kernel_matches_its_reference(summary):
    errors = {k: v for k, v in summary.items() if isinstance(v, list)}
    assert len(errors) == 34      # per dtype 2 BCE, 4 reparam, 2 KL, 4 Adam; 2 expm1 rows;
    #                               8 through the library's dispatch
    bad = {k: v for k, v in errors.items() if not v[0] <= v[1]}
    assert not bad, f"max relative error above tolerance [err, tol]: {bad}"


def test_flags_hold(summary):
    flags = {k: v for k, v in summary.items() if not isinstance(v, list)}
    assert len(flags) == 29       # per dtype 5 BCE, 2 reparam, 2 KL, 2 Adam; 6 dispatch;
    #                               5 refusals
    assert all(flags.values()), sorted(k for k, v in flags.items() if not v)


PLANTED = """
@cuda.jit(device=True)
def _lossy_tree_sum(buf, tid):      # planted bug: stops one halving early, drops buf[1]
    cuda.syncthreads()
    step = cuda.blockDim.x // 2
    while step > 1:
        if tid < step:
            buf[tid] += buf[tid + step]
        cuda.syncthreads()
        step //= 2
F._block_tree_sum = _lossy_tree_sum
"""


def test_simulator_catches_a_planted_bug():
    """The harness can fail: a block reduction that drops a partial sum is reported."""
    code = SCRIPT.split("# ------------------------------------------------------------ the library's dispatch")[0]
    code = code.replace("from kernels import elementwise as E", "from kernels import elementwise as E\n" + PLANTED)
    code = code.replace("for dtype in (np.float64, np.float32):", "for dtype in (np.float64,):")
    code += "\nprint('JSON' + json.dumps(out))\n"
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("JSON")][-1][4:])
    for name in ("bce_float64_default", "bce_float64_strided", "kl_float64_default"):
        assert res[name][0] > 1e-3, (name, res[name])          # the row sums are wrong
    assert res["reparam_float64_default"][0] <= 1e-14          # elementwise kernels unaffected
    assert res["adam_float64_wd0.01_vs_cpu_kernel"][0] <= 1e-14


def test_without_a_gpu_or_simulator_the_launchers_refuse_and_warn_once():
    """No simulator, no GPU: the toolchain probe fails, one RuntimeWarning names the cause,
    and every launcher returns its 'not here' answer, so callers fall back to CuPy code."""
    code = r"""
import warnings, numpy as np
from numba import cuda
if cuda.is_available():
    print("SKIP: a CUDA GPU is visible"); raise SystemExit
from kernels.cuda import fused as F
a = np.ones((3, 4))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    results = [F.bce_logits(a, a, 1.0), F.kl_standard_normal(a, a, 1.0),
               F.reparameterize(a, a, a), F.reparameterize_backward(a, a, a),
               F.adam_update(a, a, a, a, 1e-3, .9, .999, 1e-8, .1, .001, 0.0)]
msgs = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
assert results == [None] * 5, results
assert len(msgs) == 1 and "numba.cuda cannot launch kernels here" in msgs[0], msgs
print("OK")
"""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if proc.stdout.startswith("SKIP"):
        pytest.skip(proc.stdout.strip()[6:])
    assert proc.stdout.strip() == "OK"
