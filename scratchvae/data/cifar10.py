"""CIFAR-10 (Krizhevsky, 2009) from its binary version: 32×32 colour images and labels.

Where the files are looked for, in order (as for the IDX data sets): ``$SCRATCHVAE_DATA/cifar10``,
``~/.cache/scratchvae/cifar10``, ``/usr/share/datasets/cifar10``; in each, either the archive
the official site publishes (``cifar-10-binary.tar.gz``) or its extracted folder
(``cifar-10-batches-bin/``). The archive is checked against its published MD5 before anything
is read from it, in 1 MiB pieces. Nothing is ever unpickled: this is the binary version,
whose format is fixed bytes. With ``download=True`` a missing archive is fetched from the
official site, hashed while it streams to disk, size-capped, and moved into place only when
its MD5 matches.

Format: each batch file holds 10,000 records of 1 + 3,072 bytes,

    label (0 … 9) | 1,024 red | 1,024 green | 1,024 blue      (each plane 32×32, row-major)

so one file is exactly 30,730,000 bytes, and ``records[:, 1:].reshape(N, 3, 32, 32)`` is the
(N, C, H, W) image batch. Train is ``data_batch_1.bin`` … ``data_batch_5.bin`` (50,000 images),
test is ``test_batch.bin`` (10,000). A file of any other size, a label outside 0 … 9, a
corrupt or foreign archive, a member that is not a plain file: each is a ``DataError``
naming the file and the fix. Memory is bounded by the data set itself: each batch is read
into a preallocated array of its known size, never more.
"""
from __future__ import annotations

import hashlib
import http.client
import tarfile
import urllib.request
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..errors import DataError
from .datasets import _download_dir as download_dir
from .datasets import search_dirs

NAME = "cifar10"
ARCHIVE = "cifar-10-binary.tar.gz"
FOLDER = "cifar-10-batches-bin"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"        # as published on the CIFAR site
MAX_ARCHIVE_BYTES = 200 << 20                    # the archive is 170,052,171 bytes
CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")
RECORD = 1 + 3 * 32 * 32                         # label byte + three 32×32 planes
RECORDS_PER_FILE = 10_000
FILES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
DOWNLOAD_TIMEOUT = 60
CHUNK = 1 << 20
_urlopen = urllib.request.urlopen        # the only door to the network; tests swap it


def parse_batch(data: bytes | np.ndarray, source: str):
    """(x, y) of one batch's bytes: x (N, 3, 32, 32) uint8, y (N,) int64; DataError if bad."""
    raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    if raw.size != RECORDS_PER_FILE * RECORD:
        raise DataError(f"{source}: {raw.size} bytes, but a CIFAR-10 batch is exactly "
                        f"{RECORDS_PER_FILE * RECORD} ({RECORDS_PER_FILE} records of {RECORD}); "
                        f"the file is truncated or not CIFAR-10's binary version")
    records = raw.reshape(RECORDS_PER_FILE, RECORD)
    y = records[:, 0].astype(np.int64)
    if y.max() >= len(CLASSES):
        bad = int(np.argmax(y >= len(CLASSES)))
        raise DataError(f"{source}: record {bad} has label {y[bad]}; CIFAR-10 labels are 0 … 9, "
                        f"so this is not CIFAR-10's binary version")
    return records[:, 1:].reshape(RECORDS_PER_FILE, 3, 32, 32), y


def _read_into(fileobj, out: np.ndarray, source: str) -> None:
    """Fill the preallocated ``out`` from ``fileobj``; DataError if it ends early."""
    view, filled = memoryview(out).cast("B"), 0
    while filled < len(view):
        n = fileobj.readinto(view[filled:filled + CHUNK])
        if not n:
            raise DataError(f"{source}: ends after {filled} of {len(view)} bytes; the file is "
                            f"truncated, delete it so that it is fetched again")
        filled += n


