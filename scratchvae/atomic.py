"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The bytes go to a temporary file in the same directory, are flushed and fsynced,
and then ``os.replace`` swaps it in (atomic on POSIX and Windows). A crash or a
NaN-stopped run therefore never leaves a truncated checkpoint behind.

Three promises beyond atomicity:

* **No debris.** A temp file is named after its target and its writer,
  ``.{target name}.{pid}.{8 hex digits}.tmp``. A writer killed mid-write (kill -9, power
  loss) cannot remove its own temp file, so every write first removes the temp files
  next to its target whose writer is no longer alive (:func:`remove_stale_temps`).
  A failed write removes its own.
* **The user's permissions.** A new file gets ``0o666 & ~umask``, like any file the user
  creates (``tempfile.mkstemp`` would make it 0600); replacing a file keeps that file's mode.
* **One clear error.** Disk full, read-only file system, no permission: the temp file is
  removed, the old file is untouched, and the caller gets a :class:`~scratchvae.errors.WriteError`
  naming the file, the cause and the fix.
"""
from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from .errors import WriteError

#: ``.{target}.{pid}.{tag}.tmp`` — what every temp file of this module is called
TEMP_PATTERN = re.compile(r"^\.(?P<target>.+)\.(?P<pid>[0-9]{1,10})\.(?P<tag>[0-9a-f]{8})\.tmp$")


def temp_name(target_name: str) -> str:
    """The name of a new temp file for ``target_name``, written by this process."""
    return f".{target_name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (ours, or another user's)."""
    if pid <= 0:
        return True                  # not a writer's pid: never treat it as dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True                  # exists but not ours, or we cannot tell: keep its file
    return True


def remove_stale_temps(folder) -> list[Path]:
    """Remove the temp files of dead writers in ``folder``; return what was removed.

    Only names of the form :data:`TEMP_PATTERN` are considered, and only those whose
    pid no longer runs. Errors (a file already gone, no permission) are ignored: cleaning
    up is a courtesy, never a reason for the write itself to fail.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = TEMP_PATTERN.match(entry.name)
        if match is None or pid_alive(int(match["pid"])):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)           # elsewhere: the classic set-and-restore
    os.umask(mask)
    return mask


def new_file_mode(path: Path) -> int:
    """The mode ``path`` should get: its current one if it exists, else 0o666 & ~umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~current_umask()


_HINTS = {
    errno.ENOSPC: "free some space or write to another directory (e.g. another --out)",
    errno.EDQUOT: "free some space (disk quota exceeded) or write to another directory",
    errno.EROFS: "the file system is read-only; write to another directory (e.g. another --out)",
    errno.EACCES: "you may not write there; fix the directory's permissions or write elsewhere",
    errno.EPERM: "you may not write there; fix the directory's permissions or write elsewhere",
    errno.ENOENT: "a directory on the way is missing or was removed; check the path",
    errno.ENOTDIR: "a part of the path is a file, not a directory; check the path",
    errno.EISDIR: "the path is a directory; give a file name",
    errno.ENAMETOOLONG: "the file name is too long; choose a shorter path",
}


def write_error(path, exc: OSError) -> WriteError:
    """The library's one-line error for an OSError met while writing ``path``."""
    if isinstance(exc, WriteError):
        return exc
    code = exc.errno
    cause = exc.strerror or str(exc) or type(exc).__name__
    hint = _HINTS.get(code, "check the path, the free space and the permissions")
    where = f" (errno {code})" if code is not None else ""
    return WriteError(f"could not write {path}: {cause}{where}; {hint}", filename=path, errno=code)


def atomic_write(path, write: Callable, mode: str = "wb") -> Path:
    """Call ``write(fileobj)`` on a temp file, then atomically move it to ``path``.

    Raises WriteError (an OSError) when the file system refuses (full, read-only, no
    permission), after removing the temp file; the old ``path``, if any, is untouched.
    An exception raised by ``write`` itself propagates unchanged, also after clean-up.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path.parent)
        file_mode = new_file_mode(path)
        for _ in range(100):                       # a clash of 32 random bits is ~never
            tmp = path.with_name(temp_name(path.name))
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                             0o600)
                break
            except FileExistsError:
                tmp = None
        else:
            raise FileExistsError(errno.EEXIST, "could not create a unique temp file")
        try:
            os.fchmod(fd, file_mode)               # exactly this mode, whatever the umask
        except OSError:
            pass                                   # a file system without modes (FAT, SMB)
        text = {} if "b" in mode else {"encoding": "utf-8"}
        with os.fdopen(fd, mode, **text) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        _discard(tmp)
        raise write_error(path, exc) from exc
    except BaseException:
        _discard(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically to ``path``; see :func:`atomic_write`."""
    return atomic_write(path, lambda f: f.write(text), mode="w")


def _discard(tmp) -> None:
    if tmp is None:
        return
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
