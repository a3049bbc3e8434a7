"""Shared small factories (not shared mutable fixtures) and environment for Ray in tests."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")


def make_spec(rows: int = 2, cols: int = 3, neurons_per_tile: int = 4, **caps):
    """A small MosaicSpec with generous default capacities."""
    from hardware.spec import MosaicSpec

    caps = {"cap_nt": 64, "cap_r0": 64, "cap_r1": 64} | caps
    return MosaicSpec(rows, cols, neurons_per_tile, **caps)


def random_links(rng: np.random.Generator, rows: int, cols: int, k: int,
                 density: float = 0.3) -> np.ndarray:
    """bool (N, T) links with each inter-tile pair active with probability `density`."""
    links = rng.random((rows * cols * k, rows * cols)) < density
    links[np.arange(rows * cols * k), np.arange(rows * cols * k) // k] = False
    return links


@contextlib.contextmanager
def loaded_benchmark(name: str) -> Iterator[ModuleType]:
    """benchmarks/<name>.py imported as a module (registered in sys.modules while in use:
    dataclasses look their module up there)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


def pytest_configure(config) -> None:  # noqa: ANN001
    """Keep the results of interactive runs out of the tests' temporary directories."""
    config.addinivalue_line("markers", "ray: uses the session's local Ray")
