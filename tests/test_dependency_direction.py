"""`hardware` and `analysis` must not import torch or ray (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = """
import importlib, pkgutil, sys
import {package}
for info in pkgutil.walk_packages({package}.__path__, "{package}."):
    importlib.import_module(info.name)
heavy = sorted(m for m in ("torch", "ray", "optuna", "tonic") if m in sys.modules)
print(",".join(heavy))
"""


@pytest.mark.parametrize("package", ["hardware", "analysis"])
def test_package_imports_no_training_stack(package):
    out = subprocess.run([sys.executable, "-c", CHECK.format(package=package)],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"{package} imported {out}"


def _imports(path, modules: set[str]) -> set[str]:
    """Project modules `path` imports anywhere (functions included), `if TYPE_CHECKING:` aside."""
    import ast

    found: set[str] = set()

    def visit(node) -> None:  # noqa: ANN001
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found & modules


def test_no_import_cycle_between_modules():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    files = {}
    for package in ("hardware", "model", "search", "analysis"):
        for path in (root / package).rglob("*.py"):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            files[name.removesuffix(".__init__")] = path
    graph = {m: _imports(p, set(files)) - {m} for m, p in files.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def cycle_from(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return [*path[path.index(target):], target] if target in path else [target]
            if target not in state and (found := cycle_from(target, [*path, target])):
                return found
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            found = cycle_from(module, [module])
            assert found is None, " -> ".join(found)
