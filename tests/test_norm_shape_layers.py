"""Normalisation and shape layers: BatchNorm1d/2d, Flatten, Unflatten, Upsample, Dropout.

BatchNorm: normalised outputs, PyTorch's running-statistics update (closed form and
a moment test), eval mode, state dicts, errors, gradient checks in both modes (batch
size 2, odd spatial sizes, no affine map), a long-hand reference backward and, when
torch happens to be installed, PyTorch itself. Dropout: eval identity, frozen masks,
a moment test of the keep rate and of E[y] = x, seeding. Upsample: values against a
loop reference, gradients. Flatten/Unflatten: round trips and errors.

Gradient checks use the project standard: float64, eps 1e-6, rtol 1e-6, no atol.
"""
import numpy as np
import pytest

from scratchvae.errors import ShapeError
from scratchvae.functional import batchnorm as FB
from scratchvae.functional import shape as FS
from scratchvae.gradcheck import CHECKS, check_module
from scratchvae.gradcheck import suite_norm
from scratchvae.nn.batchnorm import BatchNorm1d, BatchNorm2d
from scratchvae.nn.shape import Dropout, Flatten, Reshape, Unflatten, Upsample

RTOL = 1e-6      # the project tolerance; never raise it to make something pass
NORM_CHECKS = [n for n in CHECKS if n.split("(")[0] in
               {"BatchNorm1d", "BatchNorm2d", "Flatten", "Unflatten", "Reshape", "Upsample",
                "Dropout"}]


def channel_axes(x):
    return (0,) + tuple(range(2, x.ndim))


def random_bn(cls, channels, rng, affine=True, train=True):
    layer = cls(channels, affine=affine, dtype=np.float64)
    if affine:
        layer.params["gamma"][...] = rng.uniform(0.5, 1.5, channels) * rng.choice([-1, 1], channels)
        layer.params["beta"][...] = rng.normal(size=channels)
    layer.buffers["running_mean"][...] = rng.normal(0, 0.5, channels)
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, channels)
    return layer.train(train)


# ============================================================== BatchNorm forward
@pytest.mark.parametrize("cls,shape", [(BatchNorm1d, (16, 4)), (BatchNorm1d, (5, 4, 3)),
                                       (BatchNorm2d, (3, 4, 5, 7))])
def test_batchnorm_train_output_is_normalised_per_channel(cls, shape):
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.5, shape) * rng.uniform(0.1, 10, (1, shape[1]) + (1,) * (len(shape) - 2))
    layer = cls(shape[1], dtype=np.float64)
    y = layer(x)
    axes = channel_axes(x)
    v = x.var(axis=axes)                                   # biased batch variance
    np.testing.assert_allclose(y.mean(axis=axes), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=axes), v / (v + layer.eps), rtol=1e-10)  # 1 up to eps
    # with an affine map: per-channel mean beta, std |gamma| sqrt(v / (v + eps))
    gamma, beta = rng.uniform(0.5, 2, shape[1]), rng.normal(size=shape[1])
    layer.params["gamma"][...], layer.params["beta"][...] = gamma, beta
    y = layer(x)
    np.testing.assert_allclose(y.mean(axis=axes), beta, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=axes), gamma * np.sqrt(v / (v + layer.eps)), rtol=1e-10)


@pytest.mark.parametrize("cls,shape", [(BatchNorm1d, (6, 3)), (BatchNorm2d, (2, 3, 3, 5))])
@pytest.mark.parametrize("momentum", [0.1, 0.3])
def test_running_stats_follow_pytorch_update_in_closed_form(cls, shape, momentum):
    # The same batch T times: r_T = (1-m)^T r_0 + (1 - (1-m)^T) s, exactly, where s is the
    # batch mean for running_mean and the UNBIASED batch variance for running_var.
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 3.0, shape)
    layer = cls(shape[1], momentum=momentum, dtype=np.float64)
    steps = 7
    for _ in range(steps):
        layer(x)
    axes = channel_axes(x)
    decay = (1 - momentum) ** steps
    np.testing.assert_allclose(layer.buffers["running_mean"],
                               (1 - decay) * x.mean(axis=axes), rtol=1e-12)
    np.testing.assert_allclose(layer.buffers["running_var"],
                               decay * 1.0 + (1 - decay) * x.var(axis=axes, ddof=1), rtol=1e-12)
    assert int(layer.buffers["num_batches_tracked"]) == steps


