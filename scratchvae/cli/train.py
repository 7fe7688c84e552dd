"""``python -m scratchvae train``: train any model of the registry, or resume a run."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from .. import plots
from ..errors import ScratchVAEError
from .common import batch_of, image_shape, load_split
from .model_options import add_model_options, model_config


def add_parser(sub) -> None:
    from ..models import MODELS  # noqa: PLC0415

    t = sub.add_parser(
        "train", help="train a model and write checkpoint, history, figures",
        description="Train a model. Defaults: an MLP VAE (784-400-20, Bernoulli) on the "
                    "embedded sprites data set, 30 epochs — about a minute on 2 cores.")
    t.add_argument("--data", default="sprites",
                   help="sprites (embedded, default), fashion-mnist, mnist, kmnist, cosine3d")
    t.add_argument("--model", default="vae", choices=list(MODELS),
                   help="any model of scratchvae.models.MODELS (default vae)")
    t.add_argument("--epochs", type=int, default=None, help="total epochs (default 30)")
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    t.add_argument("--lr-schedule", default="constant",
                   choices=["constant", "cosine", "exponential"])
    t.add_argument("--betas", type=float, nargs=2, default=None, metavar=("B1", "B2"),
                   help="Adam's moment decays (default 0.9 0.999; vae-gan 0.5 0.999)")
    t.add_argument("--group-lr", nargs="+", default=[], metavar="GROUP=LR",
                   help="a learning rate of its own for a parameter group, e.g. "
                        "discriminator=3e-4 (vae-gan)")
    t.add_argument("--binarize", action="store_true", help="dynamic binarization of the pixels")
    t.add_argument("--kl-warmup", type=float, default=0.0, metavar="EPOCHS",
                   help="KL warm-up: β ramps linearly from 0 to --beta over this many epochs")
    t.add_argument("--pretrain-epochs", type=int, default=0, metavar="EPOCHS",
                   help="stacked-ae: greedy layer-wise pretraining, EPOCHS per stage, "
                        "before the end-to-end training")
    t.add_argument("--clip-norm", type=float, default=None, help="clip the global gradient norm")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--limit", type=int, default=None,
                   help="use only the first N training examples")
    t.add_argument("--out", default=None, help="output directory (default runs/<model>-<data>)")
    t.add_argument("--resume", action="store_true",
                   help="continue from <out>/checkpoint.npz (bit-identical on the CPU)")
    t.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    t.add_argument("--cpu-kernels", default=None, choices=["numba", "numpy"],
                   help="CPU path: Numba kernels (default) or the NumPy/BLAS reference path; "
                        "also SCRATCHVAE_CPU_KERNELS")
    add_model_options(t)
    t.set_defaults(func=run)


def _group_lr(items) -> dict:
    out = {}
    for item in items:
        group, sep, value = item.partition("=")
        try:
            out[group] = float(value)
        except ValueError:
            sep = ""
        if not sep or not group:
            raise ScratchVAEError(f"--group-lr takes GROUP=LR, e.g. discriminator=3e-4; got "
                                  f"{item!r}")
    return out


def run(args) -> int:
    from ..models import MODELS, build_model  # noqa: PLC0415
    from ..train import TrainConfig, Trainer, greedy_pretrain, load_checkpoint  # noqa: PLC0415

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
    train_x, train_y, shape = load_split(data, "train", args.limit)
    test_x, test_y, _ = load_split(data, "test", args.limit and max(args.limit // 5, 1))
    if not args.resume:
        model = build_model(model_config(args.model, args, train_x, train_y, shape))
        betas = args.betas or getattr(MODELS[args.model], "optimizer_defaults", {}).get(
            "betas", (0.9, 0.999))
        cfg = TrainConfig(epochs=args.epochs if args.epochs is not None else 30,
                          batch_size=args.batch_size, lr=args.lr, betas=tuple(betas),
                          group_lr=_group_lr(args.group_lr), binarize=args.binarize,
                          clip_norm=args.clip_norm, seed=args.seed, progress=not args.quiet,
                          lr_schedule=args.lr_schedule, kl_warmup_epochs=args.kl_warmup,
                          extra={"data": data, "image_shape": list(shape)})
    train_data, test_data = batch_of(model, train_x, train_y), batch_of(model, test_x, test_y)
    print(f"data {data}: train {train_x.shape}, test {test_x.shape}; model {model.config['model']} "
          f"with {model.num_parameters():,} parameters; {cfg.epochs} epochs of "
          f"{-(-len(train_x) // cfg.batch_size)} steps")
    trainer = Trainer(model, train_data, test_data, cfg, out_dir=out)
    if args.resume:
        trainer.load(ckpt)
    t0 = time.perf_counter()
    if args.pretrain_epochs and not args.resume:
        if not hasattr(model, "stage"):
            raise ScratchVAEError(f"--pretrain-epochs is greedy layer-wise pretraining of a "
                                  f"stacked autoencoder; --model {args.model} has no stages")
        pre = dataclasses.replace(cfg, epochs=args.pretrain_epochs)
        greedy_pretrain(model, train_x, pre)
    trainer.fit()
    seconds = time.perf_counter() - t0
    final = trainer.evaluate(test_data)
    figures = _figures(model, trainer.history, test_x, test_y, image_shape(shape), out, args.seed)
    results = {"data": data, "model": model.config, "epochs": trainer.epoch,
               "test": final, "train_seconds": seconds,
               "seconds_per_epoch": [r["seconds"] for r in trainer.history],
               "figures": [str(p) for p in figures]}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    terms = ", ".join(f"{k} {v:.2f}" for k, v in final.items())
    print(f"test: {terms} (nats per example; loss = −ELBO for a VAE)")
    print(f"wrote {ckpt}, {out / 'history.csv'} and figures: " + ", ".join(p.name for p in figures))
    return 0


def _figures(model, history, x, y, shape, out: Path, seed: int) -> list[Path]:
    """Loss curves, reconstructions, samples and the latent space, as the model allows."""
    from ..backend import to_numpy  # noqa: PLC0415

    paths = [plots.save_loss_curves(history, out / "loss_curves.png")] if history else []
    n = min(len(x), 2000)
    labelled = tuple(model.inputs) != ("x",)
    cond = (lambda k: (y[:k],)) if labelled else (lambda k: ())
    sample_labels = {"labels": np.arange(64) % model.n_classes} if labelled else {}
    can_sample = hasattr(model, "sample")
    if shape is not None:
        paths.append(plots.save_reconstructions(
            x[:8], to_numpy(model.reconstruct(x[:8], *cond(8))), out / "reconstructions.png",
            shape))
        if can_sample:
            paths.append(plots.save_image_grid(
                to_numpy(model.sample(64, rng=seed, **sample_labels)), out / "samples.png",
                shape, title="samples: z ~ N(0, I) → decoder mean"))
    elif can_sample:
        labels = {"labels": np.arange(n) % model.n_classes} if labelled else {}
        paths.append(plots.save_points_3d(to_numpy(model.sample(n, rng=seed, **labels)),
                                          out / "samples.png",
                                          "samples from N(0, I) through the decoder", x[:n]))
    code = model.encode(x[:n], *cond(n))
    code = code[0] if isinstance(code, tuple) else code
    paths.append(plots.save_latent_scatter(to_numpy(code), None if y is None else y[:n],
                                           out / "latent.png"))
    return paths


