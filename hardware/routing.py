"""Exact one-turn multicast router (DESIGN.md 3.4): port usage, capacities, violations.

Routes are precomputed once per grid shape as a CSR table of flat port indices per
(source tile, destination tile) pair; routing a network is then a gather plus a per-neuron
de-duplication (a port counts once per source neuron however many of its routes use it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from hardware.errors import LinksError
from hardware.geometry import CELL_CODES, NT, cell_types, r1_east_west
from hardware.spec import CAPACITIES, MosaicSpec

IN = {"N": 0, "E": 1, "S": 2, "W": 3}
OUT = {"N": 4, "E": 5, "S": 6, "W": 7}
OPPOSITE = {"N": "S", "S": "N", "E": "W", "W": "E"}
STEP = {"N": (-1, 0), "S": (1, 0), "E": (0, 1), "W": (0, -1)}
ROTATE_90 = np.array([3, 0, 1, 2, 7, 4, 5, 6])  # new N = old W, E = old N, S = old E, W = old S


def route_marks(rows: int, cols: int, s: int, t: int) -> list[tuple[int, int, int]]:
    """(row, col, port) marks of the one-turn route from tile s to tile t (s != t), in order."""
    (r, c), (r2, c2) = (
        (2 * (s // cols) + 1, 2 * (s % cols) + 1),
        (2 * (t // cols) + 1, 2 * (t % cols) + 1),
    )
    return _marks_between(r, c, r2, c2)


def _marks_between(r: int, c: int, r2: int, c2: int) -> list[tuple[int, int, int]]:
    """Route marks from the tile at full coordinates (r, c) to the tile at (r2, c2)."""
    marks: list[tuple[int, int, int]] = []

    def step(pos: tuple[int, int], d: str) -> tuple[int, int]:
        marks.append((pos[0], pos[1], OUT[d]))
        nxt = (pos[0] + STEP[d][0], pos[1] + STEP[d][1])
        marks.append((nxt[0], nxt[1], IN[OPPOSITE[d]]))
        return nxt

    if abs(r - r2) + abs(c - c2) == 2:  # orthogonal neighbours: through the R1 between them
        d = "S" if r2 > r else "N" if r2 < r else "E" if c2 > c else "W"
        pos = ((r + r2) // 2, (c + c2) // 2)
        marks.append((pos[0], pos[1], IN[OPPOSITE[d]]))
        step(pos, d)
        return marks
    if c == c2:
        pos = (r, c - 1)
        marks.append((r, c - 1, IN["E"]))
    elif r2 > r:
        pos = (r + 1, c)
        marks.append((r + 1, c, IN["N"]))
    else:
        pos = (r - 1, c)
        marks.append((r - 1, c, IN["S"]))
    if c != c2:
        end_c, d = (c2 + 1, "W") if c > c2 else (c2 - 1, "E")
        while pos[1] != end_c:
            pos = step(pos, d)
    while pos[0] != r2:
        pos = step(pos, "S" if r2 > pos[0] else "N")
    step(pos, "E" if c2 > pos[1] else "W")
    return marks


@dataclass(frozen=True)
class RouteTable:
    """CSR table of flat port indices ((row * (2C+1) + col) * 8 + port) per tile pair s * T + t."""

    rows: int
    cols: int
    offsets: np.ndarray = field(compare=False, repr=False)  # int64 (T*T + 1,)
    ports: np.ndarray = field(compare=False, repr=False)  # int64 (total marks,)

    @property
    def n_ports(self) -> int:
        """P = (2R+1) * (2C+1) * 8 ports on the full grid."""
        return (2 * self.rows + 1) * (2 * self.cols + 1) * 8


@lru_cache(maxsize=16)
def route_table(rows: int, cols: int) -> RouteTable:
    """The route table of a grid, built once per (rows, cols) and cached.

    A route's marks relative to its source depend only on the displacement (dr, dc), so each
    of the (2R-1)(2C-1) displacement patterns is traced once and translated to every pair.
    """
    n_tiles, width = rows * cols, 2 * cols + 1
    patterns = {}
    for dr in range(-(rows - 1), rows):
        for dc in range(-(cols - 1), cols):
            if (dr, dc) != (0, 0):
                patterns[dr, dc] = np.array(_marks_between(0, 0, 2 * dr, 2 * dc), dtype=np.int64)
    s, t = np.divmod(np.arange(n_tiles * n_tiles), n_tiles)
    s, t = s[s != t], t[s != t]
    dr, dc = t // cols - s // cols, t % cols - s % cols
    chunks, lengths = [], np.zeros(n_tiles * n_tiles, dtype=np.int64)
    for key, marks in patterns.items():
        sel = (dr == key[0]) & (dc == key[1])
        rows_abs = marks[None, :, 0] + 2 * (s[sel] // cols)[:, None] + 1
        cols_abs = marks[None, :, 1] + 2 * (s[sel] % cols)[:, None] + 1
        pair = s[sel] * n_tiles + t[sel]
        chunks.append((pair, ((rows_abs * width + cols_abs) * 8 + marks[None, :, 2])))
        lengths[pair] = len(marks)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ports = np.zeros(int(offsets[-1]), dtype=np.int64)
    for pair, flat in chunks:
        ports[offsets[pair][:, None] + np.arange(flat.shape[1])[None, :]] = flat
    return RouteTable(rows, cols, offsets, ports)


def validate_links(links: np.ndarray, rows: int, cols: int, k: int) -> np.ndarray:
    """`links` checked to be a bool (N, T) array for the grid; LinksError otherwise."""
    if not isinstance(links, np.ndarray) or links.dtype != np.bool_:
        kind = links.dtype if isinstance(links, np.ndarray) else type(links).__name__
        raise LinksError(f"links must be a boolean array, got dtype {kind} (save links as bool)")
    expected = (rows * cols * k, rows * cols)
    if links.shape != expected:
        raise LinksError(
            f"links must have shape (N, T) = {expected} for a {rows}x{cols} grid "
            f"with {k} neurons per tile, got {links.shape}"
        )
    return links


def route_ports(table: RouteTable, source_tile: np.ndarray,
                dest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat ports of the routes source_tile[j] -> dest[j] (int arrays (M,)), concatenated in
    order, and int64 (M,) route lengths (0 where source and destination tile coincide)."""
    pair = source_tile * (table.rows * table.cols) + dest
    lengths = table.offsets[pair + 1] - table.offsets[pair]
    total = int(lengths.sum())
    within = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return table.ports[np.repeat(table.offsets[pair], lengths) + within], lengths