def test_running_stats_momentum_none_is_the_cumulative_average():
    rng = np.random.default_rng(2)
    layer = BatchNorm1d(3, momentum=None, dtype=np.float64)
    batches = [rng.normal(rng.normal(size=3), 2.0, (8, 3)) for _ in range(5)]
    for x in batches:
        layer(x)
    np.testing.assert_allclose(layer.buffers["running_mean"],
                               np.mean([x.mean(axis=0) for x in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.buffers["running_var"],
                               np.mean([x.var(axis=0, ddof=1) for x in batches], axis=0),
                               rtol=1e-12)


@pytest.mark.parametrize("cls,shape", [(BatchNorm1d, (256, 3)), (BatchNorm2d, (4, 3, 8, 8))])
def test_running_stats_converge_to_the_data_moments(cls, shape):
    # Batches from N(mu_c, sigma_c^2), m = 256 values per channel, momentum a = 0.1.
    # After T steps, E[r_T] = (1-a)^T r_0 + (1 - (1-a)^T) * (mu or sigma^2) (the unbiased
    # batch variance has expectation sigma^2), and the EMA's variance is
    #   a/(2-a) (1 - (1-a)^{2T}) Var(s),  Var(mean) = sigma^2/m,  Var(s^2) = 2 sigma^4/(m-1).
    # Each running statistic must lie within 5 of these standard errors of its expectation.
    rng = np.random.default_rng(3)
    a, c = 0.1, shape[1]
    m = int(np.prod(shape)) // c
    mu, sigma = np.array([3.0, -2.0, 1.5]), np.array([1.0, 0.5, 1.5])
    view = (1, c) + (1,) * (len(shape) - 2)
    layer = cls(c, momentum=a, dtype=np.float64)
    done = 0
    for steps in (20, 300):                 # 20: the transient still shows; 300: converged
        for _ in range(steps - done):
            layer(mu.reshape(view) + sigma.reshape(view) * rng.standard_normal(shape))
        done = steps
        decay = (1 - a) ** steps
        shrink = a / (2 - a) * (1 - decay ** 2)
        expect_mean, expect_var = (1 - decay) * mu, decay + (1 - decay) * sigma ** 2
        se_mean = np.sqrt(shrink * sigma ** 2 / m)
        se_var = np.sqrt(shrink * 2 * sigma ** 4 / (m - 1))
        assert np.all(np.abs(layer.buffers["running_mean"] - expect_mean) <= 5 * se_mean)
        assert np.all(np.abs(layer.buffers["running_var"] - expect_var) <= 5 * se_var)
    # the transient is real: after 20 steps the mean is far from mu (decay 0.12 of it)
    assert np.all(np.abs(0.9 ** 20 * mu) > 5 * np.sqrt(a / (2 - a) * sigma ** 2 / m))


@pytest.mark.parametrize("cls,shape", [(BatchNorm1d, (5, 4)), (BatchNorm2d, (2, 4, 3, 3))])
def test_eval_uses_running_stats_and_does_not_update_them(cls, shape):
    rng = np.random.default_rng(4)
    layer = random_bn(cls, shape[1], rng, train=False)
    before = {k: v.copy() for k, v in layer.buffers.items()}
    x = rng.normal(size=shape)
    view = (1, shape[1]) + (1,) * (len(shape) - 2)
    b, p = layer.buffers, layer.params
    expect = (p["gamma"].reshape(view) * (x - b["running_mean"].reshape(view))
              / np.sqrt(b["running_var"].reshape(view) + layer.eps) + p["beta"].reshape(view))
    np.testing.assert_allclose(layer(x), expect, rtol=1e-12)
    for k, v in layer.buffers.items():
        np.testing.assert_array_equal(v, before[k])
    # eval is per example: a batch of one works, and example 0 does not depend on the others
    np.testing.assert_allclose(layer(x[:1]), expect[:1], rtol=1e-12)


def test_batchnorm_keeps_float32():
    layer = BatchNorm2d(2)
    x = np.random.default_rng(5).normal(size=(3, 2, 4, 4)).astype(np.float32)
    y = layer(x)
    assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32
    assert layer.buffers["running_mean"].dtype == np.float32
    assert layer.grads["gamma"].dtype == np.float32


# ============================================================= BatchNorm backward
BN_CASES = [
    (BatchNorm1d, (2, 3)),            # batch size 2: the smallest batch with a variance
    (BatchNorm1d, (7, 4)),
    (BatchNorm1d, (3, 2, 5)),         # (N, C, L)
    (BatchNorm2d, (2, 3, 3, 5)),      # batch 2, odd spatial sizes
    (BatchNorm2d, (1, 2, 5, 3)),      # batch 1 is fine in 2d: statistics also run over H, W
    (BatchNorm2d, (3, 2, 1, 1)),      # 1x1 maps: statistics over the batch alone
]


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("cls,shape", BN_CASES, ids=[f"{c.__name__}{s}" for c, s in BN_CASES])
def test_batchnorm_gradient_check(cls, shape, affine, train):
    # Train mode: every forward of the checker updates the running statistics, which
    # the training-mode output never reads, so the check is unaffected.
    rng = np.random.default_rng(6)
    layer = random_bn(cls, shape[1], rng, affine=affine, train=train)
    x = rng.normal(1.0, 2.0, shape)
    report = check_module(layer, x, rtol=RTOL)
    assert {r.name for r in report.results} == ({"x", "gamma", "beta"} if affine else {"x"})
    assert report.passed, str(report)


def reference_batchnorm_backward(dy, x, gamma, eps):
    """The long-hand chain rule through mu and var (no compact formula), (N, C, ...) input."""
    axes = channel_axes(x)
    view = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    m = x.size // x.shape[1]
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    xhat = (x - mu) / np.sqrt(var + eps)
    dxhat = dy * gamma.reshape(view)
    dvar = (dxhat * (x - mu) * -0.5 * (var + eps) ** -1.5).sum(axis=axes, keepdims=True)
    dmu = (-dxhat / np.sqrt(var + eps)).sum(axis=axes, keepdims=True) \
        + dvar * (-2 * (x - mu)).mean(axis=axes, keepdims=True)
    dx = dxhat / np.sqrt(var + eps) + dvar * 2 * (x - mu) / m + dmu / m
    return dx, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)


@pytest.mark.parametrize("shape", [(2, 3), (9, 4), (2, 3, 3, 5)])
def test_compact_backward_matches_the_long_hand_chain_rule(shape):
    rng = np.random.default_rng(7)
    x, dy = rng.normal(1.0, 2.0, shape), rng.normal(size=shape)
    gamma, beta = rng.uniform(0.5, 1.5, shape[1]), rng.normal(size=shape[1])
    _, cache = FB.batchnorm_forward(x, gamma, beta, 1e-5)
    got = FB.batchnorm_backward(dy, cache)
    want = reference_batchnorm_backward(dy, x, gamma, 1e-5)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12 * np.abs(w).max())
    np.testing.assert_allclose(got[0].sum(axis=channel_axes(x)), 0, atol=1e-12)  # shift invariance


