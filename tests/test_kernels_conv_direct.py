"""kernels/conv_direct.py: the direct convolution (forward, input gradient, weight gradient)
against the loop oracles and the im2col path, on the conv test grid with channel counts at
which the kernels run; where they decline; determinism; the layers' gradient checks
through them.

The grid is test_conv.py's: kernel 1/3/4/5 × stride 1/2 × padding 0/1/2, every
combination once, with (C, F) pairs of 16 or more channels (the kernel declines below
NR/2 = 16 output channels) dealt out over them, including widths that end in a half
tile (17, 33, 40, 70) and pixel counts that are not multiples of MR = 6.
"""
import itertools

import numpy as np
import pytest

from kernels.conv_direct import (MIN_CHANNELS, _pad_nhwc, conv2d_direct,
                                 conv2d_input_grad_direct, conv2d_weight_grad_direct,
                                 direct_conv_reference)
from kernels.gemm_tiles import MR
from scratchvae import backend
from scratchvae.functional.conv import (conv2d_input_grad_nhwc, conv2d_nhwc,
                                        conv2d_weight_grad_nhwc)
from scratchvae.functional.conv_reference import conv2d_naive, conv_transpose2d_naive
from scratchvae.functional.patches import conv2d_output_shape
from scratchvae.gradcheck import check_module
from scratchvae.nn.conv import Conv2d, ConvTranspose2d

RTOL = 1e-6
EPS32 = np.finfo(np.float32).eps
SIZES = ((7, 9), (9, 7), (12, 10))
CHANNELS = ((16, 16), (16, 40), (20, 33), (17, 70))
GRID = []
_deal = np.random.default_rng(7)
_combos = list(itertools.product((1, 3, 4, 5), (1, 2), (0, 1, 2)))
for (k, s, p), i_size, i_ch, N in zip(_combos, _deal.permutation(np.arange(24) % 3),
                                      _deal.permutation(np.arange(24) % 4),
                                      _deal.permutation(np.arange(24) % 2) + 1):
    (H, W), (C, F) = SIZES[i_size], CHANNELS[i_ch]
    if H + 2 * p >= k and W + 2 * p >= k:
        GRID.append(pytest.param(dict(N=int(N), C=C, F=F, H=H, W=W, k=k, s=s, p=p),
                                 id=f"N{N}-C{C}-F{F}-{H}x{W}-k{k}-s{s}-p{p}"))


