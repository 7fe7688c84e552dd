"""Write tests/data/torch_reference.npz: PyTorch's outputs and gradients for the layers
that scratchvae reimplements, checked against ours by tests/test_torch_reference.py.

Regenerate (PyTorch is needed for this step only; it is neither a dependency of the
library nor of its tests, which read the committed file without importing torch):

    python -m venv /tmp/torch-ref && /tmp/torch-ref/bin/pip install torch==2.13.0 numpy
    /tmp/torch-ref/bin/python tests/make_torch_reference.py

Everything is float64 and seeded, so a rerun with the same PyTorch writes the same
numbers. What is recorded, each with a random upstream gradient dy drawn from N(0, 1):

* ``conv2d`` and ``conv_transpose2d`` (torch.nn.functional) with and without bias, for
  square and non-square kernels, strides, paddings and (transposed) output paddings:
  x, W, b, y, dy and the gradients dx, dW, db. Weights are in PyTorch's layouts,
  which scratchvae's convolutions share: (F, C, KH, KW) and (C, F, KH, KW).
* ``linear``: x, W in PyTorch's (out, in) layout (scratchvae stores its transpose),
  b, y, dy, dx, dW, db.
* ``torch.nn.BatchNorm1d`` / ``BatchNorm2d``: a sequence of forward/backward steps in
  training mode and then eval mode, on (N, C), (N, C, L) and (N, C, H, W) inputs, with
  and without an affine map, momentum 0.2, the default 0.1, and None (the cumulative
  average): per step x, dy, y, dx, dγ, dβ (gradients zeroed before each step) and the
  running statistics and batch count after it.
* PyTorch's default init of Conv2d, ConvTranspose2d and Linear: the weight shape, the
  fan_in PyTorch computes for it, and the largest |w| and |b| it drew.

The case list and parameters are stored as JSON under the key ``meta``; arrays under
``<group>.<case>.<name>`` (``bn.<case>.<step>.<name>`` for the BatchNorm steps).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

OUT = Path(__file__).parent / "data" / "torch_reference.npz"
SEED = 20240613

# (id, kernel, stride, padding, output_padding (transposed only), bias, x shape (N, C, H, W), F)
CONV_CASES = [
    ("k3_s1_p1", 3, 1, 1, 0, True, (2, 3, 9, 7), 4),
    ("k4_s2_p1", 4, 2, 1, 0, True, (2, 3, 9, 7), 4),
    ("k5_s2_p2_op1", 5, 2, 2, 1, True, (2, 3, 9, 7), 4),
    ("k3x2_s2x1_p1x0_op1x0", (3, 2), (2, 1), (1, 0), (1, 0), True, (2, 3, 9, 7), 4),
    ("k2x3_s1x2_p0x1_nobias", (2, 3), (1, 2), (0, 1), (0, 1), False, (1, 2, 5, 6), 3),
    ("k1_s1_p0_nobias", 1, 1, 0, 0, False, (3, 1, 4, 5), 2),
]

# (id, layer, x shape, momentum, eps, affine, modes of the successive steps)
BN_CASES = [
    ("bn2d_m0.2", "BatchNorm2d", (4, 3, 5, 3), 0.2, 1e-5, True,
     ["train", "train", "train", "eval"]),
    ("bn1d_m0.2", "BatchNorm1d", (6, 3), 0.2, 1e-5, True, ["train", "train", "train", "eval"]),
    ("bn1d_ncl_default", "BatchNorm1d", (5, 4, 3), 0.1, 1e-5, True, ["train", "train", "eval"]),
    ("bn2d_cumulative_noaffine", "BatchNorm2d", (2, 2, 3, 3), None, 1e-3, False,
     ["train", "train", "train", "eval", "train"]),
]

# (id, torch class, constructor arguments) for the default-init record
INIT_CASES = [
    ("conv2d", "Conv2d", (8, 16, 5)),
    ("conv_transpose2d", "ConvTranspose2d", (16, 8, (5, 3))),
    ("linear", "Linear", (400, 20)),
]


def as_pair(v):
    return list(v) if isinstance(v, tuple) else [v, v]


def t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def conv_cases(rng, arrays, transposed):
    group = "conv_transpose2d" if transposed else "conv2d"
    meta = []
    for cid, k, s, p, op, bias, x_shape, f in CONV_CASES:
        kh, kw = as_pair(k)
        c = x_shape[1]
        x = rng.standard_normal(x_shape)
        W = rng.standard_normal((c, f, kh, kw) if transposed else (f, c, kh, kw))
        b = rng.standard_normal(f) if bias else None
        tx, tW = t(x, True), t(W, True)
        tb = t(b, True) if bias else None
        if transposed:
            ty = F.conv_transpose2d(tx, tW, tb, stride=s, padding=p, output_padding=op)
        else:
            ty = F.conv2d(tx, tW, tb, stride=s, padding=p)
        dy = rng.standard_normal(tuple(ty.shape))
        ty.backward(t(dy))
        rec = {"x": x, "W": W, "y": ty.detach().numpy(), "dy": dy,
               "dx": tx.grad.numpy(), "dW": tW.grad.numpy()}
        if bias:
            rec.update(b=b, db=tb.grad.numpy())
        for name, a in rec.items():
            arrays[f"{group}.{cid}.{name}"] = np.array(a, dtype=np.float64)
        case = {"id": cid, "kernel_size": [kh, kw], "stride": as_pair(s), "padding": as_pair(p),
                "bias": bias}
        if transposed:
            case["output_padding"] = as_pair(op)
        meta.append(case)
    return meta


def linear_case(rng, arrays):
    x, W, b = rng.standard_normal((5, 7)), rng.standard_normal((3, 7)), rng.standard_normal(3)
    tx, tW, tb = t(x, True), t(W, True), t(b, True)
    ty = F.linear(tx, tW, tb)                                  # x @ W.T + b, W is (out, in)
    dy = rng.standard_normal(tuple(ty.shape))
    ty.backward(t(dy))
    rec = {"x": x, "W": W, "b": b, "y": ty.detach().numpy(), "dy": dy, "dx": tx.grad.numpy(),
           "dW": tW.grad.numpy(), "db": tb.grad.numpy()}
    for name, a in rec.items():
        arrays[f"linear.in7_out3.{name}"] = np.array(a, dtype=np.float64)
    return [{"id": "in7_out3"}]


def batchnorm_cases(rng, arrays):
    meta = []
    for cid, layer, shape, momentum, eps, affine, modes in BN_CASES:
        c = shape[1]
        ref = getattr(torch.nn, layer)(c, eps=eps, momentum=momentum, affine=affine).double()
        if affine:
            gamma = rng.uniform(0.5, 1.5, c) * rng.choice([-1.0, 1.0], c)
            beta = rng.normal(size=c)
            with torch.no_grad():
                ref.weight.copy_(t(gamma))
                ref.bias.copy_(t(beta))
            arrays[f"bn.{cid}.gamma"], arrays[f"bn.{cid}.beta"] = gamma, beta
        for i, mode in enumerate(modes):
            ref.train(mode == "train")
            x, dy = rng.normal(1.0, 2.0, shape), rng.normal(size=shape)
            ref.zero_grad()
            tx = t(x, True)
            ty = ref(tx)
            ty.backward(t(dy))
            rec = {"x": x, "dy": dy, "y": ty.detach().numpy(), "dx": tx.grad.numpy(),
                   "running_mean": ref.running_mean.numpy(), "running_var": ref.running_var.numpy(),
                   "num_batches_tracked": np.array(int(ref.num_batches_tracked))}
            if affine:
                rec.update(dgamma=ref.weight.grad.numpy(), dbeta=ref.bias.grad.numpy())
            for name, a in rec.items():
                arrays[f"bn.{cid}.{i}.{name}"] = np.array(a, dtype=np.int64 if
                                                          name == "num_batches_tracked" else
                                                          np.float64)
        meta.append({"id": cid, "layer": layer, "shape": list(shape), "momentum": momentum,
                     "eps": eps, "affine": affine, "modes": modes})
    return meta


def init_cases(arrays):
    torch.manual_seed(SEED)
    meta = []
    for cid, cls, args in INIT_CASES:
        m = getattr(torch.nn, cls)(*args)
        fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(m.weight)
        arrays[f"init.{cid}.weight_abs_max"] = np.array(m.weight.detach().abs().max().item())
        arrays[f"init.{cid}.bias_abs_max"] = np.array(m.bias.detach().abs().max().item())
        meta.append({"id": cid, "class": cls, "args": [list(a) if isinstance(a, tuple) else a
                                                       for a in args],
                     "weight_shape": list(m.weight.shape), "bias_shape": list(m.bias.shape),
                     "fan_in": int(fan_in)})
    return meta


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(SEED)
    arrays = {}
    meta = {"torch_version": torch.__version__, "seed": SEED,
            "conv2d": conv_cases(rng, arrays, transposed=False),
            "conv_transpose2d": conv_cases(rng, arrays, transposed=True),
            "linear": linear_case(rng, arrays),
            "bn": batchnorm_cases(rng, arrays),
            "init": init_cases(arrays)}
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB, {len(arrays)} arrays, "
          f"torch {torch.__version__})")


if __name__ == "__main__":
    main()
