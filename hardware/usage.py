"""Incremental port usage of one network on one chip, for rewiring within capacities.

`check_mapping` routes a whole network; rewiring changes a few links at a time. The tracker
keeps, per source neuron i and flat port p, how many of i's links route through p
(`counts`, (N, P)); a port's usage is the number of neurons with a nonzero count there, so a
neuron's multicast tree counts once per port (DESIGN.md 3.4) and removing a link frees only the
ports no other link of its neuron still needs. Routes come from `hardware.routing`'s tables.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from hardware.errors import LinksError
from hardware.routing import capacity_grid, route_table, validate_links
from hardware.spec import MosaicSpec

MIN_BATCH = 32
REFILTER_AFTER = 4096  # route marks of dead links gathered before a refilter is considered
REFILTER_RATIO = 8  # route marks of a batch cost about 8 fitting_pairs elements each


def _keys_with_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of int64 `keys` (sorted) and how often each occurs."""
    ordered = np.sort(keys.ravel())
    first = np.ones(ordered.size, dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(first)
    return ordered[starts], np.diff(np.append(starts, ordered.size))


@lru_cache(maxsize=16)
def padded_routes(rows: int, cols: int) -> np.ndarray:
    """int32 (T*T, L): the flat ports of route s -> t in row s * T + t, padded with P (a dummy
    port past the grid) to the longest route L, so a batch of routes is one gather."""
    table = route_table(rows, cols)
    lengths = np.diff(table.offsets)
    pair = np.repeat(np.arange(lengths.size), lengths)
    routes = np.full((lengths.size, max(1, int(lengths.max()))), table.n_ports, dtype=np.int32)
    routes[pair, np.arange(pair.size) - table.offsets[pair]] = table.ports
    return routes


class PortUsageTracker:
    """Port usage of `links` (bool (N, T)) on `spec`, updated link by link.

    State (mutated in place by `add` / `remove`): links bool (N, T); counts (N, P) routes of
    neuron i through flat port p ((row * (2C+1) + col) * 8 + port); usage int64 (P,) distinct
    source neurons per port; capacity int64 (P,) from `capacity_grid`. Internally one more
    column, the padding port P of `padded_routes`, is used by every neuron (count >= 1) and
    has unbounded capacity, so padding never opens, blocks or frees a port. Memory about
    N * P * 2 bytes (1.5 MB on 5x5x32). Intra-tile pairs are stored in `links`, never routed.
    """

    def __init__(self, spec: MosaicSpec, links: np.ndarray) -> None:
        validate_links(links, spec.rows, spec.cols, spec.neurons_per_tile)
        self.spec = spec
        self.table = route_table(spec.rows, spec.cols)
        self.links = links.copy()
        self._routes = padded_routes(spec.rows, spec.cols)
        self._pair_of_mark = np.repeat(np.arange(spec.n_tiles**2), np.diff(self.table.offsets))
        self._marks_through = np.bincount(self.table.ports, minlength=self.table.n_ports)
        n_ports, width = self.table.n_ports, self.table.n_ports + 1
        self._width = width
        self._tile = np.arange(links.shape[0]) // spec.neurons_per_tile
        self._capacity = np.append(capacity_grid(spec).ravel(), np.iinfo(np.int64).max)
        most = 1 + spec.n_tiles * self._routes.shape[1]  # bound of the padding column
        dtype = np.uint16 if most < 2**16 else np.int32
        self._counts = np.zeros((links.shape[0], width), dtype=dtype)
        self._counts[:, n_ports] = 1
        keys, _ = self._marks(*np.nonzero(links))
        np.add.at(self._counts.reshape(-1), keys.ravel(), dtype(1))
        self._usage = np.append((self._counts[:, :n_ports] > 0).sum(axis=0), 0).astype(np.int64)

    @property
    def n_ports(self) -> int:
        """P = (2R+1) * (2C+1) * 8 ports of the grid."""
        return self._width - 1

    @property
    def counts(self) -> np.ndarray:
        """(N, P) view: how many of neuron i's active links route through port p."""
        return self._counts[:, : self.n_ports]

    @property
    def usage(self) -> np.ndarray:
        """int64 (P,) view: distinct source neurons using each port."""
        return self._usage[: self.n_ports]

    @property
    def capacity(self) -> np.ndarray:
        """int64 (P,): capacity of each port (`capacity_grid` flattened)."""
        return self._capacity[: self.n_ports]

    @property
    def usage_grid(self) -> np.ndarray:
        """int64 (2R+1, 2C+1, 8): the usage as `check_mapping(spec, links).usage` gives it."""
        return self.usage.reshape(2 * self.spec.rows + 1, 2 * self.spec.cols + 1, 8)

    @property
    def violations(self) -> int:
        """Number of ports whose usage exceeds capacity."""
        return int((self.usage > self.capacity).sum())

    def _marks(self, neuron: np.ndarray, dest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """int64 (M, L) keys neuron * (P+1) + port and ports of the padded routes of links
        neuron[j] -> dest[j] (row j)."""
        ports = self._routes[self._tile[neuron] * self.spec.n_tiles + dest]
        return neuron[:, None] * self._width + ports, ports

    def _pairs(self, neuron: np.ndarray, dest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(neuron, dest) as int64 arrays of one length; LinksError when out of range."""
        neuron, dest = np.asarray(neuron, dtype=np.int64), np.asarray(dest, dtype=np.int64)
        n, t = self.links.shape
        if neuron.shape != dest.shape or neuron.ndim != 1:
            raise LinksError(f"neuron and dest must be 1-D arrays of one length, got shapes "
                             f"{neuron.shape} and {dest.shape}")
        if neuron.size and (neuron.min() < 0 or neuron.max() >= n or dest.min() < 0
                            or dest.max() >= t):
            raise LinksError(f"links must be neurons in [0, {n}) and tiles in [0, {t})")
        return neuron, dest

    def _changed(self, neuron: np.ndarray, dest: np.ndarray,
                 active: bool) -> tuple[np.ndarray, np.ndarray]:
        """The distinct valid pairs among neuron[j] -> dest[j] whose link is `active` now."""
        neuron, dest = self._pairs(neuron, dest)
        flat = np.unique(neuron * self.links.shape[1] + dest)
        flat = flat[self.links.ravel()[flat] == active]
        return np.divmod(flat, self.links.shape[1])

    def add(self, neuron: np.ndarray, dest: np.ndarray) -> None:
        """Activate the links neuron[j] -> dest[j] (already active ones are skipped)."""
        neuron, dest = self._changed(neuron, dest, active=False)
        self.links[neuron, dest] = True
        keys, times = _keys_with_counts(self._marks(neuron, dest)[0])
        counts = self._counts.reshape(-1)
        opened = keys[counts[keys] == 0]
        counts[keys] += times.astype(counts.dtype)
        self._usage += np.bincount(opened % self._width, minlength=self._width)

    def remove(self, neuron: np.ndarray, dest: np.ndarray) -> None:
        """Deactivate the links neuron[j] -> dest[j] (inactive ones are skipped); a port is
        freed only when no other link of its neuron still routes through it."""
        neuron, dest = self._changed(neuron, dest, active=True)
        self.links[neuron, dest] = False
        keys, times = _keys_with_counts(self._marks(neuron, dest)[0])
        counts = self._counts.reshape(-1)
        counts[keys] -= times.astype(counts.dtype)
        freed = keys[counts[keys] == 0]
        self._usage -= np.bincount(freed % self._width, minlength=self._width)

    def add_mask(self, links: np.ndarray) -> None:
        """Activate every link of bool (N, T) `links`."""
        self.add(*np.nonzero(links))

    def remove_mask(self, links: np.ndarray) -> None:
        """Deactivate every link of bool (N, T) `links`."""
        self.remove(*np.nonzero(links))

    def _blocked(self, keys: np.ndarray, ports: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """bool (M, L) marks that open a port for their neuron, and bool (M,) links blocked by
        opening a port already at capacity."""
        opens = self._counts.reshape(-1)[keys] == 0
        return opens, (opens & (self._usage >= self._capacity)[ports]).any(axis=1)

    def fits(self, neuron: np.ndarray, dest: np.ndarray) -> np.ndarray:
        """bool (M,): whether each link alone can be added without any port exceeding capacity.

        A link needs a free slot only on the ports its neuron does not use yet. While links are
        only added, a link that does not fit never will: its blocking port stays full and can
        only open for its neuron through another link of that neuron, which it blocks too.
        """
        neuron, dest = self._pairs(neuron, dest)
        return ~self._blocked(*self._marks(neuron, dest))[1]

    def fitting_pairs(self) -> np.ndarray:
        """bool (N, T): `fits` of every (neuron, tile) pair at once, from the full ports only.

        Cost ~ K * (route marks through full ports), so it pays off when many candidates wait.
        """
        k, n_tiles = self.spec.neurons_per_tile, self.spec.n_tiles
        marks = np.flatnonzero((self.usage >= self.capacity)[self.table.ports])
        pair, port = self._pair_of_mark[marks], self.table.ports[marks]  # sorted by pair
        lacking = self._counts.reshape(n_tiles, k, -1)[pair // n_tiles, :, port] == 0  # (I, K)
        blocked = np.zeros((n_tiles * n_tiles, k), dtype=bool)
        if marks.size:
            starts = np.flatnonzero(np.diff(pair, prepend=-1))
            blocked[pair[starts]] = np.logical_or.reduceat(lacking, starts, axis=0)
        return ~blocked.reshape(n_tiles, n_tiles, k).transpose(0, 2, 1).reshape(-1, n_tiles)

    def _refilter_cost(self) -> int:
        """`fitting_pairs`' work (K per route mark through a full port) in route marks."""
        full = self._usage[: self.n_ports] >= self._capacity[: self.n_ports]
        return int(self._marks_through[full].sum()) * self.spec.neurons_per_tile // REFILTER_RATIO

    def fitting_prefix(self, neuron: np.ndarray, dest: np.ndarray) -> int:
        """How many leading links of the ordered batch neuron[j] -> dest[j] can be added one
        after the other with every port within capacity (M when all of them can)."""
        neuron, dest = self._pairs(neuron, dest)
        keys, _ = self._marks(neuron, dest)
        opens = self._counts.reshape(-1)[keys] == 0
        return self._prefix(keys[opens], np.nonzero(opens)[0], neuron.size)[0]

    def _prefix(self, keys: np.ndarray, owner: np.ndarray,
                size: int) -> tuple[int, np.ndarray, np.ndarray]:
        """(prefix length, owner, port) of the distinct (neuron, port) openings `keys` made by
        links `owner` (ascending) of an ordered batch of `size` links.

        The sequential rule: a port's usage rises at the first link of the batch that brings a
        neuron not yet using it, so link j fits iff every port it opens has
        usage + (neurons opened there by links before j) < capacity.
        """
        keys, first = np.unique(keys, return_index=True)  # first mark = earliest link (stable)
        owner, ports = owner[first], keys % self._width
        order = np.lexsort((owner, ports))
        by_port, by_owner = ports[order], owner[order]
        rank = np.arange(by_port.size) - np.searchsorted(by_port, by_port)
        over = self._usage[by_port] + rank >= self._capacity[by_port]
        return (int(by_owner[over].min()) if over.any() else size), owner, ports

    def add_in_order(self, neuron: np.ndarray, dest: np.ndarray, group: np.ndarray | None = None,
                     quota_left: np.ndarray | None = None) -> np.ndarray:
        """bool (M,): which of the ordered, distinct links neuron[j] -> dest[j] are added by the
        sequential rule: in order, add a link if every port stays within capacity and (with a
        quota) quota_left[group[j]] > 0, then decrement it. quota_left is updated in place.

        Batches: links that do not fit alone, or whose group is full, never will (links are only
        added), so they are dropped; of the rest, the longest prefix that fits together is
        added (`_prefix`), the first one that does not is rejected, and the batch continues
        after it. The batch doubles after a clean pass and halves after a conflict; once the dead
        links gathered cost more than `fitting_pairs`, that filters everything still waiting.
        """
        neuron, dest = self._pairs(neuron, dest)
        if neuron.size and np.bincount(neuron * self.links.shape[1] + dest).max() > 1:
            raise LinksError("add_in_order needs distinct links, got a repeated (neuron, tile)")
        added = np.zeros(neuron.size, dtype=bool)
        queue, batch = np.flatnonzero(~self.links[neuron, dest]), 4 * MIN_BATCH
        wasted = 0  # route marks of dead links gathered since the queue was last filtered
        while queue.size and (quota_left is None or quota_left.any()):
            window, queue = queue[:batch], queue[batch:]
            keys, ports = self._marks(neuron[window], dest[window])
            opens, blocked = self._blocked(keys, ports)
            alive = ~blocked
            active = alive
            if quota_left is not None:
                left = quota_left[group[window]]
                alive &= left > 0
                active = alive & _within_quota(group[window], alive, quota_left)
            wasted += int((ports[~alive] < self.n_ports).sum())
            use = opens & active[:, None]
            n_fit, opener, port = self._prefix(keys[use], np.nonzero(use)[0], window.size)
            fit = active & (np.arange(window.size) < n_fit)
            np.add.at(self._counts.reshape(-1), keys[fit].ravel(), self._counts.dtype.type(1))
            self._usage += np.bincount(port[opener < n_fit], minlength=self._width)
            self.links[neuron[window[fit]], dest[window[fit]]] = True
            added[window[fit]] = True
            if quota_left is not None:
                np.subtract.at(quota_left, group[window[fit]], 1)
            if n_fit < window.size:  # window[n_fit] is rejected; what follows is tried again
                alive[: n_fit + 1] = False
                queue = np.concatenate([window[alive], queue])
                batch = max(MIN_BATCH, batch // 2)
            else:
                batch *= 2
            if wasted > REFILTER_AFTER and queue.size > batch and wasted > self._refilter_cost():
                queue, wasted = queue[self.fitting_pairs()[neuron[queue], dest[queue]]], 0
        return added


def _within_quota(group: np.ndarray, alive: np.ndarray, quota_left: np.ndarray) -> np.ndarray:
    """bool like `group`: alive entries among the first quota_left[g] alive ones of group g."""
    if (np.bincount(group[alive], minlength=quota_left.size) <= quota_left).all():
        return alive
    return alive & (_rank_in_group(group, alive) < quota_left[group])


def _rank_in_group(group: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """int64 like `group`: position of each alive entry among the alive entries of its group,
    in array order (0 where not alive)."""
    idx = np.flatnonzero(alive)
    order = np.argsort(group[idx], kind="stable")
    sorted_groups = group[idx][order]
    rank = np.zeros(group.size, dtype=np.int64)
    rank[idx[order]] = np.arange(idx.size) - np.searchsorted(sorted_groups, sorted_groups)
    return rank
