"""What every numbered tutorial in ``tutorials/`` shares: its command line, its data,
what it tells the reader, and its ``results.json``.

A tutorial script reads, top to bottom::

    from scratchvae.tutorial import Tutorial

    tut = Tutorial(__doc__, name="06_vae")          # parses --quick, --out, --seed, --data
    train, test = tut.image_data(n_train=60_000, n_quick=2_000)
    ...                                             # train, measure, draw
    tut.figure(save_reconstructions(x, x_hat, tut.path("reconstructions.png")))
    tut.expect("test −ELBO below 260 nats after 10 epochs")
    tut.finish({"test_elbo": ...})                  # writes OUT/results.json, prints a summary

Command line (every tutorial):

    --quick      a smoke run: small data, few epochs, under a minute on 2 CPU cores
                 (CI runs every tutorial this way)
    --out DIR    where the figures and results.json go (default runs/tutorials/<name>)
    --seed S     seeds everything random (default 0)
    --data NAME  an image data set name for ``load_dataset`` ("fashion-mnist", "mnist",
                 "sprites", ...); default: Fashion-MNIST when its files are present,
                 else the built-in sprites. Downloads only when a name is given.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from .backend import prefer_sleeping_threads
from .data import find_dataset_dir, load_dataset
from .data.loader import ArrayDataset
from .atomic import atomic_write_text

DEFAULT_IMAGES = "fashion-mnist"     # real data, used when its IDX files are on disk
FALLBACK_IMAGES = "sprites"          # built in: no files, no network


class Tutorial:
    """Command line, data, messages and results of one tutorial run.

    Args:
        doc: the script's ``__doc__`` (its first line becomes the ``--help`` title).
        name: the script's stem, e.g. "06_vae"; names the default output folder.
        argv: argument list (None: ``sys.argv[1:]``); tests pass lists.
        extra_args: optional ``callback(parser)`` that adds tutorial-specific options.
    """

    def __init__(self, doc: str | None, name: str, argv=None, extra_args=None):
        prefer_sleeping_threads()           # before any kernel runs (docs/kernels/threads.md)
        parser = argparse.ArgumentParser(description=(doc or name).strip().splitlines()[0],
                                         formatter_class=argparse.RawDescriptionHelpFormatter,
                                         epilog=doc)
        parser.add_argument("--quick", action="store_true",
                            help="smoke run: small data, few epochs (under a minute on 2 cores)")
        parser.add_argument("--out", default=None,
                            help=f"output folder (default runs/tutorials/{name})")
        parser.add_argument("--seed", type=int, default=0, help="seed for everything random")
        parser.add_argument("--data", default=None,
                            help="image data set (default: fashion-mnist if present, else sprites)")
        if extra_args is not None:
            extra_args(parser)
        self.args = parser.parse_args(argv)
        self.name = name
        self.quick = bool(self.args.quick)
        self.seed = int(self.args.seed)
        self.out = Path(self.args.out or Path("runs") / "tutorials" / name)
        self.out.mkdir(parents=True, exist_ok=True)
        self.figures: list[str] = []
        self.expectations: list[str] = []
        self.data_source: str | None = None
        self._t0 = time.perf_counter()
        mode = "quick smoke run" if self.quick else "full run"
        print(f"== {name} ({mode}) → {self.out}", flush=True)

    # ------------------------------------------------------------------- data
    def image_data(self, n_train: int | None = None, n_quick: int = 2000,
                   n_test: int | None = None, n_test_quick: int = 500
                   ) -> tuple[ArrayDataset, ArrayDataset]:
        """(train, test) image splits, x (N, 1, 28, 28) in [0, 1], y (N,) labels.

        Fashion-MNIST when its files are found (or ``--data`` names a set), otherwise the
        built-in sprites; the choice is printed and recorded in results.json. The first
        ``n_train``/``n_test`` examples are kept (all when None); ``--quick`` keeps
        ``n_quick``/``n_test_quick``.
        """
        name = self.args.data
        if name is None:
            name = DEFAULT_IMAGES if find_dataset_dir(DEFAULT_IMAGES) is not None \
                else FALLBACK_IMAGES
            if name == FALLBACK_IMAGES:
                print(f"   {DEFAULT_IMAGES} not found on disk; using the built-in {FALLBACK_IMAGES} "
                      f"(install it, or pass --data {DEFAULT_IMAGES} to download)", flush=True)
        train, test = load_dataset(name, "train"), load_dataset(name, "test")
        n_tr = n_quick if self.quick else n_train
        n_te = n_test_quick if self.quick else n_test
        train = train[:n_tr] if n_tr is not None else train
        test = test[:n_te] if n_te is not None else test
        self.data_source = name
        print(f"   data: {name}, {len(train)} train / {len(test)} test images", flush=True)
        return train, test

    # --------------------------------------------------------------- messages
    def pick(self, full, quick):
        """``quick`` under --quick, else ``full`` (epochs, sizes, run counts)."""
        return quick if self.quick else full

    def path(self, filename: str) -> Path:
        """A file inside the output folder."""
        return self.out / filename

    def figure(self, path) -> Path:
        """Record a saved figure (listed at the end and in results.json)."""
        path = Path(path)
        self.figures.append(path.name)
        print(f"   figure: {path}", flush=True)
        return path

    def expect(self, text: str) -> None:
        """Tell the reader what they should see (printed now and again at the end)."""
        self.expectations.append(text)
        print(f"   expect: {text}", flush=True)

    def say(self, text: str) -> None:
        print(f"   {text}", flush=True)

    # ---------------------------------------------------------------- results
    def finish(self, results: dict) -> Path:
        """Write ``results.json`` (key numbers, data source, figures, settings) atomically.

        Raises ValueError for a non-finite number: a tutorial must never report NaN as a
        result.
        """
        payload = {"tutorial": self.name, "quick": self.quick, "seed": self.seed,
                   "data": self.data_source, "seconds": round(time.perf_counter() - self._t0, 2),
                   "figures": self.figures, "expectations": self.expectations,
                   "results": _jsonable(results)}
        _check_finite(payload["results"], "results")
        path = atomic_write_text(self.path("results.json"), json.dumps(payload, indent=2) + "\n")
        print(f"== done in {payload['seconds']:.1f} s; results in {path}", flush=True)
        return path


def summarize_runs(per_run: list[dict]) -> dict:
    """{key: {"mean", "std"}} over repeated runs, for every key that no run left None;
    the runs themselves are kept under "per_run" (what results.json reports)."""
    keys = [k for k in per_run[0] if all(run[k] is not None for run in per_run)]
    summary = {k: {"mean": float(np.mean([run[k] for run in per_run])),
                   "std": float(np.std([run[k] for run in per_run]))} for k in keys}
    summary["per_run"] = per_run
    return summary


def mean_pm(summary: dict, key: str, fmt: str = ".4f") -> str:
    """"mean ± std" of one key of :func:`summarize_runs`' output, for printed tables."""
    return f"{summary[key]['mean']:{fmt}} ± {summary[key]['std']:{fmt}}"


def _jsonable(value):
    """NumPy scalars/arrays → Python numbers/lists, recursively."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_finite(value, where: str) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_finite(v, f"{where}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"tutorial result {where} is {value}; results must be finite numbers")
