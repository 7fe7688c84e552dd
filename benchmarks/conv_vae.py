"""Benchmark: conv layers and whole training steps, scratchvae vs PyTorch CPU, side by side.

Run from the repository root (about 4 minutes; --quick about 40 s):

    python benchmarks/conv_vae.py
    python benchmarks/conv_vae.py --quick --json bench.json
    python benchmarks/conv_vae.py --write-docs     # replaces the table in docs/benchmarks.md

Contenders, timed interleaved in one process on the same inputs (float32, batch 128):

    numba    scratchvae on its default CPU path: Numba GEMM, im2col/col2im, fused kernels
    numpy    scratchvae's NumPy reference path: the same layers with numpy.matmul (OpenBLAS)
             and NumPy im2col/col2im
    torch    PyTorch CPU (``pip install torch==2.13.0``), when it imports; same
             architecture, initial weights copied from scratchvae, same loss
    naive    the loop oracles ``conv2d_naive``/``conv_transpose2d_naive``: forward only,
             one call (they are there to show what the kernels buy, not to race)

What is timed:

    layers   forward + backward of each layer of the conv VAE at its own input size:
             Conv2d(1,32,4,2,1) 28×28, Conv2d(32,64,4,2,1) 14×14,
             ConvTranspose2d(64,32,4,2,1) 7×7, ConvTranspose2d(32,1,4,2,1) 14×14
    steps    one full training step (zero grads, forward, loss, backward, Adam) of the
             conv VAE (2 conv + 2 transposed conv, k4 s2, latent 20) and of the MLP VAE
             784-400-20, Bernoulli likelihood, ε frozen per step

Every contender runs with the same number of threads (--threads, default 2). Between contenders the script sleeps --pause
seconds: OpenBLAS's and PyTorch's OpenMP workers spin for a while after a call, and a
Numba parallel region started in that window is slowed severalfold (docs/benchmarks.md).
Read the ratios (torch time ÷ our time: above 1 means scratchvae is faster); the
absolute numbers move with the machine's load.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from common import machine_info, set_threads, time_side_by_side
from scratchvae.backend import use_cpu_kernels
from scratchvae.functional.conv import conv2d_naive, conv_transpose2d_naive
from scratchvae.models import VAE, ConvVAE
from scratchvae.nn.conv import Conv2d, ConvTranspose2d
from scratchvae.optim import Adam

BATCH = 128
LAYERS = {   # name -> (class, args, input shape (C, H, W))
    "Conv2d(1,32,4,2,1) 28×28": (Conv2d, (1, 32, 4, 2, 1), (1, 28, 28)),
    "Conv2d(32,64,4,2,1) 14×14": (Conv2d, (32, 64, 4, 2, 1), (32, 14, 14)),
    "ConvT(64,32,4,2,1) 7×7": (ConvTranspose2d, (64, 32, 4, 2, 1), (64, 7, 7)),
    "ConvT(32,1,4,2,1) 14×14": (ConvTranspose2d, (32, 1, 4, 2, 1), (32, 14, 14)),
}
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN, END = "<!-- conv_vae.py:begin -->", "<!-- conv_vae.py:end -->"


def _torch(threads):
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


# ------------------------------------------------------------------------ layers
def layer_contenders(name, torch, rng):
    cls, args, (C, H, W) = LAYERS[name]
    layer = cls(*args, rng=0)
    x = rng.uniform(-1, 1, (BATCH, C, H, W)).astype(np.float32)
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    layer.backward(dy)

    def ours(path):
        def run():
            with use_cpu_kernels(path):
                layer.zero_grad()
                layer.forward(x)
                layer.backward(dy)
        return run

    fns = {"numba": ours("numba"), "numpy": ours("numpy")}
    if torch is not None:
        tcls = torch.nn.Conv2d if cls is Conv2d else torch.nn.ConvTranspose2d
        tl = tcls(*args)
        with torch.no_grad():
            tl.weight.copy_(torch.from_numpy(layer.params["W"]))
            tl.bias.copy_(torch.from_numpy(layer.params["b"]))
        tx = torch.from_numpy(x).requires_grad_(True)
        tdy = torch.from_numpy(dy)

        def run_torch():
            tl.zero_grad(set_to_none=False)
            tx.grad = None
            tl(tx).backward(tdy)
        fns["torch"] = run_torch
    naive = conv2d_naive if cls is Conv2d else conv_transpose2d_naive
    return fns, (lambda: naive(x, layer.params["W"], layer.params["b"], stride=2, padding=1))


# ------------------------------------------------------------------------- steps
def _torch_vae_loss(torch, mu_logvar, logits, x, latent):
    F = torch.nn.functional
    mu, logvar = mu_logvar[:, :latent], mu_logvar[:, latent:]
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum() / x.shape[0]
    return rec + kl, mu, logvar


def _copy_params(torch, ours, modules):
    """Copy scratchvae's weights into the torch modules (Linear stores W transposed)."""
    params = [p for name, p, _ in ours.parameters()]
    tparams = [p for m in modules for p in (m.weight, m.bias)]
    assert len(params) == len(tparams), (len(params), len(tparams))
    with torch.no_grad():
        for p, tp in zip(params, tparams):
            src = torch.from_numpy(p.T.copy() if p.ndim == 2 else p)
            assert tuple(src.shape) == tuple(tp.shape), (src.shape, tp.shape)
            tp.copy_(src)


