"""Keep Numba's on-disk cache of the kernels in step with their source, across modules.

Numba caches each compiled function (``cache=True``) keyed by the source file that
defines it — its modification time and size — and by the CPU. It does not look at the
files that function *calls into*: ``gemm_driver._gemm_serial`` has the macro-kernels of
``gemm_tiles`` compiled into it, and the tile constants (MR, NR) of ``gemm_tiles`` decide
how ``gemm_pack`` lays out the panels. Change ``gemm_tiles.py`` alone — an edit, or a
``git pull`` that touches only it — and the next process loads the old ``_gemm_serial``
from the cache and runs it with the new Python-side constants: wrong numbers (NaN, in the
case that was hit) and no error.

So the whole package is one cache key: at the first import of a kernel module
(``kernels/target.py`` imports this before anything compiles), the SHA-256 of every
``kernels/*.py`` file is compared with the one stored next to the cache files; if it
differs, every cached kernel of this package there is removed, and the new digest is
written. Numba then compiles afresh (about 30 s on 2 cores, once per change). The cache
directory is Numba's own choice (``kernels/__pycache__``, or ``NUMBA_CACHE_DIR``, or the
user-wide fallback when the package directory is read-only), asked from Numba's cache
locator, so the guard looks where Numba looks.

Removing only this package's files (``<module>.<function>-<line>.py<ver>.nb[ic]``, for the
modules of ``kernels/``) leaves anything else in a shared ``NUMBA_CACHE_DIR`` alone.
Two processes starting at once after a change may both clear and both recompile: the
cost is time, never a wrong kernel, because Numba itself rejects a cache entry whose
source stamp or CPU does not match.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
STAMP = "scratchvae-kernels.sha256"


def source_digest(package: Path = PACKAGE) -> str:
    """SHA-256 over the names and bytes of the package's ``*.py`` files, in name order."""
    h = hashlib.sha256()
    for path in sorted(package.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def cache_dir() -> Path | None:
    """Where Numba keeps the cache of functions defined in this package (None if it has
    nowhere to write one)."""
    from numba.core.caching import FunctionCache   # noqa: PLC0415 - Numba's own locator

    try:
        return Path(FunctionCache(_probe)._cache_path)
    except RuntimeError:                            # "cannot cache ... no locator available"
        return None


def _probe():
    """A function of this package, for asking Numba's locator where its cache goes."""


def refresh(directory: Path, digest: str, modules: list[str]) -> int:
    """Remove the cached kernels of ``modules`` from ``directory`` unless the stamp there
    holds ``digest``; then write it. Returns the number of files removed."""
    stamp = directory / STAMP
    try:
        if stamp.read_text().strip() == digest:
            return 0
    except OSError:
        pass
    removed = 0
    for module in modules:
        for path in list(directory.glob(f"{module}.*.nbi")) + list(directory.glob(f"{module}.*.nbc")):
            try:
                path.unlink()
                removed += 1
            except OSError:                         # another process got there first
                pass
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f"{STAMP}.tmp"
        tmp.write_text(digest + "\n")
        tmp.replace(stamp)                          # atomic: a reader sees old or new
    except OSError:                                 # read-only: Numba cannot cache either
        pass
    return removed


def guard() -> int:
    """Run :func:`refresh` for this package's cache directory; the number removed."""
    directory = cache_dir()
    if directory is None:
        return 0
    modules = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    return refresh(directory, source_digest(), modules)


REMOVED = guard()
