"""Incremental port usage of one network on one chip, for rewiring within capacities.

`check_mapping` routes a whole network; rewiring changes a few links at a time. The tracker
keeps, per source neuron i and flat port p, how many of i's links route through p
(`counts`, (N, P)); a port's usage is the number of neurons with a nonzero count there, so a
neuron's multicast tree counts once per port (DESIGN.md 3.4) and removing a link frees only the
ports no other link of its neuron still needs. Routes come from `hardware.routing`'s tables.
"""

from __future__ import annotations

import numpy as np

from hardware.errors import LinksError
from hardware.routing import capacity_grid, route_ports, route_table, validate_links
from hardware.spec import MosaicSpec


def _keys_with_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of int64 `keys` (sorted) and how often each occurs."""
    ordered = np.sort(keys)
    first = np.ones(ordered.size, dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(first)
    return ordered[starts], np.diff(np.append(starts, ordered.size))


class PortUsageTracker:
    """Port usage of `links` (bool (N, T)) on `spec`, updated link by link.

    State (mutated in place by `add` / `remove`): links bool (N, T); counts uint16 or int32
    (N, P) routes of neuron i through flat port p ((row * (2C+1) + col) * 8 + port);
    usage int64 (P,) distinct source neurons per port; capacity int64 (P,) from
    `capacity_grid`. Memory: N * P * 2 bytes (1.5 MB on 5x5x32). Intra-tile pairs are
    stored in `links` but never routed.
    """

    def __init__(self, spec: MosaicSpec, links: np.ndarray) -> None:
        k = spec.neurons_per_tile
        validate_links(links, spec.rows, spec.cols, k)
        self.spec = spec
        self.table = route_table(spec.rows, spec.cols)
        self.n_ports = self.table.n_ports
        self.capacity = capacity_grid(spec).ravel()
        self.links = links.copy()
        self._tile = np.arange(links.shape[0]) // k
        dtype = np.uint16 if spec.n_tiles < 2**16 else np.int32  # a count is at most T - 1
        neuron, dest = np.nonzero(links)
        keys = self._keys(neuron, dest)[0]
        flat = np.bincount(keys, minlength=links.shape[0] * self.n_ports)
        self.counts = flat.astype(dtype).reshape(links.shape[0], self.n_ports)
        self.usage = (self.counts > 0).sum(axis=0).astype(np.int64)

    def _keys(self, neuron: np.ndarray, dest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """int64 keys neuron * P + port of every route mark, and int64 (M,) route lengths."""
        ports, lengths = route_ports(self.table, self._tile[neuron], dest)
        return np.repeat(neuron, lengths) * self.n_ports + ports, lengths

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

    @property
    def usage_grid(self) -> np.ndarray:
        """int64 (2R+1, 2C+1, 8): the usage as `check_mapping(spec, links).usage` gives it."""
        return self.usage.reshape(2 * self.spec.rows + 1, 2 * self.spec.cols + 1, 8)

    @property
    def violations(self) -> int:
        """Number of ports whose usage exceeds capacity."""
        return int((self.usage > self.capacity).sum())

    def add(self, neuron: np.ndarray, dest: np.ndarray) -> None:
        """Activate the links neuron[j] -> dest[j] (already active ones are skipped)."""
        neuron, dest = self._pairs(neuron, dest)
        flat = np.unique(neuron * self.links.shape[1] + dest)
        flat = flat[~self.links.ravel()[flat]]
        neuron, dest = np.divmod(flat, self.links.shape[1])
        self.links[neuron, dest] = True
        keys, times = _keys_with_counts(self._keys(neuron, dest)[0])
        counts = self.counts.reshape(-1)
        opened = keys[counts[keys] == 0]
        counts[keys] += times.astype(counts.dtype)
        self.usage += np.bincount(opened % self.n_ports, minlength=self.n_ports)

    def remove(self, neuron: np.ndarray, dest: np.ndarray) -> None:
        """Deactivate the links neuron[j] -> dest[j] (inactive ones are skipped); a port is
        freed only when no other link of its neuron still routes through it."""
        neuron, dest = self._pairs(neuron, dest)
        flat = np.unique(neuron * self.links.shape[1] + dest)
        flat = flat[self.links.ravel()[flat]]
        neuron, dest = np.divmod(flat, self.links.shape[1])
        self.links[neuron, dest] = False
        keys, times = _keys_with_counts(self._keys(neuron, dest)[0])
        counts = self.counts.reshape(-1)
        counts[keys] -= times.astype(counts.dtype)
        freed = keys[counts[keys] == 0]
        self.usage -= np.bincount(freed % self.n_ports, minlength=self.n_ports)

    def add_mask(self, links: np.ndarray) -> None:
        """Activate every link of bool (N, T) `links`."""
        self.add(*np.nonzero(links))

    def remove_mask(self, links: np.ndarray) -> None:
        """Deactivate every link of bool (N, T) `links`."""
        self.remove(*np.nonzero(links))

    def fits(self, neuron: np.ndarray, dest: np.ndarray) -> np.ndarray:
        """bool (M,): whether each link alone can be added without any port exceeding capacity.

        A link needs a free slot only on the ports its neuron does not use yet. While links are
        only added, a link that does not fit never will: its blocking port stays full and can
        only open for its neuron through another link of that neuron, which it blocks too.
        """
        neuron, dest = self._pairs(neuron, dest)
        keys, lengths = self._keys(neuron, dest)
        ports = keys % self.n_ports
        blocked = (self.counts.reshape(-1)[keys] == 0) & (self.usage[ports] >= self.capacity[ports])
        owner = np.repeat(np.arange(neuron.size), lengths)
        return np.bincount(owner[blocked], minlength=neuron.size) == 0

    def fitting_prefix(self, neuron: np.ndarray, dest: np.ndarray) -> int:
        """How many leading links of the ordered batch neuron[j] -> dest[j] can be added one
        after the other with every port within capacity (M when all of them can).

        Exactly the sequential rule: a port's usage rises at the first link of the batch that
        brings a neuron not yet using it, so the batch's j-th link fits iff every port it opens
        has usage + (neurons opened there by links before j) < capacity.
        """
        neuron, dest = self._pairs(neuron, dest)
        keys, lengths = self._keys(neuron, dest)
        owner = np.repeat(np.arange(neuron.size), lengths)
        opens = self.counts.reshape(-1)[keys] == 0
        keys, owner = keys[opens], owner[opens]
        keys, first = np.unique(keys, return_index=True)  # first mark = earliest link (stable)
        owner, ports = owner[first], keys % self.n_ports
        order = np.lexsort((owner, ports))
        ports, owner = ports[order], owner[order]
        rank = np.arange(ports.size) - np.searchsorted(ports, ports)
        over = self.usage[ports] + rank >= self.capacity[ports]
        return int(owner[over].min()) if over.any() else int(neuron.size)
