"""MovieLens 100K and 1M (GroupLens): the ratings as an (items, users) matrix and its mask.

Where the files are looked for, in order (as for the IDX data sets): ``$SCRATCHVAE_DATA/<name>``,
``~/.cache/scratchvae/<name>``, ``/usr/share/datasets/<name>``; in each, either the archive
GroupLens publishes (``ml-100k.zip``, ``ml-1m.zip``) or its extracted ratings file
(``u.data``, ``ratings.dat``). An archive is checked against its published MD5 before
anything is read from it; the ratings file inside is read with a size cap, never more.
With ``download=True`` a missing archive is fetched from GroupLens, size-capped, verified
and written atomically into the cache.

Formats (one rating per line, integer fields):

    ml-100k/u.data        user \\t item \\t rating \\t timestamp      100,000 lines
    ml-1m/ratings.dat     user::item::rating::timestamp             1,000,209 lines

Users and items are numbered from 1 in the files; the matrix drops the ids no one rated
and keeps the order of the rest. Every malformation (a corrupt or foreign archive, a
checksum mismatch, a line that is not four integers, a rating outside 1 … 5) is a
``DataError`` naming the file, the line and the fix.
"""
from __future__ import annotations

import hashlib
import http.client
import io
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..errors import DataError
from .datasets import _download_dir as download_dir
from .datasets import search_dirs

DOWNLOAD_TIMEOUT = 60
_urlopen = urllib.request.urlopen        # the only door to the network; tests swap it


@dataclass(frozen=True)
class MovieLens:
    name: str            # "ml-100k"
    archive: str         # "ml-100k.zip"
    member: str          # the ratings file inside the archive
    separator: str
    md5: str             # of the archive, as GroupLens publishes it
    max_archive_bytes: int   # a cap above its size: nothing larger is read or downloaded
    max_member_bytes: int
    url: str


SETS = {
    "ml-100k": MovieLens("ml-100k", "ml-100k.zip", "ml-100k/u.data", "\t",
                         "0e33842e24a9c977be4e0107933c0723", 6 << 20, 4 << 20,
                         "https://files.grouplens.org/datasets/movielens/ml-100k.zip"),
    "ml-1m": MovieLens("ml-1m", "ml-1m.zip", "ml-1m/ratings.dat", "::",
                       "c4d9eecfca2ab87c1945afe126590906", 8 << 20, 32 << 20,
                       "https://files.grouplens.org/datasets/movielens/ml-1m.zip"),
}


def _spec(name: str) -> MovieLens:
    if name not in SETS:
        raise DataError(f"unknown MovieLens set {name!r}; choose one of {list(SETS)}")
    return SETS[name]


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _read_capped(path: Path, cap: int, what: str) -> bytes:
    try:
        size = path.stat().st_size
        if size > cap:
            raise DataError(f"{path}: {size} bytes, more than any copy of {what} can be "
                            f"({cap}); the file is not {what}")
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc


def _ratings_from_archive(path: Path, spec: MovieLens) -> bytes:
    data = _read_capped(path, spec.max_archive_bytes, spec.archive)
    if _md5(data) != spec.md5:
        raise DataError(f"{path}: checksum mismatch for {spec.archive}: expected md5 "
                        f"{spec.md5}, got {_md5(data)}. The archive is corrupt, truncated or "
                        f"another version; delete it so that it is downloaded again")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            info = z.getinfo(spec.member)
            if info.file_size > spec.max_member_bytes:
                raise DataError(f"{path}: {spec.member} claims {info.file_size} bytes, more "
                                f"than {spec.max_member_bytes}")
            return z.read(info)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable {spec.archive} ({type(exc).__name__}: "
                        f"{exc}); delete it so that it is downloaded again") from exc


