"""A run directory belongs to one run: it is never replaced by accident, and two processes
never write into it at once.

A run writes a fixed set of files into its directory (``RUN_FILES``: the checkpoints,
the history, ``results.json`` and the figures). Starting a run where another run's files
are is refused unless the caller says what it wants:

    resume     continue that run (its checkpoint holds every setting);
    overwrite  start over: the old run's files (only those, never anything else the user
               put there) are deleted first.

While a run writes, it holds ``<dir>/.lock`` (created exclusively, holding its pid). A
second process that finds the lock of a live process is refused; a lock left by a process
that died (kill -9, a crash) is stale and is taken over.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError

#: the files a run writes into its directory
RUN_FILES = ("checkpoint.npz", "best.npz", "history.json", "history.csv", "results.json",
             "loss_curves.png", "reconstructions.png", "samples.png", "samples.npy",
             "latent.png")
LOCK = ".lock"


def existing_run_files(folder) -> list[str]:
    """The run files already in ``folder`` (empty for a new or missing directory)."""
    folder = Path(folder)
    return [name for name in RUN_FILES if (folder / name).is_file()]


def check(folder, resume: bool = False, overwrite: bool = False) -> Path:
    """Check that a run may write into ``folder``, changing nothing; returns it as a Path.

    Raises ConfigError naming the fix when ``folder`` is a file, holds another run's
    files (and neither ``resume`` nor ``overwrite`` was asked), or has no checkpoint to
    resume.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out {str(folder)!r} is a file, not a directory; choose a directory "
                          f"for the run's files")
    found = existing_run_files(folder)
    if resume and overwrite:
        raise ConfigError("--resume continues a run and --overwrite deletes it; give one of them")
    if resume and "checkpoint.npz" not in found:
        raise ConfigError(f"{folder / 'checkpoint.npz'} does not exist: there is no run to "
                          f"resume in {str(folder)!r} (drop --resume to start one)")
    if found and not (resume or overwrite):
        raise ConfigError(
            f"{str(folder)!r} already holds a run ({', '.join(found)}); continue it with "
            f"--resume, start over with --overwrite (deletes those files), or choose another "
            f"--out")
    return folder


def clear(folder) -> list[str]:
    """Delete the run files of ``folder`` (``--overwrite``) — only those; returns their names."""
    found = existing_run_files(folder)
    for name in found:
        (Path(folder) / name).unlink()
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:                           # exists, owned by someone else
        return True
    return True


@contextmanager
def locked(folder):
    """Hold ``folder/.lock`` for the duration of the block (module docstring); the folder is
    created if it does not exist."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = Path(folder) / LOCK
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            break
        except FileExistsError:
            try:
                pid = int(json.loads(path.read_text())["pid"])
            except (OSError, ValueError, KeyError, TypeError):
                pid = None                            # unreadable: a writer died mid-write
            if pid is not None and _alive(pid) and pid != os.getpid():
                raise ConfigError(f"another training (pid {pid}) is writing to {str(folder)!r}; "
                                  f"wait for it to finish or choose another --out") from None
            path.unlink(missing_ok=True)              # stale: its process is gone
    else:
        raise ConfigError(f"could not take the lock {path}; remove it if no training runs there")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"pid": os.getpid()}, f)
        yield path
    finally:
        path.unlink(missing_ok=True)
