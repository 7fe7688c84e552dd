"""The command line under bad input and faults: nothing lost, nothing silent.

* a run directory belongs to one run (refused, --resume or --overwrite), held by a lock;
* --resume restores every setting without repeating one, is bit-identical to an
  uninterrupted run, refuses a conflicting option and an epoch already reached, and a
  refused resume changes no file;
* a validation split held out of the training data chooses the best epoch and stops early;
* every bad argument is one line on stderr and exit code 2, never a traceback;
* a full disk is one line and exit code 2, and the last checkpoint stays loadable.

Each case is counted by outcome (tried / clean error / silent / crash / data lost) in
``OUTCOMES``; ``test_zz_outcome_table`` prints the table and requires silent, crash and
data-lost to be zero.
"""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from scratchvae import cli
from scratchvae.train import load_checkpoint, load_model

QUICK = ["--limit", "300", "--hidden", "32", "--latent-dim", "4", "--batch-size", "64",
         "--quiet"]
OUTCOMES: Counter = Counter()


def run_cli(argv, capsys):
    """(exit code, stderr) of ``python -m scratchvae <argv>`` in this process, with argparse's
    own exits (SystemExit) turned into their codes."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def snapshot(folder):
    """{file: (size, mtime_ns)} of a directory, to prove a refused command changed nothing."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def expect_clean_error(code, err, *needles):
    """A refusal: exit 2, one line (argparse: usage + one error line), the needles named."""
    OUTCOMES["tried"] += 1
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("usage:")
             and not ln.startswith("  ")]
    if code == 0:
        OUTCOMES["silent"] += 1
    elif "Traceback" in err:
        OUTCOMES["crash"] += 1
    elif code == 2 and len(lines) == 1 and all(n in err for n in needles):
        OUTCOMES["clean error"] += 1
    else:
        OUTCOMES["unclear error"] += 1
    assert code == 2, (code, err)
    assert "Traceback" not in err and len(lines) == 1, err
    for needle in needles:
        assert needle in err, (needle, err)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "done"
    assert cli.main(["train", "--epochs", "2", "--out", str(out), *QUICK]) == 0
    return out


# ------------------------------------------------------------ run directories
def test_a_plain_train_never_replaces_another_run(finished_run, capsys):
    before = snapshot(finished_run)
    for argv in (["train", "--epochs", "2", "--out", str(finished_run), *QUICK],
                 ["train", "--model", "ae", "--epochs", "1", "--out", str(finished_run),
                  *QUICK]):
        code, err = run_cli(argv, capsys)
        expect_clean_error(code, err, "already holds a run", "--resume", "--overwrite")
    assert snapshot(finished_run) == before                       # not one byte changed


