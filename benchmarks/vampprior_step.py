"""The VampPrior VAE's training step and its mixture prior, side by side with PyTorch CPU.

Contenders, interleaved in one process (``common.time_side_by_side``):

* ``mixture``: log p(z) of a K-component diagonal-Gaussian mixture and its backward at
  the VampPrior's sizes (N = 100 codes, K = 500 components, L = 40): the Numba kernels
  (``kernels/mixture.py``), the library's NumPy path, and PyTorch autograd of the same
  expression;
* ``step``: one training step of the paper's model (gated 784-300-300 encoder and
  decoder, L = 40, K = 500 pseudo-inputs through a hard-tanh, Bernoulli likelihood,
  batch 100; forward, backward, no optimizer): scratchvae's Numba path, its NumPy path,
  and a PyTorch twin with the same parameters, whose loss is checked against ours first
  (the same ε, so the same number to float32 round-off) — a benchmark that timed another
  model would time nothing.

    python benchmarks/vampprior_step.py --threads 1      # prints one JSON line
    for i in 1 2 3; do python benchmarks/vampprior_step.py >> vamp.jsonl; done
"""
import argparse
import json
import math

import numpy as np
from contenders import import_torch
from common import machine_info, set_threads, time_side_by_side

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=int, default=1, help="threads for every library")
parser.add_argument("--repeats", type=int, default=7, help="interleaved samples per contender")
parser.add_argument("--target-s", type=float, default=0.3, help="seconds per sample")
args = parser.parse_args()
torch = import_torch(args.threads)          # PyTorch's OpenMP first (contenders.py)
set_threads(args.threads)

from scratchvae.backend import use_cpu_kernels  # noqa: E402
from scratchvae.distributions.vampprior import (mixture_log_density_backward,  # noqa: E402
                                                mixture_log_density_forward)
from scratchvae.models import VampPriorVAE  # noqa: E402

N, K, L, D = 100, 500, 40, 784
rng = np.random.default_rng(0)


# ------------------------------------------------------------------ the mixture
z = rng.standard_normal((N, L)).astype(np.float32)
mu = rng.standard_normal((K, L)).astype(np.float32)
logvar = rng.uniform(-2, 0.5, (K, L)).astype(np.float32)
dlog_p = rng.standard_normal(N).astype(np.float32)


def ours_mixture(path):
    def run():
        with use_cpu_kernels(path):
            lp, cache = mixture_log_density_forward(z, mu, logvar)
            return lp, mixture_log_density_backward(dlog_p, cache)
    return run


fns = {"mixture numba": ours_mixture("numba"), "mixture numpy": ours_mixture("numpy")}
if torch is not None:
    tz, tmu, tlv = (torch.tensor(a, requires_grad=True) for a in (z, mu, logvar))
    tdl = torch.tensor(dlog_p)

    def torch_mixture():
        tz.grad = tmu.grad = tlv.grad = None
        ell = -0.5 * (((tz[:, None, :] - tmu[None]) ** 2 * torch.exp(-tlv)).sum(2)
                      + tlv.sum(1) + L * math.log(2 * math.pi))
        lp = torch.logsumexp(ell, 1) - math.log(K)
        lp.backward(tdl)
        return lp
    ref = ours_mixture("numpy")()[0]
    assert np.allclose(torch_mixture().detach().numpy(), ref, rtol=1e-4, atol=1e-3)
    fns["mixture torch"] = torch_mixture


# ------------------------------------------------------------------ the step
model = VampPriorVAE(D, (300, 300), L, n_pseudo=K, seed=0)
x = (rng.random((N, D)) < 0.3).astype(np.float32)
eps = rng.standard_normal((N, L)).astype(np.float32)


def ours_step(path):
    def run():
        with use_cpu_kernels(path):
            model.zero_grad()
            return model.loss_and_grads(x, eps=eps)["loss"]
    return run


fns["step numba"], fns["step numpy"] = ours_step("numba"), ours_step("numpy")


def _gated(layer, h):
    """One GatedLinear of ours as torch ops on its own parameters."""
    p = layer.torch_params
    return (h @ p["W"] + p["b"]) * torch.sigmoid(h @ p["V"] + p["c"])


def _linear(layer, h):
    p = layer.torch_params
    return h @ p["W"] + p["b"]


def _attach(module):
    """torch leaf tensors holding the layer's parameters (same values)."""
    module.torch_params = {k: torch.tensor(v, requires_grad=True) for k, v in module.params.items()}
    return list(module.torch_params.values())


if torch is not None:
    leaves = []
    for layer in (*model.encoder.layers, *model.decoder.layers):
        leaves += _attach(layer)
    t_pseudo = torch.tensor(model.params["pseudo_inputs"], requires_grad=True)
    leaves.append(t_pseudo)
    tx, teps = torch.tensor(x), torch.tensor(eps)

    def _net(layers, h):
        for layer in layers[:-1]:
            h = _gated(layer, h)
        return _linear(layers[-1], h)

    def torch_step():
        for t in leaves:
            t.grad = None
        u = torch.clamp(t_pseudo, 0.0, 1.0)                           # hard-tanh to [0, 1]
        h = _net(model.encoder.layers, torch.cat([tx, u]))            # one pass on [x; u]
        mu_q, lv_q = h[:N, :L], h[:N, L:]
        mu_p, lv_p = h[N:, :L], h[N:, L:]
        zz = mu_q + torch.exp(0.5 * lv_q) * teps
        logits = _net(model.decoder.layers, zz)
        recon = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, tx, reduction="sum") / N
        log_q = -0.5 * (teps ** 2 + lv_q + math.log(2 * math.pi)).sum(1)
        ell = -0.5 * (((zz[:, None, :] - mu_p[None]) ** 2 * torch.exp(-lv_p)).sum(2)
                      + lv_p.sum(1) + L * math.log(2 * math.pi))
        log_p = torch.logsumexp(ell, 1) - math.log(K)
        loss = recon + model.beta * (log_q - log_p).mean()
        loss.backward()
        return float(loss.detach())

    ours = ours_step("numpy")()
    theirs = torch_step()
    assert abs(ours - theirs) < 1e-3 * abs(ours), (ours, theirs)      # the same model
    fns["step torch"] = torch_step

for fn in fns.values():                                               # compile, warm up
    fn()
median, best = time_side_by_side(fns, args.repeats, args.target_s, pause_s=0.2)
out = {"threads": args.threads, "ms": {k: round(v * 1e3, 3) for k, v in median.items()},
       "best_ms": {k: round(v * 1e3, 3) for k, v in best.items()},
       "machine": machine_info()}
print(json.dumps(out))
