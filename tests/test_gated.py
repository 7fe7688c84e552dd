"""The gated dense layer h = (xW + b) ⊙ σ(xV + c): its forward against a plain NumPy
formula, the finite-difference checks of its backward (and that they catch a planted
bug), ``input_grad=False``, saturated gates, the gated MLP of ``models/blocks.py`` and
the one-line errors."""
import numpy as np
import pytest

from scratchvae.errors import ShapeError
from scratchvae.functional import gated_backward, gated_forward, linear_backward
from scratchvae.gradcheck import check_module
from scratchvae.gradcheck.suite import CHECKS
from scratchvae.models.blocks import mlp
from scratchvae.nn import GatedLinear, Linear, ReLU, Sequential

GATED_CHECKS = ["GatedLinear", "GatedLinear(bias=False)", "Sequential(gated MLP)"]


def layer(d=5, m=3, seed=0, **kw):
    return GatedLinear(d, m, rng=seed, dtype=np.float64, **kw)


def inputs(n=4, d=5, seed=1):
    return np.random.default_rng(seed).normal(size=(n, d))


def test_forward_is_the_value_times_the_gate():
    g, x = layer(), inputs()
    p = g.params
    expected = (x @ p["W"] + p["b"]) / (1 + np.exp(-(x @ p["V"] + p["c"])))
    np.testing.assert_allclose(g.forward(x), expected, rtol=1e-14)
    assert g.forward(x).shape == (4, 3)


def test_parameters_and_init_follow_linear():
    g = GatedLinear(8, 4, rng=3)
    assert [n for n, _, _ in g.parameters()] == ["W", "b", "V", "c"]
    assert g.params["W"].shape == g.params["V"].shape == (8, 4)
    assert g.params["b"].shape == g.params["c"].shape == (4,)
    assert all(p.dtype == np.float32 and np.abs(p).max() <= 1 / np.sqrt(8)
               for _, p, _ in g.parameters())
    lin = Linear(8, 4, rng=3)                   # W and b are drawn first, as Linear draws them
    np.testing.assert_array_equal(g.params["W"], lin.params["W"])
    np.testing.assert_array_equal(g.params["b"], lin.params["b"])
    assert list(GatedLinear(8, 4, bias=False).params) == ["W", "V"]