def parse_ratings(text: bytes, separator: str, source: str) -> np.ndarray:
    """(K, 3) int64 rows (user, item, rating) of a ratings file; DataError on any bad line."""
    rows = []
    for number, line in enumerate(text.decode("latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(separator)
        try:
            user, item, rating, _ = (int(f) for f in fields)
        except ValueError:
            raise DataError(f"{source}, line {number}: expected four integers separated by "
                            f"{separator!r} (user, item, rating, timestamp), got "
                            f"{line[:80]!r}") from None
        if not 1 <= rating <= 5 or user < 1 or item < 1:
            raise DataError(f"{source}, line {number}: rating {rating} of user {user} for "
                            f"item {item}; ratings are 1 … 5 and ids start at 1")
        rows.append((user, item, rating))
    if not rows:
        raise DataError(f"{source}: no ratings in the file")
    return np.asarray(rows, dtype=np.int64)


def ratings_matrix(rows: np.ndarray, return_ids: bool = False):
    """(R, M): ratings (items, users) float32 (0 where unrated) and the observed mask,
    dropping ids no one rated. A user who rated an item twice keeps the later line.
    With ``return_ids=True`` also the file's ids of the rows and columns: (R, M, item
    ids (I,), user ids (U,)), both increasing."""
    users, u_idx = np.unique(rows[:, 0], return_inverse=True)
    items, i_idx = np.unique(rows[:, 1], return_inverse=True)
    R = np.zeros((len(items), len(users)), dtype=np.float32)
    R[i_idx, u_idx] = rows[:, 2]
    M = np.zeros(R.shape, dtype=bool)
    M[i_idx, u_idx] = True
    return (R, M, items, users) if return_ids else (R, M)


def _locate(name: str, root):
    spec = _spec(name)
    for folder in search_dirs(name, root):
        if (folder / spec.archive).is_file():
            return folder / spec.archive, "archive"
        extracted = folder / Path(spec.member).name
        if extracted.is_file():
            return extracted, "ratings"
    return None, None


def find_movielens(name: str, root=None) -> Path | None:
    """The archive or ratings file of ``name`` where the search paths hold one, else None
    (nothing is read or checked: :func:`load_movielens` does that)."""
    return _locate(name, root)[0]


def _download(spec: MovieLens, root) -> Path:
    target = download_dir(spec.name, root) / spec.archive       # root, $SCRATCHVAE_DATA, cache
    try:
        data = bytearray()
        with _urlopen(spec.url, timeout=DOWNLOAD_TIMEOUT) as response:
            while chunk := response.read(1 << 20):
                data += chunk
                if len(data) > spec.max_archive_bytes:
                    raise DataError(f"{spec.url}: the server sent more than "
                                    f"{spec.max_archive_bytes} bytes, more than {spec.archive} is")
    except (OSError, ValueError, http.client.HTTPException) as exc:   # URLError is an OSError
        raise DataError(f"could not download {spec.url} ({type(exc).__name__}: {exc}); offline? "
                        f"Put {spec.archive} (or its {Path(spec.member).name}) into one of "
                        f"{', '.join(str(d) for d in search_dirs(spec.name, root))}") from exc
    if _md5(bytes(data)) != spec.md5:
        raise DataError(f"{spec.url}: the download's md5 is {_md5(bytes(data))}, not the "
                        f"published {spec.md5}; nothing was written")
    atomic_write(target, lambda out: out.write(data))
    return target


def load_movielens(name: str = "ml-100k", root=None, download: bool = False,
                   return_ids: bool = False):
    """(R, M) of MovieLens ``name`` (module docstring): ratings (items, users) and the mask;
    with ``return_ids=True`` (R, M, item ids, user ids), the ids as the files number them.

    Raises DataError when the files are missing (naming where they were looked for, the
    URL and ``download=True``), corrupt, of another version, or malformed.
    """
    spec = _spec(name)
    path, kind = _locate(name, root)
    if path is None:
        if not download:
            raise DataError(f"{name} not found; looked in "
                            f"{', '.join(str(d) for d in search_dirs(name, root))} for "
                            f"{spec.archive} or {Path(spec.member).name}. Download it from "
                            f"{spec.url} into one of them, or pass download=True")
        path, kind = _download(spec, root), "archive"
    if kind == "archive":
        text = _ratings_from_archive(path, spec)
    else:
        text = _read_capped(path, spec.max_member_bytes, Path(spec.member).name)
    return ratings_matrix(parse_ratings(text, spec.separator, str(path)), return_ids)
