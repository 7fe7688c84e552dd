"""kernels/cache_guard.py: the kernels' Numba cache is cleared when any kernels/*.py file
changes (Numba itself only watches the file that defines a function), and only then."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from kernels.cache_guard import STAMP, refresh, source_digest

REPO = Path(__file__).resolve().parents[1]


def _touch(directory, *names):
    for name in names:
        (directory / name).write_bytes(b"x")


def test_refresh_removes_only_this_packages_files_and_only_on_a_new_digest(tmp_path):
    ours = ["gemm_tiles._macro_kernel_32_py-185.py311.nbi", "gemm_tiles._macro_kernel_32_py-185.py311.0.nbc",
            "gemm_driver._gemm_py-138.py311.nbi"]
    theirs = ["mylib.f-3.py311.nbi", "mylib.f-3.py311.0.nbc", "notes.txt"]
    _touch(tmp_path, *ours, *theirs)
    modules = ["gemm_tiles", "gemm_driver"]
    assert refresh(tmp_path, "a" * 64, modules) == 3                 # no stamp yet: clear ours
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(theirs + [STAMP])
    assert (tmp_path / STAMP).read_text().strip() == "a" * 64
    _touch(tmp_path, *ours)
    assert refresh(tmp_path, "a" * 64, modules) == 0                 # same sources: keep
    assert all((tmp_path / n).exists() for n in ours)
    assert refresh(tmp_path, "b" * 64, modules) == 3                 # changed: clear again
    assert all((tmp_path / n).exists() for n in theirs)


def test_the_digest_follows_every_source_file(tmp_path):
    pkg = tmp_path / "kernels"
    shutil.copytree(REPO / "kernels", pkg, ignore=shutil.ignore_patterns("__pycache__", "cuda"))
    before = source_digest(pkg)
    assert source_digest(pkg) == before
    (pkg / "gemm_tiles.py").write_text((pkg / "gemm_tiles.py").read_text() + "\n# edit\n")
    assert source_digest(pkg) != before


PROBE = ("import sys, numpy as np; from kernels.mixture import mixture_log_terms; "
         "g = sys.modules.get('kernels.cache_guard'); z = np.ones((3, 2)); "
         "print(g.REMOVED if g else 'not-imported-by-the-kernel-modules', "
         "mixture_log_terms(z, z[:2], np.zeros((2, 2))).shape)")


def test_editing_another_kernel_file_clears_the_compiled_cache(tmp_path):
    # the scenario that gave NaN: a cached kernel compiled against another module's old
    # constants. A copy of the package, its in-tree cache, one file edited.
    shutil.copytree(REPO / "kernels", tmp_path / "kernels",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PYTHONPATH"] = str(tmp_path)

    def run():
        out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    cache = tmp_path / "kernels" / "__pycache__"
    assert run() == ["0", "(3,", "2)"]                              # first run: compiles
    cached = sorted(p.name for p in cache.glob("mixture.*.nb[ic]"))
    assert cached and (cache / STAMP).exists()
    assert run()[0] == "0"                                          # unchanged: loads them
    tiles = tmp_path / "kernels" / "gemm_tiles.py"
    tiles.write_text(tiles.read_text() + "\n# an edit elsewhere in the package\n")
    removed = int(run()[0])                                         # changed: cleared first
    assert removed >= len(cached)
    assert sorted(p.name for p in cache.glob("mixture.*.nb[ic]")) == cached   # and rebuilt
