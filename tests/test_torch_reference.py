"""Our convolutions, Linear and BatchNorm against PyTorch's, from recorded arrays.

tests/data/torch_reference.npz holds PyTorch's float64 outputs and gradients (written
by tests/make_torch_reference.py, whose docstring lists every case): this file checks
the functional forward/backward pairs and the layers built on them against those
arrays, on both CPU kernel paths, without importing torch. Agreement is to 1e-10
relative (plus 1e-12 absolute, for entries that are sums cancelling to near zero):
far tighter than any gradient check, and what two correct float64 summation orders
give.

Layouts: convolution weights are PyTorch's, (F, C, KH, KW) for Conv2d and
(C, F, KH, KW) for ConvTranspose2d, and are used as recorded; our Linear stores W as
(in, out), the transpose of PyTorch's (out, in).
"""
import json
from pathlib import Path

import numpy as np
import pytest

from scratchvae.functional import batchnorm as FB
from scratchvae.functional.conv import (
    conv2d_backward, conv2d_forward, conv_transpose2d_backward, conv_transpose2d_forward,
)
from scratchvae.functional.linear import linear_backward, linear_forward
from scratchvae.nn import Linear
from scratchvae.nn.batchnorm import BatchNorm1d, BatchNorm2d
from scratchvae.nn.conv import Conv2d, ConvTranspose2d

REF_FILE = Path(__file__).parent / "data" / "torch_reference.npz"
CLOSE = dict(rtol=1e-10, atol=1e-12)

with np.load(REF_FILE, allow_pickle=False) as _f:
    REF = {k: _f[k] for k in _f.files}
META = json.loads(str(REF.pop("meta")))


def arrays(prefix):
    """The recorded arrays named ``prefix.<name>``, by name."""
    return {k[len(prefix) + 1:]: v for k, v in REF.items() if k.startswith(prefix + ".")}


def case_ids(group):
    return [pytest.param(c, id=c["id"]) for c in META[group]]


def assert_close(ours, theirs, what):
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs PyTorch {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, **CLOSE, err_msg=what)


def test_the_reference_file_has_every_case():
    assert len(META["conv2d"]) == len(META["conv_transpose2d"]) == 6
    ops = [c for c in META["conv_transpose2d"] if c["output_padding"] != [0, 0]]
    assert len(ops) >= 2 and any(c["output_padding"][0] != c["output_padding"][1] for c in ops)
    assert any(c["kernel_size"][0] != c["kernel_size"][1] for c in META["conv2d"])
    assert any(not c["bias"] for c in META["conv2d"])
    assert {c["layer"] for c in META["bn"]} == {"BatchNorm1d", "BatchNorm2d"}
    assert {len(c["shape"]) for c in META["bn"]} == {2, 3, 4}
    assert {c["momentum"] for c in META["bn"]} >= {0.2, 0.1, None}
    assert any(not c["affine"] for c in META["bn"])
    for group in ("conv2d", "conv_transpose2d"):
        for c in META[group]:
            a = arrays(f"{group}.{c['id']}")
            assert a["x"].dtype == np.float64 and ("db" in a) == c["bias"]


# ------------------------------------------------------------------ convolutions
def _conv_args(group, c):
    a = arrays(f"{group}.{c['id']}")
    s, p = tuple(c["stride"]), tuple(c["padding"])
    extra = (tuple(c["output_padding"]),) if group == "conv_transpose2d" else ()
    return a, a.get("b"), (s, p) + extra


FUNCTIONAL = {"conv2d": (conv2d_forward, conv2d_backward),
              "conv_transpose2d": (conv_transpose2d_forward, conv_transpose2d_backward)}


@pytest.mark.parametrize("group, c", [pytest.param(g, c, id=f"{g}-{c['id']}")
                                      for g in FUNCTIONAL for c in META[g]])
def test_conv_functional_pairs_match_torch(group, c, cpu_path):
    forward, backward = FUNCTIONAL[group]
    a, b, args = _conv_args(group, c)
    y, cache = forward(a["x"], a["W"], b, *args)
    assert_close(y, a["y"], "y")
    dx, dW, db = backward(a["dy"], cache)
    assert_close(dx, a["dx"], "dx")
    assert_close(dW, a["dW"], "dW")
    if b is None:
        assert db is None
    else:
        assert_close(db, a["db"], "db")


@pytest.mark.parametrize("group, cls", [("conv2d", Conv2d), ("conv_transpose2d", ConvTranspose2d)])
def test_conv_layers_match_torch(group, cls, cpu_path):
    for c in META[group]:
        a = arrays(f"{group}.{c['id']}")
        kw = dict(stride=tuple(c["stride"]), padding=tuple(c["padding"]), bias=c["bias"],
                  dtype=np.float64)
        if group == "conv_transpose2d":
            kw["output_padding"] = tuple(c["output_padding"])
        W = a["W"]
        in_ch, out_ch = (W.shape[0], W.shape[1]) if group == "conv_transpose2d" else \
            (W.shape[1], W.shape[0])
        layer = cls(in_ch, out_ch, tuple(c["kernel_size"]), **kw)
        assert layer.params["W"].shape == W.shape              # PyTorch's layout, as recorded
        layer.params["W"][...] = W
        if c["bias"]:
            layer.params["b"][...] = a["b"]
        assert_close(layer(a["x"]), a["y"], f"{c['id']}: y")
        dx = layer.backward(a["dy"])
        assert_close(dx, a["dx"], f"{c['id']}: dx")
        assert_close(layer.grads["W"], a["dW"], f"{c['id']}: dW")
        if c["bias"]:
            assert_close(layer.grads["b"], a["db"], f"{c['id']}: db")


