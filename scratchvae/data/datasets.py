"""Named data sets: one entry point, ``load_dataset(name, split)``, for the CLI and tutorials.

Two kinds of names:

* generated in memory, no files: ``"sprites"`` (the default data set, see sprites.py)
  and ``"cosine3d"`` (the noisy surface of Ko & Ko, see cosine.py);
* MNIST-style IDX files: ``"mnist"``, ``"fashion-mnist"``, ``"kmnist"``.

Where the files are looked for, first directory holding the split's files wins:

1. ``root`` if given (the directory that holds the files itself) — and nothing else;
2. ``$SCRATCHVAE_DATA/<name>`` if the variable is set;
3. ``~/.cache/scratchvae/<name>``;
4. ``/usr/share/datasets/<name>``.

A file is the published ``.gz`` or, where the registry knows the digest of the
decompressed payload, the gunzipped file without ``.gz``. Every file is checked
before use. A file passes if its MD5 equals the published MD5 of the ``.gz``
*or* the MD5 of its decompressed IDX payload equals the published payload MD5.
The second test accepts copies re-compressed by a mirror or a packager (the
Fashion-MNIST files under /usr/share/datasets are such a copy: same IDX bytes,
different gzip header, hence a different .gz MD5).

If no directory holds the files and ``download=True``, the missing files are
fetched from each mirror in turn into ``root`` / ``$SCRATCHVAE_DATA/<name>`` /
``~/.cache/scratchvae/<name>``, verified, and moved into place atomically.
Network access goes through the module attribute ``_urlopen`` so tests can
substitute a local opener.
"""
from __future__ import annotations

import hashlib
import http.client
import math
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scratchvae.errors import DataError
from scratchvae.data.cosine import load_cosine3d
from scratchvae.atomic import atomic_write
from scratchvae.data.idx import MAX_GZIP_BYTES, parse_idx, payload_md5
from scratchvae.data.loader import ArrayDataset
from scratchvae.data.sprites import load_sprites

