"""Atomic writes: no debris after kill -9, the user's umask, one clear error on a full disk.

Every file the library writes (checkpoints, history, IDX files, downloads, results) goes
through ``scratchvae.atomic.atomic_write``, a module below data/ and train/ in the layers.
The tests below hold it to these promises, through each of its writers:

* a reader finds the old file or the new one, never half of one — also when the writer
  is SIGKILLed at a random moment (a subprocess writing checkpoints in a loop);
* a killed writer's temp file is removed by the next write in that directory;
* a new file gets ``0o666 & ~umask``, a replaced file keeps its mode;
* a refusing file system (ENOSPC, EROFS, EACCES — patched, and for real on a tiny tmpfs
  where the test may mount one) yields WriteError naming the file, the cause and the fix,
  with the temp file removed and the old file intact.

The outcomes are counted by category and printed at the end of the module (tried /
clean error / silent wrong / crash / data lost); silent, crashing and data-losing
outcomes must be zero.
"""
from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from scratchvae.data.idx import write_idx
from scratchvae.errors import CheckpointError, ScratchVAEError, WriteError
from scratchvae.models import VAE
from scratchvae import atomic
from scratchvae.train import load_checkpoint, load_model, save_checkpoint, save_history
from scratchvae.atomic import TEMP_PATTERN, atomic_write, atomic_write_text, remove_stale_temps

REPO = Path(__file__).resolve().parents[1]
OUTCOMES: dict[str, Counter] = {}


def _count(kind: str, outcome: str) -> None:
    OUTCOMES.setdefault(kind, Counter())[outcome] += 1
    OUTCOMES[kind]["tried"] += 1


@pytest.fixture(scope="module", autouse=True)
def outcome_table(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    columns = ("tried", "clean error", "ok", "silent wrong", "crash", "data lost")
    lines = ["", "atomic writes, outcomes by category:",
             f"  {'case':34s}" + "".join(f"{c:>14s}" for c in columns)]
    for kind, counts in sorted(OUTCOMES.items()):
        lines.append(f"  {kind:34s}" + "".join(f"{counts[c]:14d}" for c in columns))
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            for line in lines:
                reporter.write_line(line)
    for kind, counts in OUTCOMES.items():
        assert counts["silent wrong"] == counts["crash"] == counts["data lost"] == 0, kind


def _temps(folder) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir() if p.name.endswith(".tmp"))


def _model():
    return VAE(12, (8,), 2, seed=0)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- names and clean-up -------------------------------------------------------------

def test_temp_names_identify_their_writer():
    name = atomic.temp_name("checkpoint.npz")
    m = TEMP_PATTERN.match(name)
    assert m and m["target"] == "checkpoint.npz" and int(m["pid"]) == os.getpid()


