"""Links grown and rewired within a chip's exact port capacities (numpy only; chip_aware DeepR).

One rule for the initial links and every regrowth: candidate (neuron, tile) links are tried in
a random order (uniform, or nearest-first by hop distance with random ties) and each is kept
only if its group still has quota and the chip still hosts the network with it (every port's
usage, counted in distinct source neurons, within capacity). The result is exactly what adding
the candidates one at a time and routing after each would give (`grow_in_order_reference`), so
it is mappable by construction; it is computed in vectorised batches on a `PortUsageTracker`.
A DeepR pass is `remove_links` (prune) then `grow_within_capacity` (regrow to the quota).
"""

from __future__ import annotations

import numpy as np

from hardware.errors import ConfigError, LinksError
from hardware.geometry import hop_distance_matrix
from hardware.routing import check_mapping, validate_links
from hardware.spec import MosaicSpec
from hardware.usage import PortUsageTracker

ORDERS = ("uniform", "nearest")


def candidate_order(spec: MosaicSpec, links: np.ndarray, eligible: np.ndarray, order: str,
                    rng: np.random.Generator) -> np.ndarray:
    """int64 (M,): flat pair indices neuron * T + tile of the inactive eligible inter-tile
    pairs, shuffled ("uniform") or sorted by hop distance with random ties ("nearest")."""
    if order not in ORDERS:
        raise ConfigError(f"growth order must be one of {ORDERS}, got {order!r}")
    k, n_tiles = spec.neurons_per_tile, spec.n_tiles
    tile = np.arange(links.shape[0]) // k
    inter = tile[:, None] != np.arange(n_tiles)[None, :]
    candidates = np.flatnonzero(eligible & ~links & inter)
    if order == "uniform":
        return rng.permutation(candidates)
    hops = hop_distance_matrix(spec.rows, spec.cols)[tile[candidates // n_tiles],
                                                     candidates % n_tiles]
    return candidates[np.lexsort((rng.random(candidates.size), hops))]


def _group_quota(links: np.ndarray, groups: np.ndarray | None,
                 quota: int | np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(int64 (N*T,) group per pair, int64 (G,) links still allowed per group), or None
    without a quota. An int quota is one total over all pairs."""
    if quota is None:
        return None
    quota = np.atleast_1d(np.asarray(quota, dtype=np.int64))
    if groups is None:
        groups = np.zeros(links.shape, dtype=np.int64)
    if groups.shape != links.shape or quota.ndim != 1 or (
            groups.size and not 0 <= groups.min() <= groups.max() < quota.size):
        raise LinksError(f"groups must be ints (N, T) = {links.shape} in [0, {quota.size}) "
                         f"indexing quota, got shape {groups.shape} (pass pair_groups ids)")
    flat = groups.ravel().astype(np.int64)
    active = np.bincount(flat[links.ravel()], minlength=quota.size)
    return flat, np.maximum(quota - active, 0)


def grow_in_order(tracker: PortUsageTracker, candidates: np.ndarray,
                  groups: np.ndarray | None = None,
                  quota: int | np.ndarray | None = None) -> np.ndarray:
    """bool (N, T): the tracker's links plus the candidates (distinct flat indices
    neuron * T + tile, in order) kept by the sequential rule (`add_in_order`); the tracker is
    updated in place."""
    candidates = np.asarray(candidates, dtype=np.int64)
    neuron, dest = np.divmod(candidates, tracker.links.shape[1])
    quotas = _group_quota(tracker.links, groups, quota)
    if quotas is None:
        tracker.add_in_order(neuron, dest)
    else:
        tracker.add_in_order(neuron, dest, quotas[0][candidates], quotas[1])
    return tracker.links.copy()


def grow_within_capacity(spec: MosaicSpec, start: np.ndarray | PortUsageTracker,
                         eligible: np.ndarray, rng: np.random.Generator, *,
                         groups: np.ndarray | None = None,
                         quota: int | np.ndarray | None = None,
                         order: str = "uniform") -> np.ndarray:
    """bool (N, T): `start` plus links from `eligible & ~start` (bool (N, T); intra-tile pairs
    ignored) tried in `order` and kept while the chip hosts the network and the pair's group
    (groups: int (N, T) ids; quota: int64 (G,) links per group, an int for one total, None
    to fill: as many as fit) has quota left. Mappable on `spec` with 0 violations.

    start: bool (N, T) links, mappable on `spec`, or a PortUsageTracker of them (then grown in
    place, so rewiring keeps one tracker across passes).
    """
    tracker = start if isinstance(start, PortUsageTracker) else PortUsageTracker(spec, start)
    if tracker.spec != spec:
        raise LinksError("the usage tracker was built for another chip (build it for this spec)")
    if tracker.violations:
        raise LinksError(f"links must be mappable before growing, got {tracker.violations} "
                         "ports over capacity (prune them first)")
    links = tracker.links
    if not isinstance(eligible, np.ndarray) or eligible.shape != links.shape:
        raise LinksError(f"eligible must be a bool array of shape {links.shape}")
    candidates = candidate_order(spec, links, eligible.astype(bool), order, rng)
    return grow_in_order(tracker, candidates, groups, quota)


def remove_links(tracker: PortUsageTracker, remove: np.ndarray) -> np.ndarray:
    """bool (N, T): the tracker's links without those of bool (N, T) `remove` (prune); ports
    are freed in place where no other link of the same neuron still uses them."""
    tracker.remove_mask(validate_links(remove, tracker.spec.rows, tracker.spec.cols,
                                       tracker.spec.neurons_per_tile))
    return tracker.links.copy()


def grow_in_order_reference(spec: MosaicSpec, links: np.ndarray, candidates: np.ndarray,
                            groups: np.ndarray | None = None,
                            quota: int | np.ndarray | None = None) -> np.ndarray:
    """Slow reference of `grow_in_order`: add each candidate, route the whole network with
    `check_mapping`, keep it if mappable and its group has quota (for tests)."""
    links = links.copy()
    quotas = _group_quota(links, groups, quota)
    for flat in candidates:
        if quotas is not None and quotas[1][quotas[0][flat]] == 0:
            continue
        trial = links.copy()
        trial.ravel()[flat] = True
        if check_mapping(spec, trial).mappable:
            links = trial
            if quotas is not None:
                quotas[1][quotas[0][flat]] -= 1
    return links
