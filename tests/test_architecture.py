"""The layering of docs/ARCHITECTURE.md, read from the source: who may import whom.

Every ``import`` and ``from … import`` in every file of ``scratchvae/`` is read with
``ast`` — those inside functions too, since a lazy import is a dependency all the same —
and resolved to the file it names. Two rules follow from the layers:

* no import cycle between files of ``scratchvae/`` (a cycle means neither file can be
  read, tested or understood without the other);
* a package imports only the packages below it (``LAYERS``); in particular ``models/``
  imports nothing from ``train/``, ``optim/``, the data loaders or the CLI, and
  ``kernels/`` (tests/test_kernels_leaf.py) imports nothing from ``scratchvae``.

CuPy is imported only by the device gateway (``scratchvae/backend.py``) and ``kernels/cuda/``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "scratchvae"

#: package (or top-level module) → the packages it may import. Reading bottom to top:
#: the error types; the device gateway; the random generators; the ops (functional),
#: the losses and samplers (distributions), the layers (nn), the optimizers (optim), the
#: data, the communicator (distributed); the models; the training loop; what uses trained models (evaluation, analysis,
#: gradcheck, plots, tutorial); the command line.
LAYERS = {
    "errors": set(),
    "backend": {"errors"},
    "rng": set(),
    "atomic": {"errors"},
    "allocator": set(),
    "functional": {"errors", "backend"},
    "distributions": {"errors", "backend", "functional"},
    "nn": {"errors", "backend", "rng", "functional"},
    "optim": {"errors", "backend"},
    "compression": {"errors"},
    "data": {"errors", "backend", "rng", "atomic"},
    "distributed": {"errors", "backend"},
    "models": {"errors", "backend", "rng", "functional", "distributions", "nn",
               "data.corruption"},
    "train": {"errors", "backend", "atomic", "allocator", "distributions", "optim", "data",
              "distributed", "models"},
    "evaluation": {"errors", "backend", "functional", "distributions", "distributed"},
    "analysis": {"errors", "backend", "rng", "functional", "distributions", "nn", "models",
                 "train", "data"},
    "gradcheck": {"errors", "backend", "rng", "functional", "distributions", "nn", "models",
                  "data.corruption", "analysis"},
    "plots": {"errors", "backend"},
    "tutorial": {"errors", "backend", "atomic", "data", "train", "plots"},
    "cli": {"errors", "backend", "atomic", "data", "distributed", "models", "train",
            "evaluation", "gradcheck", "plots"},
    "__main__": {"cli"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports_of(name: str) -> list[tuple[int, str]]:
    """(line, module) for every scratchvae module that file ``name`` imports."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("scratchvae")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "scratchvae":
                continue
            for alias in node.names:                # `from pkg import submodule` names a file
                sub = f"{target}.{alias.name}"
                found.append((node.lineno, sub if sub in MODULES else target))
    return found


GRAPH = {name: {target for _, target in imports_of(name) if target in MODULES}
         for name in MODULES}


def layer_of(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def test_every_file_belongs_to_a_layer():
    assert {layer_of(m) for m in MODULES if m != "scratchvae"} <= set(LAYERS)


def test_no_import_cycle_between_files():
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):                                    # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in GRAPH[v]:
                cycles.append(sorted(component))

    for v in MODULES:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles between files: {cycles}"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m != "scratchvae"))
def test_imports_follow_the_layers(name):
    layer = layer_of(name)
    allowed = LAYERS[layer]
    bad = []
    for line, target in imports_of(name):
        other = layer_of(target)
        if other == layer or target == "scratchvae":
            continue
        sub = ".".join(target.split(".")[1:3])       # e.g. "data.corruption"
        if other not in allowed and sub not in allowed:
            bad.append(f"line {line}: {target}")
    assert not bad, (f"{name} ({layer}) may import only {sorted(allowed)}, but imports "
                     f"{bad}; see docs/ARCHITECTURE.md")


def external_imports(path: Path):
    """(line, top-level module) of every import of a file, scratchvae's own included."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name.split(".")[0]) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            yield node.lineno, (node.module or "").split(".")[0]


def test_cupy_is_imported_only_by_the_gateway():
    for name, path in MODULES.items():
        if name == "scratchvae.backend":
            continue
        for line, top in external_imports(path):
            assert top != "cupy", (f"{name} imports CuPy (line {line}); only "
                                   f"scratchvae/backend.py and kernels/cuda/ may")


def test_kernels_are_reached_only_through_the_gateway_registry():
    """Op code never imports a kernel module itself: the gateway's registry does."""
    for name, path in MODULES.items():
        if name in ("scratchvae.backend", "scratchvae.errors"):
            continue
        for line, top in external_imports(path):
            assert top != "kernels", (f"{name} imports a kernel module (line {line}); ops "
                                      f"reach kernels through scratchvae.backend's registry")