ENV_VAR = "SCRATCHVAE_DATA"
_SYSTEM_DIR = Path("/usr/share/datasets")       # module attribute: tests point it elsewhere
DOWNLOAD_TIMEOUT = 30.0                          # seconds per connection attempt
# the only door to the network; tests swap it. Contract: _urlopen(url, timeout=seconds)
# returns a context manager with .read(n) -> bytes (b"" at the end), or raises OSError
# (urllib's URLError/HTTPError are OSErrors), ValueError or http.client.HTTPException
_urlopen = urllib.request.urlopen
SPLITS = ("train", "test")


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set, the digests that vouch for it and what it must hold."""
    filename: str                 # e.g. "train-images-idx3-ubyte.gz"
    md5: str                      # MD5 of the published .gz file
    idx_md5: str | None = None    # MD5 of the decompressed IDX payload, where known
    shape: tuple | None = None    # the array the file holds, where known: a file whose
    dtype: str | None = None      # header declares anything else is refused at its header

    def idx_bytes(self) -> int | None:
        """The size of the decompressed IDX file, where its shape is known (uint8 if no dtype)."""
        if self.shape is None:
            return None
        itemsize = np.dtype(self.dtype or "u1").itemsize
        return 4 + 4 * len(self.shape) + math.prod(self.shape) * itemsize


def _mnist_layout(files: dict) -> dict:
    """The four files of an MNIST-style set with their shapes: 60,000 train and 10,000
    test images of 28 x 28 uint8 pixels, and as many uint8 labels."""
    out = {}
    for split, (images, labels) in files.items():
        n = 60_000 if split == "train" else 10_000
        out[split] = (RemoteFile(images.filename, images.md5, images.idx_md5, (n, 28, 28), "uint8"),
                      RemoteFile(labels.filename, labels.md5, labels.idx_md5, (n,), "uint8"))
    return out


@dataclass(frozen=True)
class IdxDataset:
    """A data set stored as (images, labels) IDX file pairs per split."""
    name: str
    mirrors: tuple[str, ...]                          # base URLs, tried in order
    files: dict[str, tuple[RemoteFile, RemoteFile]]   # split -> (images, labels)
    classes: tuple[str, ...]
    homepage: str = ""


# Digests: the .gz MD5s are the ones torchvision publishes for these mirrors; the
# payload MD5s of MNIST and Fashion-MNIST are the widely published MD5s of the
# gunzipped files (the Fashion-MNIST ones were re-computed here from the copy in
# /usr/share/datasets/fashion-mnist). KMNIST's payload MD5s are not known to us,
# so only the original .gz files are accepted for it.
_REGISTRY: dict[str, IdxDataset] = {
    "mnist": IdxDataset(
        name="mnist",
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/",
                 "http://yann.lecun.com/exdb/mnist/"),
        files=_mnist_layout({
            "train": (RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                                 "6bbc9ace898e44ae57da46a324031adb"),
                      RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432",
                                 "a25bea736e30d166cdddb491f175f624")),
            "test": (RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3",
                                "2646ac647ad5339dbf082846283269ea"),
                     RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c",
                                "27ae3e4e09519cfbb04c329615203637")),
        }),
        classes=tuple("0123456789"),
        homepage="http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": IdxDataset(
        name="fashion-mnist",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/"),
        files=_mnist_layout({
            "train": (RemoteFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                 "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
                      RemoteFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe",
                                 "9018921c3c673c538a1fc5bad174d6f9")),
            "test": (RemoteFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79",
                                "8181f5470baa50b63fa0f6fddb340f0a"),
                     RemoteFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310",
                                "15d484375f8d13e6eb1aabb0c3f46965")),
        }),
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
    ),
    "kmnist": IdxDataset(
        name="kmnist",
        mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
                 "https://codh.rois.ac.jp/kmnist/dataset/kmnist/"),
        files=_mnist_layout({
            "train": (RemoteFile("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
                      RemoteFile("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344")),
            "test": (RemoteFile("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
                     RemoteFile("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134")),
        }),
        classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        homepage="https://github.com/rois-codh/kmnist",
    ),
}

_GENERATED = {"sprites": load_sprites, "cosine3d": load_cosine3d}


def dataset_names() -> tuple[str, ...]:
    """Every name ``load_dataset`` accepts: the generated sets first, then the file-based ones."""
    return tuple(_GENERATED) + tuple(_REGISTRY)


def load_dataset(name: str, split: str = "train", root=None, download: bool = True) -> ArrayDataset:
    """Load a named data set split.

    Returns
    -------
    ArrayDataset. For the IDX sets: x (N, 1, H, W) float32 in [0, 1] ((N, 1, 28, 28)
    for the registered sets), y (N,) int64, and metadata ``classes`` and ``source``
    (the directory read). For "sprites" and "cosine3d" see make_sprites / make_cosine3d.

    Raises DataError for an unknown name or split, a file that fails its checksum
    (naming file, expected and actual digest), malformed IDX data, or files that
    are neither found nor downloadable (listing the URLs tried and how to fix it).
    """
    spec = _spec(name)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for {name}; choose one of {list(SPLITS)}")
    if spec is None:
        return _GENERATED[name](split)
    folder = find_dataset_dir(name, split, root)
    if folder is None:
        if not download:
            raise DataError(f"{name} ({split}) not found; looked in "
                            f"{', '.join(str(d) for d in search_dirs(name, root))}. "
                            f"{_how_to_fix(spec, name, root)} Or pass download=True.")
        folder = _download_split(spec, split, root)
    images_file, labels_file = spec.files[split]
    images = _load_verified(folder, images_file)
    labels = _load_verified(folder, labels_file)
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0] \
            or images.shape[0] == 0:
        raise DataError(f"{folder}: {name} {split} images have shape {images.shape} and labels "
                        f"{labels.shape}; expected (N, H, W) and (N,) with the same N >= 1")
    if images.dtype != np.uint8:
        raise DataError(f"{folder}: {name} {split} images are {images.dtype}; expected uint8 pixels")
    # a 256-entry table gives exactly v / 255 with one allocation (astype-then-divide
    # allocates twice and was several times slower on 60,000 images)
    to_unit = np.arange(256, dtype=np.float32) / np.float32(255.0)
    x = to_unit[images][:, None]                                  # (N, 1, H, W) in [0, 1]
    # finite and non-empty by construction, so skip ArrayDataset's O(N*D) validation
    return ArrayDataset._trusted(x, labels.astype(np.int64), f"{name}/{split}",
                                 {"classes": spec.classes, "source": str(folder)})


def search_dirs(name: str, root=None) -> list[Path]:
    """Directories searched for ``name``'s files, in order (see the module docstring)."""
    if root is not None:
        return [Path(root).expanduser()]
    dirs = []
    if os.environ.get(ENV_VAR):
        dirs.append(Path(os.environ[ENV_VAR]).expanduser() / name)
    dirs.append(_cache_root() / name)
    dirs.append(_SYSTEM_DIR / name)
    return dirs


