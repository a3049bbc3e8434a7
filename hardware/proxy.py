"""Proxy: predicted router usage and memory of networks drawn with a hop profile (DESIGN.md 3.6).

It routes a few random networks sampled with the profile's exact per-(tile, distance) budget
and averages their minimum configurations; results are cached per (grid, K, profile, seeds).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hardware.geometry import CELL_CODES, cell_types
from hardware.memory import memory_of_config, minimum_config
from hardware.profile import sample_links, validate_profile
from hardware.routing import capacity_grid, port_usage
from hardware.spec import CAPACITIES, MosaicSpec


@dataclass(frozen=True)
class ProxyResult:
    """Predicted minimum port configuration (mean over seeds), memory and fit on a chip."""

    nt: tuple[float, ...]
    r0: tuple[float, ...]
    r1: tuple[float, ...]
    memory_cells: int  # memory of the mean minimum configuration (rounded up per port)
    mappable_fraction: float  # fraction of sampled networks with zero violations on the chip
    mean_violations: float
    fits: bool  # mappable_fraction >= threshold
    # (capacity key, largest usage on an overflowing port of that cell type) per short type
    short: tuple[tuple[str, int], ...] = ()


class ProxyCache:
    """LRU cache of sampled-network usages keyed by (rows, cols, K, profile, seeds).

    max_entries bounds it (each entry is ~10 KB on 5x5 tiles): a search suggests a new
    profile nearly every time, so an unbounded cache grows for the whole search.
    """

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._usages: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._usages)

    def usages(self, rows: int, cols: int, k: int, profile: tuple[float, ...],
               seeds: int) -> np.ndarray:
        """int64 (seeds, 2R+1, 2C+1, 8): port usage of `seeds` networks sampled with `profile`."""
        key = (rows, cols, k, profile, seeds)
        if key in self._usages:
            self._usages.move_to_end(key)
            return self._usages[key]
        usages = np.stack([
            port_usage(sample_links(rows, cols, k, profile, np.random.default_rng(seed)),
                       rows, cols, k)
            for seed in range(seeds)
        ])
        self._usages[key] = usages
        while len(self._usages) > self.max_entries:
            self._usages.popitem(last=False)
        return usages


def predict(spec: MosaicSpec, hop_profile: Sequence[float], seeds: int = 3,
            threshold: float = 0.5, cache: ProxyCache | None = None) -> ProxyResult:
    """Predict memory and fit of networks with `hop_profile` on `spec` without training.

    fits: at least `threshold` of the `seeds` sampled networks map without violations.
    """
    profile = validate_profile(hop_profile, spec.rows, spec.cols)
    cache = cache if cache is not None else ProxyCache()
    k = spec.neurons_per_tile
    usages = cache.usages(spec.rows, spec.cols, k, profile, seeds)
    configs = np.array([minimum_config(u, k) for u in usages])  # (seeds, 3, 8)
    mean = configs.mean(axis=0)
    nt, r0, r1 = (np.ceil(mean[i]).astype(int) for i in range(3))
    capacity = capacity_grid(spec)
    violations = (usages > capacity[None]).sum(axis=(1, 2, 3))
    mappable = float((violations == 0).mean())
    return ProxyResult(
        nt=tuple(float(v) for v in mean[0]), r0=tuple(float(v) for v in mean[1]),
        r1=tuple(float(v) for v in mean[2]),
        memory_cells=memory_of_config(spec.rows, spec.cols, k, nt, r0, r1).memory_cells,
        mappable_fraction=mappable, mean_violations=float(violations.mean()),
        fits=mappable >= threshold, short=short_capacities(spec, usages, capacity),
    )


def short_capacities(spec: MosaicSpec, usages: np.ndarray,
                     capacity: np.ndarray) -> tuple[tuple[str, int], ...]:
    """(key, largest usage on an overflowing port) for each capacity kind (CAPACITIES) that
    some sampled network overflows: what the chip would need to host them all.

    usages: int (S, 2R+1, 2C+1, 8); capacity: int (2R+1, 2C+1, 8).
    """
    over = usages > capacity[None]
    types = cell_types(spec.rows, spec.cols)
    short = []
    for kind in CAPACITIES:
        cells = types == CELL_CODES[kind.cells]
        hit = over[:, cells]
        if hit.any():
            short.append((kind.key, int(usages[:, cells][hit].max())))
    return tuple(short)