def test_batchnorm_grads_accumulate_and_backward_needs_forward():
    rng = np.random.default_rng(8)
    layer = random_bn(BatchNorm1d, 3, rng)
    x, dy = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    layer(x)
    layer.backward(dy)
    once = {k: g.copy() for k, g in layer.grads.items()}
    layer(x)
    layer.backward(dy)
    for k, g in layer.grads.items():
        np.testing.assert_allclose(g, 2 * once[k], rtol=1e-13)
    with pytest.raises(RuntimeError, match="without a forward"):
        layer.backward(dy)


def test_registered_batchnorm_check_fails_on_a_planted_bug(monkeypatch):
    # drop the sigma term x̂·mean(dx̂ ⊙ x̂) from dx: the registry entry must catch it
    def bad_backward(dy, cache):
        dxhat = dy * cache.gamma
        dx = cache.inv_std * (dxhat - dxhat.mean(axis=cache.axes, keepdims=True))
        return dx, (dy * cache.xhat).sum(axis=cache.axes), dy.sum(axis=cache.axes)

    monkeypatch.setattr(FB, "batchnorm_backward", bad_backward)
    for name in ("BatchNorm1d", "BatchNorm2d"):
        report = CHECKS[name](seed=0)
        assert not report.passed and report.max_rel_error > RTOL, str(report)


