"""Hop profiles: link budgets per (source tile, hop distance), realised profiles, exact samplers.

A hop profile is a sequence of fractions indexed by hop distance d (index 0, intra-tile, is
ignored; hop distances are 0, 1 and odd numbers >= 3, so even indices >= 2 must be 0).
p_d is the fraction of the K * n_d(s) possible (source neuron -> destination tile) links of
source tile s at distance d that are active.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hardware.errors import LinksError
from hardware.geometry import hop_distance_matrix


def validate_profile(hop_profile: Sequence[float], rows: int, cols: int) -> tuple[float, ...]:
    """The profile as floats in [0, 1]; LinksError on bad values or unreachable distances."""
    values = tuple(float(p) for p in hop_profile)
    max_d = int(hop_distance_matrix(rows, cols).max())
    for d, p in enumerate(values):
        if not 0.0 <= p <= 1.0:  # also rejects NaN
            raise LinksError(f"hop profile p{d} must be in [0, 1], got {p} (fix p{d})")
        if d >= 2 and d % 2 == 0 and p > 0:
            raise LinksError(f"hop distances are 0, 1 or odd, so p{d} must be 0, got {p} "
                             "(use odd distances: p1, p3, p5, ...)")
        if d > max_d and p > 0:
            raise LinksError(f"p{d} = {p} but the longest route on a {rows}x{cols} grid has "
                             f"{max_d} hops (drop p{d} or enlarge the grid)")
    return values


def n_tiles_at_distance(rows: int, cols: int) -> np.ndarray:
    """int64 (T, D): n_d(s), the number of tiles at hop distance d from tile s (D = max d + 1)."""
    hops = hop_distance_matrix(rows, cols)
    n_tiles = rows * cols
    depth = int(hops.max()) + 1
    flat = (np.arange(n_tiles)[:, None] * depth + hops).ravel()
    return np.bincount(flat, minlength=n_tiles * depth).reshape(n_tiles, depth)


def profile_array(hop_profile: Sequence[float], depth: int) -> np.ndarray:
    """float64 (depth,): the profile padded with zeros / cut to `depth` entries, p0 forced to 0."""
    p = np.zeros(depth)
    values = np.asarray(hop_profile, dtype=float)[:depth]
    p[: len(values)] = values
    p[0] = 0.0
    return p


def link_budget(rows: int, cols: int, k: int, hop_profile: Sequence[float]) -> np.ndarray:
    """int64 (T, D): round(p_d * K * n_d(s)) links per source tile s and distance d."""
    validate_profile(hop_profile, rows, cols)
    n_d = n_tiles_at_distance(rows, cols)
    p = profile_array(hop_profile, n_d.shape[1])
    return np.rint(p[None, :] * k * n_d).astype(np.int64)


def pair_groups(rows: int, cols: int, k: int) -> tuple[np.ndarray, int]:
    """int64 (N, T) group id s * D + d of each (neuron, tile) pair, and D."""
    hops = hop_distance_matrix(rows, cols)
    depth = int(hops.max()) + 1
    source_tile = np.repeat(np.arange(rows * cols), k)
    return source_tile[:, None] * depth + hops[source_tile], depth


def link_counts(links: np.ndarray, rows: int, cols: int, k: int) -> np.ndarray:
    """int64 (T, D): active links per source tile and hop distance (column 0: intra-tile pairs)."""
    groups, depth = pair_groups(rows, cols, k)
    counts = np.bincount(groups[links], minlength=rows * cols * depth)
    return counts.reshape(rows * cols, depth)


def realised_profile(links: np.ndarray, rows: int, cols: int, k: int) -> np.ndarray:
    """float64 (D,): active fraction of possible links per distance over all tiles (p0 = 0)."""
    counts = link_counts(links, rows, cols, k).sum(axis=0).astype(float)
    possible = k * n_tiles_at_distance(rows, cols).sum(axis=0)
    profile = np.divide(counts, possible, out=np.zeros_like(counts), where=possible > 0)
    profile[0] = 0.0
    return profile


def _take_per_group(groups: np.ndarray, quota: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """bool like `groups`: exactly quota[g] uniformly chosen True entries in each group g."""
    flat = groups.ravel()
    keys = rng.random(flat.size)
    order = np.lexsort((keys, flat))
    sorted_groups = flat[order]
    starts = np.searchsorted(sorted_groups, np.arange(quota.size))
    rank = np.arange(flat.size) - starts[sorted_groups]
    chosen = np.zeros(flat.size, dtype=bool)
    chosen[order[rank < quota[sorted_groups]]] = True
    return chosen.reshape(groups.shape)


def sample_links(rows: int, cols: int, k: int, hop_profile: Sequence[float],
                 rng: np.random.Generator) -> np.ndarray:
    """bool (N, T): uniform random links with exactly link_budget[s, d] links per (s, d)."""
    budget = link_budget(rows, cols, k, hop_profile)
    groups, _ = pair_groups(rows, cols, k)
    return _take_per_group(groups, budget.ravel(), rng)


def sample_uniform_links(rows: int, cols: int, k: int, n_links: int,
                         rng: np.random.Generator) -> np.ndarray:
    """bool (N, T): `n_links` links uniform over all inter-tile pairs (no distance constraint)."""
    inter = np.repeat(np.arange(rows * cols), k)[:, None] != np.arange(rows * cols)[None, :]
    if not 0 <= n_links <= int(inter.sum()):
        raise LinksError(f"n_links must be in [0, {int(inter.sum())}], got {n_links}")
    groups = np.where(inter, 1, 0)
    return _take_per_group(groups, np.array([0, n_links]), rng)


def uniform_profile(rows: int, cols: int, k: int, n_links: int) -> tuple[float, ...]:
    """The profile spreading `n_links` evenly over every reachable distance (same p for all d).

    What a non-routing-aware method with that link budget looks like to the router.
    """
    n_d = n_tiles_at_distance(rows, cols).sum(axis=0)
    possible = k * int(n_d[1:].sum())
    p = min(1.0, n_links / possible) if possible else 0.0
    return tuple(0.0 if d == 0 or n_d[d] == 0 else p for d in range(n_d.size))