def _route_keys(links: np.ndarray, rows: int, cols: int, k: int) -> tuple[np.ndarray, RouteTable]:
    """int64 keys neuron * P + flat port of every route mark of every inter-tile link."""
    validate_links(links, rows, cols, k)
    table = route_table(rows, cols)
    neuron, dest = np.nonzero(links)
    ports, lengths = route_ports(table, neuron // k, dest)
    return np.repeat(neuron, lengths) * table.n_ports + ports, table


def multicast_routers(links: np.ndarray, rows: int, cols: int, k: int) -> np.ndarray:
    """int64 (N,): routers (R0/R1 cells) in each neuron's multicast tree; a spike's hop count."""
    keys, table = _route_keys(links, rows, cols, k)
    cells = _distinct(keys // 8, links.shape[0] * table.n_ports // 8)
    neuron, cell = np.divmod(cells, table.n_ports // 8)
    is_router = cell_types(rows, cols).ravel()[cell] != NT
    return np.bincount(neuron[is_router], minlength=links.shape[0])


def port_usage(links: np.ndarray, rows: int, cols: int, k: int) -> np.ndarray:
    """int64 (2R+1, 2C+1, 8): distinct source neurons using each port (intra-tile links ignored)."""
    keys, table = _route_keys(links, rows, cols, k)
    distinct = _distinct(keys, links.shape[0] * table.n_ports)
    usage = np.bincount(distinct % table.n_ports, minlength=table.n_ports)
    return usage.reshape(2 * rows + 1, 2 * cols + 1, 8)


def _distinct(keys: np.ndarray, key_space: int) -> np.ndarray:
    """The distinct values of `keys` (int64 in [0, key_space)), by sort and adjacent difference.

    Faster than np.unique here; int32 keys when they fit halve the sort's memory traffic.
    """
    keys = keys.astype(np.int32) if key_space < 2**31 else keys
    ordered = np.sort(keys)
    keep = np.ones(ordered.size, dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep].astype(np.int64)


def port_usage_reference(links: np.ndarray, rows: int, cols: int, k: int) -> np.ndarray:
    """Slow per-neuron reference of `port_usage` straight from the routing rules (for tests)."""
    usage = np.zeros((2 * rows + 1, 2 * cols + 1, 8), dtype=np.int64)
    for i in range(links.shape[0]):
        marked: set[tuple[int, int, int]] = set()
        for t in np.flatnonzero(links[i]):
            if t != i // k:
                marked.update(route_marks(rows, cols, i // k, int(t)))
        for r, c, p in marked:
            usage[r, c, p] += 1
    return usage


def capacity_grid(spec: MosaicSpec) -> np.ndarray:
    """int64 (2R+1, 2C+1, 8): per-port capacity of every cell from the CAPACITIES table; E/W R1
    cells hold their capacity rotated by 90°."""
    types = cell_types(spec.rows, spec.cols)
    cap = np.zeros(types.shape + (8,), dtype=np.int64)
    for kind in CAPACITIES:
        cap[types == CELL_CODES[kind.cells]] = getattr(spec, kind.key)
    east_west = r1_east_west(spec.rows, spec.cols)
    cap[east_west] = cap[east_west][:, ROTATE_90]
    return cap


@dataclass(frozen=True)
class RoutingResult:
    """Exact routing of a network on a chip: usage, capacity, violations (usage > capacity)."""

    usage: np.ndarray = field(compare=False, repr=False)  # int64 (2R+1, 2C+1, 8)
    capacity: np.ndarray = field(compare=False, repr=False)  # int64 (2R+1, 2C+1, 8)
    violations: int
    mappable: bool
    n_links: int

    @property
    def over_capacity(self) -> np.ndarray:
        """bool (2R+1, 2C+1, 8): ports whose usage exceeds capacity."""
        return self.usage > self.capacity

    @property
    def usage_fraction(self) -> float:
        """Mean of usage / capacity over the ports of capacity > 0 (0.0 when there are none);
        above 1 where ports overflow."""
        ports = self.capacity > 0
        if not ports.any():
            return 0.0
        return float(np.mean(self.usage[ports] / self.capacity[ports]))


def check_mapping(spec: MosaicSpec, links: np.ndarray) -> RoutingResult:
    """Route `links` (bool (N, T)) on `spec` and compare usage with the chip's capacities."""
    k = spec.neurons_per_tile
    usage = port_usage(links, spec.rows, spec.cols, k)
    capacity = capacity_grid(spec)
    violations = int((usage > capacity).sum())
    n_links = int(
        links.sum() - links[np.arange(links.shape[0]), np.arange(links.shape[0]) // k].sum()
    )
    return RoutingResult(usage, capacity, violations, violations == 0, n_links)
