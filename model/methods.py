"""The registry of training methods: one frozen record per method, looked up by name everywhere.

A record says what differs between methods as named strategies; `model.deepr` and
`model.train` implement each strategy once and check at import that every strategy a record
names exists. Adding a method that combines existing strategies touches only this file (and its
tests). Torch-free, so `search` and the config layer can read it cheaply.

Strategies:
- initial_links: "profile" (exactly round(p_d K n_d(s)) links per source tile and distance),
  "uniform" (the profile's total budget, uniform over all inter-tile pairs), "all" (every
  inter-tile pair: a dense start) or "chip" (links added one by one, each kept only while the
  trial's chip still hosts the network, up to `chip_budget`).
- pruning: "deepr" (once per epoch, links with fewer than prune_min of their K weights at
  |w| >= w_thr) or "weights" (every step after a warm-up, each weight with |w| below
  mosaic_prune_thr is zero in the forward copy; a link lives while any of its K weights does).
- regrowth: "per_distance" (back to the exact per-(tile, distance) budget), "uniform" (back to
  the total budget, any distance), "chip" (back to `chip_budget`, each new link kept only
  while the chip hosts the network) or "none".
- penalty: "none" or "mosaic_hop" (lambda * mean((min(exp(beta * hops), e^15) - 1) * W^2)).
- proxy: the hop profile the proxy gate checks before training: "target" (the trial's profile),
  "uniform" (its total budget spread over every distance) or "none" (no profile is known before
  training: the trial trains and the exact router judges it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from hardware.errors import ConfigError
from hardware.profile import link_budget, uniform_profile

INITIAL_LINKS = ("profile", "uniform", "all", "chip")
PRUNING = ("deepr", "weights")
REGROWTH = ("per_distance", "uniform", "chip", "none")
PENALTIES = ("none", "mosaic_hop")
PROXIES = ("target", "uniform", "none")


@dataclass(frozen=True)
class Method:
    """One training method: its name, a one-line summary and its strategy per concern.

    protect_output: links into the output tiles are never pruned and none are grown (DeepR
    methods: the readout keeps its inputs). rewire_last_epoch: whether the end-of-epoch rewiring
    also runs after the last epoch (False for DeepR: regrown links would keep untrained weights).
    uses_profile: whether the hop profile (p1, p3, ...) shapes the network at all.
    """

    name: str
    summary: str
    initial_links: str
    pruning: str
    regrowth: str
    penalty: str
    proxy: str
    protect_output: bool = True
    rewire_last_epoch: bool = False
    uses_profile: bool = True

    def __post_init__(self) -> None:
        for value, allowed, what in ((self.initial_links, INITIAL_LINKS, "initial_links"),
                                     (self.pruning, PRUNING, "pruning"),
                                     (self.regrowth, REGROWTH, "regrowth"),
                                     (self.penalty, PENALTIES, "penalty"),
                                     (self.proxy, PROXIES, "proxy")):
            if value not in allowed:
                raise ValueError(f"method {self.name!r}: {what} must be one of {allowed}, "
                                 f"got {value!r}")


_RECORDS = (
    Method("routing_aware", "DeepR constrained to the hop profile: exact links per (tile, "
           "distance), pruned and regrown within each group",
           initial_links="profile", pruning="deepr", regrowth="per_distance", penalty="none",
           proxy="target"),
    Method("deepr", "plain DeepR (not routing-aware): the profile's total link budget, regrown "
           "uniformly over every distance",
           initial_links="uniform", pruning="deepr", regrowth="uniform", penalty="none",
           proxy="uniform"),
    Method("chip_aware", "DeepR within the trial chip's exact port capacities: links are added "
           "and regrown only while the chip hosts the network, so it always maps",
           initial_links="chip", pruning="deepr", regrowth="chip", penalty="none",
           proxy="none"),
    Method("mosaic", "the Mosaic baseline: dense start, hop-distance L2 penalty, per-weight "
           "magnitude pruning, clipped weights; no link budget",
           initial_links="all", pruning="weights", regrowth="none", penalty="mosaic_hop",
           proxy="none", protect_output=False, rewire_last_epoch=True, uses_profile=False),
)
METHODS: Mapping[str, Method] = MappingProxyType({m.name: m for m in _RECORDS})
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)


def get_method(name: str) -> Method:
    """The record of method `name`; ConfigError listing the methods for an unknown name."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"method must be one of {', '.join(METHOD_NAMES)}, got {name!r} "
                          "(set [training].method)") from None


def draws_weight_noise(method: str, mosaic_noise: float) -> bool:
    """Whether a run of `method` draws the Mosaic baseline's weight noise (its own generator)."""
    return get_method(method).penalty == "mosaic_hop" and mosaic_noise > 0


def expected_profile(method: str, rows: int, cols: int, k: int,
                     hop_profile: Sequence[float]) -> tuple[float, ...] | None:
    """The hop profile the proxy should check for `method`'s networks, or None when no profile
    is known before training (the trial trains and the exact router judges it)."""
    proxy = get_method(method).proxy
    if proxy == "target":
        return tuple(float(p) for p in hop_profile)
    if proxy == "uniform":
        return uniform_profile(rows, cols, k, int(link_budget(rows, cols, k, hop_profile).sum()))
    return None
