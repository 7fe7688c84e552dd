"""Command line: ``python -m scratchvae {train, sample, reconstruct, evaluate, gradcheck}``.

    python -m scratchvae train                      # VAE on the embedded sprites, ~1 min
    python -m scratchvae train --data fashion-mnist --epochs 3 --binarize
    python -m scratchvae sample runs/vae-sprites/checkpoint.npz --n 64
    python -m scratchvae reconstruct runs/vae-sprites/checkpoint.npz
    python -m scratchvae evaluate runs/vae-sprites/checkpoint.npz --k 5000   # IWAE NLL, ELBO, AU
    python -m scratchvae gradcheck                  # every layer and loss, a table
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from . import plots
from .errors import ScratchVAEError

EPILOG = """Each command's --help lists its options. Runs write to --out (default
runs/<model>-<data>/): checkpoint.npz, history.json/.csv, results.json and PNG figures."""


# ----------------------------------------------------------------------- train
def _load_split(name: str, split: str, limit: int | None):
    from .data import load_dataset  # noqa: PLC0415 - keep `--help` fast

    ds = load_dataset(name, split)
    x = ds.x.reshape(len(ds.x), -1).astype(np.float32, copy=False)
    y = ds.y
    if limit:
        x, y = x[:limit], (y[:limit] if y is not None else None)
    return x, y, tuple(ds.x.shape[1:])


def _image_shape(shape) -> tuple | None:
    """(1, H, W) or (H, W) → (H, W); anything else (e.g. (3,) points) → None."""
    shape = tuple(shape)
    if len(shape) == 3 and shape[0] == 1:
        return shape[1:]
    return shape if len(shape) == 2 else None


def cmd_train(args) -> int:
    from .models import build_model  # noqa: PLC0415
    from .train import TrainConfig, Trainer, load_checkpoint  # noqa: PLC0415

    out = Path(args.out or f"runs/{args.model}-{args.data}")
    ckpt = out / "checkpoint.npz"
    if args.resume:
        meta, _, _ = load_checkpoint(ckpt)
        cfg = TrainConfig(**{**meta["train_config"], "progress": not args.quiet})
        if args.epochs is not None:
            cfg.epochs = args.epochs
        data = cfg.extra["data"]
        model = build_model(meta["model_config"])
        print(f"resuming {ckpt} at epoch {meta['epoch']} → {cfg.epochs}")
    else:
        data = args.data
    train_x, _, shape = _load_split(data, "train", args.limit)
    test_x, test_y, _ = _load_split(data, "test", args.limit and max(args.limit // 5, 1))
    if not args.resume:
        likelihood = args.likelihood
        if likelihood == "auto":
            likelihood = "bernoulli" if train_x.min() >= 0 and train_x.max() <= 1 else "gaussian"
        if args.model in ("conv-vae", "conv-iwae"):
            if len(shape) != 3:
                raise ScratchVAEError(f"--model {args.model} needs image data (C, H, W); {data!r} "
                                      f"has examples of shape {shape}. Use an MLP model for it.")
            config = dict(model=args.model, image_shape=list(shape), channels=args.channels,
                          latent_dim=args.latent_dim, likelihood=likelihood, seed=args.seed)
        else:
            config = dict(model=args.model, input_dim=train_x.shape[1], hidden=args.hidden,
                          latent_dim=args.latent_dim, likelihood=likelihood,
                          activation=args.activation, seed=args.seed)
        if args.model in ("vae", "conv-vae"):
            config["beta"] = args.beta
        if args.model in ("iwae", "conv-iwae"):          # the IWAE bound has no β
            config["k"] = args.k
        model = build_model(config)
        cfg = TrainConfig(epochs=args.epochs if args.epochs is not None else 30,
                          batch_size=args.batch_size, lr=args.lr, binarize=args.binarize,
                          clip_norm=args.clip_norm, seed=args.seed, progress=not args.quiet,
                          lr_schedule=args.lr_schedule, kl_warmup_epochs=args.kl_warmup,
                          extra={"data": data, "image_shape": list(shape)})
    print(f"data {data}: train {train_x.shape}, test {test_x.shape}; model {model.config['model']} "
          f"with {model.num_parameters():,} parameters; {cfg.epochs} epochs of "
          f"{-(-len(train_x) // cfg.batch_size)} steps")
    trainer = Trainer(model, train_x, test_x, cfg, out_dir=out)
    if args.resume:
        trainer.load(ckpt)
    t0 = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - t0
    final = trainer.evaluate(test_x)
    figures = _figures(model, trainer.history, test_x, test_y, _image_shape(shape), out, args.seed)
    results = {"data": data, "model": model.config, "epochs": trainer.epoch,
               "test": final, "train_seconds": seconds,
               "seconds_per_epoch": [r["seconds"] for r in trainer.history],
               "figures": [str(p) for p in figures]}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    terms = ", ".join(f"{k} {v:.2f}" for k, v in final.items())
    print(f"test: {terms} (nats per example; loss = −ELBO for a VAE)")
    print(f"wrote {ckpt}, {out / 'history.csv'} and figures: " + ", ".join(p.name for p in figures))
    return 0


def _figures(model, history, x, y, image_shape, out: Path, seed: int) -> list[Path]:
    from .backend import to_numpy  # noqa: PLC0415

    paths = [plots.save_loss_curves(history, out / "loss_curves.png")] if history else []
    n = min(len(x), 2000)
    if image_shape is not None:
        paths.append(plots.save_reconstructions(x[:8], to_numpy(model.reconstruct(x[:8])),
                                                 out / "reconstructions.png", image_shape))
        if hasattr(model, "sample"):
            paths.append(plots.save_image_grid(to_numpy(model.sample(64, rng=seed)),
                                               out / "samples.png", image_shape,
                                               title="samples: z ~ N(0, I) → decoder mean"))
    elif hasattr(model, "sample"):
        paths.append(plots.save_points_3d(to_numpy(model.sample(n, rng=seed)), out / "samples.png",
                                          "samples from N(0, I) through the decoder", x[:n]))
    code = model.encode(x[:n])
    code = code[0] if isinstance(code, tuple) else code
    paths.append(plots.save_latent_scatter(to_numpy(code), None if y is None else y[:n],
                                           out / "latent.png"))
    return paths


# ------------------------------------------------------------ sample / reconstruct
def cmd_sample(args) -> int:
    from .backend import to_numpy  # noqa: PLC0415
    from .train import load_model  # noqa: PLC0415

    model, meta = load_model(args.checkpoint)
    if not hasattr(model, "sample"):
        raise ScratchVAEError(f"a {meta['model_config']['model']!r} model cannot sample; "
                              "train a VAE (--model vae)")
    shape = _image_shape(meta["train_config"]["extra"].get("image_shape", ()))
    out = Path(args.out or Path(args.checkpoint).with_name("samples.png"))
    x = to_numpy(model.sample(args.n, rng=args.seed))
    if shape is None:
        np.save(out.with_suffix(".npy"), x)
        print(f"wrote {out.with_suffix('.npy')} ({x.shape})")
    else:
        plots.save_image_grid(x, out, shape, nrow=int(np.ceil(np.sqrt(args.n))))
        print(f"wrote {out} ({args.n} samples)")
    return 0


def cmd_reconstruct(args) -> int:
    from .backend import to_numpy  # noqa: PLC0415
    from .train import load_model  # noqa: PLC0415

    model, meta = load_model(args.checkpoint)
    extra = meta["train_config"]["extra"]
    x, _, shape = _load_split(args.data or extra["data"], "test", None)
    shape = _image_shape(shape)
    if shape is None:
        raise ScratchVAEError("reconstruct draws images; this checkpoint's data are not images")
    out = Path(args.out or Path(args.checkpoint).with_name("reconstructions.png"))
    plots.save_reconstructions(x[:args.n], to_numpy(model.reconstruct(x[:args.n])), out, shape,
                               n=args.n)
    print(f"wrote {out}")
    return 0


# -------------------------------------------------------------------- evaluate
def cmd_evaluate(args) -> int:
    from .data import binarize_fixed  # noqa: PLC0415
    from .evaluation import check_vae, evaluate_model, format_report  # noqa: PLC0415
    from .train import atomic_write_text, load_model  # noqa: PLC0415

    model, meta = load_model(args.checkpoint)
    check_vae(model)
    train_cfg = meta.get("train_config", {})
    data = args.data or train_cfg.get("extra", {}).get("data")
    if data is None:
        raise ScratchVAEError(f"checkpoint {args.checkpoint!r} does not record its data set; "
                              "name it with --data")
    x, _, _ = _load_split(data, args.split, args.limit)
    if x.shape[1] != model.input_dim:
        raise ScratchVAEError(f"{data!r} has {x.shape[1]} values per example but the model "
                              f"expects {model.input_dim}; pass the data set it was trained on")
    binarize = args.binarize
    if binarize is None:          # the published protocol for a model trained on binarized data
        binarize = model.likelihood == "bernoulli" and bool(train_cfg.get("binarize"))
    if binarize:
        x = binarize_fixed(x, args.binarize_seed)
    elif model.likelihood == "bernoulli" and not np.isin(x, (0.0, 1.0)).all():
        print("note: Bernoulli likelihood on grey-level data: the NLL is a cross-entropy, not "
              "comparable with published (binarized) numbers; see --binarize", file=sys.stderr)
    extra = {"data": data, "split": args.split, "binarized": bool(binarize)}
    if binarize:
        extra["binarize_seed"] = args.binarize_seed
    report = evaluate_model(model, x, k=args.k, batch_size=args.batch_size, rng=args.seed,
                            progress=not args.quiet, extra=extra)
    print(format_report(report))
    if args.json:
        record = {**report.to_dict(), "checkpoint": str(args.checkpoint),
                  "epoch": meta.get("epoch"), "seed": args.seed, "model_config": model.config}
        atomic_write_text(args.json, json.dumps(record, indent=1))
        print(f"wrote {args.json}")
    return 0


# ------------------------------------------------------------------- gradcheck
def cmd_gradcheck(args) -> int:
    from .gradcheck import CHECKS, run_all  # noqa: PLC0415

    names = args.only or list(CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise ScratchVAEError(f"unknown check(s) {unknown}; known: {list(CHECKS)}")
    reports = run_all(seed=args.seed, names=names, mode=args.mode, eps=args.eps)
    print(f"{'op':<28} {'array':<14} {'shape':<10} {'max rel err':>12}  result")
    for rep in reports:
        for i, r in enumerate(rep.results):
            print(f"{rep.op if i == 0 else '':<28} {r.name:<14} {str(r.shape):<10} "
                  f"{r.max_rel_error:>12.2e}  {'pass' if r.passed else 'FAIL'}")
    failed = [r for r in reports if not r.passed]
    for rep in failed:
        print("\n" + str(rep))
    n_arrays = sum(len(r.results) for r in reports)
    print(f"\n{len(reports) - len(failed)} passed, {len(failed)} failed "
          f"({n_arrays} arrays, float64, eps={args.eps:g}, rtol=1e-6, mode={args.mode}, "
          f"random upstream gradient, seed={args.seed})")
    return 1 if failed else 0


# ----------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scratchvae", description=__doc__.split("\n")[0],
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train an AE or VAE and write checkpoint, history, figures",
                       description="Train a model. Defaults: an MLP VAE (784-400-20, Bernoulli) "
                       "on the embedded sprites data set, 30 epochs — about a minute on 2 cores.")
    t.add_argument("--data", default="sprites",
                   help="sprites (embedded, default), fashion-mnist, mnist, kmnist, cosine3d")
    t.add_argument("--model", default="vae", choices=["vae", "conv-vae", "ae", "iwae", "conv-iwae"],
                   help="vae (MLP), conv-vae (2 conv + 2 transposed conv), ae (MLP autoencoder), "
                        "iwae / conv-iwae (the importance-weighted bound with --k samples)")
    t.add_argument("--k", type=int, default=5, help="iwae, conv-iwae: importance samples per example")
    t.add_argument("--epochs", type=int, default=None, help="total epochs (default 30)")
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    t.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine", "exponential"])
    t.add_argument("--hidden", type=int, nargs="+", default=[400], help="hidden widths, e.g. 512 256")
    t.add_argument("--channels", type=int, nargs=2, default=[32, 64],
                   help="conv-vae: channels of its two conv layers")
    t.add_argument("--latent-dim", type=int, default=20)
    t.add_argument("--likelihood", default="auto", choices=["auto", "bernoulli", "gaussian", "mse"],
                   help="auto: bernoulli for data in [0, 1], gaussian otherwise")
    t.add_argument("--activation", default="relu", help="relu, leaky_relu, tanh, ptanh, softplus")
    t.add_argument("--beta", type=float, default=1.0, help="KL weight (β-VAE); 1 = the ELBO")
    t.add_argument("--binarize", action="store_true", help="dynamic binarization of the pixels")
    t.add_argument("--kl-warmup", type=float, default=0.0, metavar="EPOCHS",
                   help="KL warm-up: β ramps linearly from 0 to --beta over this many epochs")
    t.add_argument("--clip-norm", type=float, default=None, help="clip the global gradient norm")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--limit", type=int, default=None, help="use only the first N training examples")
    t.add_argument("--out", default=None, help="output directory (default runs/<model>-<data>)")
    t.add_argument("--resume", action="store_true",
                   help="continue from <out>/checkpoint.npz (bit-identical on the CPU)")
    t.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    t.add_argument("--cpu-kernels", default=None, choices=["numba", "numpy"],
                   help="CPU path: Numba kernels (default) or the NumPy/BLAS reference path; "
                        "also SCRATCHVAE_CPU_KERNELS")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw samples from a trained VAE")
    s.add_argument("checkpoint")
    s.add_argument("--n", type=int, default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default=None, help="PNG path (default: samples.png beside the checkpoint)")
    s.set_defaults(func=cmd_sample)

    r = sub.add_parser("reconstruct", help="reconstruct test images with a trained model")
    r.add_argument("checkpoint")
    r.add_argument("--data", default=None, help="data set (default: the one it was trained on)")
    r.add_argument("--n", type=int, default=8)
    r.add_argument("--out", default=None)
    r.set_defaults(func=cmd_reconstruct)

    e = sub.add_parser("evaluate", help="test NLL (importance-weighted), ELBO, active units",
                       description="Evaluate a trained VAE: the importance-weighted estimate of "
                       "−log p(x) with K samples per image (Burda et al. 2016; K=5000 as in "
                       "published tables), −ELBO with its reconstruction/KL split, KL per latent "
                       "unit and active units. On 2 cores the 784-400-20 MLP VAE takes about "
                       "45 ms per image at K=5000.")
    e.add_argument("checkpoint")
    e.add_argument("--data", default=None, help="data set (default: the one it was trained on)")
    e.add_argument("--split", default="test", choices=["train", "test"])
    e.add_argument("--k", type=int, default=5000, help="importance samples per image")
    e.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    e.add_argument("--binarize", action=argparse.BooleanOptionalAction, default=None,
                   help="evaluate on a fixed binarization of the images (default: when the model "
                        "is Bernoulli and was trained with --binarize)")
    e.add_argument("--binarize-seed", type=int, default=0,
                   help="seed of the fixed binarized test set")
    e.add_argument("--batch-size", type=int, default=100, help="images encoded at once")
    e.add_argument("--seed", type=int, default=0, help="seed of the importance samples ε")
    e.add_argument("--json", default=None, metavar="PATH", help="also write the report as JSON")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=cmd_evaluate)

    g = sub.add_parser("gradcheck", help="check every layer's and loss's backward numerically",
                       description="Finite-difference check (float64, central differences, random "
                       "upstream gradient) of every registered layer, loss and model; prints a "
                       "table and exits non-zero on any failure.")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--mode", default="full", choices=["full", "sampled", "directional"])
    g.add_argument("--eps", type=float, default=1e-6)
    g.add_argument("--only", nargs="+", default=None, metavar="NAME", help="run only these checks")
    g.set_defaults(func=cmd_gradcheck)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "cpu_kernels", None):
        from .backend import set_cpu_kernels  # noqa: PLC0415
        set_cpu_kernels(args.cpu_kernels)
    try:
        return args.func(args)
    except ScratchVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