# ------------------------------------------------------------------------ Linear
def test_linear_matches_torch(cpu_path):
    a = arrays("linear.in7_out3")
    W = np.ascontiguousarray(a["W"].T)                   # ours (in, out), PyTorch's (out, in)
    y, cache = linear_forward(a["x"], W, a["b"])
    assert_close(y, a["y"], "y")
    dx, dW, db = linear_backward(a["dy"], cache)
    assert_close(dx, a["dx"], "dx")
    assert_close(dW.T, a["dW"], "dW")
    assert_close(db, a["db"], "db")
    layer = Linear(7, 3, dtype=np.float64)
    layer.params["W"][...], layer.params["b"][...] = W, a["b"]
    assert_close(layer(a["x"]), a["y"], "layer y")
    assert_close(layer.backward(a["dy"]), a["dx"], "layer dx")
    assert_close(layer.grads["W"].T, a["dW"], "layer dW")
    assert_close(layer.grads["b"], a["db"], "layer db")


# --------------------------------------------------------------------- BatchNorm
@pytest.mark.parametrize("c", case_ids("bn"))
def test_batchnorm_layer_matches_torch(c, cpu_path):
    """Each recorded step: output, input and parameter gradients (zeroed before the step),
    and the running statistics and batch count after it, in training and eval mode."""
    cls = {"BatchNorm1d": BatchNorm1d, "BatchNorm2d": BatchNorm2d}[c["layer"]]
    ch = c["shape"][1]
    ours = cls(ch, eps=c["eps"], momentum=c["momentum"], affine=c["affine"], dtype=np.float64)
    if c["affine"]:
        ours.params["gamma"][...] = REF[f"bn.{c['id']}.gamma"]
        ours.params["beta"][...] = REF[f"bn.{c['id']}.beta"]
    for i, mode in enumerate(c["modes"]):
        a = arrays(f"bn.{c['id']}.{i}")
        what = f"step {i} ({mode})"
        ours.train(mode == "train")
        ours.zero_grad()
        assert_close(ours(a["x"]), a["y"], f"{what}: y")
        assert_close(ours.backward(a["dy"]), a["dx"], f"{what}: dx")
        if c["affine"]:
            assert_close(ours.grads["gamma"], a["dgamma"], f"{what}: dgamma")
            assert_close(ours.grads["beta"], a["dbeta"], f"{what}: dbeta")
        for name in ("running_mean", "running_var"):
            assert_close(ours.buffers[name], a[name], f"{what}: {name}")
        assert int(ours.buffers["num_batches_tracked"]) == int(a["num_batches_tracked"]), what


@pytest.mark.parametrize("c", case_ids("bn"))
def test_batchnorm_functional_matches_torch(c, cpu_path):
    """The functional pairs alone: training steps through batchnorm_forward/backward,
    eval steps through batchnorm_eval/eval_backward with the recorded running
    statistics of the step before."""
    gamma = REF.get(f"bn.{c['id']}.gamma")
    beta = REF.get(f"bn.{c['id']}.beta")
    running = (np.zeros(c["shape"][1]), np.ones(c["shape"][1]))     # PyTorch's initial buffers
    for i, mode in enumerate(c["modes"]):
        a = arrays(f"bn.{c['id']}.{i}")
        if mode == "train":
            y, cache = FB.batchnorm_forward(a["x"], gamma, beta, c["eps"])
            dx, dgamma, dbeta = FB.batchnorm_backward(a["dy"], cache)
        else:
            y, cache = FB.batchnorm_eval(a["x"], gamma, beta, *running, c["eps"])
            dx, dgamma, dbeta = FB.batchnorm_eval_backward(a["dy"], cache)
        assert_close(y, a["y"], f"step {i}: y")
        assert_close(dx, a["dx"], f"step {i}: dx")
        if c["affine"]:
            assert_close(dgamma, a["dgamma"], f"step {i}: dgamma")
            assert_close(dbeta, a["dbeta"], f"step {i}: dbeta")
        else:
            assert dgamma is None and dbeta is None
        running = (a["running_mean"], a["running_var"])


# -------------------------------------------------------------------------- init
@pytest.mark.parametrize("c", case_ids("init"))
def test_default_init_matches_torch(c):
    """Same weight shapes (Linear transposed) and PyTorch's bound 1/√fan_in, with fan_in as
    PyTorch computes it: both draws reach close to the bound and never exceed it."""
    cls = {"Conv2d": Conv2d, "ConvTranspose2d": ConvTranspose2d, "Linear": Linear}[c["class"]]
    layer = cls(*[tuple(a) if isinstance(a, list) else a for a in c["args"]], rng=0)
    W, b = layer.params["W"], layer.params["b"]
    theirs = tuple(c["weight_shape"])
    assert W.shape == (theirs[::-1] if c["class"] == "Linear" else theirs)
    assert b.shape == tuple(c["bias_shape"])
    bound = 1 / np.sqrt(c["fan_in"])
    assert 0.95 * bound < np.abs(W).max() <= bound
    assert 0.95 * bound < float(REF[f"init.{c['id']}.weight_abs_max"]) <= bound
    assert np.abs(b).max() <= bound and float(REF[f"init.{c['id']}.bias_abs_max"]) <= bound
