"""kernels/elementwise.py: the fused ReLU, gate, BCE-from-logits and Adam kernels against
their NumPy references, the layout helper, and the library's two CPU paths agreeing."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kernels.elementwise import (adam_update, adam_update_reference, bce_logits,
                                 bce_logits_reference, flat_views, gate_backward,
                                 gate_backward_reference, gate_forward, gate_forward_reference,
                                 relu_backward, relu_backward_reference, relu_forward,
                                 relu_forward_reference)
from scratchvae.backend import use_cpu_kernels
from scratchvae.distributions import bernoulli_nll
from scratchvae.optim import Adam

REPO = Path(__file__).resolve().parents[1]
DTYPES = [np.float32, np.float64]


def test_flat_views_follow_memory_order():
    a = np.arange(24.0).reshape(2, 3, 4)
    nhwc = np.arange(24.0).reshape(2, 4, 3).transpose(0, 2, 1)     # same shape, other order
    assert flat_views(a, a.copy()) is not None
    assert flat_views(a, nhwc) is None                               # orders differ
    v = flat_views(nhwc, np.empty_like(nhwc))                         # empty_like keeps order
    assert v is not None and np.shares_memory(v[0], nhwc)
    assert flat_views(a[:, :, ::2]) is None                           # gaps
    assert flat_views(np.broadcast_to(np.ones(4), (3, 4))) is None    # stride 0
    assert flat_views(a, a[:, :2]) is None                            # shapes differ
    one = np.ones((1, 3, 4))
    assert flat_views(one, np.ones((1, 4, 3)).transpose(0, 2, 1)) is None
    assert flat_views(one, one[:, :, :]) is not None                 # size-1 axes don't count


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_matches_reference_and_keeps_nan(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4, 3, 6)).astype(dtype).transpose(0, 3, 1, 2)   # NCHW view
    x[0, 0, 0, 0], x[1, 1, 1, 1] = np.nan, -np.inf
    y, mask = relu_forward(x)
    with np.errstate(invalid="ignore"):                              # -inf·0 in the reference
        y_ref, mask_ref = relu_forward_reference(x)
    np.testing.assert_array_equal(y, y_ref)                          # NaN where NumPy has NaN
    np.testing.assert_array_equal(mask, mask_ref)
    assert y.strides == x.strides                                    # x's memory order kept
    dy = np.empty_like(x)
    dy[...] = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(relu_backward(dy, mask), relu_backward_reference(dy, mask))
    dy_c = np.ascontiguousarray(dy)                                  # another memory order:
    dx = relu_backward(dy_c, mask)                                   # the strided pass
    np.testing.assert_array_equal(dx, relu_backward_reference(dy_c, mask))
    assert dx.strides == dy_c.strides                                # dy's order kept
    assert relu_backward(dy_c[:, :, ::2], mask[:, :, ::2]) is None   # gaps: the reference


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_logits_matches_reference_even_for_huge_logits(dtype):
    rng = np.random.default_rng(1)
    logits = (rng.standard_normal((7, 33)) * 5).astype(dtype)
    logits[0, :3] = [1e4, -1e4, 0.0]                                 # exp would overflow naively
    x = rng.uniform(0, 1, logits.shape).astype(dtype)
    rows, dl = bce_logits(logits, x, 1 / 7)
    rows_ref, dl_ref = bce_logits_reference(logits.astype(np.float64), x.astype(np.float64), 1 / 7)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(rows, rows_ref, rtol=tol)
    np.testing.assert_allclose(dl, dl_ref, rtol=tol, atol=tol / 7)
    assert dl.dtype == dtype and np.all(np.isfinite(rows))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_kernel_matches_reference_over_steps(dtype, weight_decay):
    rng = np.random.default_rng(2)
    p = rng.standard_normal((31, 17)).astype(dtype)
    p_ref, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
    m_ref, v_ref = m.copy(), v.copy()
    for t in range(1, 6):
        g = rng.standard_normal(p.shape).astype(dtype)
        args = (1e-2, 0.9, 0.999, 1e-8, 1 - 0.9 ** t, 1 - 0.999 ** t, weight_decay)
        assert adam_update(p, g, m, v, *args) is p           # done, in place
        adam_update_reference(p_ref, g, m_ref, v_ref, *args)
    for a, r in ((p, p_ref), (m, m_ref), (v, v_ref)):     # the same operations, in p's dtype
        np.testing.assert_array_equal(a, r)
        assert a.dtype == dtype
    assert adam_update(p[:, ::2], g[:, ::2], m[:, ::2], v[:, ::2], *args) is None   # gaps: refuse
    assert adam_update(p, g.astype(np.float16), m, v, *args) is None               # mixed dtypes


def test_adam_computes_in_the_parameters_dtype():
    # a float32 update computed in float64 and rounded once differs from one computed in
    # float32 in the last bits: these inputs tell the two apart
    rng = np.random.default_rng(4)
    p = rng.standard_normal(4096).astype(np.float32)
    g = rng.standard_normal(p.shape).astype(np.float32)
    m = rng.standard_normal(p.shape).astype(np.float32) * 0.1
    v = rng.uniform(0.1, 1, p.shape).astype(np.float32)
    args = (1e-2, 0.9, 0.999, 1e-8, 1 - 0.9 ** 3, 1 - 0.999 ** 3, 0.0)
    wide = [a.astype(np.float64) for a in (p, g, m, v)]
    adam_update_reference(*wide, *args)
    adam_update(p, g, m, v, *args)
    assert not np.array_equal(p, wide[0].astype(np.float32))
    np.testing.assert_allclose(p, wide[0], rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["rows", "nchw_view_of_nhwc"])
def test_gate_kernels_match_their_references_to_the_last_bit(dtype, layout):
    rng = np.random.default_rng(5)
    shape = (3, 5, 4, 6)

    def make(scale=1.0):
        v = (rng.standard_normal((3, 4, 6, 5)) * scale).astype(dtype)
        return v.transpose(0, 3, 1, 2) if layout != "rows" else v.reshape(shape)

    a, p, dh = make(), make(30.0), make()          # |p| up to ~100: both σ branches, e → 0
    p[0, 0, 0, :3] = [0.0, -0.0, np.nan]
    h, (a_out, g) = gate_forward(a, p)
    h_ref, g_ref = gate_forward_reference(a, p)
    assert a_out is a and h.dtype == g.dtype == dtype
    np.testing.assert_array_equal(h, h_ref)           # NaN stays NaN in both
    np.testing.assert_array_equal(g, g_ref)
    assert np.all((g[np.isfinite(g)] >= 0) & (g[np.isfinite(g)] <= 1))
    da, dp = gate_backward(dh, a, g)
    da_ref, dp_ref = gate_backward_reference(dh, a, g)
    np.testing.assert_array_equal(da, da_ref)
    np.testing.assert_array_equal(dp, dp_ref)
    assert gate_forward(a, p.astype(np.float16)) is None               # mixed dtypes: refuse
    assert gate_backward(dh[..., ::2], a[..., ::2], g[..., ::2]) is None   # gaps: refuse


def test_gate_reference_is_the_librarys_numpy_path():
    from scratchvae.functional.gated import gate_backward as lib_backward
    from scratchvae.functional.gated import gate_forward as lib_forward
    rng = np.random.default_rng(6)
    a, p, dh = (rng.standard_normal((7, 9)).astype(np.float32) * s for s in (1, 20, 1))
    from scratchvae.backend import kernel
    with use_cpu_kernels("numba"):                  # the Numba path does run the kernels
        assert kernel("gate_forward", a, p) is gate_forward
        assert kernel("gate_backward", dh, a, a) is gate_backward
    out = {}
    for path in ("numba", "numpy"):
        with use_cpu_kernels(path):
            h, cache = lib_forward(a, p)
            out[path] = (h, cache[1], *lib_backward(dh, cache))
    for x, y, ref in zip(out["numba"], out["numpy"],
                         (*gate_forward_reference(a, p),
                          *gate_backward_reference(dh, a, gate_forward_reference(a, p)[1]))):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, ref)


def test_library_paths_agree_for_adam_and_bce():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((6, 20)).astype(np.float32)
    x = rng.uniform(0, 1, logits.shape).astype(np.float32)
    out = {}
    for path in ("numba", "numpy"):
        with use_cpu_kernels(path):
            for reduction in ("mean", "sum", "none"):
                loss, grads = bernoulli_nll(logits, x, reduction)
                out[path, reduction] = (loss, grads["logits"])
            p = rng.standard_normal((5, 4)).astype(np.float32) * 0 + 1
            g = np.zeros_like(p)
            opt = Adam([("p", p, g)], lr=1e-2, weight_decay=0.1)
            for step in range(3):
                g[...] = np.random.default_rng(step).standard_normal(p.shape)
                opt.step()
            out[path, "adam"] = p
    for key in ("mean", "sum", "none"):
        for a, b in zip(out["numba", key], out["numpy", key]):
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)
    np.testing.assert_array_equal(out["numba", "adam"], out["numpy", "adam"])


def test_python_fallback_runs_without_jit():
    code = """
