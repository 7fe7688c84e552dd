"""Layers and the Module contract: shapes, init, dtypes, gradient accumulation,
errors, Sequential, state dicts, modes and parameter names."""
import numpy as np
import pytest

from scratchvae import nn
from scratchvae.errors import CheckpointError, ShapeError
from scratchvae.models import VAE


# ------------------------------------------------------------------------ Linear
def test_linear_shapes_and_forward():
    rng = np.random.default_rng(0)
    layer = nn.Linear(5, 3, rng=rng)
    assert layer.params["W"].shape == (5, 3) and layer.params["b"].shape == (3,)
    assert layer.grads["W"].shape == (5, 3) and layer.grads["b"].shape == (3,)
    x = rng.normal(size=(4, 5)).astype(np.float32)
    y = layer(x)
    assert y.shape == (4, 3)
    np.testing.assert_allclose(y, x @ layer.params["W"] + layer.params["b"], rtol=1e-6)
    assert layer.num_parameters() == 18


def test_linear_init_is_pytorch_uniform():
    d_in = 400
    layer = nn.Linear(d_in, 300, rng=np.random.default_rng(0), dtype=np.float64)
    bound = 1 / np.sqrt(d_in)
    for name in ("W", "b"):
        p = layer.params[name].ravel()
        assert np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.95 * bound             # fills the interval, not a smaller one
        # U(-c, c): mean 0, E p^2 = c^2/3, each within 5 standard errors
        n, var = p.size, bound ** 2 / 3
        se_var = np.sqrt((bound ** 4 / 5 - var ** 2) / n)   # Var(u^2) = E u^4 - (E u^2)^2
        assert abs(p.mean()) <= 5 * np.sqrt(var / n)
        assert abs((p ** 2).mean() - var) <= 5 * se_var


def test_linear_seed_reproducible():
    a, b = nn.Linear(4, 3, rng=7), nn.Linear(4, 3, rng=7)
    np.testing.assert_array_equal(a.params["W"], b.params["W"])
    assert not np.array_equal(a.params["W"], nn.Linear(4, 3, rng=8).params["W"])


def test_linear_dtypes():
    layer = nn.Linear(4, 2, rng=0)
    assert all(p.dtype == np.float32 and g.dtype == np.float32 for _, p, g in layer.parameters())
    assert layer.dtype == np.float32
    assert layer(np.ones((3, 4), np.float32)).dtype == np.float32
    assert layer.astype(np.float64) is layer
    assert all(p.dtype == np.float64 and g.dtype == np.float64 for _, p, g in layer.parameters())
    assert layer(np.ones((3, 4))).dtype == np.float64
    with pytest.raises(TypeError):
        layer.astype(np.int32)


def test_linear_backward_values_and_accumulation():
    rng = np.random.default_rng(1)
    layer = nn.Linear(5, 3, rng=rng, dtype=np.float64)
    x, dy = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
    W = layer.params["W"].copy()
    layer(x)
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, dy @ W.T, rtol=1e-13)
    np.testing.assert_allclose(layer.grads["W"], x.T @ dy, rtol=1e-13)
    np.testing.assert_allclose(layer.grads["b"], dy.sum(axis=0), rtol=1e-13)
    layer(x)
    layer.backward(dy)                                     # grads ADD up
    np.testing.assert_allclose(layer.grads["W"], 2 * x.T @ dy, rtol=1e-13)
    np.testing.assert_allclose(layer.grads["b"], 2 * dy.sum(axis=0), rtol=1e-13)
    grad_arrays = [g for _, _, g in layer.parameters()]
    layer.zero_grad()
    for (_, _, g), before in zip(layer.parameters(), grad_arrays):
        assert g is before and not g.any()                 # cleared in place


def test_linear_without_bias():
    layer = nn.Linear(3, 2, bias=False, rng=0, dtype=np.float64)
    assert set(layer.params) == {"W"}
    x = np.ones((2, 3))
    np.testing.assert_allclose(layer(x), x @ layer.params["W"])
    layer.backward(np.ones((2, 2)))
    assert set(layer.grads) == {"W"}


def test_backward_without_forward_raises():
    layer = nn.Linear(3, 2, rng=0)
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.ones((1, 2), np.float32))
    layer(np.ones((1, 3), np.float32))
    layer.backward(np.ones((1, 2), np.float32))
    with pytest.raises(RuntimeError, match="forward"):         # twice for one forward
        layer.backward(np.ones((1, 2), np.float32))
    with pytest.raises(RuntimeError):
        nn.Tanh().backward(np.ones(3))


def test_linear_wrong_input_shape():
    layer = nn.Linear(5, 3, rng=0)
    for bad in (np.ones((4, 6), np.float32), np.ones(5, np.float32), np.ones((2, 4, 5), np.float32)):
        with pytest.raises(ShapeError, match=r"\(N, 5\)"):
            layer(bad)
    with pytest.raises(ValueError):
        nn.Linear(0, 3)


# -------------------------------------------------------------------- activations
def test_activation_forward_values():
    x = np.array([[-2.0, -0.5, 0.5, 2.0]])
    np.testing.assert_array_equal(nn.ReLU()(x), np.maximum(x, 0))
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(x), np.where(x > 0, x, 0.1 * x))
    np.testing.assert_allclose(nn.Tanh()(x), np.tanh(x), rtol=1e-15)
    np.testing.assert_allclose(nn.Sigmoid()(x), 1 / (1 + np.exp(-x)), rtol=1e-15)
    np.testing.assert_allclose(nn.Softplus()(x), np.log1p(np.exp(x)), rtol=1e-15)
    assert nn.Identity()(x) is x