def find_dataset_dir(name: str, split: str | None = None, root=None) -> Path | None:
    """First search directory holding every file of ``split`` (all splits if None), or None.

    Only checks presence; the checksums are verified when the files are read.
    Raises DataError for unknown names and for the generated sets, which have no files.
    """
    spec = _spec(name)
    if spec is None:
        raise DataError(f"{name} is generated in memory and has no data directory")
    splits = SPLITS if split is None else (split,)
    needed = [f for s in splits for f in spec.files[s]]
    for folder in search_dirs(name, root):
        if all(_locate(folder, f) is not None for f in needed):
            return folder
    return None


# -- reading and verifying -------------------------------------------------

def _spec(name: str) -> IdxDataset | None:
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in _GENERATED:
        return None
    raise DataError(f"unknown data set {name!r}; known: {', '.join(dataset_names())}")


def _candidates(folder: Path, f: RemoteFile) -> list[Path]:
    paths = [folder / f.filename]
    # an uncompressed copy can only be trusted when the payload digest is known
    if f.idx_md5 is not None and f.filename.endswith(".gz"):
        paths.append(folder / f.filename[:-3])
    return paths


def _locate(folder: Path, f: RemoteFile) -> Path | None:
    return next((p for p in _candidates(folder, f) if p.is_file()), None)


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _size_limit(f: RemoteFile) -> int:
    """The most bytes a copy of ``f`` (compressed or not) can take on disk or decompressed."""
    expected = f.idx_bytes()
    # a gzip wrapper adds a header and at most 5 bytes per 16 KiB block stored uncompressed
    return MAX_GZIP_BYTES if expected is None else expected + expected // 1000 + 1024


def _verified_payload(path: Path, f: RemoteFile) -> bytes:
    """Read ``path``, check it against ``f``'s digests, return its bytes (raw or gzip).

    Memory and time are bounded: a file larger than any copy of ``f`` can be is refused
    unread, and the decompressed payload is hashed piece by piece, stopping at the size
    ``f``'s shape implies (or 64 MiB) — a decompression bomb costs a few MiB.
    """
    limit = _size_limit(f)
    try:
        size = path.stat().st_size
        if size > limit:
            raise DataError(f"{path}: {size} bytes, more than any copy of {f.filename} can be "
                            f"({limit}); it is another file — delete it so that it is downloaded "
                            f"again, or replace it with the original")
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    return _verify(data, str(path), f)