def _md5_of_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _from_archive(path: Path, names: list[str]) -> list[np.ndarray]:
    try:
        size = path.stat().st_size
        if size > MAX_ARCHIVE_BYTES:
            raise DataError(f"{path}: {size} bytes, more than {ARCHIVE} can be "
                            f"({MAX_ARCHIVE_BYTES}); the file is not {ARCHIVE}")
        got = _md5_of_file(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    if got != MD5:
        raise DataError(f"{path}: checksum mismatch for {ARCHIVE}: expected md5 {MD5}, got "
                        f"{got}. The archive is corrupt, truncated or another version; delete "
                        f"it so that it is downloaded again")
    wanted = {f"{FOLDER}/{n}": n for n in names}
    found: dict[str, np.ndarray] = {}
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:                     # one pass, streaming; nothing extracted
                if member.name not in wanted:
                    continue
                if not member.isfile() or member.size != RECORDS_PER_FILE * RECORD:
                    raise DataError(f"{path}: {member.name} is not a plain file of "
                                    f"{RECORDS_PER_FILE * RECORD} bytes; not CIFAR-10's archive")
                buf = np.empty(RECORDS_PER_FILE * RECORD, dtype=np.uint8)
                _read_into(tar.extractfile(member), buf, f"{path}:{member.name}")
                found[member.name] = buf
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable {ARCHIVE} ({type(exc).__name__}: {exc}); "
                        f"delete it so that it is downloaded again") from exc
    missing = [n for n in wanted if n not in found]
    if missing:
        raise DataError(f"{path}: {', '.join(missing)} missing from the archive; not CIFAR-10's")
    return [found[m] for m in wanted]


def _from_folder(folder: Path, names: list[str]) -> list[np.ndarray]:
    out = []
    for name in names:
        path = folder / name
        try:
            size = path.stat().st_size
            if size != RECORDS_PER_FILE * RECORD:
                raise DataError(f"{path}: {size} bytes, but a CIFAR-10 batch is exactly "
                                f"{RECORDS_PER_FILE * RECORD}; the file is truncated or not "
                                f"CIFAR-10's binary version")
            buf = np.empty(size, dtype=np.uint8)
            with open(path, "rb") as f:
                _read_into(f, buf, str(path))
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc}); the extracted folder needs "
                            f"{', '.join(names)}") from exc
        out.append(buf)
    return out


def _locate(root):
    for folder in search_dirs(NAME, root):
        if (folder / ARCHIVE).is_file():
            return folder / ARCHIVE, "archive"
        if (folder / FOLDER).is_dir():
            return folder / FOLDER, "folder"
    return None, None


def find_cifar10(root=None) -> Path | None:
    """The CIFAR-10 archive or extracted folder found in the search paths, or None (only
    its presence is checked; the contents are verified when read)."""
    return _locate(root)[0]


def _where(root) -> str:
    return ", ".join(str(d) for d in search_dirs(NAME, root))


def _download(root) -> Path:
    target = download_dir(NAME, root) / ARCHIVE        # root, $SCRATCHVAE_DATA, the cache

    def stream(out):
        digest, total = hashlib.md5(usedforsecurity=False), 0
        try:
            with _urlopen(URL, timeout=DOWNLOAD_TIMEOUT) as response:
                while chunk := response.read(CHUNK):
                    total += len(chunk)
                    if total > MAX_ARCHIVE_BYTES:
                        raise DataError(f"{URL}: the server sent more than {MAX_ARCHIVE_BYTES} "
                                        f"bytes, more than {ARCHIVE} is; nothing was written")
                    digest.update(chunk)
                    out.write(chunk)
        except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError: an OSError
            if isinstance(exc, DataError):
                raise
            raise DataError(f"could not download {URL} ({type(exc).__name__}: {exc}); offline? "
                            f"Put {ARCHIVE} (or its extracted {FOLDER}/) into one of "
                            f"{_where(root)}") from exc
        if digest.hexdigest() != MD5:
            raise DataError(f"{URL}: the download's md5 is {digest.hexdigest()}, not the "
                            f"published {MD5}; nothing was written")

    atomic_write(target, stream)      # an exception in stream removes the temp file
    return target


def load_cifar10(split: str = "train", root=None, download: bool = False):
    """(x, y) of CIFAR-10's ``split``: x (N, 3, 32, 32) uint8 in 0 … 255, y (N,) int64.

    ``split`` is "train" (50,000) or "test" (10,000). Raises DataError when the files are
    missing (naming where they were looked for, the URL and ``download=True``), corrupt,
    of another version, or malformed (module docstring).
    """
    if split not in FILES:
        raise DataError(f"unknown CIFAR-10 split {split!r}; choose 'train' or 'test'")
    path, kind = _locate(root)
    if path is None:
        if not download:
            raise DataError(f"CIFAR-10 not found; looked in {_where(root)} for {ARCHIVE} or "
                            f"{FOLDER}/. Download {URL} into one of them, or pass "
                            f"download=True")
        path, kind = _download(root), "archive"
    names = FILES[split]
    raws = _from_archive(path, names) if kind == "archive" else _from_folder(path, names)
    parts = [parse_batch(raw, f"{path}:{name}") for raw, name in zip(raws, names)]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
