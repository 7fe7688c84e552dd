"""Convolutions: im2col/col2im adjointness, fast paths against the loop oracles over a
grid of shapes, gradient checks over the same grid, PyTorch's output sizes and init,
the layer contract, and clear errors for bad inputs.

The grid: kernel 1/3/4/5 × stride 1/2 × padding 0/1/2 (× output_padding 0/1 where it is
smaller than the stride, for the transposed conv), every combination once; image size
(7×9, 9×7, 28×28), batch (1, 3) and channels (in, out) ∈ {1, 3} × {1, 4} are spread over
those combinations evenly in a fixed-seed shuffled order, so each meets many kernels
and strides.
"""
import itertools

import numpy as np
import pytest

from scratchvae.backend import CPU_KERNELS, use_cpu_kernels
from scratchvae.errors import ShapeError
from scratchvae.functional.conv import (
    conv2d_backward, conv2d_forward, conv_transpose2d_backward, conv_transpose2d_forward,
)
from scratchvae.functional.conv_reference import conv2d_naive, conv_transpose2d_naive
from scratchvae.functional.patches import (
    col2im, conv2d_output_shape, conv_transpose2d_output_shape, im2col,
)
from scratchvae.gradcheck import GradcheckError, check_module
from scratchvae.nn.conv import Conv2d, ConvTranspose2d

RTOL = 1e-6          # the project tolerance for gradient checks; never loosened
EPS32 = np.finfo(np.float32).eps

KERNELS, STRIDES, PADDINGS = (1, 3, 4, 5), (1, 2), (0, 1, 2)
SIZES = ((7, 9), (9, 7), (28, 28))
BATCHES = (1, 3)
CHANNELS = ((1, 1), (1, 4), (3, 1), (3, 4))        # (in, out)


def _grid(transposed):
    """Every (kernel, stride, padding[, output_padding]) once; sizes, batches and channel
    pairs dealt out evenly in a fixed-seed shuffled order. Pytest params, readable ids."""
    out_pads = (0, 1) if transposed else (0,)
    combos = [c for c in itertools.product(KERNELS, STRIDES, PADDINGS, out_pads) if c[3] < c[1]]
    deal = np.random.default_rng(2024 + transposed)
    n = len(combos)
    sizes, batches, channels = (deal.permutation(np.arange(n) % len(v))
                                for v in (SIZES, BATCHES, CHANNELS))
    params = []
    for (k, s, p, op), i_size, i_batch, i_ch in zip(combos, sizes, batches, channels):
        (H, W), N, (C, F) = SIZES[i_size], BATCHES[i_batch], CHANNELS[i_ch]
        case = dict(N=N, C=C, F=F, H=H, W=W, k=k, s=s, p=p, op=op)
        ident = f"N{N}-C{C}-F{F}-{H}x{W}-k{k}-s{s}-p{p}" + (f"-op{op}" if transposed else "")
        params.append(pytest.param(case, id=ident))
    return params


CONV_GRID = _grid(transposed=False)             # 24 cases
TCONV_GRID = _grid(transposed=True)             # 36 cases


