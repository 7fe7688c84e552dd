"""The models the benchmarks race: scratchvae's and their PyTorch twins, built alike.

    BATCH                      the batch size of every benchmark (128)
    build_model(kind)          scratchvae's model, seed 0: "MLP VAE" (784-400-20) or
                               "conv VAE" (conv 32, 64; latent 20)
    vae_models()               both, by name
    import_torch(threads)      PyTorch with ``threads`` threads, or None if not installed
    torch_model(torch, kind, L)  the same architecture in PyTorch: (modules, forward)
    copy_params(torch, ours, modules)   scratchvae's initial weights into the twin
    torch_vae_loss(...)        the twin's loss: Bernoulli likelihood from logits + KL
    check_same_loss(...)       raise unless both give the same loss on one batch
    step_contenders(kind, torch, rng)   one training step of each contender, as closures

Used by ``conv_vae.py``, ``vs_pytorch.py`` and ``gpu.py``: every comparison with PyTorch
starts from the same weights and checks that both compute the same loss before it times
anything, so the timings compare the same work.
"""
from __future__ import annotations

import numpy as np

from scratchvae.backend import use_cpu_kernels
from scratchvae.models import VAE, ConvVAE
from scratchvae.optim import Adam

BATCH = 128


def import_torch(threads):
    """PyTorch (benchmark-only) with ``threads`` threads, or None if it is not installed.

    Call it before anything starts Numba's thread pool. Numba's OpenMP layer loads the
    system's libgomp.so.1; PyTorch's wheel bundles its own libgomp.so.1, and if the
    system one is already loaded, PyTorch binds to it instead. Measured here, same
    process layout, steps interleaved: PyTorch's MLP VAE step 7.9 ms with its own
    runtime, 20.0 ms bound to the system one (conv VAE 24.4 vs 40.7 ms), while
    scratchvae's steps did not move. Loaded first, each library keeps its own runtime,
    as in a process that uses only one of them.
    """
    try:
        import torch  # noqa: PLC0415 - optional, benchmark-only dependency
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def build_model(kind):
    """scratchvae's model of a step benchmark, seed 0: "conv VAE" or "MLP VAE" (784-400-20)."""
    if kind == "conv VAE":
        return ConvVAE((1, 28, 28), (32, 64), 20, seed=0)
    return VAE(784, (400,), 20, seed=0)


def vae_models():
    """The two models of the benchmarks: MLP VAE 784-400-20 and the conv VAE (32, 64), L=20."""
    return {"MLP VAE": build_model("MLP VAE"), "conv VAE": build_model("conv VAE")}


def torch_model(torch, kind, L):
    """The same architecture in PyTorch CPU.

    Returns ``(modules, forward)``: the layers in the order of scratchvae's parameters
    (for :func:`copy_params`) and ``forward(tx (N, 784), teps (N, L)) -> (h (N, 2L),
    logits (N, 784))`` with z = μ + exp(logvar/2)·ε, ε given.
    """
    nn = torch.nn
    if kind == "conv VAE":
        enc = [nn.Conv2d(1, 32, 4, 2, 1), nn.Conv2d(32, 64, 4, 2, 1), nn.Linear(64 * 49, 2 * L)]
        dec = [nn.Linear(L, 64 * 49), nn.ConvTranspose2d(64, 32, 4, 2, 1),
               nn.ConvTranspose2d(32, 1, 4, 2, 1)]

        def forward(tx, teps):
            h = torch.relu(enc[1](torch.relu(enc[0](tx.view(-1, 1, 28, 28))))).flatten(1)
            h = enc[2](h)
            z = h[:, :L] + torch.exp(h[:, L:] / 2) * teps
            d = torch.relu(dec[0](z)).view(-1, 64, 7, 7)
            return h, dec[2](torch.relu(dec[1](d))).flatten(1)
    else:
        enc = [nn.Linear(784, 400), nn.Linear(400, 2 * L)]
        dec = [nn.Linear(L, 400), nn.Linear(400, 784)]

        def forward(tx, teps):
            h = enc[1](torch.relu(enc[0](tx)))
            z = h[:, :L] + torch.exp(h[:, L:] / 2) * teps
            return h, dec[1](torch.relu(dec[0](z)))
    return enc + dec, forward


def copy_params(torch, ours, modules):
    """Copy scratchvae's weights into the torch modules (Linear stores W transposed)."""
    params = [p for name, p, _ in ours.parameters()]
    tparams = [p for m in modules for p in (m.weight, m.bias)]
    assert len(params) == len(tparams), (len(params), len(tparams))
    with torch.no_grad():
        for p, tp in zip(params, tparams):
            src = torch.from_numpy(p.T.copy() if p.ndim == 2 else p)
            assert tuple(src.shape) == tuple(tp.shape), (src.shape, tp.shape)
            tp.copy_(src)


def torch_vae_loss(torch, mu_logvar, logits, x, latent):
    F = torch.nn.functional
    mu, logvar = mu_logvar[:, :latent], mu_logvar[:, latent:]
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum() / x.shape[0]
    return rec + kl, mu, logvar


def check_same_loss(torch, kind, model, forward, x, eps):
    """Raise unless both models give the same loss on (x, ε) (float32 round-off apart)."""
    ours_loss = model.loss_and_grads(x, eps=eps, compute_grads=False)["loss"]
    with torch.no_grad():
        h, logits = forward(torch.from_numpy(x), torch.from_numpy(eps))
        theirs = float(torch_vae_loss(torch, h, logits, torch.from_numpy(x),
                                       model.latent_dim)[0])
    if abs(ours_loss - theirs) > 1e-4 * abs(theirs):
        raise AssertionError(f"{kind}: scratchvae loss {ours_loss} != torch loss {theirs}; "
                             "the two models differ, the timing would compare different work")


def step_contenders(kind, torch, rng):
    model = build_model(kind)
    L = model.latent_dim
    x = rng.uniform(0, 1, (BATCH, 784)).astype(np.float32)
    eps = rng.standard_normal((BATCH, L)).astype(np.float32)
    opt = Adam(model.parameters(), 1e-3)

    def ours(path):
        def run():
            with use_cpu_kernels(path):
                model.zero_grad()
                model.loss_and_grads(x, eps=eps)
                opt.step()
        return run

    fns = {"numba": ours("numba"), "numpy": ours("numpy")}
    if torch is None:
        return fns
    modules, forward = torch_model(torch, kind, L)
    copy_params(torch, model, modules)
    # the same computation: equal losses before any step (float32 round-off apart)
    check_same_loss(torch, kind, model, forward, x, eps)
    tparams = [p for m in modules for p in m.parameters()]
    topt = torch.optim.Adam(tparams, 1e-3)
    tx, teps = torch.from_numpy(x), torch.from_numpy(eps)

    def run_torch():
        topt.zero_grad(set_to_none=False)
        h, logits = forward(tx, teps)
        loss, _, _ = torch_vae_loss(torch, h, logits, tx, L)
        loss.backward()
        topt.step()
    fns["torch"] = run_torch
    return fns