def _operands(c, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((c["N"], c["C"], c["H"], c["W"])).astype(dtype)
    W = rng.standard_normal((c["F"], c["C"], c["k"], c["k"])).astype(dtype)
    b = rng.standard_normal(c["F"]).astype(dtype)
    return x, W, b


def _nhwc(a):
    return a.transpose(0, 2, 3, 1)


@pytest.mark.parametrize("case", GRID)
def test_forward_matches_the_loop_oracle_and_the_im2col_path(case):
    c = case
    x, W, b = _operands(c, np.float64)
    y = conv2d_direct(_nhwc(x), W, b, c["s"], c["s"], c["p"], c["p"])
    assert y is not None and y.flags.c_contiguous
    naive = conv2d_naive(x, W, b, c["s"], c["p"])
    np.testing.assert_allclose(y.transpose(0, 3, 1, 2), naive, rtol=1e-12, atol=1e-12)
    im2col_path = conv2d_nhwc.reference(_nhwc(x), W, b, c["s"], c["s"], c["p"], c["p"])
    np.testing.assert_allclose(y, im2col_path, rtol=1e-12, atol=1e-12)
    # float32: within the round-off bound of a sum of C·k² products
    x32, W32, b32 = (a.astype(np.float32) for a in (x, W, b))
    y32 = conv2d_direct(_nhwc(x32), W32, b32, c["s"], c["s"], c["p"], c["p"])
    bound = (c["C"] * c["k"] ** 2 + 2) * EPS32 * conv2d_naive(
        np.abs(x), np.abs(W), np.abs(b), c["s"], c["p"])
    assert y32.dtype == np.float32
    assert np.all(np.abs(y32.transpose(0, 3, 1, 2) - naive) <= bound)


@pytest.mark.parametrize("case", GRID)
def test_input_gradient_matches_the_transposed_conv_oracle_and_the_col2im_path(case):
    c = case
    _, W, _ = _operands(c, np.float64)
    OH, OW = conv2d_output_shape(c["H"], c["W"], c["k"], c["s"], c["p"])
    dy = np.random.default_rng(1).standard_normal((c["N"], OH, OW, c["F"]))
    dx = conv2d_input_grad_direct(dy, W, c["H"], c["W"], c["s"], c["s"], c["p"], c["p"])
    if c["k"] % c["s"]:                  # phases of unequal size: the col2im path's case
        assert dx is None
        return
    assert dx is not None and dx.shape == (c["N"], c["H"], c["W"], c["C"])
    # dx of a conv = the transposed conv of dy, whose output_padding restores H and W
    op = tuple((n + 2 * c["p"] - c["k"]) % c["s"] for n in (c["H"], c["W"]))
    naive = conv_transpose2d_naive(dy.transpose(0, 3, 1, 2), W, None, c["s"], c["p"], op)
    np.testing.assert_allclose(dx.transpose(0, 3, 1, 2), naive, rtol=1e-12, atol=1e-12)
    ref = conv2d_input_grad_nhwc.reference(dy, W, c["H"], c["W"], c["s"], c["s"], c["p"], c["p"])
    np.testing.assert_allclose(dx, ref, rtol=1e-12, atol=1e-12)
    dx32 = conv2d_input_grad_direct(dy.astype(np.float32), W.astype(np.float32), c["H"], c["W"],
                                    c["s"], c["s"], c["p"], c["p"])
    bound = (c["F"] * c["k"] ** 2 + 2) * EPS32 * conv_transpose2d_naive(
        np.abs(dy.transpose(0, 3, 1, 2)), np.abs(W), None, c["s"], c["p"], op)
    assert np.all(np.abs(dx32.transpose(0, 3, 1, 2) - naive) <= bound)


def _weight_grad_naive(x, dy, k, s, p):
    """dW[f, c, kh, kw] = Σ_{n,i,j} dy[n, i, j, f] · x_pad[n, i·s + kh, j·s + kw, c], as loops
    over the kernel offsets (NHWC operands)."""
    N, OH, OW, F = dy.shape
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    dW = np.zeros((F, x.shape[3], k, k))
    for kh in range(k):
        for kw in range(k):
            win = xp[:, kh:kh + s * (OH - 1) + 1:s, kw:kw + s * (OW - 1) + 1:s, :]  # (N,OH,OW,C)
            dW[:, :, kh, kw] = np.einsum("nijf,nijc->fc", dy, win)
    return dW


@pytest.mark.parametrize("case", GRID)
def test_weight_gradient_matches_the_loop_oracle_and_the_im2col_path(case):
    c = case
    x, _, _ = _operands(c, np.float64)
    OH, OW = conv2d_output_shape(c["H"], c["W"], c["k"], c["s"], c["p"])
    dy = np.random.default_rng(2).standard_normal((c["N"], OH, OW, c["F"]))
    dW = conv2d_weight_grad_direct(_nhwc(x), dy, c["k"], c["k"], c["s"], c["s"], c["p"], c["p"])
    assert dW is not None and dW.shape == (c["F"], c["C"], c["k"], c["k"])
    naive = _weight_grad_naive(_nhwc(x), dy, c["k"], c["s"], c["p"])
    np.testing.assert_allclose(dW, naive, rtol=1e-12, atol=1e-12)
    ref = conv2d_weight_grad_nhwc.reference(_nhwc(x), dy, c["k"], c["k"], c["s"], c["s"],
                                            c["p"], c["p"])
    np.testing.assert_allclose(dW, ref, rtol=1e-12, atol=1e-12)
    dW32 = conv2d_weight_grad_direct(_nhwc(x).astype(np.float32), dy.astype(np.float32),
                                     c["k"], c["k"], c["s"], c["s"], c["p"], c["p"])
    bound = (c["N"] * OH * OW + 2) * EPS32 * _weight_grad_naive(
        np.abs(_nhwc(x)), np.abs(dy), c["k"], c["s"], c["p"])
    assert dW32.dtype == np.float32 and np.all(np.abs(dW32 - naive) <= bound)


def test_the_kernel_contract_against_its_loop_nest():
    # a generic geometry (not a convolution): windows of 3 runs of 20 values
    rng = np.random.default_rng(2)
    x = rng.standard_normal(5000)
    Wk = rng.standard_normal((3 * 20, 37))
    bias = rng.standard_normal(37)
    # 40 output rows (not a multiple of MR), each 37 values in a slot of 111
    geom_in, geom_out = (1200, 130, 21, 7, 300), (4 * 5 * 111, 5 * 111, 111, 5)
    out = np.full(2 * 4 * 5 * 111 + 10, np.nan)
    ref = out.copy()
    from kernels.conv_direct import _run
    _run(x, geom_in, 3, 20, (2, 4, 5), Wk, out, geom_out, bias)
    direct_conv_reference(x, *geom_in, 3, 20, 2, 4, 5, Wk, ref, *geom_out, bias)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)   # NaN where never written