def _verify(data: bytes, source: str, f: RemoteFile) -> bytes:
    """Return ``data`` if it is ``f`` (by either digest), else raise DataError naming ``source``."""
    actual = _md5(data)
    if actual == f.md5:
        return data
    payload_digest = unreadable = None
    if f.idx_md5 is not None:
        try:
            payload_digest = payload_md5(data, source, max_bytes=f.idx_bytes() or MAX_GZIP_BYTES)
        except DataError as exc:       # corrupt or oversized gzip: report the mismatch below
            unreadable = str(exc).removeprefix(f"{source}: ")
        if payload_digest == f.idx_md5:
            return data
    expected = f"md5 {f.md5}" + (f" (or {f.idx_md5} for the decompressed IDX payload)"
                                 if f.idx_md5 else "")
    got = f"md5 {actual}" + (f" (decompressed payload {payload_digest})" if payload_digest else "")
    if unreadable:
        got += f" (its payload could not be hashed: {unreadable.split(';')[0]})"
    raise DataError(f"{source}: checksum mismatch for {f.filename}: expected {expected}, got {got}. "
                    f"The file is corrupt, truncated or a different version; delete it so that "
                    f"it is downloaded again, or replace it with the original")


def _load_verified(folder: Path, f: RemoteFile) -> np.ndarray:
    path = _locate(folder, f)
    if path is None:   # a file removed between lookup and reading
        raise DataError(f"{folder / f.filename}: no such file")
    return parse_idx(_verified_payload(path, f), source=str(path),
                     max_bytes=f.idx_bytes() or MAX_GZIP_BYTES, shape=f.shape, dtype=f.dtype)


# -- downloading -----------------------------------------------------------

def _cache_root() -> Path:
    return Path.home() / ".cache" / "scratchvae"


def _download_dir(name: str, root) -> Path:
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser() / name
    return _cache_root() / name


def _how_to_fix(spec: IdxDataset, name: str, root) -> str:
    files = sorted({f.filename for pair in spec.files.values() for f in pair})
    where = (f"into {root}" if root is not None else
             f"into one of {', '.join(str(d) for d in search_dirs(name))}, or set "
             f"{ENV_VAR}=/some/dir and put them into /some/dir/{name}")
    return f"To fix this, copy the files {', '.join(files)} (from {spec.homepage}) {where}."


def _download_split(spec: IdxDataset, split: str, root) -> Path:
    """Fetch the files of ``split`` that the download directory lacks; return that directory."""
    folder = _download_dir(spec.name, root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create download directory {folder} ({exc}). "
                        f"{_how_to_fix(spec, spec.name, root)}") from exc
    for f in spec.files[split]:
        if _locate(folder, f) is None:
            _download_file(spec, f, folder, root)
    return folder


def _download_file(spec: IdxDataset, f: RemoteFile, folder: Path, root) -> Path:
    """Try each mirror; keep the first copy that passes its checksum, written atomically.

    A download is read into memory, at most as many bytes as a copy of the file can
    have, verified, and only then written (:func:`~scratchvae.atomic.atomic_write`),
    so a failed or interrupted download leaves nothing under the file's name.
    """
    target = folder / f.filename
    limit = _size_limit(f)
    failures = []
    for base in spec.mirrors:
        url = base.rstrip("/") + "/" + f.filename
        try:
            data = bytearray()
            with _urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                while chunk := response.read(1 << 20):
                    data += chunk
                    if len(data) > limit:
                        raise DataError(f"the server sent more than {limit} bytes, more than "
                                        f"any copy of {f.filename} can be")
            _verify(bytes(data), str(target), f)
        except DataError as exc:          # downloaded, but the checksum does not match
            failures.append(f"{url}: {exc}")
            continue
        except (OSError, ValueError, http.client.HTTPException) as exc:   # URLError is an OSError
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
            continue
        atomic_write(target, lambda out: out.write(data))       # WriteError: disk full, ...
        return target
    tried = "\n  ".join(failures)
    raise DataError(f"could not download {spec.name} file {f.filename}; tried:\n  {tried}\n"
                    f"(offline? behind a proxy?) {_how_to_fix(spec, spec.name, root)}")