import numba, numpy as np
assert numba.config.DISABLE_JIT
from kernels import elementwise as k
assert k._adam is k._adam_py and k._relu_forward is k._relu_forward_py
x = np.random.default_rng(0).standard_normal((4, 5))
y, m = k.relu_forward(x)
assert np.array_equal(y, k.relu_forward_reference(x)[0])
r, d = k.bce_logits(x, (x > 0).astype(float), 0.25)
r2, d2 = k.bce_logits_reference(x, (x > 0).astype(float), 0.25)
assert np.allclose(r, r2) and np.allclose(d, d2)
print("fallback ok")
"""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "fallback ok" in proc.stdout, proc.stderr[-2000:]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("R,F", [(1, 8), (511, 9), (512, 32), (1025, 17), (25088, 32)])
def test_column_sums_match_the_reference_and_ignore_the_thread_count(dtype, R, F):
    import numba
    from kernels.elementwise import column_sums, column_sums_reference
    a = np.random.default_rng(R).standard_normal((R, F)).astype(dtype)
    got = column_sums(a)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, column_sums_reference(a.astype(np.float64)),
                               rtol=tol, atol=tol * np.sqrt(R))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = column_sums(a)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(got, one)                    # fixed blocks: same bits
    assert column_sums(np.concatenate([a, a], axis=1)[:, ::2]) is None   # gaps: reference
    assert column_sums(a[:, :7]) is None                       # few columns: reference


def test_the_vectorised_log1p_is_within_one_float32_rounding_on_the_unit_interval():
    from kernels.elementwise import _log1p_unit_py
    e = np.concatenate([np.linspace(0, 1, 200_001), np.geomspace(1e-45, 1e-3, 2000),
                        [np.float32(1e-38), np.nextafter(np.float32(1), np.float32(0))]])
    exact = np.log1p(e)                                       # float64
    ours = _log1p_unit_py(e)                                  # the kernel's arithmetic
    assert np.all(np.abs(ours - exact) <= 2e-10 * exact)      # the truncation bound
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert np.all(np.abs(ours.astype(np.float32) - exact) <= ulp)   # one float32 rounding
    assert _log1p_unit_py(0.0) == 0.0 and _log1p_unit_py(1e-300) == 1e-300
