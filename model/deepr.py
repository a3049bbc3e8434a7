"""Link-level rewiring of the inter-tile links: initial links, protection, pruning, regrowth.

A link (i -> t), t != tile(i), carries K weights W[i, t*K:(t+1)*K]; intra-tile blocks are not
links and are never rewired. What each method does is its record in `model.methods`; this
module implements each named strategy once (DESIGN.md 4):
- pruning "deepr": once per epoch, links with fewer than min(prune_min, K) of their K weights at
  |w| >= w_thr are removed; pruning "weights" (Mosaic) zeroes single weights in the forward
  copy during training (`model.train`), and a link is any inter-tile block of that copy with a
  non-zero weight.
- regrowth "per_distance": every (source tile s, hop distance d) group is refilled to exactly
  `budget[s, d]` links, uniformly among its inactive eligible pairs; "uniform": the total budget
  is refilled uniformly over all eligible pairs. Every regrown link gets fresh weights and zero
  Adam moments, including a link pruned and chosen again in the same pass (`Rewiring.grown`).
Protection (`protect_output`): links into the output tiles (the tiles of the last n_classes
neurons) are frozen: the initial ones are never pruned and no new ones are grown. They count in
their (s, d) group, so each group holds exactly its budget and the realised hop profile is the
target one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from hardware.errors import ConfigError
from hardware.geometry import hop_distance_matrix
from hardware.profile import link_budget, pair_groups, sample_links, sample_uniform_links
from hardware.spec import MosaicSpec
from model.chip_links import grow_within_capacity
from model.methods import INITIAL_LINKS, PRUNING, REGROWTH, Method, get_method
from model.network import output_tiles

MAX_HOP_COST = math.exp(15.0)  # the Mosaic penalty's cap (without it beta = 8 overflows on 5x5)


@dataclass(frozen=True)
class LinkRules:
    """What rewiring may do on one grid.

    method: the method's record; hop_profile: target p_d by hop distance d.
    budget: int64 (T, D) links per (source tile, hop distance); groups: int64 (N, T) group id
    s * D + d of each (neuron, tile) pair; inter: bool (N, T) inter-tile pairs; into_output:
    bool (N, T) inter-tile pairs whose destination is an output tile. spec, chip_budget,
    chip_order: the chip whose exact capacities "chip" growth respects, and how it grows
    (see TrainConfig).
    """

    method: Method
    hop_profile: tuple[float, ...]
    rows: int
    cols: int
    neurons_per_tile: int
    budget: np.ndarray = field(compare=False, repr=False)
    groups: np.ndarray = field(compare=False, repr=False)
    inter: np.ndarray = field(compare=False, repr=False)
    into_output: np.ndarray = field(compare=False, repr=False)
    spec: MosaicSpec | None = None
    chip_budget: str = "profile"
    chip_order: str = "uniform"

    @property
    def total_budget(self) -> int:
        """Total number of links the hop profile gives (sum of `budget`)."""
        return int(self.budget.sum())


@dataclass(frozen=True)
class Rewiring:
    """One rewiring pass: the links after it and the links regrowth chose (fresh weights).

    links, grown: bool (N, T); grown is a subset of links and may hold links that pruning
    removed a moment earlier in the same pass.
    """

    links: np.ndarray = field(compare=False)
    grown: np.ndarray = field(compare=False)


def make_rules(method: str, rows: int, cols: int, neurons_per_tile: int, n_classes: int,
               hop_profile: tuple[float, ...], spec: MosaicSpec | None = None,
               chip_budget: str = "profile", chip_order: str = "uniform") -> LinkRules:
    """LinkRules of a grid, hop profile and readout size (ConfigError for an unknown method,
    LinksError for a bad profile); `spec` and the chip_* settings serve "chip" growth."""
    record = get_method(method)
    k = neurons_per_tile
    budget = link_budget(rows, cols, k, hop_profile)
    groups, _ = pair_groups(rows, cols, k)
    tiles = np.arange(rows * cols)
    inter = (np.repeat(tiles, k)[:, None] != tiles[None, :])
    into_output = inter & np.isin(tiles, output_tiles(rows * cols * k, k, n_classes))[None, :]
    return LinkRules(record, tuple(hop_profile), rows, cols, k, budget, groups, inter,
                     into_output, spec, chip_budget, chip_order)


def _grow_on_chip(rules: LinkRules, start: np.ndarray, eligible: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """bool (N, T): `start` plus links grown within the chip's capacities up to chip_budget."""
    if rules.spec is None:
        raise ConfigError(f"method {rules.method.name} needs the trial's chip (pass spec to "
                          "make_rules)")
    groups, quota = None, None
    if rules.chip_budget == "profile":
        groups, quota = rules.groups, rules.budget.ravel()
    elif rules.chip_budget == "total":
        quota = rules.total_budget
    elif rules.chip_budget != "fill":
        raise ConfigError(f"chip_budget must be profile, total or fill, got "
                          f"{rules.chip_budget!r} (set [training].chip_budget)")
    return grow_within_capacity(rules.spec, start, eligible, rng, groups=groups, quota=quota,
                                order=rules.chip_order)


_INITIAL: dict[str, Callable[[LinkRules, np.random.Generator], np.ndarray]] = {
    "profile": lambda r, rng: sample_links(r.rows, r.cols, r.neurons_per_tile, r.hop_profile,
                                           rng),
    "uniform": lambda r, rng: sample_uniform_links(r.rows, r.cols, r.neurons_per_tile,
                                                   r.total_budget, rng),
    "all": lambda r, rng: r.inter.copy(),
    "chip": lambda r, rng: _grow_on_chip(r, np.zeros_like(r.inter), r.inter, rng),
}