@pytest.mark.parametrize("name", GATED_CHECKS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_checks_pass(name, seed):
    report = CHECKS[name](seed=seed)
    assert report.passed, str(report)
    assert report.max_rel_error < 1e-6


def test_check_catches_a_gate_derivative_without_its_1_minus_g(monkeypatch):
    # dσ/dp = g(1 − g); a backward using g alone is the classic slip
    def wrong(dh, cache, input_grad=True, dW_into=None, dV_into=None):
        value_cache, gate_cache, a, g = cache
        dx_a, dW, db = linear_backward(dh * g, value_cache, input_grad, dW_into=dW_into)
        dx_g, dV, dc = linear_backward(dh * a * g, gate_cache, input_grad,  # (1 − g) lost
                                       dW_into=dV_into)
        return dx_a + dx_g, dW, db, dV, dc

    monkeypatch.setattr("scratchvae.nn.gated.gated_backward", wrong)
    report = check_module(layer(), inputs(), op="GatedLinear")
    failed = {r.name for r in report.results if not r.passed}
    assert {"x", "V", "c"} <= failed and not failed & {"W", "b"}, str(report)


def test_input_grad_false_skips_dx_and_keeps_the_parameter_grads():
    x, dy = inputs(), np.random.default_rng(2).normal(size=(4, 3))
    a, b = layer(), layer()
    a.forward(x)
    dx = a.backward(dy)
    b.forward(x)
    assert b.backward(dy, input_grad=False) is None and dx.shape == x.shape
    for name in a.params:
        np.testing.assert_array_equal(a.grads[name], b.grads[name], err_msg=name)
    seq = Sequential(layer(), Linear(3, 2, rng=0, dtype=np.float64))   # first layer skipped
    seq.forward(x)
    assert seq.backward(np.ones((4, 2)), input_grad=False) is None


def test_functional_pair_without_biases():
    rng = np.random.default_rng(0)
    x, W, V = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    h, cache = gated_forward(x, W, None, V, None)
    dx, dW, db, dV, dc = gated_backward(np.ones_like(h), cache)
    assert db is None and dc is None and dx.shape == x.shape and dW.shape == dV.shape == W.shape


def test_saturated_gates_stay_finite():
    # |xV + c| ≈ 1e3: e^{−p} would overflow in a naive sigmoid; the gate is exactly 0 or 1
    g = layer(d=2, m=2)
    g.params["V"][...] = [[1000.0, -1000.0], [0.0, 0.0]]
    x = np.array([[1.0, 0.0], [-1.0, 0.0]])
    with np.errstate(over="raise"):
        h = g.forward(x)
        dx = g.backward(np.ones_like(h))
    a = x @ g.params["W"] + g.params["b"]
    np.testing.assert_allclose(h, a * [[1, 0], [0, 1]], atol=1e-300)
    assert np.isfinite(dx).all() and np.isfinite(g.grads["V"]).all()


def test_gated_mlp_has_gated_hidden_layers_and_a_linear_output():
    net = mlp([6, 5, 4, 3], rng=0, gated=True)
    assert [type(m) for m in net.layers] == [GatedLinear, GatedLinear, Linear]
    plain = mlp([6, 5, 4, 3], rng=0)
    assert [type(m) for m in plain.layers] == [Linear, ReLU, Linear, ReLU, Linear]
    assert [type(m) for m in mlp([6, 3], rng=0, gated=True).layers] == [Linear]
    assert net.forward(np.zeros((2, 6), np.float32)).shape == (2, 3)


def test_errors_are_one_line_and_name_the_fix():
    g = layer()
    with pytest.raises(ShapeError, match=r"GatedLinear\(5, 3\) expects input of shape \(N, 5\)"
                                         r".*x\[None\]"):
        g.forward(np.zeros(5))
    with pytest.raises(ShapeError, match=r"flatten each example"):
        g.forward(np.zeros((2, 1, 5)))
    with pytest.raises(RuntimeError, match="without a forward"):
        layer().backward(np.zeros((4, 3)))
    g.forward(inputs())
    with pytest.raises(ShapeError, match=r"\(4, 3\)"):
        g.backward(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="positive sizes"):
        GatedLinear(0, 3)
    with pytest.raises(ShapeError, match="gated_backward"):
        gated_backward(np.zeros((2, 2)), gated_forward(inputs(), g.params["W"], None,
                                                       g.params["V"], None)[1])


# ----------------------------------------------------------- gated convolutions
@pytest.mark.parametrize("kind", ["conv", "transposed"])
def test_gated_convolutions_are_a_conv_gated_by_a_conv(kind):
    """h = conv(x; W, b) ⊙ σ(conv(x; V, c)) against two plain layers holding W, b and V, c;
    W, b are drawn first, exactly as the plain layer draws them from the same seed."""
    from scratchvae.nn import Conv2d, ConvTranspose2d, GatedConv2d, GatedConvTranspose2d
    Plain, Gated = (Conv2d, GatedConv2d) if kind == "conv" else \
        (ConvTranspose2d, GatedConvTranspose2d)
    args = (3, 4, 4) if kind == "conv" else (4, 3, 4)
    gated = Gated(*args, stride=2, padding=1, rng=5, dtype=np.float64)
    value = Plain(*args, stride=2, padding=1, rng=5, dtype=np.float64)
    gate = Plain(*args, stride=2, padding=1, rng=5, dtype=np.float64)
    np.testing.assert_array_equal(gated.params["W"], value.params["W"])
    gate.params["W"][...], gate.params["b"][...] = gated.params["V"], gated.params["c"]
    x = np.random.default_rng(0).normal(size=(2, args[0], 6, 6))
    expected = value.forward(x) / (1 + np.exp(-gate.forward(x)))
    np.testing.assert_allclose(gated.forward(x), expected, rtol=1e-13, atol=1e-14)
    gated.zero_grad()
    assert gated.backward(np.ones_like(expected), input_grad=False) is None
    assert all(np.abs(g).sum() > 0 for _, _, g in gated.parameters())


def test_gated_conv_rejects_a_wrong_gradient_shape():
    from scratchvae.errors import ShapeError
    from scratchvae.nn import GatedConv2d
    layer = GatedConv2d(1, 2, 3, rng=0)
    y = layer.forward(np.zeros((1, 1, 5, 5), np.float32))
    with pytest.raises(ShapeError):
        layer.backward(np.zeros((1, 2, 4, 4), np.float32))
    assert y.shape == (1, 2, 3, 3)
