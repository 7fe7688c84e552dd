"""kernels/conv.py: the Numba im2col/col2im against their loop-nest references.

Exact equality for the gather (it only copies); round-off for the scatter-add (the
kernel may add a pixel's contributions in another order than the reference). The grid
includes windows that miss the image entirely (padding ≥ kernel): nothing in the
kernels is bounds-checked, so an off-by-one there writes out of bounds.
"""
import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kernels.conv import (col2im_numba, col2im_reference, im2col_numba, im2col_reference,
                          window_grid)
from kernels.errors import KernelShapeError
from scratchvae.nn import Linear, ReLU, Sequential
from scratchvae.nn.conv import Conv2d
from scratchvae.nn.shape import Unflatten

REPO = Path(__file__).resolve().parents[1]

CASES = [  # (N, H, W, C, KH, KW, SH, SW, PH, PW)
    (1, 1, 1, 1, 1, 1, 1, 1, 0, 0),
    (2, 7, 9, 3, 3, 3, 1, 1, 0, 0),
    (3, 7, 9, 1, 4, 4, 2, 2, 1, 1),
    (1, 9, 7, 4, 5, 5, 2, 2, 2, 2),
    (2, 5, 5, 2, 1, 1, 2, 2, 2, 2),     # padding > kernel: border windows miss the image
    (2, 6, 5, 3, 2, 3, 3, 1, 2, 2),     # stride > kernel, rectangular everything
    (2, 8, 8, 5, 3, 2, 1, 2, 0, 1),
    (128, 14, 14, 32, 4, 4, 2, 2, 1, 1),  # the conv VAE's second layer
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_and_col2im_match_references(case, dtype):
    N, H, W, C, KH, KW, SH, SW, PH, PW = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, H, W, C)).astype(dtype)
    cols = im2col_numba(x, KH, KW, SH, SW, PH, PW)
    np.testing.assert_array_equal(cols, im2col_reference(x, KH, KW, SH, SW, PH, PW))
    c = rng.standard_normal(cols.shape).astype(dtype)
    dx = col2im_numba(c, H, W, SH, SW, PH, PW)
    ref = col2im_reference(c.astype(np.float64), H, W, SH, SW, PH, PW)
    # each pixel sums at most KH·KW terms: float32 round-off bound on that sum
    bound = (KH * KW) * np.finfo(dtype).eps * col2im_reference(np.abs(c).astype(np.float64),
                                                              H, W, SH, SW, PH, PW)
    assert dx.dtype == dtype and dx.shape == (N, H, W, C)
    assert np.all(np.abs(dx - ref) <= bound + 1e-300)
    # adjoint: <col2im(c), x> = <c, im2col(x)>, and deterministic
    x64, c64 = x.astype(np.float64), c.astype(np.float64)
    lhs = np.sum(col2im_numba(c64, H, W, SH, SW, PH, PW) * x64)
    assert lhs == pytest.approx(np.sum(c64 * im2col_numba(x64, KH, KW, SH, SW, PH, PW)), rel=1e-12)
    np.testing.assert_array_equal(col2im_numba(c, H, W, SH, SW, PH, PW), dx)


def test_non_contiguous_inputs_and_out_argument():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 9)).transpose(0, 2, 3, 1)          # NHWC view of NCHW
    cols = im2col_numba(x, 3, 3, 2, 2, 1, 1)
    np.testing.assert_array_equal(cols, im2col_reference(np.ascontiguousarray(x), 3, 3, 2, 2, 1, 1))
    out = np.empty_like(cols)
    assert im2col_numba(x, 3, 3, 2, 2, 1, 1, out=out) is out
    strided = np.asfortranarray(cols)                                    # any layout of cols
    np.testing.assert_allclose(col2im_numba(strided, 7, 9, 2, 2, 1, 1),
                               col2im_reference(cols, 7, 9, 2, 2, 1, 1), rtol=1e-12, atol=1e-12)


def test_bad_shapes_raise():
    x = np.zeros((1, 3, 3, 1))
    with pytest.raises(KernelShapeError, match="larger than the padded image"):
        im2col_numba(x, 5, 5, 1, 1, 0, 0)
    with pytest.raises(KernelShapeError, match="out must be"):
        im2col_numba(x, 2, 2, 1, 1, 0, 0, out=np.empty((1, 1, 1, 1, 1, 1)))
    with pytest.raises(KernelShapeError, match="window grid"):
        col2im_numba(np.zeros((1, 2, 2, 2, 2, 1)), 5, 5, 1, 1, 0, 0)
    assert window_grid(28, 28, 4, 4, 2, 2, 1, 1) == (14, 14)


def test_python_fallback_runs_without_jit():
    """NUMBA_DISABLE_JIT=1 runs the kernels' plain Python bodies (minitorch convention)."""
    code = """
import numba, numpy as np
assert numba.config.DISABLE_JIT
from kernels.conv import _im2col, _im2col_py, im2col_numba, im2col_reference, col2im_numba, col2im_reference
assert _im2col is _im2col_py
x = np.random.default_rng(0).standard_normal((2, 5, 6, 3))
c = im2col_numba(x, 3, 2, 2, 1, 1, 2)
assert np.array_equal(c, im2col_reference(x, 3, 2, 2, 1, 1, 2))
assert np.allclose(col2im_numba(c, 5, 6, 2, 1, 1, 2), col2im_reference(c, 5, 6, 2, 1, 1, 2))
print("fallback ok")
"""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "fallback ok" in proc.stdout, proc.stderr[-2000:]


# ------------------------------------------------------- skipping the input gradient
def _grads(net):
    return {name: g.copy() for name, _, g in net.parameters()}


@pytest.mark.parametrize("make,shape", [
    (lambda r: Sequential(Linear(6, 5, rng=r, dtype=np.float64), ReLU(),
                          Linear(5, 3, rng=r, dtype=np.float64)), (4, 6)),
    (lambda r: Sequential(Unflatten((1, 5, 5)), Conv2d(1, 2, 3, 2, 1, rng=r, dtype=np.float64),
                          ReLU()), (3, 25)),
])
def test_sequential_input_grad_false_gives_same_parameter_grads(make, shape):
    """input_grad=False (the input is data) returns None and leaves every dW, db as before."""
    rng = np.random.default_rng(2)
    net = make(rng)
    x = rng.uniform(0.1, 1.0, shape)
    y = net.forward(x)
    dy = rng.standard_normal(y.shape)
    net.zero_grad()
    dx = net.backward(dy)
    full = _grads(net)
    net.zero_grad()
    net.forward(x)
    assert net.backward(dy, input_grad=False) is None
    assert dx is not None and dx.shape == x.shape
    for name, g in _grads(net).items():
        np.testing.assert_array_equal(g, full[name], err_msg=name)
    # the caches were consumed: a second backward must complain, not reuse stale state
    with pytest.raises(RuntimeError, match="without a forward"):
        net.backward(dy, input_grad=False)
