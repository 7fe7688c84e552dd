"""``mpiexec -n 2``: the command line trains and evaluates over two real MPI processes.

Against one process on the same small data (the built-in sprites, 300 images, a small
MLP VAE): two epochs of data-parallel training end within float32 round-off of the
one-process run (relative difference ≤ 1e-4 on every parameter array), a rerun with the
same P is bit-identical, ``--resume`` under another P continues the run, distributed
``evaluate`` gives exactly the one-process NLL, and an error met by rank 0 ends both
ranks with one message. Skipped, with the reason, where ``pip install -e ".[mpi]"``
has not installed mpi4py and mpiexec (.ci/run installs them).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchvae.train import load_checkpoint

try:
    import mpi4py  # noqa: F401
    MPIEXEC = shutil.which("mpiexec") or str(Path(sys.executable).parent / "mpiexec")
    REASON = None if Path(MPIEXEC).exists() else "mpi4py is installed but mpiexec is not"
except ImportError:
    MPIEXEC, REASON = None, 'needs the mpi extra: pip install -e ".[mpi]" (mpi4py and mpich)'

pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

TRAIN = ["train", "--limit", "300", "--hidden", "64", "--latent-dim", "4", "--batch-size",
         "50", "--quiet", "--seed", "1"]


def scratchvae(args, cwd, ranks: int = 1, check=True):
    """Run ``python -m scratchvae ARGS`` as ``ranks`` MPI processes (1: no launcher)."""
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    for name in ("PMI_SIZE", "PMI_RANK", "PMI_FD", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK"):
        env.pop(name, None)
    command = [sys.executable, "-m", "scratchvae", *args]
    if ranks > 1:
        command = [MPIEXEC, "-n", str(ranks), *command]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {done.returncode}:\n"
                             f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done


def params(run_dir):
    return load_checkpoint(Path(run_dir) / "checkpoint.npz")[1]


def worst_relative_difference(a, b):
    return max(float(np.linalg.norm(a[k] - b[k]) / max(np.linalg.norm(b[k]), 1e-30))
               for k in b)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One-process and two-process runs of 2 epochs (and a 1-epoch one-process run)."""
    root = tmp_path_factory.mktemp("mpi")
    scratchvae([*TRAIN, "--epochs", "2", "--out", "one"], root)
    scratchvae([*TRAIN, "--epochs", "2", "--out", "two"], root, ranks=2)
    return root


def test_two_processes_train_what_one_process_trains(runs):
    assert worst_relative_difference(params(runs / "two"), params(runs / "one")) <= 1e-4
    one = json.loads((runs / "one" / "results.json").read_text())
    two = json.loads((runs / "two" / "results.json").read_text())
    assert two["processes"] == 2 and one["processes"] == 1
    assert two["test"]["loss"] == pytest.approx(one["test"]["loss"], rel=1e-5)


def test_rerunning_with_the_same_number_of_processes_is_bit_identical(runs):
    scratchvae([*TRAIN, "--epochs", "2", "--out", "two-again"], runs, ranks=2)
    again, first = params(runs / "two-again"), params(runs / "two")
    assert all(np.array_equal(again[k], first[k]) for k in first)


def test_resume_under_another_number_of_processes_continues_the_run(runs):
    scratchvae([*TRAIN, "--epochs", "1", "--out", "switch"], runs)             # 1 process
    scratchvae(["train", "--resume", "--epochs", "2", "--out", "switch", "--quiet"], runs,
               ranks=2)                                                     # then 2
    assert worst_relative_difference(params(runs / "switch"), params(runs / "one")) <= 1e-4


def test_distributed_evaluate_gives_exactly_the_one_process_nll(runs):
    ev = ["evaluate", "one/checkpoint.npz", "--k", "40", "--limit", "90", "--batch-size",
          "20", "--quiet", "--json"]
    scratchvae([*ev, "one.json"], runs)
    scratchvae([*ev, "two.json"], runs, ranks=2)
    one, two = (json.loads((runs / f).read_text()) for f in ("one.json", "two.json"))
    assert two["extra"]["processes"] == 2
    for key in ("nll", "nll_se", "neg_elbo", "recon", "ess_mean"):
        assert two[key] == one[key], key                                  # exactly


def test_an_error_of_rank_0_ends_both_ranks_with_one_message(runs):
    done = scratchvae([*TRAIN, "--epochs", "1", "--out", "one"], runs, ranks=2, check=False)
    assert done.returncode == 2
    assert done.stderr.count("already holds a run") == 1, done.stderr