# ========================================================== BatchNorm state, errors
def test_batchnorm_state_dict_has_buffers_and_round_trips():
    rng = np.random.default_rng(9)
    layer = random_bn(BatchNorm2d, 3, rng)
    for _ in range(3):
        layer(rng.normal(size=(2, 3, 4, 4)))
    state = layer.state_dict()
    assert set(state) == {"gamma", "beta", "running_mean", "running_var", "num_batches_tracked"}
    assert int(state["num_batches_tracked"]) == 3
    fresh = BatchNorm2d(3, dtype=np.float64)
    fresh.load_state_dict(state)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v, state[k])
    x = rng.normal(size=(2, 3, 4, 4))
    np.testing.assert_array_equal(fresh.eval()(x), layer.eval()(x))
    state["running_mean"] = state["running_mean"].copy()
    state["running_mean"][0] += 1.0                       # the copy is not the layer's array
    assert layer.buffers["running_mean"][0] != state["running_mean"][0]
    plain = BatchNorm1d(3, affine=False)
    assert set(plain.state_dict()) == {"running_mean", "running_var", "num_batches_tracked"}
    assert plain.num_parameters() == 0


def test_batchnorm_errors_name_the_shapes():
    bn1, bn2 = BatchNorm1d(4), BatchNorm2d(4)
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(4\).*\(N, 4\).*\(8, 3\)"):
        bn1(np.zeros((8, 3), np.float32))
    with pytest.raises(ShapeError, match=r"\(N, 4, H, W\).*\(2, 3, 5, 5\)"):
        bn2(np.zeros((2, 3, 5, 5), np.float32))
    with pytest.raises(ShapeError, match="expects input of shape"):
        bn2(np.zeros((2, 4, 5), np.float32))             # 3-d into BatchNorm2d
    with pytest.raises(ShapeError, match="expects input of shape"):
        bn1(np.zeros((2, 4, 5, 5), np.float32))          # 4-d into BatchNorm1d
    with pytest.raises(ShapeError, match="more than one value per channel"):
        bn1(np.ones((1, 4), np.float32))                 # batch of one in training mode
    assert bn1.eval()(np.ones((1, 4), np.float32)).shape == (1, 4)
    for bad in (dict(num_features=0), dict(num_features=3, eps=0.0),
                dict(num_features=3, momentum=1.5)):
        with pytest.raises(ValueError):
            BatchNorm1d(**bad)


# ======================================================================== Dropout
def test_dropout_eval_is_identity():
    layer = Dropout(0.5, rng=0).eval()
    x = np.random.default_rng(11).normal(size=(4, 5))
    state = layer.rng.bit_generator.state
    assert layer(x) is x
    dy = np.ones_like(x)
    assert layer.backward(dy) is dy
    assert layer.rng.bit_generator.state == state          # eval draws nothing


