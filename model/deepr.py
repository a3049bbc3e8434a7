"""Rewiring of the inter-tile links once per epoch: routing-aware DeepR, DeepR, Mosaic L2.

A link (i -> t), t != tile(i), carries K weights W[i, t*K:(t+1)*K]; intra-tile blocks are not
links and are never rewired. Methods (DESIGN.md 4):
- routing_aware: prune links with fewer than min(prune_min, K) of their K weights at
  |w| >= w_thr, then regrow uniformly at random among inactive pairs so that every (source tile
  s, hop distance d) group holds exactly `link_budget[s, d]` links again.
- deepr: the same pruning; regrowth uniform over all inter-tile pairs back to the same total
  budget (the sum of the routing-aware table), with no per-distance constraint.
- mosaic_l2: starts with every inter-tile link, trains with the hop-cost penalty
  lambda * mean((exp(beta * hops) - 1) * W^2), and keeps the links of largest L2 norm: the kept
  number falls linearly from all links to the budget over the first ceil(epochs / 2) epochs.
Protection (routing_aware, deepr): links into the output tiles (the tiles of the last n_classes
neurons) are frozen: the initial ones are never pruned and no new ones are grown. They count in
their (s, d) group, so each group holds exactly its budget: `budget - protected` regrowable
links plus the protected ones, and the realised hop profile is always the target one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from hardware.errors import ConfigError
from hardware.geometry import hop_distance_matrix
from hardware.profile import link_budget, pair_groups, sample_links, sample_uniform_links
from model.config import METHODS
from model.network import output_tiles


@dataclass(frozen=True)
class LinkRules:
    """What rewiring may do on one grid.

    method: one of model.config.METHODS; hop_profile: target p_d by hop distance d.
    budget: int64 (T, D) links per (source tile, hop distance); groups: int64 (N, T) group id
    s * D + d of each (neuron, tile) pair; inter: bool (N, T) inter-tile pairs; into_output:
    bool (N, T) inter-tile pairs whose destination is an output tile.
    """

    method: str
    hop_profile: tuple[float, ...]
    rows: int
    cols: int
    neurons_per_tile: int
    budget: np.ndarray = field(compare=False, repr=False)
    groups: np.ndarray = field(compare=False, repr=False)
    inter: np.ndarray = field(compare=False, repr=False)
    into_output: np.ndarray = field(compare=False, repr=False)

    @property
    def total_budget(self) -> int:
        """Total number of links the hop profile gives (sum of `budget`)."""
        return int(self.budget.sum())


def make_rules(method: str, rows: int, cols: int, neurons_per_tile: int, n_classes: int,
               hop_profile: tuple[float, ...]) -> LinkRules:
    """LinkRules of a grid, hop profile and readout size (LinksError on a bad profile)."""
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r} "
                          "(set [training].method)")
    k = neurons_per_tile
    budget = link_budget(rows, cols, k, hop_profile)
    groups, _ = pair_groups(rows, cols, k)
    tiles = np.arange(rows * cols)
    inter = (np.repeat(tiles, k)[:, None] != tiles[None, :])
    into_output = inter & np.isin(tiles, output_tiles(rows * cols * k, k, n_classes))[None, :]
    return LinkRules(method, tuple(hop_profile), rows, cols, k, budget, groups, inter,
                     into_output)


def initial_links(rules: LinkRules, rng: np.random.Generator) -> np.ndarray:
    """bool (N, T): exact per-(s, d) budget (routing_aware), uniform total budget (deepr), or
    every inter-tile pair (mosaic_l2)."""
    r, c, k = rules.rows, rules.cols, rules.neurons_per_tile
    if rules.method == "routing_aware":
        return sample_links(r, c, k, rules.hop_profile, rng)
    if rules.method == "deepr":
        return sample_uniform_links(r, c, k, rules.total_budget, rng)
    return rules.inter.copy()


def protected(rules: LinkRules, links: np.ndarray) -> np.ndarray:
    """bool (N, T): links that rewiring never removes (active links into output tiles; none
    for mosaic_l2)."""
    if rules.method == "mosaic_l2":
        return np.zeros_like(links)
    return links & rules.into_output


def strong_weight_counts(w_rec: torch.Tensor, neurons_per_tile: int, w_thr: float) -> np.ndarray:
    """int64 (N, T): per (neuron, tile) pair, how many of its K weights have |w| >= w_thr."""
    n = w_rec.shape[0]
    strong = (w_rec.detach().abs() >= w_thr).reshape(n, n // neurons_per_tile, neurons_per_tile)
    return strong.sum(dim=2).cpu().numpy().astype(np.int64)


def prune(links: np.ndarray, strong: np.ndarray, prune_min: int, neurons_per_tile: int,
          keep: np.ndarray) -> np.ndarray:
    """bool (N, T): links minus those with fewer than min(prune_min, K) strong weights,
    except the `keep` ones (bool (N, T), e.g. protected links)."""
    return links & ((strong >= min(prune_min, neurons_per_tile)) | keep)


def regrow(links: np.ndarray, groups: np.ndarray, quota: np.ndarray, eligible: np.ndarray,
           rng: np.random.Generator) -> np.ndarray:
    """bool (N, T): `links` plus, per group g, quota[g] - active[g] new links drawn uniformly
    among the inactive `eligible` pairs of g (groups: int (N, T) ids in [0, len(quota)))."""
    active = np.bincount(groups[links], minlength=quota.size)
    need = np.maximum(quota - active, 0)
    candidates = np.flatnonzero(eligible & ~links)
    cand_groups = groups.ravel()[candidates]
    order = np.lexsort((rng.random(candidates.size), cand_groups))
    sorted_groups = cand_groups[order]
    starts = np.searchsorted(sorted_groups, np.arange(quota.size))
    rank = np.arange(candidates.size) - starts[sorted_groups]
    grown = links.copy().ravel()
    grown[candidates[order[rank < need[sorted_groups]]]] = True
    return grown.reshape(links.shape)


def keep_strongest(links: np.ndarray, w_rec: torch.Tensor, neurons_per_tile: int,
                   n_keep: int) -> np.ndarray:
    """bool (N, T): the `n_keep` active links of largest L2 norm of their K weights (ties:
    lower flat index first)."""
    n = w_rec.shape[0]
    norms = w_rec.detach().reshape(n, n // neurons_per_tile, neurons_per_tile).square().sum(2)
    norms = norms.cpu().double().numpy().ravel()
    active = np.flatnonzero(links.ravel())
    best = active[np.argsort(-norms[active], kind="stable")[:n_keep]]
    kept = np.zeros(links.size, dtype=bool)
    kept[best] = True
    return kept.reshape(links.shape)


def l2_keep_count(rules: LinkRules, epoch: int, epochs: int) -> int:
    """Links mosaic_l2 keeps after epoch `epoch` (1-based): linear from all inter-tile pairs
    to the budget, reached after ceil(epochs / 2) epochs."""
    n_all = int(rules.inter.sum())
    fraction = min(1.0, epoch / max(1, -(-epochs // 2)))
    return int(round(n_all - (n_all - rules.total_budget) * fraction))


def rewire(rules: LinkRules, links: np.ndarray, w_rec: torch.Tensor, *, w_thr: float,
           prune_min: int, epoch: int, epochs: int, rng: np.random.Generator) -> np.ndarray:
    """bool (N, T): the links after the end-of-epoch rewiring of `rules.method`.

    links: bool (N, T) before; w_rec: (N, N) recurrent weights; epoch: 1-based epoch just done.
    """
    k = rules.neurons_per_tile
    if rules.method == "mosaic_l2":
        return keep_strongest(links, w_rec, k, l2_keep_count(rules, epoch, epochs))
    strong = strong_weight_counts(w_rec, k, w_thr)
    pruned = prune(links, strong, prune_min, k, protected(rules, links))
    eligible = rules.inter & ~rules.into_output
    if rules.method == "routing_aware":
        return regrow(pruned, rules.groups, rules.budget.ravel(), eligible, rng)
    single_group = np.zeros_like(rules.groups)
    return regrow(pruned, single_group, np.array([rules.total_budget]), eligible, rng)


def new_link_weights(grown: np.ndarray, neurons_per_tile: int, w_thr: float, alpha: float,
                     rng: np.random.Generator) -> np.ndarray:
    """float32 (N, N): +-(w_thr + alpha * w_thr * |n|), n ~ N(0, 1) and a random sign per
    weight, in the K-weight blocks of the `grown` links (bool (N, T)); zero elsewhere."""
    block = np.repeat(grown, neurons_per_tile, axis=1)
    n_new = int(block.sum())
    magnitude = w_thr + alpha * w_thr * np.abs(rng.standard_normal(n_new))
    sign = np.where(rng.random(n_new) < 0.5, -1.0, 1.0)
    weights = np.zeros(block.shape, dtype=np.float32)
    weights[block] = sign * magnitude
    return weights


def hop_cost(rules: LinkRules, beta: float) -> np.ndarray:
    """float32 (N, N): exp(beta * hops) - 1 of each weight's link (0 inside a tile)."""
    k = rules.neurons_per_tile
    hops = hop_distance_matrix(rules.rows, rules.cols)
    tile = np.arange(rules.inter.shape[0]) // k
    return np.expm1(beta * hops[tile][:, tile]).astype(np.float32)