def _operands(case, transposed, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    c = case
    x = rng.standard_normal((c["N"], c["C"], c["H"], c["W"]))
    w_shape = (c["C"], c["F"], c["k"], c["k"]) if transposed else (c["F"], c["C"], c["k"], c["k"])
    W = rng.standard_normal(w_shape)
    b = rng.standard_normal(c["F"])
    return x.astype(dtype), W.astype(dtype), b.astype(dtype)


def _round_off_bound(naive, x, W, b, terms, **kw):
    """|fl(y) − y| ≤ (terms + 2)·ε32·Σ|x||W| + |b| elementwise: the float32 error bound of
    a sum of ``terms`` products plus a bias, with Σ|x||W| from the oracle on |x|, |W|."""
    return (terms + 2) * EPS32 * naive(np.abs(x), np.abs(W), np.abs(b), **kw)


# ------------------------------------------------------------------ im2col / col2im
@pytest.mark.parametrize("shape,k,s,p", [
    ((2, 3, 7, 9), (3, 3), 1, 0),
    ((2, 3, 7, 9), (4, 4), 2, 1),
    ((1, 2, 9, 7), (2, 3), (2, 1), (1, 2)),
    ((3, 1, 8, 8), (1, 1), 3, 2),           # stride > kernel: pixels no window reads
    ((1, 4, 5, 5), (5, 5), 1, 2),
])
def test_im2col_col2im_are_adjoint(shape, k, s, p, cpu_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    cols = im2col(x, *k, s, p)
    OH, OW = conv2d_output_shape(shape[2], shape[3], k, s, p)
    assert cols.shape == (shape[0] * OH * OW, k[0] * k[1] * shape[1])
    c = rng.standard_normal(cols.shape)
    back = col2im(c, shape, *k, s, p)
    assert back.shape == shape
    lhs, rhs = np.sum(back * x), np.sum(c * cols)            # <col2im(c), x> = <c, im2col(x)>
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)
    np.testing.assert_array_equal(col2im(c, shape, *k, s, p), back)   # deterministic


def test_im2col_layout_is_documented_one(cpu_path):
    """cols[(n, i, j), (kh, kw, c)] = x_pad[n, c, i·SH + kh, j·SW + kw]."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 5))
    KH, KW, (SH, SW), (PH, PW) = 3, 2, (2, 1), (1, 0)
    cols = im2col(x, KH, KW, (SH, SW), (PH, PW))
    OH, OW = conv2d_output_shape(6, 5, (KH, KW), (SH, SW), (PH, PW))
    x_pad = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    cols6 = cols.reshape(2, OH, OW, KH, KW, 3)
    for n, i, j, kh, kw, c in itertools.product(range(2), range(OH), range(OW), range(KH),
                                                range(KW), range(3)):
        assert cols6[n, i, j, kh, kw, c] == x_pad[n, c, i * SH + kh, j * SW + kw]


@pytest.mark.parametrize("case,transposed", [
    pytest.param(p.values[0], t, id=("T-" if t else "") + p.id)
    for grid, t in ((CONV_GRID, False), (TCONV_GRID, True)) for p in grid])
def test_cpu_paths_agree_on_forward_and_backward(case, transposed):
    """The Numba path (default) and the NumPy reference path give the same y, dx, dW, db."""
    fwd, bwd = ((conv_transpose2d_forward, conv_transpose2d_backward) if transposed
                else (conv2d_forward, conv2d_backward))
    kw = dict(stride=case["s"], padding=case["p"])
    if transposed:
        kw["output_padding"] = case["op"]
    x, W, b = _operands(case, transposed=transposed, seed=3)
    results = {}
    for name in CPU_KERNELS:
        with use_cpu_kernels(name):
            y, cache = fwd(x, W, b, **kw)
            dy = np.random.default_rng(4).standard_normal(y.shape)
            results[name] = (y, *bwd(dy, cache))
    for a, r in zip(results["numba"], results["numpy"]):
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("transposed", [False, True])
def test_input_grad_false_skips_dx_only(transposed):
    case = dict(N=2, C=3, F=4, H=7, W=9, k=3, s=2, p=1, op=1)
    x, W, b = _operands(case, transposed=transposed)
    fwd, bwd = ((conv_transpose2d_forward, conv_transpose2d_backward) if transposed
                else (conv2d_forward, conv2d_backward))
    kw = dict(stride=2, padding=1, **({"output_padding": 1} if transposed else {}))
    y, cache = fwd(x, W, b, **kw)
    dy = np.random.default_rng(5).standard_normal(y.shape)
    dx, dW, db = bwd(dy, cache)
    none, dW2, db2 = bwd(dy, fwd(x, W, b, **kw)[1], input_grad=False)
    assert dx is not None and none is None
    np.testing.assert_array_equal(dW, dW2)
    np.testing.assert_array_equal(db, db2)


# -------------------------------------------------------------- fast against naive
@pytest.mark.parametrize("case", CONV_GRID)
def test_conv2d_matches_naive(case, cpu_path):
    kw = dict(stride=case["s"], padding=case["p"])
    x, W, b = _operands(case, transposed=False)
    y, _ = conv2d_forward(x, W, b, **kw)
    ref = conv2d_naive(x, W, b, **kw)
    assert y.shape == ref.shape == (case["N"], case["F"],
                                    *conv2d_output_shape(case["H"], case["W"], case["k"], **kw))
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    # float32: within the round-off bound of a float32 sum of C·KH·KW products
    x32, W32, b32 = _operands(case, transposed=False, dtype=np.float32)
    y32, _ = conv2d_forward(x32, W32, b32, **kw)
    assert y32.dtype == np.float32
    ref = conv2d_naive(*(a.astype(np.float64) for a in (x32, W32, b32)), **kw)
    bound = _round_off_bound(conv2d_naive, x32, W32, b32, case["C"] * case["k"] ** 2, **kw)
    assert np.all(np.abs(y32 - ref) <= bound)


@pytest.mark.parametrize("case", TCONV_GRID)
def test_conv_transpose2d_matches_naive(case, cpu_path):
    kw = dict(stride=case["s"], padding=case["p"], output_padding=case["op"])
    x, W, b = _operands(case, transposed=True)
    y, _ = conv_transpose2d_forward(x, W, b, **kw)
    ref = conv_transpose2d_naive(x, W, b, **kw)
    assert y.shape == ref.shape == (case["N"], case["F"], *conv_transpose2d_output_shape(
        case["H"], case["W"], case["k"], **kw))
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    x32, W32, b32 = _operands(case, transposed=True, dtype=np.float32)
    y32, _ = conv_transpose2d_forward(x32, W32, b32, **kw)
    assert y32.dtype == np.float32
    ref = conv_transpose2d_naive(*(a.astype(np.float64) for a in (x32, W32, b32)), **kw)
    bound = _round_off_bound(conv_transpose2d_naive, x32, W32, b32, case["C"] * case["k"] ** 2,
                             **kw)
    assert np.all(np.abs(y32 - ref) <= bound)


def test_non_square_and_non_contiguous_inputs(cpu_path):
    rng = np.random.default_rng(3)
    big = rng.standard_normal((3, 4, 11, 20))
    x = big[::2, 1:, :, ::2]                                # (2, 3, 11, 10), not contiguous
    W, b = rng.standard_normal((2, 3, 2, 3)), rng.standard_normal(2)
    kw = dict(stride=(2, 3), padding=(1, 0))
    np.testing.assert_allclose(conv2d_forward(x, W, b, **kw)[0], conv2d_naive(x, W, b, **kw),
                               rtol=1e-12, atol=1e-12)
    Wt = rng.standard_normal((3, 2, 3, 2))
    kw = dict(stride=(3, 2), padding=(0, 1), output_padding=(2, 1))
    np.testing.assert_allclose(conv_transpose2d_forward(x, Wt, b, **kw)[0],
                               conv_transpose2d_naive(x, Wt, b, **kw), rtol=1e-12, atol=1e-12)
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)   # NHWC memory
    np.testing.assert_allclose(conv2d_forward(nhwc, W, b, 2, 1)[0], conv2d_naive(x, W, b, 2, 1),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("H,k,s,p", [(7, 3, 1, 0), (9, 4, 2, 1), (28, 5, 2, 2), (8, 3, 2, 1)])
def test_transposed_conv_is_the_conv_input_gradient(H, k, s, p):
    """conv2d_backward's dx equals conv_transpose2d_forward(dy, W) (no bias), with the
    output_padding that recovers H, and the transposed conv's dx is the conv of dy."""
    rng = np.random.default_rng(4)
    x, W = rng.standard_normal((2, 3, H, H + 2)), rng.standard_normal((5, 3, k, k))
    y, cache = conv2d_forward(x, W, None, s, p)
    dy = rng.standard_normal(y.shape)
    dx, _, _ = conv2d_backward(dy, cache)
    out_pad = ((H + 2 * p - k) % s, (H + 2 + 2 * p - k) % s)
    z, tcache = conv_transpose2d_forward(dy, W, None, s, p, out_pad)
    np.testing.assert_allclose(z, dx, rtol=1e-12, atol=1e-12)
    dz = rng.standard_normal(z.shape)
    ddy, _, _ = conv_transpose2d_backward(dz, tcache)
    np.testing.assert_allclose(ddy, conv2d_naive(dz, W, None, s, p), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ gradient checks
def _gradcheck(layer, x):
    """Full check for tiny cases, 20 sampled entries per array for bigger ones."""
    size = x.size + sum(p.size for _, p, _ in layer.parameters())
    opts = dict(mode="full") if size <= 400 else dict(mode="sampled", n_samples=20)
    report = check_module(layer, x, rtol=RTOL, **opts)
    assert report.eps == pytest.approx(1e-6) and {r.name for r in report.results} == {"x", "W", "b"}
    assert report.passed, str(report)


@pytest.mark.parametrize("case", CONV_GRID)
def test_conv2d_gradcheck(case):
    rng = np.random.default_rng(5)
    layer = Conv2d(case["C"], case["F"], case["k"], case["s"], case["p"], rng=rng)
    layer.astype(np.float64)
    _gradcheck(layer, rng.standard_normal((case["N"], case["C"], case["H"], case["W"])))


@pytest.mark.parametrize("case", TCONV_GRID)
def test_conv_transpose2d_gradcheck(case):
    rng = np.random.default_rng(6)
    layer = ConvTranspose2d(case["C"], case["F"], case["k"], case["s"], case["p"], case["op"],
                            rng=rng).astype(np.float64)
    _gradcheck(layer, rng.standard_normal((case["N"], case["C"], case["H"], case["W"])))


def test_gradcheck_catches_a_planted_bug(monkeypatch):
    """A backward whose dW ignores the last batch image must FAIL at rtol 1e-6."""
    import scratchvae.nn.conv as conv_mod
    real = conv_mod.conv2d_backward

    def buggy(dy, cache, input_grad=True):
        dy = dy.copy()
        dx, _, db = real(dy, cache, input_grad)
        dy[-1] = 0
        _, dW, _ = real(dy, cache, input_grad)
        return dx, dW, db

    monkeypatch.setattr(conv_mod, "conv2d_backward", buggy)
    rng = np.random.default_rng(7)
    layer = Conv2d(2, 3, 3, stride=2, padding=1, rng=rng).astype(np.float64)
    report = check_module(layer, rng.standard_normal((2, 2, 5, 5)), rtol=RTOL)
    assert not report.passed and [r.name for r in report.results if not r.passed] == ["W"]
    with pytest.raises(GradcheckError, match="FAIL"):
        report.raise_if_failed()


# ---------------------------------------------------------------- output sizes
@pytest.mark.parametrize("H,k,s,p", list(itertools.product((7, 9, 28), KERNELS, STRIDES,
                                                           PADDINGS)))
def test_output_sizes_follow_pytorch(H, k, s, p):
    """PyTorch: Conv2d  H_out = floor((H + 2p − k)/s) + 1;
    ConvTranspose2d     H_out = (H − 1)s − 2p + k + output_padding."""
    x = np.zeros((1, 1, H, H + 1), np.float32)
    assert Conv2d(1, 1, k, s, p, rng=0)(x).shape == (
        1, 1, (H + 2 * p - k) // s + 1, (H + 1 + 2 * p - k) // s + 1)
    for op in range(s):
        assert ConvTranspose2d(1, 1, k, s, p, op, rng=0)(x).shape == (
            1, 1, (H - 1) * s - 2 * p + k + op, H * s - 2 * p + k + op)


def test_conv_vae_paths_halve_and_double():
    x = np.zeros((2, 1, 28, 28), np.float32)
    h = Conv2d(1, 32, 4, 2, 1, rng=0)(x)
    assert h.shape == (2, 32, 14, 14)
    h = Conv2d(32, 64, 4, 2, 1, rng=0)(h)
    assert h.shape == (2, 64, 7, 7)
    up = ConvTranspose2d(64, 32, 4, 2, 1, rng=0)
    h = up(h)
    assert h.shape == (2, 32, 14, 14) and up.output_shape(7, 7) == (14, 14)
    assert ConvTranspose2d(32, 1, 4, 2, 1, rng=0)(h).shape == (2, 1, 28, 28)
    assert Conv2d(1, 1, 4, 2, 1).output_shape(28, 28) == (14, 14)


# ------------------------------------------------------------- layers: init, contract
@pytest.mark.parametrize("cls,c_in,c_out,k,fan_in", [
    (Conv2d, 8, 16, 5, 8 * 25),
    (ConvTranspose2d, 16, 8, 5, 8 * 25),          # PyTorch: W.shape[1]·KH·KW = C_out·KH·KW
    (ConvTranspose2d, 4, 32, (3, 2), 32 * 6),
])
def test_init_is_pytorch_uniform(cls, c_in, c_out, k, fan_in):
    layer = cls(c_in, c_out, k, rng=np.random.default_rng(0), dtype=np.float64)
    kh, kw = (k, k) if isinstance(k, int) else k
    w_shape = (c_out, c_in, kh, kw) if cls is Conv2d else (c_in, c_out, kh, kw)
    assert layer.params["W"].shape == layer.grads["W"].shape == w_shape
    assert layer.params["b"].shape == (c_out,)
    bound = 1 / np.sqrt(fan_in)
    for name in ("W", "b"):
        p = layer.params[name].ravel()
        assert np.abs(p).max() <= bound
    W = layer.params["W"].ravel()
    assert np.abs(W).max() > 0.95 * bound                       # fills the interval
    n, var = W.size, bound ** 2 / 3                             # U(-c, c): E w² = c²/3
    se_var = np.sqrt((bound ** 4 / 5 - var ** 2) / n)
    assert abs(W.mean()) <= 5 * np.sqrt(var / n)
    assert abs((W ** 2).mean() - var) <= 5 * se_var


def test_seed_dtype_and_repr():
    a, b = Conv2d(2, 3, 3, rng=7), Conv2d(2, 3, 3, rng=7)
    np.testing.assert_array_equal(a.params["W"], b.params["W"])
    assert not np.array_equal(a.params["W"], Conv2d(2, 3, 3, rng=8).params["W"])
    assert a.dtype == np.float32 and a(np.ones((1, 2, 5, 5), np.float32)).dtype == np.float32
    t = ConvTranspose2d(2, 3, 4, 2, 1, 1, bias=False, rng=0, dtype=np.float64)
    assert set(t.params) == {"W"} and t.dtype == np.float64
    assert repr(a) == "Conv2d(2, 3, kernel_size=(3, 3), stride=(1, 1), padding=(0, 0), bias=True)"
    assert repr(t) == ("ConvTranspose2d(2, 3, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), "
                       "output_padding=(1, 1), bias=False)")


@pytest.mark.parametrize("make", [
    lambda: Conv2d(2, 3, 3, 2, 1, rng=0, dtype=np.float64),
    lambda: ConvTranspose2d(2, 3, 3, 2, 1, 1, rng=0, dtype=np.float64),
], ids=["Conv2d", "ConvTranspose2d"])
def test_backward_adds_into_grads_and_needs_forward(make):
    layer = make()
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 2, 5, 5))
    y = layer(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    assert dx.shape == x.shape
    first = {k: g.copy() for k, g in layer.grads.items()}
    layer(x)
    layer.backward(dy)
    for k, g in layer.grads.items():
        np.testing.assert_allclose(g, 2 * first[k], rtol=1e-13)
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(dy)
    layer.zero_grad()
    assert not any(g.any() for g in layer.grads.values())


# ------------------------------------------------------------------- bad inputs
def test_bad_inputs_raise_clear_errors():
    conv, tconv = Conv2d(3, 4, 3, rng=0), ConvTranspose2d(3, 4, 3, 2, rng=0)
    with pytest.raises(ShapeError, match=r"\(N, 3, H, W\), got \(2, 1, 8, 8\)"):
        conv(np.ones((2, 1, 8, 8), np.float32))                 # wrong channel count
    with pytest.raises(ShapeError, match=r"\(N, 3, H, W\), got \(3, 8, 8\)"):
        conv(np.ones((3, 8, 8), np.float32))                    # 3-D input
    with pytest.raises(ShapeError, match=r"\(N, 3, H, W\), got \(2, 4, 8, 8\)"):
        tconv(np.ones((2, 4, 8, 8), np.float32))
    with pytest.raises(ShapeError, match="larger than the padded input"):
        Conv2d(1, 1, 5, padding=1, rng=0)(np.ones((1, 1, 2, 8), np.float32))   # 5 > 2 + 2
    with pytest.raises(ValueError, match="output_padding"):
        ConvTranspose2d(1, 1, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="output_padding"):
        ConvTranspose2d(1, 1, 3, stride=(2, 1), output_padding=(1, 1))
    x, W = np.ones((1, 2, 4, 4)), np.ones((2, 1, 3, 3))
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose2d_forward(x, W, None, stride=1, output_padding=1)
    with pytest.raises(ShapeError, match="no output"):
        conv_transpose2d_forward(np.ones((1, 2, 1, 1)), W, None, padding=2)
    with pytest.raises(ShapeError, match="channels"):
        conv2d_forward(x, W, None)                               # W wants 1 channel, x has 2
    with pytest.raises(ShapeError, match=r"b must have shape \(2,\)"):
        conv2d_forward(np.ones((1, 1, 4, 4)), W, np.ones(3))
    y, cache = conv2d_forward(np.ones((1, 1, 4, 4)), W, None)
    with pytest.raises(ShapeError, match="dy"):
        conv2d_backward(np.ones((1, 2, 3, 3)), cache)
    for bad in (dict(kernel_size=0), dict(kernel_size=(3,)), dict(kernel_size=2.5),
                dict(kernel_size=3, stride=0), dict(kernel_size=3, padding=-1)):
        with pytest.raises((ValueError, TypeError)):
            Conv2d(1, 1, **bad)
    with pytest.raises(ValueError):
        Conv2d(0, 1, 3)


# ------------------------------------------------------------------ PyTorch, if present


@pytest.mark.gpu
def test_cupy_matches_numpy_if_available():
    cupy = pytest.importorskip("cupy")
    from scratchvae.backend import gpu_available
    if not gpu_available():
        pytest.skip("CuPy sees no CUDA GPU")
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 9, 7))
    W, Wt, b = (rng.standard_normal(s) for s in ((4, 3, 4, 3), (3, 4, 4, 3), (4,)))
    cases = [(conv2d_forward, conv2d_backward, (x, W, b, 2, 1)),
             (conv_transpose2d_forward, conv_transpose2d_backward, (x, Wt, b, 2, 1, 1))]
    for fwd, bwd, args in cases:
        y, cache = fwd(*args)
        d = rng.standard_normal(y.shape)           # the upstream gradient has y's shape
        gy, gcache = fwd(*(cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in args))
        np.testing.assert_allclose(cupy.asnumpy(gy), y, rtol=1e-10, atol=1e-10)
        for ours, gpu in zip(bwd(d, cache), bwd(cupy.asarray(d), gcache)):
            np.testing.assert_allclose(cupy.asnumpy(gpu), ours, rtol=1e-10, atol=1e-10)