def test_dropout_frozen_mask_forward_and_gradient_check():
    rng = np.random.default_rng(12)
    p = 0.25
    mask = FS.dropout_mask((5, 6), p, rng)
    layer = Dropout(p, rng=0).set_mask(mask)
    x = rng.normal(size=(5, 6))
    np.testing.assert_allclose(layer(x), x * mask / (1 - p), rtol=1e-15)
    np.testing.assert_allclose(layer(x), layer(x), rtol=0)  # frozen: every forward the same
    report = check_module(layer, x, rtol=RTOL)
    assert report.passed, str(report)
    dy = rng.normal(size=(5, 6))
    layer(x)
    np.testing.assert_allclose(layer.backward(dy), dy * mask / (1 - p), rtol=1e-15)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_moments(p):
    # Keep rate: K·D Bernoulli(1-p) draws, mean within 5 standard errors sqrt(p(1-p)/(K·D)).
    # Inverted scaling: y_i = x_i·b/(1-p) has mean x_i and variance x_i² p/(1-p), so the
    # average of K draws lies within 5·|x_i|·sqrt(p/((1-p)K)) of x_i, for every i.
    k, d = 4000, 25
    layer = Dropout(p, rng=13)
    x = np.linspace(-2.0, 2.0, d).reshape(1, d) + 0.05
    ys = np.stack([layer(x)[0] for _ in range(k)])          # (K, D)
    kept = ys != 0
    assert abs(kept.mean() - (1 - p)) <= 5 * np.sqrt(p * (1 - p) / (k * d))
    np.testing.assert_allclose(ys[kept], np.broadcast_to(x[0] / (1 - p), ys.shape)[kept],
                               rtol=1e-15)
    se = np.abs(x[0]) * np.sqrt(p / ((1 - p) * k))
    assert np.all(np.abs(ys.mean(axis=0) - x[0]) <= 5 * se)


def test_dropout_same_seed_same_masks():
    x = np.ones((6, 7))
    a, b, c = Dropout(0.5, rng=21), Dropout(0.5, rng=21), Dropout(0.5, rng=22)
    first_a, first_b = a(x), b(x)
    np.testing.assert_array_equal(first_a, first_b)          # y = mask / (1-p): same mask
    np.testing.assert_array_equal(a(x), b(x))                # and the same sequence after
    assert not np.array_equal(first_a, a(x))                 # a fresh mask each forward
    assert not np.array_equal(first_b, c(x))                 # another seed, another mask


def test_dropout_mask_control_and_validation():
    layer = Dropout(0.5, rng=0)
    x = np.ones((3, 4))
    frozen = np.zeros((3, 4), bool)
    frozen[0] = True
    layer.set_mask(frozen)
    np.testing.assert_array_equal(layer(x), 2.0 * frozen)
    layer.set_mask(None)                                      # back to drawing
    assert layer.mask is None
    state = layer.rng.bit_generator.state
    layer(x)
    assert layer.rng.bit_generator.state != state             # this forward drew a mask
    with pytest.raises(ShapeError, match=r"\(3, 4\).*\(2, 4\)"):
        layer.set_mask(frozen)(np.ones((2, 4)))
    with pytest.raises(ValueError, match="only 0 and 1"):
        layer.set_mask(frozen / 0.5)
    for bad in (-0.1, 1.0, 1.5, True, "0.5"):
        with pytest.raises(ValueError, match=r"p in \[0, 1\)"):
            Dropout(bad)
    zero = Dropout(0.0, rng=0)
    np.testing.assert_array_equal(zero(x), x)                 # p = 0 keeps everything
    with pytest.raises(RuntimeError, match="without a forward"):
        Dropout(0.5).backward(x)
    x32 = x.astype(np.float32)
    assert Dropout(0.3, rng=0)(x32).dtype == np.float32


