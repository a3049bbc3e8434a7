"""Memory model of a routed network and of a chip (DESIGN.md 3.5), in memory cells."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hardware.geometry import (
    NT,
    R0,
    R1,
    cell_counts,
    cell_types,
    r1_east_west,
    tile_full_coords,
)
from hardware.routing import ROTATE_90
from hardware.spec import MosaicSpec

IN_N, IN_E, IN_S, IN_W, OUT_N, OUT_E, OUT_S, OUT_W = range(8)
UNROTATE_90 = np.argsort(ROTATE_90)  # capacity-grid port of an E/W R1 -> cap_r1 port


@dataclass(frozen=True)
class MemoryReport:
    """Per-type port configuration (8-tuples, in_N..out_W) and the memory it costs, in cells."""

    nt: tuple[int, ...]
    r0: tuple[int, ...]
    r1: tuple[int, ...]
    nt_cells: int  # per neuron tile
    r0_cells: int  # per R0 router
    r1_cells: int  # per R1 router
    memory_cells: int  # whole chip: #NT*nt_cells + #R0*r0_cells + #R1*r1_cells


def memory_of_config(rows: int, cols: int, k: int, nt: Sequence[int], r0: Sequence[int],
                     r1: Sequence[int]) -> MemoryReport:
    """Memory of a uniform chip whose NT, R0 and R1 ports hold nt, r0, r1 source neurons."""
    nt_cells = k * (nt[IN_N] + nt[IN_E] + nt[IN_S] + nt[IN_W])
    r0_cells = 16 * max(r0) ** 2
    side = max(2 * max(r1[IN_N], r1[IN_S]) + 2 * max(r1[IN_E], r1[IN_W]),
               2 * max(r1[OUT_N], r1[OUT_S]) + 2 * max(r1[OUT_E], r1[OUT_W]))
    n_nt, n_r0, n_r1 = cell_counts(rows, cols)
    total = n_nt * nt_cells + n_r0 * r0_cells + n_r1 * side**2
    return MemoryReport(tuple(int(v) for v in nt), tuple(int(v) for v in r0),
                        tuple(int(v) for v in r1), int(nt_cells), int(r0_cells), int(side**2),
                        int(total))


def minimum_config(usage: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(nt, r0, r1) int64 (8,) each: the smallest uniform port configuration hosting `usage`.

    Tile-facing inputs of the 4 R1s around every tile are first set to K (a tile may emit all
    its neurons into each neighbour); then per port the maximum over cells of a type; E/W R1
    maxima are mapped back into cap_r1's frame (the inverse of the capacity grid's 90° rotation,
    so that r1 used as cap_r1 hosts the usage) before the elementwise max.
    """
    usage = usage.copy()
    rows, cols = (usage.shape[0] - 1) // 2, (usage.shape[1] - 1) // 2
    full = tile_full_coords(rows, cols)
    r, c = full[:, 0], full[:, 1]
    usage[r - 1, c, IN_S] = k
    usage[r + 1, c, IN_N] = k
    usage[r, c - 1, IN_E] = k
    usage[r, c + 1, IN_W] = k
    types, east_west = cell_types(rows, cols), r1_east_west(rows, cols)
    nt = usage[types == NT].max(axis=0)
    r0 = usage[types == R0].max(axis=0)
    r1_ns = usage[(types == R1) & ~east_west].max(axis=0)
    r1_ew = usage[east_west].max(axis=0)
    return nt, r0, np.maximum(r1_ns, r1_ew[UNROTATE_90])


def memory_of_usage(usage: np.ndarray, spec: MosaicSpec) -> MemoryReport:
    """Memory of the smallest uniform chip of `spec`'s grid that hosts the routed `usage`."""
    nt, r0, r1 = minimum_config(usage, spec.neurons_per_tile)
    return memory_of_config(spec.rows, spec.cols, spec.neurons_per_tile, nt, r0, r1)


def chip_memory_cells(spec: MosaicSpec) -> int:
    """Memory cells of the chip itself: the memory formulas applied to its capacities."""
    return memory_of_config(spec.rows, spec.cols, spec.neurons_per_tile, spec.cap_nt,
                            spec.cap_r0, spec.cap_r1).memory_cells


def synapse_cells(spec: MosaicSpec, n_input_rows: int) -> int:
    """Intra-tile crossbars R*C*K*K plus external input crossbar rows * K, in cells."""
    k = spec.neurons_per_tile
    return spec.n_tiles * k * k + n_input_rows * k