def test_stale_temps_of_dead_writers_are_removed_by_the_next_write(tmp_path):
    dead, alive = _dead_pid(), os.getppid()
    stale = [f".checkpoint.npz.{dead}.0123abcd.tmp", f".history.csv.{dead}.ffffffff.tmp",
             f".train.idx.gz.{dead}.00000000.tmp"]
    kept = [f".checkpoint.npz.{alive}.0123abcd.tmp",       # its writer still runs
            f".checkpoint.npz.{os.getpid()}.0123abcd.tmp",   # ours, maybe another thread's
            ".checkpoint.npz.abcdefgh.tmp",                  # not our pattern: not ours to judge
            f"checkpoint.npz.{dead}.0123abcd.tmp", "notes.tmp", "checkpoint.npz"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x")
    save_checkpoint(tmp_path / "checkpoint.npz", _model())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
    # the data/ writer cleans the same debris
    (tmp_path / stale[0]).write_bytes(b"x")
    write_idx(tmp_path / "a.idx", np.arange(3, dtype=np.uint8))
    assert not (tmp_path / stale[0]).exists()
    assert remove_stale_temps(tmp_path / "missing") == []


# -- permissions -------------------------------------------------------------------

WRITERS = {
    "checkpoint": lambda p: save_checkpoint(p, _model()),
    "history": lambda p: save_history([{"epoch": 1, "loss": 1.0}], p.parent) and None,
    "text": lambda p: atomic_write_text(p, "hello"),
    "idx": lambda p: write_idx(p, np.arange(4, dtype=np.uint8)),
}
TARGET = {"checkpoint": "c.npz", "history": "history.json", "text": "t.txt", "idx": "a.idx.gz"}


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
@pytest.mark.parametrize("writer", list(WRITERS))
def test_new_files_follow_the_umask(tmp_path, writer, umask):
    old = os.umask(umask)
    try:
        path = tmp_path / TARGET[writer]
        WRITERS[writer](path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    if writer == "history":
        assert (tmp_path / "history.csv").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
@pytest.mark.parametrize("writer", list(WRITERS))
def test_replacing_a_file_keeps_its_mode(tmp_path, writer, mode):
    path = tmp_path / TARGET[writer]
    WRITERS[writer](path)
    path.chmod(mode)
    WRITERS[writer](path)
    assert path.stat().st_mode & 0o777 == mode            # neither tightened nor loosened


# -- a refusing file system ------------------------------------------------------------

FAULTS = {   # where the write fails -> the OSError it meets
    "open": (errno.EACCES, "Permission denied"),
    "write": (errno.ENOSPC, "No space left on device"),
    "fsync": (errno.ENOSPC, "No space left on device"),
    "replace": (errno.EROFS, "Read-only file system"),
}


def _inject(monkeypatch, where, code, text):
    def fail(*args, **kwargs):
        raise OSError(code, text)

    if where == "open":
        real_open = os.open
        monkeypatch.setattr(os, "open", lambda p, *a, **k: fail() if str(p).endswith(".tmp")
                            else real_open(p, *a, **k))
    elif where == "write":
        real_fdopen = os.fdopen

        class Full:
            def __init__(self, f):
                self.f = f

            def write(self, data):
                self.f.write(data[: len(data) // 2])
                fail()

            def __getattr__(self, name):
                return getattr(self.f, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

        monkeypatch.setattr(os, "fdopen", lambda *a, **k: Full(real_fdopen(*a, **k)))
    elif where == "fsync":
        monkeypatch.setattr(os, "fsync", fail)
    else:
        monkeypatch.setattr(os, "replace", fail)


@pytest.mark.parametrize("where", list(FAULTS))
@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_refusing_file_system_is_one_clear_error_and_loses_nothing(tmp_path, monkeypatch,
                                                                      writer, where):
    path = tmp_path / TARGET[writer]
    WRITERS[writer](path)
    before = path.read_bytes()
    code, text = FAULTS[where]
    with monkeypatch.context() as patch:
        _inject(patch, where, code, text)
        try:
            WRITERS[writer](path)
            outcome = "silent wrong"                      # the fault went unnoticed
        except WriteError as exc:
            message = str(exc)
            assert isinstance(exc, OSError) and isinstance(exc, ScratchVAEError)
            assert exc.errno == code and exc.filename == str(path)
            assert str(path) in message and text in message and f"errno {code}" in message
            assert "\n" not in message and ";" in message     # one line: the cause; the fix
            outcome = "clean error"
        except Exception:                                 # noqa: BLE001 - counted, then shown
            _count(f"fault: {where}", "crash")
            raise
    if path.read_bytes() != before or _temps(tmp_path):
        outcome = "data lost"
    _count(f"fault: {where}", outcome)
    assert outcome == "clean error"


def test_an_exception_of_the_callback_propagates_and_leaves_nothing(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def explode(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, explode)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["f.bin"]


def test_write_error_messages_name_the_fix(tmp_path):
    for code, hint in ((errno.ENOSPC, "free some space"), (errno.EROFS, "read-only"),
                       (errno.EACCES, "permissions"), (errno.EIO, "check the path")):
        err = atomic.write_error(tmp_path / "x", OSError(code, os.strerror(code)))
        assert hint in str(err) and str(tmp_path / "x") in str(err)
    with pytest.raises(WriteError, match="is a directory|Is a directory"):
        atomic_write_text(tmp_path, "x")                  # the target is a directory


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 256 KiB tmpfs mounted at tmp_path/fs, where this test may mount one (root)."""
    mount = shutil.which("mount")
    point = tmp_path / "fs"
    point.mkdir()
    if mount is None or os.geteuid() != 0 or subprocess.run(
            [mount, "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(point)],
            capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here; the patched faults above cover ENOSPC/EROFS")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], capture_output=True)


def test_a_really_full_and_a_read_only_disk(tiny_tmpfs):
    path = tiny_tmpfs / "checkpoint.npz"
    small = VAE(12, (8,), 2, seed=0)
    save_checkpoint(path, small)
    before = path.read_bytes()
    big = VAE(784, (64,), 8, seed=1)                     # ~0.4 MB: more than the disk holds
    with pytest.raises(WriteError) as info:
        save_checkpoint(path, big)
    assert info.value.errno == errno.ENOSPC and "No space left on device" in str(info.value)
    assert path.read_bytes() == before and _temps(tiny_tmpfs) == []
    _count("real tmpfs: full", "clean error")
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_tmpfs)], check=True)
    with pytest.raises(WriteError) as info:
        save_history([{"epoch": 1}], tiny_tmpfs)
    assert info.value.errno == errno.EROFS and "read-only" in str(info.value)
    load_checkpoint(path)                                # the old checkpoint still loads
    _count("real tmpfs: read-only", "clean error")


# -- kill -9 while writing ------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from scratchvae.models import VAE
    from scratchvae.train import save_checkpoint, save_history
    out = Path(sys.argv[1])
    model = VAE(784, (256,), 16, seed=0)                   # a 1.6 MB checkpoint
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        save_checkpoint(out / "checkpoint.npz", model, meta={"epoch": i})
        save_history([{"epoch": e, "loss": 1.0 / e} for e in range(1, i + 1)], out)
""")


def test_kill_minus_9_at_random_moments_loses_nothing_and_leaves_no_debris(tmp_path):
    rnd = random.Random(13)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    out = tmp_path / "run"
    out.mkdir()
    kills, debris_seen = 12, 0
    last_epoch = 0
    for k in range(kills):
        proc = subprocess.Popen([sys.executable, str(script), str(out)], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(rnd.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        debris_seen += bool(_temps(out))
        outcome = "ok"
        ckpt = out / "checkpoint.npz"
        if ckpt.exists():
            try:
                meta, _, _ = load_checkpoint(ckpt)
                last_epoch = meta["epoch"]
            except CheckpointError:
                outcome = "data lost"                     # a half-written checkpoint
        elif last_epoch:
            outcome = "data lost"                         # an earlier checkpoint vanished
        for name in ("history.json", "history.csv"):
            if (out / name).exists() and name.endswith(".json"):
                try:
                    json.loads((out / name).read_text())
                except ValueError:
                    outcome = "data lost"
        _count("kill -9 during writes", outcome)
        assert outcome == "ok"
    # the next write removes every dead writer's temp file
    save_checkpoint(out / "checkpoint.npz", VAE(12, (8,), 2), meta={"epoch": 0})
    assert _temps(out) == []
    assert load_model(out / "checkpoint.npz")[1]["epoch"] == 0
    print(f"{kills} kills, {debris_seen} left a temp file behind, all removed by the next write")