# ======================================================================= Upsample
def upsample_loop(x, s):
    """Reference: y[n, c, i, j] = x[n, c, i // s, j // s], one entry at a time."""
    n, c, h, w = x.shape
    y = np.empty((n, c, s * h, s * w), x.dtype)
    for i in range(s * h):
        for j in range(s * w):
            y[:, :, i, j] = x[:, :, i // s, j // s]
    return y


@pytest.mark.parametrize("s", [1, 2, 3])
def test_upsample_values_and_backward_against_loops(s):
    rng = np.random.default_rng(14)
    x = rng.normal(size=(2, 3, 3, 5))
    layer = Upsample(s)
    y = layer(x)
    assert y.shape == (2, 3, 3 * s, 5 * s)
    np.testing.assert_array_equal(y, upsample_loop(x, s))
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    want = np.zeros_like(x)
    for i in range(3 * s):
        for j in range(5 * s):
            want[:, :, i // s, j // s] += dy[:, :, i, j]
    np.testing.assert_allclose(dx, want, rtol=1e-13)


def test_upsample_other_ranks_and_dtype():
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3)       # (N, C, L)
    y = Upsample(2)(x)
    np.testing.assert_array_equal(y, np.repeat(x, 2, axis=2))
    assert y.dtype == np.float32
    x3 = np.random.default_rng(15).normal(size=(1, 1, 2, 3, 2))   # (N, C, D, H, W)
    y3 = Upsample(2)(x3)
    np.testing.assert_array_equal(y3, x3.repeat(2, 2).repeat(2, 3).repeat(2, 4))


@pytest.mark.parametrize("s,shape", [(2, (2, 3, 3, 4)), (3, (1, 2, 3, 1)), (2, (2, 2, 5))])
def test_upsample_gradient_check(s, shape):
    x = np.random.default_rng(16).normal(size=shape)
    report = check_module(Upsample(s), x, rtol=RTOL)
    assert report.passed, str(report)


def test_upsample_errors():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="integer scale_factor"):
            Upsample(bad)
    with pytest.raises(ShapeError, match=r"\(N, C, H, W\).*\(4, 5\)"):
        Upsample(2)(np.zeros((4, 5)))
    layer = Upsample(2)
    layer(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ShapeError, match=r"\(1, 1, 4, 4\).*\(1, 1, 3, 4\)"):
        layer.backward(np.zeros((1, 1, 3, 4)))


# ============================================================= Flatten, Unflatten
def test_flatten_unflatten_round_trip():
    rng = np.random.default_rng(17)
    x = rng.normal(size=(4, 3, 2, 5))
    flat, unflat = Flatten(), Unflatten((3, 2, 5))
    z = flat(x)
    assert z.shape == (4, 30)
    np.testing.assert_array_equal(z, x.reshape(4, 30))      # C-order, as torch.flatten
    back = unflat(z)
    np.testing.assert_array_equal(back, x)
    dy = rng.normal(size=x.shape)
    dz = unflat.backward(dy)
    assert dz.shape == (4, 30)
    np.testing.assert_array_equal(flat.backward(dz), dy)
    assert Reshape is Unflatten and Unflatten(7)(np.ones((2, 7))).shape == (2, 7)
    assert Flatten()(np.ones((3, 5))).shape == (3, 5)


@pytest.mark.parametrize("layer,shape", [(Flatten(), (3, 2, 3)), (Unflatten((2, 3)), (4, 6))],
                         ids=["Flatten", "Unflatten"])
def test_flatten_unflatten_gradient_check(layer, shape):
    x = np.random.default_rng(18).normal(size=shape)
    report = check_module(layer, x, rtol=RTOL)
    assert report.passed, str(report)


def test_flatten_unflatten_errors_name_sizes():
    with pytest.raises(ShapeError, match=r"at least 2 dimensions.*\(5,\)"):
        Flatten()(np.zeros(5))
    with pytest.raises(ShapeError, match=r"\(N, 12\).*2 x 3 x 2 = 12.*\(4, 10\)"):
        Unflatten((2, 3, 2))(np.zeros((4, 10)))
    with pytest.raises(ShapeError, match=r"\(N, 6\).*\(4, 2, 3\)"):
        Unflatten((2, 3))(np.zeros((4, 2, 3)))              # already unflattened
    for bad in ((), (2, 0), (-1, 3)):
        with pytest.raises(ValueError, match="positive sizes"):
            Unflatten(bad)


# ======================================================================= registry
def test_registry_has_the_norm_and_shape_entries():
    assert suite_norm.__name__.endswith("suite_norm")
    for name in ("BatchNorm1d", "BatchNorm2d", "BatchNorm2d(eval)", "Flatten", "Unflatten",
                 "Upsample", "Dropout(frozen mask)"):
        assert name in CHECKS