def test_overwrite_deletes_only_the_runs_own_files(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--epochs", "1", "--out", str(out), *QUICK]) == 0
    (out / "my_notes.txt").write_text("mine")
    assert cli.main(["train", "--model", "ae", "--epochs", "1", "--overwrite", "--out",
                     str(out), *QUICK]) == 0
    assert (out / "my_notes.txt").read_text() == "mine"
    assert load_checkpoint(out / "checkpoint.npz")[0]["model_config"]["model"] == "ae"
    assert not (out / "samples.png").exists()                 # the old VAE's figure is gone


def test_a_refused_overwrite_keeps_the_old_run(finished_run, capsys):
    before = snapshot(finished_run)
    code, err = run_cli(["train", "--overwrite", "--model", "cvae", "--data", "cosine3d",
                         "--out", str(finished_run), "--quiet"], capsys)
    expect_clean_error(code, err, "has none")
    assert snapshot(finished_run) == before                  # checked first, deleted never


def test_out_naming_a_file_and_resume_without_a_run(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    expect_clean_error(*run_cli(["train", "--out", str(f), *QUICK], capsys), "is a file")
    expect_clean_error(*run_cli(["train", "--resume", "--out", str(tmp_path / "none")], capsys),
                       "no run to resume")
    expect_clean_error(*run_cli(["train", "--resume", "--overwrite", "--out", str(f)], capsys),
                       "is a file")


def test_a_live_writer_keeps_a_second_one_out_and_a_dead_ones_lock_is_taken(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".lock").write_text(json.dumps({"pid": sleeper.pid}))
        code, err = run_cli(["train", "--epochs", "1", "--out", str(out), *QUICK], capsys)
        expect_clean_error(code, err, f"pid {sleeper.pid}", "another training")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert cli.main(["train", "--epochs", "1", "--out", str(out), *QUICK]) == 0   # stale now
    assert not (out / ".lock").exists()                       # released after the run


# -------------------------------------------------------------------- resume
def test_resume_needs_no_option_repeated_and_is_bit_identical(tmp_path):
    common = ["--limit", "300", "--hidden", "32", "--latent-dim", "4", "--batch-size", "50",
              "--lr", "3e-3", "--seed", "3", "--val-fraction", "0.2", "--quiet"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert cli.main(["train", "--epochs", "3", "--out", str(straight), *common]) == 0
    assert cli.main(["train", "--epochs", "1", "--out", str(split), *common]) == 0
    assert cli.main(["train", "--resume", "--epochs", "3", "--out", str(split), "--quiet"]) == 0
    a, b = load_model(straight / "checkpoint.npz")[0], load_model(split / "checkpoint.npz")[0]
    for (n, p, _), (_, q, _) in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q, err_msg=n)
    ra = json.loads((straight / "results.json").read_text())
    rb = json.loads((split / "results.json").read_text())
    assert ra["test"] == rb["test"] and ra["best_epoch"] == rb["best_epoch"]


@pytest.mark.parametrize("option", [
    ["--lr", "0.1"], ["--limit", "100"], ["--batch-size", "32"], ["--hidden", "64"],
    ["--model", "ae"], ["--data", "cosine3d"], ["--seed", "9"], ["--val-fraction", "0.3"],
    ["--beta", "2"], ["--binarize"],
])
def test_resume_refuses_a_setting_that_differs_from_the_runs(option, finished_run, capsys):
    before = snapshot(finished_run)
    code, err = run_cli(["train", "--resume", "--epochs", "3", "--out", str(finished_run),
                         *option], capsys)
    expect_clean_error(code, err, option[0], "keeps the run's own settings")
    assert snapshot(finished_run) == before


def test_resume_to_an_epoch_already_reached_changes_nothing(finished_run, capsys):
    before = snapshot(finished_run)
    for epochs in ("1", "2"):
        code, err = run_cli(["train", "--resume", "--epochs", epochs, "--out",
                             str(finished_run)], capsys)
        expect_clean_error(code, err, "already trained 2 epochs")
    code, err = run_cli(["train", "--resume", "--out", str(finished_run)], capsys)
    assert code == 0 or "already trained" in err                 # default target: 30 epochs
    if code == 2:
        assert snapshot(finished_run) == before


def test_resume_repeating_the_same_settings_is_fine(finished_run, tmp_path):
    out = tmp_path / "same"
    assert cli.main(["train", "--epochs", "1", "--out", str(out), *QUICK]) == 0
    assert cli.main(["train", "--resume", "--epochs", "2", "--out", str(out), *QUICK]) == 0


# ---------------------------------------------------------------- validation
def test_validation_is_held_out_of_training_and_the_test_set_is_used_once(finished_run):
    meta, _, _ = load_checkpoint(finished_run / "checkpoint.npz")
    results = json.loads((finished_run / "results.json").read_text())
    history = meta["history"]
    assert meta["train_config"]["extra"]["val_fraction"] == 0.1
    assert results["best_epoch"] in (1, 2) and (finished_run / "best.npz").is_file()
    best_val = min(r["val_loss"] for r in history)
    assert results["best_val_loss"] == best_val
    assert results["test"]["loss"] != best_val                 # a different set of examples


def test_patience_stops_early_and_a_stopped_run_is_not_resumed(tmp_path, capsys):
    out = tmp_path / "patient"
    assert cli.main(["train", "--epochs", "40", "--patience", "1", "--lr", "0.05", "--out",
                     str(out), *QUICK]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["stopped_early"] and results["epochs"] < 40
    assert results["epochs"] == results["best_epoch"] + 1
    code, err = run_cli(["train", "--resume", "--epochs", "50", "--out", str(out)], capsys)
    expect_clean_error(code, err, "stopped early")


# ------------------------------------------------------------ bad arguments
BAD_ARGUMENTS = [
    (["train", "--epochs", "0"], "--epochs"), (["train", "--epochs", "-3"], "--epochs"),
    (["train", "--epochs", "two"], "--epochs"), (["train", "--batch-size", "0"], "--batch-size"),
    (["train", "--lr", "0"], "--lr"), (["train", "--lr", "-1e-3"], "--lr"),
    (["train", "--lr", "nan"], "--lr"), (["train", "--lr", "inf"], "--lr"),
    (["train", "--clip-norm", "0"], "--clip-norm"), (["train", "--latent-dim", "0"], "--latent-dim"),
    (["train", "--hidden", "0"], "--hidden"), (["train", "--hidden", "-4"], "--hidden"),
    (["train", "--activation", "swish"], "--activation"), (["train", "--beta", "-1"], "--beta"),
    (["train", "--beta", "nan"], "--beta"), (["train", "--limit", "0"], "--limit"),
    (["train", "--limit", "-5"], "--limit"), (["train", "--kl-warmup", "-1"], "--kl-warmup"),
    (["train", "--val-fraction", "1.5"], "--val-fraction"),
    (["train", "--val-fraction", "0"], "--val-fraction"), (["train", "--patience", "0"], "--patience"),
    (["train", "--seed", "-1"], "--seed"), (["train", "--betas", "0.9", "1.0"], "--betas"),
    (["train", "--model", "iwae", "--k", "0"], "--k"), (["train", "--rho", "2"], "--rho"),
    (["train", "--channels", "0", "8"], "--channels"), (["train", "--model", "gan"], "--model"),
    (["train", "--likelihood", "poisson"], "--likelihood"),
    (["train", "--lr-schedule", "step"], "--lr-schedule"),
    (["train", "--group-lr", "discriminator"], "GROUP=LR"),
    (["train", "--group-lr", "discriminator=-1"], "GROUP=LR"),
    (["train", "--model", "vae", "--k", "3"], "does not take --k"),
    (["train", "--model", "iwae", "--kl-warmup", "1"], "KL weight"),
    (["train", "--model", "dae", "--corruption", "masking", "--noise-level", "1.5"], "dae"),
    (["train", "--limit", "1"], "--val-fraction"),
    (["train", "--data", "imagenet"], "imagenet"),
    (["sample", "x.npz", "--n", "0"], "--n"), (["sample", "x.npz", "--n", "-2"], "--n"),
    (["reconstruct", "x.npz", "--n", "0"], "--n"), (["evaluate", "x.npz", "--k", "0"], "--k"),
    (["evaluate", "x.npz", "--batch-size", "0"], "--batch-size"),
    (["evaluate", "x.npz", "--limit", "0"], "--limit"),
    (["gradcheck", "--eps", "0"], "--eps"), (["gradcheck", "--eps", "-1e-6"], "--eps"),
    (["gradcheck", "--only", "Nope"], "Nope"), (["sample", "missing.npz"], "missing.npz"),
]


@pytest.mark.parametrize("argv, needle", BAD_ARGUMENTS, ids=[" ".join(a) for a, _ in BAD_ARGUMENTS])
def test_every_bad_argument_is_one_line_and_exit_code_2(argv, needle, tmp_path, capsys):
    if argv[0] == "train":
        argv = [*argv, "--out", str(tmp_path / "r"), "--quiet"]
        if "--limit" not in argv:
            argv += ["--limit", "200"]
    code, err = run_cli(argv, capsys)
    expect_clean_error(code, err, needle)
    if argv[0] == "train":
        assert not (tmp_path / "r" / "checkpoint.npz").exists()


# ---------------------------------------------------------------- full disk
def test_a_full_disk_is_one_line_and_the_last_checkpoint_survives(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert cli.main(["train", "--epochs", "1", "--out", str(out), *QUICK]) == 0
    import scratchvae.train.checkpoint as ckpt_mod
    real = ckpt_mod.atomic_write

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    monkeypatch.setattr(ckpt_mod, "atomic_write", full)
    code, err = run_cli(["train", "--resume", "--epochs", "2", "--out", str(out)], capsys)
    expect_clean_error(code, err, "No space left on device", ".npz")
    monkeypatch.setattr(ckpt_mod, "atomic_write", real)
    OUTCOMES["tried"] += 1
    model, meta = load_model(out / "checkpoint.npz")         # the last good state is intact
    if meta["epoch"] != 1:
        OUTCOMES["data lost"] += 1
    assert meta["epoch"] == 1
    assert not (out / ".lock").exists()


@pytest.mark.parametrize("limit", ["9", "10", "12"])
def test_tiny_limits_train_and_plot(limit, tmp_path):
    """A handful of examples (one test image for --limit 9) still gives every figure."""
    out = tmp_path / "tiny"
    assert cli.main(["train", "--epochs", "1", "--limit", limit, "--out", str(out),
                     "--quiet"]) == 0
    assert json.loads((out / "results.json").read_text())["figures"]


def test_the_cli_lets_idle_threads_sleep_unless_the_user_chose():
    code = ("import os, sys; from scratchvae.cli import main; "
            "main(['gradcheck', '--only', 'Tanh']); print('POLICY', os.environ.get('OMP_WAIT_POLICY'))")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    for preset, expected in ((None, "PASSIVE"), ("ACTIVE", "ACTIVE")):
        if preset:
            env["OMP_WAIT_POLICY"] = preset
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=120)
        assert f"POLICY {expected}" in proc.stdout, proc.stdout + proc.stderr


def test_zz_outcome_table():
    """The counts over this file's cases (runs last: the file's tests are in order)."""
    print("\nCLI fault suite outcomes:", dict(OUTCOMES))
    assert OUTCOMES["tried"] >= 60
    assert OUTCOMES["silent"] == OUTCOMES["crash"] == OUTCOMES["data lost"] == 0
    assert OUTCOMES["unclear error"] == 0