def initial_links(rules: LinkRules, rng: np.random.Generator) -> np.ndarray:
    """bool (N, T): the method's initial links (see `model.methods.INITIAL_LINKS`)."""
    return _INITIAL[rules.method.initial_links](rules, rng)


def protected(rules: LinkRules, links: np.ndarray) -> np.ndarray:
    """bool (N, T): links that rewiring never removes (active links into output tiles, for
    methods that protect them)."""
    if not rules.method.protect_output:
        return np.zeros_like(links)
    return links & rules.into_output


def block_counts(w_rec: torch.Tensor, neurons_per_tile: int, w_thr: float) -> np.ndarray:
    """int64 (N, T): per (neuron, tile) pair, how many of its K weights have |w| >= w_thr."""
    n = w_rec.shape[0]
    strong = (w_rec.detach().abs() >= w_thr).reshape(n, n // neurons_per_tile, neurons_per_tile)
    return strong.sum(dim=2).cpu().numpy().astype(np.int64)


strong_weight_counts = block_counts  # the DeepR name: strong weights per link


def prune(links: np.ndarray, strong: np.ndarray, prune_min: int, neurons_per_tile: int,
          keep: np.ndarray) -> np.ndarray:
    """bool (N, T): links minus those with fewer than min(prune_min, K) strong weights,
    except the `keep` ones (bool (N, T), e.g. protected links)."""
    return links & ((strong >= min(prune_min, neurons_per_tile)) | keep)


def regrow(links: np.ndarray, groups: np.ndarray, quota: np.ndarray, eligible: np.ndarray,
           rng: np.random.Generator) -> np.ndarray:
    """bool (N, T): the links to add so that each group g holds quota[g] links again, drawn
    uniformly among the inactive `eligible` pairs of g (groups: int (N, T) ids in
    [0, len(quota))). Returns only the new links; `links | regrow(...)` is the result."""
    active = np.bincount(groups[links], minlength=quota.size)
    need = np.maximum(quota - active, 0)
    candidates = np.flatnonzero(eligible & ~links)
    cand_groups = groups.ravel()[candidates]
    order = np.lexsort((rng.random(candidates.size), cand_groups))
    sorted_groups = cand_groups[order]
    starts = np.searchsorted(sorted_groups, np.arange(quota.size))
    rank = np.arange(candidates.size) - starts[sorted_groups]
    grown = np.zeros(links.size, dtype=bool)
    grown[candidates[order[rank < need[sorted_groups]]]] = True
    return grown.reshape(links.shape)


def _prune_deepr(rules: LinkRules, links: np.ndarray, w_rec: torch.Tensor, w_thr: float,
                 prune_min: int) -> np.ndarray:
    strong = block_counts(w_rec, rules.neurons_per_tile, w_thr)
    return prune(links, strong, prune_min, rules.neurons_per_tile, protected(rules, links))


def _prune_weights(rules: LinkRules, links: np.ndarray, w_rec: torch.Tensor, w_thr: float,
                   prune_min: int) -> np.ndarray:
    # Single weights were removed during training and may grow back (the mask stays dense): the
    # links are the non-zero pattern of the weights now, as in the original, not a subset of
    # the links before (a block zeroed at one epoch end and grown back counts again).
    n, k = w_rec.shape[0], rules.neurons_per_tile
    alive = (w_rec.detach() != 0).reshape(n, n // k, k).any(dim=2).cpu().numpy()
    return rules.inter & alive


_PRUNE = {"deepr": _prune_deepr, "weights": _prune_weights}
_REGROW: dict[str, Callable[[LinkRules, np.ndarray, np.random.Generator], np.ndarray]] = {
    "per_distance": lambda r, kept, rng: regrow(kept, r.groups, r.budget.ravel(),
                                                r.inter & ~r.into_output, rng),
    "uniform": lambda r, kept, rng: regrow(kept, np.zeros_like(r.groups),
                                           np.array([r.total_budget]),
                                           r.inter & ~r.into_output, rng),
    "chip": lambda r, kept, rng: _grow_on_chip(r, kept, r.inter & ~r.into_output, rng) & ~kept,
    "none": lambda r, kept, rng: np.zeros_like(kept),
}
if set(_INITIAL) != set(INITIAL_LINKS) or set(_PRUNE) != set(PRUNING) \
        or set(_REGROW) != set(REGROWTH):  # a strategy named in model.methods lacks its code
    raise ImportError("model.deepr does not implement every strategy of model.methods")


def rewire(rules: LinkRules, links: np.ndarray, w_rec: torch.Tensor, *, w_thr: float,
           prune_min: int, rng: np.random.Generator) -> Rewiring:
    """The end-of-epoch rewiring of `rules.method`: prune, then regrow.

    links: bool (N, T) before; w_rec: (N, N) recurrent weights (masked).
    """
    kept = _PRUNE[rules.method.pruning](rules, links, w_rec, w_thr, prune_min)
    grown = _REGROW[rules.method.regrowth](rules, kept, rng)
    return Rewiring(kept | grown, grown)


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


def hop_cost(rows: int, cols: int, neurons_per_tile: int, beta: float) -> np.ndarray:
    """float32 (N, N): min(exp(beta * hops) - 1, e^15) of each weight's link (0 in a tile).

    The Mosaic penalty's factor, capped as in the original (clip(exp(beta*hops) - 1, 0, e^15));
    with beta = 8 every distance >= 3 sits at the cap.
    """
    hops = hop_distance_matrix(rows, cols)
    tile = np.arange(rows * cols * neurons_per_tile) // neurons_per_tile
    with np.errstate(over="ignore"):
        cost = np.minimum(np.expm1(beta * hops[tile][:, tile].astype(np.float64)), MAX_HOP_COST)
    return cost.astype(np.float32)