def test_it_declines_where_the_im2col_path_is_the_right_one():
    x = np.ones((2, 9, 9, 16), np.float32)
    W = np.ones((16, 16, 4, 4), np.float32)
    assert conv2d_direct(x, W, None, 2, 2, 1, 1) is not None
    assert conv2d_direct(x[..., :1], W[:, :1], None, 2, 2, 1, 1) is None     # KW·C = 4
    assert conv2d_direct(x, W[:MIN_CHANNELS - 1], None, 2, 2, 1, 1) is None  # F = 15
    assert conv2d_direct(x.astype(np.float64), W, None, 2, 2, 1, 1) is None  # mixed dtypes
    assert conv2d_direct(x[:1, :2, :2], W[:, :, :2, :2], None, 1, 1, 0, 0) is None  # < MR px
    dy = np.ones((2, 5, 5, 16), np.float32)
    assert conv2d_input_grad_direct(dy, W, 9, 9, 2, 2, 1, 1) is not None
    assert conv2d_input_grad_direct(dy, W[:, :, :3, :3], 9, 9, 2, 2, 1, 1) is None   # 3 % 2
    assert conv2d_input_grad_direct(dy, W[:, :1], 9, 9, 2, 2, 1, 1) is None          # C = 1


def test_weight_gradient_declines_and_repeats_to_the_bit():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 14, 14, 32)).astype(np.float32)
    dy = rng.standard_normal((8, 7, 7, 64)).astype(np.float32)
    a = conv2d_weight_grad_direct(x, dy, 4, 4, 2, 2, 1, 1)
    np.testing.assert_array_equal(a, conv2d_weight_grad_direct(x, dy, 4, 4, 2, 2, 1, 1))
    assert conv2d_weight_grad_direct(x[..., :1], dy, 4, 4, 2, 2, 1, 1) is None     # KW·C = 4
    assert conv2d_weight_grad_direct(x, dy[..., :MR - 1], 4, 4, 2, 2, 1, 1) is None  # F < MR
    assert conv2d_weight_grad_direct(x, dy[:, :6], 4, 4, 2, 2, 1, 1) is None       # wrong grid
    assert conv2d_weight_grad_direct(x, dy.astype(np.float64), 4, 4, 2, 2, 1, 1) is None


