"""``python -m scratchvae train``: train any model of the registry, or resume a run.

Under ``mpiexec -n P`` the same command trains data-parallel (docs/distributed.md):
every rank loads the data and builds the model; rank 0 alone checks, locks and writes
the run directory, reads the checkpoint it resumes from (and sends it), prints, and
writes the figures and ``results.json``; the Trainer and the test evaluation run on all.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from .. import plots
from ..errors import CheckpointError, ConfigError
from ..atomic import atomic_write_text
from .common import (
    batch_of, fraction, image_shape, load_split, nonnegative_float, nonnegative_int,
    positive_float, positive_int, unit_beta,
)
from .model_options import add_model_options, model_config


#: the training options and their defaults. They default to None in the parser, so that
#: a resumed run can tell an option the user gave (and refuse it if it conflicts with the
#: run's saved setting) from one left alone; the defaults below fill in the rest.
DEFAULTS = {"epochs": 30, "batch_size": 128, "lr": 1e-3, "lr_schedule": "constant",
            "betas": None, "group_lr": [], "binarize": False, "kl_warmup": 0.0,
            "pretrain_epochs": 0, "clip_norm": None, "seed": 0, "limit": None,
            "val_fraction": 0.1, "patience": None, "pseudo_from_data": False}


def add_parser(sub) -> None:
    from ..models import MODELS  # noqa: PLC0415

    t = sub.add_parser(
        "train", help="train a model and write checkpoint, history, figures",
        description="Train a model. Defaults: an MLP VAE (784-400-20, Bernoulli) on the "
                    "built-in sprites data set, 30 epochs — about a minute on 2 cores. "
                    "A run directory belongs to one run: continue it with --resume (every "
                    "setting comes from its checkpoint) or start over with --overwrite.")
    t.add_argument("--data", default=None,
                   help="sprites (built in, default), fashion-mnist, mnist, kmnist, cosine3d")
    t.add_argument("--model", default=None, choices=list(MODELS),
                   help="any model of scratchvae.models.MODELS (default vae)")
    t.add_argument("--epochs", type=positive_int, default=None,
                   help="total epochs (default 30; with --resume, the new total)")
    t.add_argument("--batch-size", type=positive_int, default=None, help="default 128")
    t.add_argument("--lr", type=positive_float, default=None, help="learning rate (1e-3)")
    t.add_argument("--lr-schedule", default=None, choices=["constant", "cosine", "exponential"])
    t.add_argument("--betas", type=unit_beta, nargs=2, default=None, metavar=("B1", "B2"),
                   help="Adam's moment decays (default 0.9 0.999; vae-gan 0.5 0.999)")
    t.add_argument("--group-lr", nargs="+", default=None, metavar="GROUP=LR",
                   help="a learning rate of its own for a parameter group, e.g. "
                        "discriminator=3e-4 (vae-gan)")
    t.add_argument("--binarize", action="store_const", const=True, default=None,
                   help="dynamic binarization of the pixels")
    t.add_argument("--kl-warmup", type=nonnegative_float, default=None, metavar="EPOCHS",
                   help="KL warm-up: β ramps linearly from 0 to --beta over this many epochs")
    t.add_argument("--pretrain-epochs", type=nonnegative_int, default=None, metavar="EPOCHS",
                   help="stacked-ae: greedy layer-wise pretraining, EPOCHS per stage, "
                        "before the end-to-end training")
    t.add_argument("--clip-norm", type=positive_float, default=None,
                   help="clip the global gradient norm")
    t.add_argument("--seed", type=nonnegative_int, default=None, help="default 0")
    t.add_argument("--limit", type=positive_int, default=None,
                   help="use only the first N training examples (and N/5 test examples)")
    t.add_argument("--val-fraction", type=fraction, default=None,
                   help="share of the training set held out for validation (default 0.1): "
                        "it picks the best epoch (best.npz) and drives --patience; the test "
                        "set is evaluated once, at the end, on the best epoch's model")
    t.add_argument("--patience", type=positive_int, default=None, metavar="EPOCHS",
                   help="stop early after this many epochs without a better validation loss")
    t.add_argument("--pseudo-from-data", action="store_const", const=True, default=None,
                   help="a VampPrior's K pseudo-inputs start as K training images drawn at "
                        "random (seeded by --seed) instead of mid-grey noise")
    t.add_argument("--out", default=None, help="output directory (default runs/<model>-<data>)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint, bit-identical on the "
                        "CPU; every setting is the run's own")
    t.add_argument("--overwrite", action="store_true",
                   help="start over in a directory that holds a run: its files are deleted")
    t.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    t.add_argument("--cpu-kernels", default=None, choices=["numba", "numpy"],
                   help="CPU path: Numba kernels (default) or the NumPy/BLAS reference path; "
                        "also SCRATCHVAE_CPU_KERNELS")
    add_model_options(t)
    t.set_defaults(func=run)


def _announce_first_compile() -> None:
    """Say so when the Numba kernels have never been compiled here: the first run spends
    about 10 s on it (later runs load them from Numba's cache next to the kernels)."""
    import importlib.util  # noqa: PLC0415
    from ..backend import cpu_kernels  # noqa: PLC0415

    if cpu_kernels() != "numba":
        return
    spec = importlib.util.find_spec("kernels")
    cache = Path(next(iter(spec.submodule_search_locations))) / "__pycache__"
    if not any(cache.glob("gemm_driver.*.nbi")):
        print("first run here: compiling the Numba kernels (about 10 s on 2 cores; later "
              "runs load them from the cache)", flush=True)


def _group_lr(items) -> dict:
    out = {}
    for item in items:
        group, sep, value = item.partition("=")
        try:
            out[group] = positive_float(value)
        except argparse.ArgumentTypeError:
            sep = ""
        if not sep or not group:
            raise ConfigError(f"--group-lr takes GROUP=LR with LR > 0, e.g. discriminator=3e-4; "
                              f"got {item!r}")
    return out


def _given(args) -> dict:
    """The options the user gave, by dest (the parser's defaults are None)."""
    skip = {"func", "command", "resume", "overwrite", "quiet", "cpu_kernels", "out"}
    return {k: v for k, v in vars(args).items() if v is not None and k not in skip}


def _check_resume_options(args, meta) -> None:
    """A resumed run keeps its settings: refuse an option that says otherwise."""
    cfg, extra = meta["train_config"], meta["train_config"].get("extra", {})
    saved = {"data": extra.get("data"), "model": meta["model_config"]["model"],
             "batch_size": cfg.get("batch_size"), "lr": cfg.get("lr"),
             "lr_schedule": cfg.get("lr_schedule"), "binarize": cfg.get("binarize"),
             "kl_warmup": cfg.get("kl_warmup_epochs"), "clip_norm": cfg.get("clip_norm"),
             "seed": cfg.get("seed"), "limit": extra.get("limit"),
             "val_fraction": extra.get("val_fraction"), "patience": cfg.get("patience"),
             "betas": list(cfg.get("betas", [])), "group_lr": cfg.get("group_lr"),
             "pseudo_from_data": bool(extra.get("pseudo_from_data", False)),
             **{k: v for k, v in meta["model_config"].items() if k != "model"}}
    conflicts = []
    for name, value in _given(args).items():
        if name == "epochs":
            continue
        have = saved.get(name, "(not a setting of this run)")
        if name == "group_lr":
            value = _group_lr(value)
        if name in ("hidden", "channels", "sizes", "dis_hidden", "betas"):
            value, have = list(value), list(have) if isinstance(have, (list, tuple)) else have
        if name == "sizes" and isinstance(have, list):
            have = have[1:]                                 # D comes from the data
        if value != have:
            conflicts.append(f"--{name.replace('_', '-')} {value} (the run's: {have})")
    if conflicts:
        raise ConfigError(f"--resume keeps the run's own settings, and these differ: "
                          f"{'; '.join(conflicts)}. Drop them, or start a new run in another "
                          f"--out to change them")


def pseudo_inputs_from_data(model, x, seed: int):
    """Start the model's K pseudo-inputs at K distinct rows of ``x`` (N, D), drawn with
    ``default_rng([seed, 4])``; returns their indices. (The VampPrior code base's
    initialisation from training data, instead of grey noise.)"""
    k = getattr(model, "n_pseudo", None)
    if k is None or not hasattr(model, "set_pseudo_inputs"):
        raise ConfigError(f"--pseudo-from-data starts a VampPrior's pseudo-inputs; --model "
                          f"{model.config['model']} has none (use vampprior-vae, or hvae / "
                          f"conv-hvae with --prior vampprior)")
    if k > len(x):
        raise ConfigError(f"--pseudo-from-data needs K = {k} training images (--n-pseudo) "
                          f"but the training split holds {len(x)}; lower --n-pseudo or "
                          f"raise --limit")
    idx = np.sort(np.random.default_rng([seed, 4]).choice(len(x), k, replace=False))
    model.set_pseudo_inputs(x[idx].astype(model.dtype))
    return idx


def _split_validation(x, y, fraction_, seed):
    """Hold out ``fraction_`` of the training examples, seeded: (train, val) of (x, y)."""
    n = len(x)
    n_val = int(round(fraction_ * n))
    if n_val < 1 or n_val >= n:
        raise ConfigError(f"--val-fraction {fraction_} of {n} training examples leaves "
                          f"{n_val} for validation and {n - n_val} for training; both need at "
                          f"least one (use a larger --limit or another fraction)")
    order = np.random.default_rng([seed, 3]).permutation(n)
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    pick = (lambda a, i: None if a is None else a[i])
    return (x[train_idx], pick(y, train_idx)), (x[val_idx], pick(y, val_idx))


def run(args) -> int:
    from ..models import MODELS, build_model  # noqa: PLC0415
    from ..train import TrainConfig, Trainer, greedy_pretrain, load_checkpoint  # noqa: PLC0415
    from ..train import rundir  # noqa: PLC0415
    from ..distributed import world  # noqa: PLC0415

    comm = world()
    say = print if comm.is_root else (lambda *a, **k: None)
    model_name = args.model or "vae"
    out = Path(args.out or f"runs/{model_name}-{args.data or 'sprites'}")
    out = comm.root_call(rundir.check, out, resume=args.resume,         # changes nothing
                         overwrite=args.overwrite)
    ckpt = out / "checkpoint.npz"
    with comm_locked(comm, out):
        if args.resume:
            meta, _, _ = comm.root_call(load_checkpoint, ckpt)
            _check_resume_options(args, meta)
            try:
                cfg = TrainConfig(**{**meta["train_config"], "progress": not args.quiet})
            except (TypeError, ValueError) as exc:   # a field this version does not know
                raise CheckpointError(f"checkpoint {str(ckpt)!r} has a training configuration "
                                      f"this scratchvae cannot use ({exc}); it was written by "
                                      f"another version or edited") from exc
            reached = int(meta["epoch"])
            target = args.epochs if args.epochs is not None else cfg.epochs
            if meta.get("stopped_early"):
                raise ConfigError(f"the run in {str(out)!r} stopped early at epoch {reached} "
                                  f"(no better validation loss in {cfg.patience} epochs); "
                                  f"there is nothing to continue")
            if target <= reached:
                raise ConfigError(f"the run in {str(out)!r} has already trained {reached} "
                                  f"epochs; --epochs must exceed that to continue it (nothing "
                                  f"was changed)")
            cfg.epochs = target
            extra = cfg.extra
            data, limit, val_fraction = extra["data"], extra.get("limit"), \
                extra.get("val_fraction")
            model = build_model(meta["model_config"])
            say(f"resuming {ckpt} at epoch {reached} → {cfg.epochs}"
                + (f" on {comm.describe()}" if comm.size > 1 else ""))
        else:
            opts = {**DEFAULTS, **_given(args)}
            data, limit, val_fraction = args.data or "sprites", opts["limit"], \
                opts["val_fraction"]
        train_x, train_y, shape = load_split(data, "train", limit)
        test_x, test_y, _ = load_split(data, "test", limit and max(limit // 5, 1))
        (train_x, train_y), (val_x, val_y) = _split_validation(
            train_x, train_y, val_fraction, cfg.seed if args.resume else opts["seed"])
        if not args.resume:
            try:
                model = build_model(model_config(model_name, args, train_x, train_y, shape))
            except (ValueError, TypeError) as exc:   # a constructor refusing a value
                raise ConfigError(f"--model {model_name}: {exc}") from exc
            betas = opts["betas"] or MODELS[model_name].optimizer_defaults.get(
                "betas", (0.9, 0.999))
            cfg = TrainConfig(epochs=opts["epochs"], batch_size=opts["batch_size"],
                              lr=opts["lr"], betas=tuple(betas),
                              group_lr=_group_lr(opts["group_lr"]), binarize=opts["binarize"],
                              clip_norm=opts["clip_norm"], seed=opts["seed"],
                              progress=not args.quiet, lr_schedule=opts["lr_schedule"],
                              kl_warmup_epochs=opts["kl_warmup"], patience=opts["patience"],
                              extra={"data": data, "image_shape": list(shape), "limit": limit,
                                     "val_fraction": val_fraction,
                                     "pseudo_from_data": bool(opts["pseudo_from_data"])})
            if opts["pseudo_from_data"]:
                pseudo_inputs_from_data(model, train_x, opts["seed"])
        if args.overwrite and comm.is_root:    # everything checked: now the old run may go
            rundir.clear(out)
        train_data = batch_of(model, train_x, train_y)
        val_data, test_data = batch_of(model, val_x, val_y), batch_of(model, test_x, test_y)
        say(f"data {data}: train {train_x.shape}, validation {val_x.shape}, test "
            f"{test_x.shape}; model {model.config['model']} with "
            f"{model.num_parameters():,} parameters; {cfg.epochs} epochs of "
            f"{-(-len(train_x) // cfg.batch_size)} steps"
            + (f"; data-parallel over {comm.describe()}" if comm.size > 1 else ""))
        trainer = Trainer(model, train_data, val_data, cfg, out_dir=out, comm=comm)
        if comm.is_root:
            _announce_first_compile()
        if args.resume:
            trainer.load(ckpt)
        t0 = time.perf_counter()
        pretrain = 0 if args.resume else opts["pretrain_epochs"]
        if pretrain:
            if not hasattr(model, "stage"):
                raise ConfigError(f"--pretrain-epochs is greedy layer-wise pretraining of a "
                                  f"stacked autoencoder; --model {model_name} has no stages")
            greedy_pretrain(model, train_x, dataclasses.replace(cfg, epochs=pretrain))
        trainer.fit()
        seconds = time.perf_counter() - t0
        trainer.load_best()                                # the chosen epoch
        final = trainer.evaluate(test_data)                # the test set, once
        if not comm.is_root:
            return 0
        figures = _figures(model, trainer.history, test_x, test_y, image_shape(shape), out,
                           cfg.seed)
        results = {"data": data, "model": model.config, "epochs": trainer.epoch,
                   "best_epoch": trainer.best and trainer.best["epoch"],
                   "best_val_loss": trainer.best and trainer.best["val_loss"],
                   "stopped_early": trainer.stopped_early, "test": final,
                   "train_seconds": seconds, "processes": comm.size,
                   "seconds_per_epoch": [r["seconds"] for r in trainer.history],
                   "figures": [str(p) for p in figures]}
        atomic_write_text(out / "results.json", json.dumps(results, indent=1))
    terms = ", ".join(f"{k} {v:.2f}" for k, v in final.items())
    best = f" (the model of epoch {trainer.best['epoch']}, lowest validation loss)" \
        if trainer.best else ""
    print(f"test{best}: {terms} (nats per example; loss = −ELBO for a VAE)")
    print(f"wrote {ckpt}, {out / 'history.csv'} and figures: " + ", ".join(p.name for p in figures))
    return 0


def comm_locked(comm, out):
    """The run directory's lock, held by rank 0 (the one rank that writes into it)."""
    from ..train import rundir  # noqa: PLC0415

    return rundir.locked(out) if comm.is_root else contextlib.nullcontext()


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


