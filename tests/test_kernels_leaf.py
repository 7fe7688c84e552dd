"""kernels/ is a leaf package: it imports nothing from scratchvae, and CuPy only lazily.

Read from the source with ``ast`` (every ``import`` and ``from ... import`` statement of
every ``.py`` file under kernels/, wherever it sits), then checked once at run time: a
fresh interpreter imports every module of kernels/ and must end with neither scratchvae
nor CuPy loaded.

    scratchvae   never imported by kernels/ (scratchvae imports kernels, not the reverse)
    cupy         never at module level anywhere in kernels/; inside a function only under
                 kernels/cuda/ (the GPU launchers), never in the CPU kernels
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KERNELS = REPO / "kernels"
SOURCES = sorted(p for p in KERNELS.rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(path):
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path, module=None):
    """(imported module, line, at module level?) for every import statement of a file;
    relative imports are resolved against the package of ``module`` (the file's dotted
    name, found from its path under the repository when not given)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = (module or _module_name(path)).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                       ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, not in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    if child.level > len(package):
                        raise AssertionError(f"{path}:{child.lineno}: a relative import "
                                             f"above the top of the kernels package")
                    base = package[:len(package) - child.level + 1]
                    name = ".".join(base + ([child.module] if child.module else []))
                else:
                    name = child.module
                found.append((name, child.lineno, not in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def _root(name):
    return name.split(".")[0]


def test_every_kernels_file_is_parsed():
    names = {p.relative_to(KERNELS).as_posix() for p in SOURCES}
    assert {"__init__.py", "matmul.py", "conv.py", "elementwise.py", "errors.py",
            "cuda/__init__.py", "cuda/gemm.py", "cuda/build.py", "cuda/fused.py"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_scratchvae_import(path):
    bad = [f"line {line}: {name}" for name, line, _ in _imports(path)
           if _root(name) == "scratchvae"]
    assert not bad, (f"{path.relative_to(REPO)} imports scratchvae ({'; '.join(bad)}); "
                     "kernels/ is a leaf package: move what it needs into kernels/ "
                     "(errors: kernels/errors.py; CUDA modules: kernels/cuda/build.py)")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_cupy_only_lazily_and_only_in_the_gpu_launchers(path):
    in_cuda = path.is_relative_to(KERNELS / "cuda")
    cupy = [(line, top) for name, line, top in _imports(path) if _root(name) in ("cupy", "cupyx")]
    at_top = [line for line, top in cupy if top]
    assert not at_top, (f"{path.relative_to(REPO)} imports CuPy at module level (line(s) "
                        f"{at_top}); import it inside the function that needs it, so that "
                        "importing kernels works without CuPy")
    assert in_cuda or not cupy, (f"{path.relative_to(REPO)} imports CuPy (line(s) "
                                 f"{[line for line, _ in cupy]}): only kernels/cuda/ may")


def test_the_ast_check_sees_nested_and_relative_imports(tmp_path):
    """The checker itself: a lazy import is found as nested, a relative one is resolved."""
    probe = tmp_path / "probe.py"
    probe.write_text("from ..errors import KernelError\nimport numpy\n"
                     "def f():\n    import cupy\n    from scratchvae import backend\n")
    got = _imports(probe, module="kernels.cuda.probe")
    assert got == [("kernels.errors", 1, True), ("numpy", 2, True), ("cupy", 4, False),
                   ("scratchvae", 5, False)]


def test_importing_every_kernels_module_loads_neither_scratchvae_nor_cupy():
    modules = [_module_name(p) for p in SOURCES]
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scratchvae', 'cupy')))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[]", proc.stdout
