"""The training loop — the one loop every model of the library trains with:
mini-batches, optimizers, validation, history, checkpoints, resume.

What it asks of a model is the contract of :mod:`scratchvae.models.base`:
``loss_and_grads(*batch)`` with a batch of the arrays named by ``model.inputs``
(``(x,)``, or ``(x, y)`` for a conditional model), and the optional hooks
``parameter_groups()`` (one optimizer per group), ``after_step()`` (after every
step) and ``kl_weight`` (ramped by the KL warm-up). An option a model cannot honour
is refused when the Trainer is built, with the reason: KL warm-up on a model without
a KL weight, binarization of data that is not in [0, 1], a group learning rate for a
group the model does not have.

One step, for every model:

    batch    = the arrays at this step's indices   (x binarized if asked)
    β        = warm-up schedule(step)               (if KL warm-up)
    grads    ← 0;  out = model.loss_and_grads(*batch)
    ‖g‖      = global norm (clipped if asked);  stop on a non-finite loss or norm
    each group's optimizer steps;  model.after_step()

Reproducibility contract (CPU): a run resumed from the checkpoint of epoch k
produces bit-identical parameters to an uninterrupted run, because everything
random is a pure function of saved state:

    batch order of epoch e          rng([seed, e])            (BatchIterator.epoch)
    dynamic binarization of epoch e rng([seed, e, 1])          (recomputed)
    reparameterization ε            model.rng                  (saved each epoch)
    validation ε                    rng([seed, 2]) per eval    (recomputed)
    KL warm-up β at global step s   min(1, (s+1)/warm-up steps) (recomputed)

Data parallel (``mpiexec -n P``, :mod:`scratchvae.distributed`): with a communicator of
P > 1 ranks the same loop runs on every rank. Each rank takes rows lo:hi of every
global batch (the order above), draws the noise one process would have drawn for those
rows (:class:`~scratchvae.distributed.ShardedGenerator`), and one Allreduce per step sums
the scaled gradients and the loss terms (:class:`~scratchvae.distributed.DataParallel`),
so every rank takes the one-process step. Rank 0 alone prints, writes the history and
the checkpoints; validation is split over the ranks the same way and reduced.

Safety: the loss and the gradient norm are checked every step; on NaN/Inf the
run stops with :class:`NonFiniteError` naming the last good checkpoint, which is
never overwritten by a bad state (checkpoints are written only after an epoch
finished with finite numbers, and atomically).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..allocator import keep_freed_memory
from ..data.loader import BatchIterator, binarize
from ..distributed import DataParallel, ShardedGenerator, shard_rows, world
from ..distributions.likelihoods import check_target_range
from ..errors import CheckpointError, ConfigError, NonFiniteError, check_float_array
from ..optim import SGD, Adam, OptimizerGroups, clip_grad_norm, global_grad_norm, schedules
from .checkpoint import load_checkpoint, save_checkpoint
from .history import save_history


@dataclass
class TrainConfig:
    """Everything that shapes a run (saved in every checkpoint)."""
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"            # "adam" or "sgd"
    betas: tuple = (0.9, 0.999)        # Adam's moment decays (a GAN: (0.5, 0.999))
    group_lr: dict = field(default_factory=dict)   # {parameter group: its own lr}
    momentum: float = 0.9              # SGD only
    weight_decay: float = 0.0          # decoupled for Adam (AdamW), L2 for SGD
    lr_schedule: str = "constant"      # "constant", "cosine" or "exponential"
    lr_decay: float = 0.97             # per-epoch factor for "exponential"
    warmup_epochs: float = 0.0         # linear LR warm-up
    kl_warmup_epochs: float = 0.0      # KL warm-up: β ramps linearly from 0 to the model's β
    clip_norm: float | None = None     # global gradient-norm clipping
    binarize: bool = False             # dynamic binarization of [0, 1] data each epoch
    seed: int = 0
    shuffle: bool = True               # a new batch order every epoch (False: 0, 1, …, N−1)
    eval_batch_size: int = 1000
    progress: bool = True              # tqdm bar
    checkpoint_every: int = 1          # epochs
    patience: int | None = None        # early stopping: epochs without a better val loss
    extra: dict = field(default_factory=dict)   # free-form (data set name, ...)

    def __post_init__(self):
        def count(name, low):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ConfigError(f"{name} must be an integer ≥ {low}, got {v!r}")

        def number(name, positive, allow_none=False):
            v = getattr(self, name)
            if v is None and allow_none:
                return
            ok = isinstance(v, (int, float, np.floating)) and not isinstance(v, bool) \
                and math.isfinite(v) and (v > 0 if positive else v >= 0)
            if not ok:
                raise ConfigError(f"{name} must be a finite number {'>' if positive else '≥'} 0"
                                  f"{' (or None)' if allow_none else ''}, got {v!r}")

        count("epochs", 0)
        count("batch_size", 1)
        count("eval_batch_size", 1)
        count("checkpoint_every", 1)
        count("seed", 0)
        number("lr", positive=True)
        number("clip_norm", positive=True, allow_none=True)
        number("weight_decay", positive=False)
        number("warmup_epochs", positive=False)
        number("momentum", positive=False)
        if not 0 < self.lr_decay <= 1:
            raise ConfigError(f"lr_decay is a per-epoch factor and must lie in (0, 1], "
                              f"got {self.lr_decay!r}")
        if self.lr_schedule not in ("constant", "cosine", "exponential"):
            raise ConfigError(f"unknown lr_schedule {self.lr_schedule!r}")
        if self.kl_warmup_epochs < 0:
            raise ConfigError(f"kl_warmup_epochs must be ≥ 0, got {self.kl_warmup_epochs}")
        if self.optimizer not in ("adam", "sgd"):
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; use 'adam' or 'sgd'")
        if self.patience is not None and (isinstance(self.patience, bool)
                                          or int(self.patience) != self.patience
                                          or self.patience < 1):
            raise ConfigError(f"patience is a number of epochs and must be an integer ≥ 1, "
                              f"got {self.patience!r}")
        self.betas = tuple(float(b) for b in self.betas)
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1), got {self.betas}")


class Trainer:
    """Train any model of :mod:`scratchvae.models` (module docstring).

    Args:
        model: a :class:`scratchvae.models.Model`.
        train_data: the training arrays — one (N, D) float array, or a tuple sharing
            the N axis in the order of ``model.inputs`` (e.g. ``(x, y)``).
        val_data: the same form, evaluated after every epoch, or None.
        config: :class:`TrainConfig`.
        out_dir: where ``checkpoint.npz``, ``history.json``/``.csv`` go (None: nowhere).
        on_epoch: optional ``callback(record)`` after each epoch; it may add entries to
            the record (e.g. measurements on test data) before it is stored.
        comm: the :class:`~scratchvae.distributed.Communicator` to train over (default:
            :func:`~scratchvae.distributed.world`, one process unless an MPI launcher
            started this one). Every rank passes the same data and configuration.
    """

    def __init__(self, model, train_data, val_data=None, config: TrainConfig | None = None,
                 out_dir=None, on_epoch=None, comm=None):
        self.config = config or TrainConfig()
        self.model = model
        self.comm = comm if comm is not None else world()
        keep_freed_memory()                  # reuse freed step temporaries (allocator.py)
        self.train_data = self._check_data(train_data, "train_data")
        self.val_data = None if val_data is None else self._check_data(val_data, "val_data")
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.on_epoch = on_epoch
        if self.config.binarize:
            check_target_range(self.train_data[0], "bernoulli")     # binarize needs [0, 1]
        self.batches = BatchIterator(len(self.train_data[0]), self.config.batch_size,
                                     shuffle=self.config.shuffle, seed=self.config.seed)
        self.steps_per_epoch = len(self.batches)
        self.optimizer = self._make_optimizers()
        self.target_beta = self._check_kl_warmup()
        self.history: list[dict] = []
        self.epoch = 0                       # epochs completed
        self.best: dict | None = None        # {"epoch", "val_loss"} of the best epoch so far
        self.stopped_early = False
        self.parallel = None                 # DataParallel when comm has P > 1 ranks
        if self.comm.size > 1:
            self.parallel = DataParallel(self.comm, self.optimizer.params, model.terms,
                                         getattr(model, "step_statistics", ()))
            self.parallel.broadcast_parameters(model)
            note = getattr(model, "per_rank_statistics", None)
            if note and self.comm.is_root and self.config.progress:
                print(f"note: data-parallel over {self.comm.size} ranks, {note} is computed "
                      f"from each rank's rows, not from the whole batch", flush=True)

    @property
    def train_x(self):
        return self.train_data[0]

    # ----------------------------------------------------------------- set-up
    def _check_data(self, data, name):
        """A tuple of arrays as ``model.inputs`` names them, sharing the N axis."""
        data = data if isinstance(data, tuple) else (data,)
        inputs = getattr(self.model, "inputs", ("x",))
        if len(data) != len(inputs):
            raise ConfigError(f"{type(self.model).__name__} trains on batches of "
                             f"{tuple(inputs)}; {name} holds {len(data)} array(s). Pass "
                             f"{'(' + ', '.join(inputs) + ')' if len(inputs) > 1 else 'x'}")
        check_float_array(data[0], f"{name}[0]" if len(data) > 1 else name, ndim=2)
        for a, field_name in zip(data[1:], inputs[1:]):
            if len(a) != len(data[0]):
                raise ConfigError(f"{name}: {field_name} has {len(a)} rows but x has "
                                 f"{len(data[0])}; they must match")
        return data

    def _schedule(self, lr):
        c = self.config
        total = max(1, c.epochs * self.steps_per_epoch)
        if c.lr_schedule == "cosine":
            sched = schedules.cosine(lr, total, lr * 0.01)
        elif c.lr_schedule == "exponential":
            sched = schedules.exponential_decay(lr, c.lr_decay, self.steps_per_epoch)
        else:
            sched = schedules.constant(lr)
        if c.warmup_epochs > 0:
            sched = schedules.linear_warmup(sched, max(1, int(c.warmup_epochs * self.steps_per_epoch)))
        return sched

    def _make_optimizers(self) -> OptimizerGroups:
        """One optimizer per parameter group of the model, with the group's own lr."""
        c = self.config
        groups = self.model.parameter_groups()
        unknown = sorted(set(c.group_lr) - set(groups))
        if unknown:
            raise ConfigError(f"group_lr names {unknown}, but {type(self.model).__name__} has "
                             f"the parameter groups {sorted(groups)}")
        optimizers = {}
        for name, params in groups.items():
            lr = float(c.group_lr.get(name, c.lr))
            if c.optimizer == "sgd":
                optimizers[name] = SGD(params, lr, momentum=c.momentum,
                                       weight_decay=c.weight_decay, lr_schedule=self._schedule(lr))
            else:
                optimizers[name] = Adam(params, lr, betas=c.betas, weight_decay=c.weight_decay,
                                        lr_schedule=self._schedule(lr))
        return OptimizerGroups(optimizers)

    def _check_kl_warmup(self):
        """The model's own β, which KL warm-up ramps towards (None without warm-up)."""
        if self.config.kl_warmup_epochs <= 0:
            return None
        beta = getattr(self.model, "kl_weight", None)
        if beta is None:
            raise ConfigError(f"KL warm-up needs a model with a KL weight β; "
                             f"{type(self.model).__name__} has none (its objective weighs "
                             f"the KL otherwise, or has no KL term)")
        return beta

    def _warmup_beta(self, step: int) -> float:
        """β at global step ``step`` (0-based): target · min(1, (step + 1) / warm-up steps).

        A function of the step count alone, so a resumed run ramps exactly as an
        uninterrupted one."""
        steps = max(1, round(self.config.kl_warmup_epochs * self.steps_per_epoch))
        return self.target_beta * min(1.0, (step + 1) / steps)

    @property
    def checkpoint_path(self) -> Path | None:
        """The latest state, for resuming."""
        return self.out_dir / "checkpoint.npz" if self.out_dir else None

    @property
    def best_path(self) -> Path | None:
        """The model of the epoch with the lowest validation loss (checkpoint choice)."""
        return self.out_dir / "best.npz" if self.out_dir else None

    # -------------------------------------------------------------- the loop
    def fit(self, epochs: int | None = None) -> list[dict]:
        """Train until ``epochs`` epochs in total have run (default: config.epochs)."""
        target = self.config.epochs if epochs is None else epochs
        while self.epoch < target and not self.stopped_early:
            record = self._run_epoch(self.epoch)
            if self.on_epoch is not None:
                self.on_epoch(record)
            if self.config.progress and self.comm.is_root:
                print(_format_record(record), flush=True)
            self.epoch += 1
            self.history.append(record)
            self._track_best(record)
            if self.out_dir is not None and self.comm.is_root:
                save_history(self.history, self.out_dir)
                if self.epoch % self.config.checkpoint_every == 0 or self.epoch == target:
                    self.save(self.checkpoint_path)
        self.comm.barrier()                  # rank 0's files are complete before anyone goes on
        return self.history

    def _run_epoch(self, epoch: int) -> dict:
        c, model, opt = self.config, self.model, self.optimizer
        model.train()
        bin_rng = np.random.default_rng([c.seed, epoch, 1])
        sums, seen = {}, 0
        t0 = time.perf_counter()
        show = c.progress and self.comm.is_root
        bar = tqdm(self.batches.epoch(epoch), total=self.steps_per_epoch, desc=f"epoch {epoch + 1}",
                   leave=False, disable=None if show else True, dynamic_ncols=True)
        if self.parallel is not None:
            bin_rng = ShardedGenerator(bin_rng)
        for step, idx in enumerate(bar):
            if self.target_beta is not None:
                model.kl_weight = self._warmup_beta(epoch * self.steps_per_epoch + step)
            model.zero_grad()
            if self.parallel is None:
                batch = tuple(a[idx] for a in self.train_data)
                if c.binarize:
                    batch = (binarize(batch[0], bin_rng), *batch[1:])
                out = model.loss_and_grads(*batch)
            else:
                out = self._parallel_step(idx, bin_rng)
            norm = clip_grad_norm(model.parameters(), c.clip_norm) if c.clip_norm else \
                global_grad_norm(model.parameters())
            if not (all(math.isfinite(out[k]) for k in model.terms) and math.isfinite(norm)):
                self._stop_nonfinite(epoch, step, out["loss"], norm)
            opt.step()
            model.after_step()                    # e.g. project α onto α ≥ 0, GECO's λ
            for k in model.terms:
                sums[k] = sums.get(k, 0.0) + out[k] * len(idx)
            seen += len(idx)
            if step % 10 == 0 or step == self.steps_per_epoch - 1:
                bar.set_postfix({k: f"{v / seen:.2f}" for k, v in sums.items()})
        bar.close()
        if self.parallel is not None:
            self.comm.barrier()              # the epoch's time is the slowest rank's
        if self.target_beta is not None:
            model.kl_weight = self.target_beta     # evaluate (and save) the true objective
        record = {"epoch": epoch + 1, **{f"train_{k}": v / seen for k, v in sums.items()},
                  "lr": opt.lr, **({"beta": self._warmup_beta(
                      (epoch + 1) * self.steps_per_epoch - 1)} if self.target_beta is not None else {}),
                  "seconds": time.perf_counter() - t0}
        if self.val_data is not None:
            val = self.evaluate(self.val_data)
            if not all(math.isfinite(v) for v in val.values()):
                self._stop_nonfinite(epoch, "validation", val["loss"], float("nan"))
            record.update({f"val_{k}": v for k, v in val.items()})
        return record

    def _parallel_step(self, idx, bin_rng) -> dict:
        """This rank's rows of the global batch ``idx``, its loss and gradients, and the
        Allreduce that makes them the whole batch's (:mod:`scratchvae.distributed`).
        Returns the global batch's means, as ``loss_and_grads`` would for all of ``idx``."""
        model, n = self.model, len(idx)
        lo, hi = shard_rows(n, self.comm.rank, self.comm.size)
        out = None
        if hi > lo:
            batch = tuple(a[idx[lo:hi]] for a in self.train_data)
            if self.config.binarize:
                bin_rng.set_rows(lo, hi, n)
                batch = (binarize(batch[0], bin_rng), *batch[1:])
            out = model.loss_and_grads(*batch, **self._noise_kwargs(lo, hi, n))
        sums = self.parallel.reduce_step(model, out, hi - lo, n)
        if n < self.comm.size:               # a rank without rows drew nothing: resync
            self._sync_generators(bin_rng)
        return {k: v / n for k, v in sums.items()}

    def _noise_kwargs(self, lo, hi, n, rng=None) -> dict:
        """``{"rng": ShardedGenerator}`` drawing the one-process noise of rows lo:hi of n
        (from ``rng``, default the model's own generator); {} for a model without noise."""
        base = rng if rng is not None else getattr(self.model, "rng", None)
        if base is None:
            return {}
        sharded = ShardedGenerator(base, getattr(self.model, "noise_batch_axis", 0))
        sharded.set_rows(lo, hi, n)
        return {"rng": sharded}

    def _sync_generators(self, *others) -> None:
        """Rank 0's generator states on every rank (after a batch some rank sat out)."""
        gens = [g for g in (getattr(self.model, "rng", None), *others) if g is not None]
        states = self.comm.bcast([g.bit_generator.state for g in gens])
        for g, state in zip(gens, states):
            g.bit_generator.state = state

    def _track_best(self, record: dict) -> None:
        """Keep the epoch of the lowest validation loss (saved as best.npz) and stop early
        after ``config.patience`` epochs without a better one."""
        if "val_loss" not in record:
            return
        if self.best is None or record["val_loss"] < self.best["val_loss"]:
            self.best = {"epoch": self.epoch, "val_loss": record["val_loss"]}
            if self.out_dir is not None and self.comm.is_root:
                save_checkpoint(self.best_path, self.model, None, {
                    "epoch": self.epoch, "train_config": asdict(self.config), "best": self.best})
        patience = self.config.patience
        if patience is not None and self.epoch - self.best["epoch"] >= patience:
            self.stopped_early = True
            if self.config.progress and self.comm.is_root:
                print(f"early stop: no better validation loss in {patience} epochs (best "
                      f"{self.best['val_loss']:.3f} at epoch {self.best['epoch']})", flush=True)

    def evaluate(self, data) -> dict[str, float]:
        """Mean of each loss term over ``data`` (an array, or a tuple as ``train_data``)
        with the model's noise from a fixed generator, so the numbers are reproducible."""
        data = self._check_data(data, "data")
        self.model.eval()
        rng = np.random.default_rng([self.config.seed, 2]) \
            if getattr(self.model, "rng", None) is not None else None
        try:
            if self.parallel is None:
                return self.model.evaluate(*data, batch_size=self.config.eval_batch_size,
                                           **({} if rng is None else {"rng": rng}))
            return self._parallel_evaluate(data, rng)
        finally:
            self.model.train()

    def _parallel_evaluate(self, data, rng) -> dict[str, float]:
        """:meth:`evaluate` split over the ranks: each rank evaluates its rows of every
        evaluation batch with the noise one process would draw for them; one reduction."""
        n, bs, totals = len(data[0]), self.config.eval_batch_size, {}
        for start in range(0, n, bs):
            m = min(bs, n - start)
            lo, hi = shard_rows(m, self.comm.rank, self.comm.size)
            if hi > lo:
                part = self.model.evaluate(*(a[start + lo:start + hi] for a in data),
                                           batch_size=hi - lo,
                                           **self._noise_kwargs(lo, hi, m, rng))
                for k, v in part.items():
                    totals[k] = totals.get(k, 0.0) + v * (hi - lo)
            if m < self.comm.size and rng is not None:
                state = self.comm.bcast(rng.bit_generator.state)
                rng.bit_generator.state = state
        totals = self.parallel.reduce_sums({k: totals.get(k, 0.0) for k in self.model.terms})
        return {k: v / n for k, v in totals.items()}

    def _stop_nonfinite(self, epoch, step, loss, norm):
        last = self.checkpoint_path
        where = (f"the last good checkpoint {str(last)!r} (after epoch {self.epoch}) is intact"
                 if last is not None and last.exists() else "no checkpoint had been written yet")
        raise NonFiniteError(
            f"training stopped: non-finite values at epoch {epoch + 1}, step {step} "
            f"(loss={loss}, gradient norm={norm}); {where}. Try a lower learning rate "
            f"(--lr), gradient clipping (--clip-norm), or check the data for extreme values.")

    # ------------------------------------------------------------ checkpoints
    def save(self, path) -> Path:
        """Write the run's state to ``path`` (rank 0 only; the other ranks return the path)."""
        if not self.comm.is_root:
            return Path(path)
        meta = {"epoch": self.epoch, "train_config": asdict(self.config), "history": self.history,
                "best": self.best, "stopped_early": self.stopped_early}
        return save_checkpoint(path, self.model, self.optimizer, meta)

    def load(self, path) -> None:
        """Restore model, optimizer, ε generator, epoch and history from a checkpoint
        (read by rank 0 and sent to every rank, so only rank 0 needs the file)."""
        meta, model_state, opt_state = self.comm.root_call(load_checkpoint, path)
        draws_noise = getattr(self.model, "rng", None) is not None
        missing = [what for what, ok in (("the optimizer state", bool(opt_state)),
                                         ("the noise generator's state",
                                          "model_rng" in meta or not draws_noise),
                                         ("the epoch", "epoch" in meta)) if not ok]
        if missing:
            raise CheckpointError(f"checkpoint {str(path)!r} lacks {' and '.join(missing)}: a "
                                  f"run resumed from it would not continue exactly; start a new "
                                  f"run from its weights instead (load_model)")
        try:                                       # validate both before changing either
            self.model.load_state_dict(model_state)
            self.optimizer.load_state_dict(opt_state)
        except CheckpointError as exc:
            raise CheckpointError(f"checkpoint {str(path)!r} does not fit this run: {exc}") \
                from exc
        if draws_noise:
            self.model.rng.bit_generator.state = meta["model_rng"]
        self.epoch = int(meta["epoch"])
        self.history = list(meta.get("history", []))
        self.best = meta.get("best")
        self.stopped_early = bool(meta.get("stopped_early", False))


    def load_best(self) -> bool:
        """Put the weights of the best epoch (``best.npz``) into the model, on every rank;
        False if there is none (no validation data, or no out_dir)."""
        path = self.best_path
        state = self.comm.root_call(
            lambda: load_checkpoint(path)[1] if path is not None and path.is_file() else None)
        if state is not None:
            self.model.load_state_dict(state)
        return state is not None


def _format_record(r: dict) -> str:
    parts = [f"epoch {r['epoch']:3d}"]
    for k, v in r.items():
        if k in ("epoch", "lr", "seconds"):
            continue
        parts.append(f"{k} {v:9.3f}")
    parts.append(f"({r['seconds']:.1f}s)")
    return "  ".join(parts)