@pytest.mark.parametrize("features", [None, 4])
def test_parametric_tanh_special_cases(features):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    plain = nn.ParametricTanh(features, a=1.0, b=1.0, dtype=np.float64)
    assert plain.params["a"].shape == ((1,) if features is None else (4,))
    np.testing.assert_allclose(plain(x), np.tanh(x), rtol=1e-15)
    lecun = nn.ParametricTanh(features, a=1.7159, b=2 / 3, dtype=np.float64)
    np.testing.assert_allclose(lecun(x), 1.7159 * np.tanh(2 * x / 3), rtol=1e-15)


def test_parametric_tanh_shape_error():
    with pytest.raises(ShapeError, match="4 features"):
        nn.ParametricTanh(4)(np.ones((2, 3), np.float32))


def test_make_activation():
    assert isinstance(nn.make_activation("relu"), nn.ReLU)
    assert isinstance(nn.make_activation("Leaky-ReLU"), nn.LeakyReLU)
    pt = nn.make_activation("ptanh", 6, dtype=np.float64)
    assert isinstance(pt, nn.ParametricTanh) and pt.params["a"].shape == (6,)
    assert pt.params["a"].dtype == np.float64
    for name in nn.ACTIVATIONS:
        assert isinstance(nn.make_activation(name, 3), nn.ACTIVATIONS[name])
    with pytest.raises(ValueError, match="unknown activation 'swishy'.*relu"):
        nn.make_activation("swishy")


# ---------------------------------------------------------------------- Sequential
def test_sequential_chains_forward_and_backward():
    rng = np.random.default_rng(2)
    l1, l2 = nn.Linear(5, 7, rng=rng, dtype=np.float64), nn.Linear(7, 3, rng=rng, dtype=np.float64)
    net = nn.Sequential(l1, nn.Tanh(), l2)
    assert len(net) == 3 and net[0] is l1 and net[2] is l2
    x, dy = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
    h = np.tanh(x @ l1.params["W"] + l1.params["b"])
    np.testing.assert_allclose(net(x), h @ l2.params["W"] + l2.params["b"], rtol=1e-13)
    dx = net.backward(dy)
    dh = dy @ l2.params["W"].T
    da = dh * (1 - h ** 2)
    np.testing.assert_allclose(dx, da @ l1.params["W"].T, rtol=1e-12)
    np.testing.assert_allclose(l2.grads["W"], h.T @ dy, rtol=1e-12)
    np.testing.assert_allclose(l1.grads["W"], x.T @ da, rtol=1e-12)
    assert [n for n, _, _ in net.parameters()] == ["0.W", "0.b", "2.W", "2.b"]


# ------------------------------------------------------------------ module contract
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 3, rng=0), nn.ReLU())
        self.head = nn.Linear(3, 2, rng=1)
        self.inner = nn.Sequential(nn.Sequential(nn.ParametricTanh(2)))


def test_parameter_names_are_dotted():
    names = [n for n, _, _ in Net().parameters()]
    assert names == ["encoder.0.W", "encoder.0.b", "head.W", "head.b",
                     "inner.0.0.a", "inner.0.0.b"]
    vae_names = [n for n, _, _ in VAE(6, (5,), 2).parameters()]
    assert vae_names[:2] == ["encoder.0.W", "encoder.0.b"]
    assert "decoder.2.W" in vae_names


def test_parameters_are_the_live_arrays():
    net = Net()
    for name, p, g in net.parameters():
        assert p.shape == g.shape
    _, W, _ = net.parameters()[0]
    assert W is net.encoder[0].params["W"]


def test_reassigning_a_submodule_attribute():
    net = Net()
    net.head = None
    assert all(not n.startswith("head.") for n, _, _ in net.parameters())


def test_train_eval_propagate_to_children():
    net = Net()
    assert all(m.training for _, m in net.modules())
    assert net.eval() is net
    assert not any(m.training for _, m in net.modules())
    assert len(list(net.modules())) == 8
    net.train()
    assert all(m.training for _, m in net.modules())
    net.train(False)
    assert not net.inner[0][0].training


def test_state_dict_round_trip():
    a, b = Net(), Net()
    for _, p, _ in b.parameters():
        p += 1.0
    state = a.state_dict()
    assert set(state) == {n for n, _, _ in a.parameters()}
    arrays_before = [p for _, p, _ in b.parameters()]
    b.load_state_dict(state)
    for (n, pa, _), (_, pb, _), before in zip(a.parameters(), b.parameters(), arrays_before):
        np.testing.assert_array_equal(pa, pb)
        assert pb is before                       # copied into the existing arrays
    x = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    np.testing.assert_array_equal(a.encoder(x), b.encoder(x))
    # the state dict is a copy: changing the model afterwards does not change it
    a.head.params["W"] += 1
    assert not np.array_equal(state["head.W"], a.head.params["W"])


def test_load_state_dict_mismatches():
    net = Net()
    state = net.state_dict()
    missing = {k: v for k, v in state.items() if k != "head.b"}
    with pytest.raises(CheckpointError, match="head.b"):
        net.load_state_dict(missing)
    with pytest.raises(CheckpointError, match="extra.W"):
        net.load_state_dict({**state, "extra.W": np.zeros(2)})
    with pytest.raises(CheckpointError, match="head.W"):
        net.load_state_dict({**state, "head.W": np.zeros((2, 3), np.float32)})
    net.load_state_dict(state)                    # the matching one still loads


def test_failed_load_leaves_the_model_unchanged():
    net, other = Net(), Net()
    for _, p, _ in other.parameters():
        p += 1.0
    bad = {**other.state_dict(), "head.W": np.zeros((2, 3), np.float32)}   # head.W wrong shape
    before = net.state_dict()
    with pytest.raises(CheckpointError):
        net.load_state_dict(bad)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