def build_model(kind):
    """scratchvae's model of a step benchmark, seed 0: "conv VAE" or "MLP VAE" (784-400-20)."""
    if kind == "conv VAE":
        return ConvVAE((1, 28, 28), (32, 64), 20, seed=0)
    return VAE(784, (400,), 20, seed=0)


def torch_model(torch, kind, L):
    """The same architecture in PyTorch CPU.

    Returns ``(modules, forward)``: the layers in the order of scratchvae's parameters
    (for :func:`_copy_params`) and ``forward(tx (N, 784), teps (N, L)) -> (h (N, 2L),
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


def check_same_loss(torch, kind, model, forward, x, eps):
    """Raise unless both models give the same loss on (x, ε) (float32 round-off apart)."""
    ours_loss = model.loss_and_grads(x, eps=eps, compute_grads=False)["loss"]
    with torch.no_grad():
        h, logits = forward(torch.from_numpy(x), torch.from_numpy(eps))
        theirs = float(_torch_vae_loss(torch, h, logits, torch.from_numpy(x),
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
    _copy_params(torch, model, modules)
    # the same computation: equal losses before any step (float32 round-off apart)
    check_same_loss(torch, kind, model, forward, x, eps)
    tparams = [p for m in modules for p in m.parameters()]
    topt = torch.optim.Adam(tparams, 1e-3)
    tx, teps = torch.from_numpy(x), torch.from_numpy(eps)

    def run_torch():
        topt.zero_grad(set_to_none=False)
        h, logits = forward(tx, teps)
        loss, _, _ = _torch_vae_loss(torch, h, logits, tx, L)
        loss.backward()
        topt.step()
    fns["torch"] = run_torch
    return fns


# ------------------------------------------------------------------------ report
def _ms(s):
    return f"{1e3 * s:.2f}"


def table(rows, contenders):
    head = "| | " + " | ".join(f"{c} (ms)" for c in contenders)
    ratio_cols = [c for c in contenders if c not in ("numba", "naive fwd")]
    head += "".join(f" | {c} ÷ numba" for c in ratio_cols) + " |"
    lines = [head, "|---" * (1 + len(contenders) + len(ratio_cols)) + "|"]
    for name, med in rows:
        cells = [_ms(med[c]) if c in med else "—" for c in contenders]
        ratios = [f"{med[c] / med['numba']:.2f}" if c in med else "—" for c in ratio_cols]
        lines.append(f"| {name} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


def write_docs(text, path=None, begin=BEGIN, end=END, heading=None):
    """Replace the block between the markers ``begin`` and ``end`` of ``path`` (default
    docs/benchmarks.md) with ``text``; without the markers, append the block at the end,
    under ``heading`` when one is given."""
    path = DOCS if path is None else Path(path)
    doc = path.read_text()
    block = f"{begin}\n{text}\n{end}"
    if begin in doc:
        doc = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, doc, flags=re.S)
    else:
        doc = doc.rstrip() + "\n\n" + (f"{heading}\n\n" if heading else "") + block + "\n"
    path.write_text(doc)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter samples")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved samples per contender")
    ap.add_argument("--sample-ms", type=float, default=None, help="length of one sample")
    ap.add_argument("--pause", type=float, default=0.3, metavar="S",
                    help="sleep before each sample (thread pools go idle)")
    ap.add_argument("--threads", type=int, default=2,
                    help="threads for every contender (1 is steadier on a busy machine)")
    ap.add_argument("--no-naive", action="store_true", help="skip the loop oracles")
    ap.add_argument("--json", metavar="PATH", help="write the numbers as JSON")
    ap.add_argument("--write-docs", action="store_true",
                    help=f"replace the generated section of {DOCS.name}")
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 9)
    target = (args.sample_ms or (60 if args.quick else 250)) / 1e3
    torch = _torch(args.threads)          # before Numba's threads start: see _torch
    threads = set_threads(args.threads)
    rng = np.random.default_rng(0)
    info = machine_info()
    info["torch"] = torch.__version__ if torch is not None else "(not installed)"
    print(f"threads: {threads}; torch: {info['torch']}", flush=True)

    results = {"machine": info, "layers": {}, "steps": {}, "naive_forward_s": {},
               "repeats": repeats, "sample_s": target}
    layer_rows, step_rows = [], []
    for name in LAYERS:
        fns, naive = layer_contenders(name, torch, rng)
        med, best = time_side_by_side(fns, repeats, target, args.pause)
        if not args.no_naive and not args.quick:
            t0 = time.perf_counter()
            naive()
            med["naive fwd"] = results["naive_forward_s"][name] = time.perf_counter() - t0
        results["layers"][name] = {"median_s": med, "best_s": best}
        layer_rows.append((name, med))
        print(name, {k: _ms(v) for k, v in med.items()}, flush=True)
    for kind in ("conv VAE", "MLP VAE"):
        med, best = time_side_by_side(step_contenders(kind, torch, rng), repeats, target,
                                      args.pause)
        results["steps"][kind] = {"median_s": med, "best_s": best}
        step_rows.append((f"{kind} training step", med))
        print(kind, {k: _ms(v) for k, v in med.items()}, flush=True)

    contenders = ["numba", "numpy"] + (["torch"] if torch is not None else [])
    layer_contenders_cols = contenders + (["naive fwd"] if results["naive_forward_s"] else [])
    text = ("Layers, forward + backward, batch 128, float32 (median of interleaved samples; "
            "`naive fwd` is one forward call of the loop oracle):\n\n"
            + table(layer_rows, layer_contenders_cols)
            + "\n\nWhole training steps (zero grads, forward, loss, backward, Adam), batch 128, "
              "float32:\n\n" + table(step_rows, contenders)
            + f"\n\nMachine: {info['cpu']}, {info['logical_cpus']} logical CPUs, Python "
              f"{info['python']}, NumPy {info['numpy']} ({info['blas']}), Numba {info['numba']}, "
              f"PyTorch {info['torch']}; {args.threads} thread(s) each; {repeats} interleaved "
              f"samples of ~{1e3 * target:.0f} ms per contender. Command: "
              f"`python benchmarks/conv_vae.py{' --quick' if args.quick else ''}"
              f"{f' --threads {args.threads}' if args.threads != 2 else ''}`.")
    print()
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if args.write_docs:
        write_docs(text)
        print(f"\nwrote {DOCS}")
    ratios = [r["median_s"]["torch"] / r["median_s"]["numba"]
              for r in results["steps"].values() if "torch" in r["median_s"]]
    if ratios:
        print(f"torch ÷ numba on whole steps: {', '.join(f'{r:.2f}' for r in ratios)} "
              f"(geometric mean {statistics.geometric_mean(ratios):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