def test_results_are_the_same_bits_every_run_and_for_any_thread_count():
    import numba
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 14, 14, 32)).astype(np.float32)
    W = rng.standard_normal((64, 32, 4, 4)).astype(np.float32)
    dy = rng.standard_normal((8, 7, 7, 64)).astype(np.float32)
    before = numba.get_num_threads()
    outs = []
    try:
        for threads in (1, before):
            numba.set_num_threads(threads)
            outs.append((conv2d_direct(x, W, None, 2, 2, 1, 1),
                         conv2d_input_grad_direct(dy, W, 14, 14, 2, 2, 1, 1)))
    finally:
        numba.set_num_threads(before)
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)


def test_task_count_follows_the_l2_and_never_changes_a_result(monkeypatch):
    """Tasks: one below the flop threshold, ≥ one per thread, a task's input share within
    TASK_BYTES, a multiple of the threads; and the same bits for any task count."""
    import kernels.conv_direct as cd
    assert cd.task_count(10 * cd.TASK_BYTES, cd.DIRECT_MIN_FLOPS - 1, 2) == 1
    assert cd.task_count(cd.TASK_BYTES // 2, cd.DIRECT_MIN_FLOPS, 2) == 2
    assert cd.task_count(7 * cd.TASK_BYTES + 1, cd.DIRECT_MIN_FLOPS, 1) == 8
    assert cd.task_count(7 * cd.TASK_BYTES + 1, cd.DIRECT_MIN_FLOPS, 3) == 9
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 14, 14, 32)).astype(np.float32)
    W = rng.standard_normal((64, 32, 4, 4)).astype(np.float32)
    dy = rng.standard_normal((16, 7, 7, 64)).astype(np.float32)
    outs = []
    for tasks in (1, 3, 7):
        monkeypatch.setattr(cd, "task_count", lambda nbytes, flops, threads, n=tasks: n)
        outs.append((conv2d_direct(x, W, None, 2, 2, 1, 1),
                     conv2d_input_grad_direct(dy, W, 14, 14, 2, 2, 1, 1)))
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            np.testing.assert_array_equal(a, b)


def test_padding_kernel_matches_numpy_pad_and_reuses_its_buffer():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 5, 4)).transpose(0, 2, 3, 1)  # strided
    xp = _pad_nhwc(x, 1, 2, 3, 0)
    np.testing.assert_array_equal(xp, np.pad(x, ((0, 0), (1, 2), (3, 0), (0, 0))))
    x2 = rng.standard_normal(x.shape)
    xp2 = _pad_nhwc(x2, 1, 2, 3, 0)                 # same shape: the same scratch buffer,
    assert xp2 is xp                                # every element rewritten
    np.testing.assert_array_equal(xp2, np.pad(x2, ((0, 0), (1, 2), (3, 0), (0, 0))))


def test_the_gateway_runs_it_on_the_numba_path(monkeypatch):
    calls = []
    real = backend.kernel

    def spy(op, *args):
        fn = real(op, *args)
        if op.startswith("conv2d_") and fn is not None:
            calls.append(op)
        return fn
    monkeypatch.setattr(backend, "kernel", spy)
    layer = Conv2d(16, 32, 4, 2, 1, rng=0)
    y = layer.forward(np.ones((2, 16, 8, 8), np.float32))
    layer.backward(np.ones(y.shape, np.float32))
    assert calls == ["conv2d_nhwc", "conv2d_weight_grad_nhwc", "conv2d_input_grad_nhwc"]


# ------------------------------------------------------------------ gradient checks
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("k,s,p", [(4, 2, 1), (3, 1, 1)])
def test_layers_pass_gradcheck_through_the_direct_kernels(transposed, k, s, p):
    rng = np.random.default_rng(5)
    cls = ConvTranspose2d if transposed else Conv2d
    layer = cls(16, 17, k, s, p, rng=rng).astype(np.float64)
    x = rng.standard_normal((2, 16, 5, 6))
    report = check_module(layer, x, rtol=RTOL, mode="sampled", n_samples=20)
    assert {r.name for r in report.results} == {"x", "W", "b"}
    assert report.passed, str(report)
