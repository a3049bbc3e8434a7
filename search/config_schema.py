"""The config key schema: each key's type, default and allowed values, and how one value is checked.

Keys, types and defaults come from the dataclasses the sections fill (`DataConfig`,
`SearchSettings`, `MosaicSpec`, `TrainConfig`), so a field added there is a config key at once;
`_BOUNDS` adds the allowed values. Training keys p1, p3, p5, ... (`HOP_KEY`) are the hop profile
by odd hop distance. Checks here raise `ConfigError` without the key; `search.config` adds where
the value came from.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from types import MappingProxyType
from typing import Any, get_type_hints

from hardware.errors import ConfigError
from hardware.spec import MosaicSpec
from model.config import (
    CHANNEL_REDUCTIONS,
    CHIP_BUDGETS,
    CHIP_ORDERS,
    DATASETS,
    LR_SCHEDULES,
    METHODS,
    RATE_REGS,
    RESETS,
    DataConfig,
    TrainConfig,
)
from model.synthetic import N_CHANNELS
from search.space import Param, parse_param

SECTIONS = ("data", "search", "hardware", "training")
SEARCHED_SECTIONS = ("hardware", "training")  # the sections whose keys may be ranges or choices
SAMPLERS = ("tpe", "nsga2", "random")
HOP_KEY = re.compile(r"p([1-9][0-9]*)")  # p1, p3, ...: hop profile by distance


@dataclass(frozen=True)
class SearchSettings:
    """[search]: budget, resources, sampler and where results go (ignored by `train`).

    cpus_per_trial / gpus_per_trial: Ray resources per trial (fractions allowed).
    storage: results root (path or pyarrow filesystem URI); results go to <storage>/<name>/.
    proxy_seeds: random networks the proxy routes per trial; proxy_threshold: the fraction of
    them that must map on the chip for the trial to be trained (else it is infeasible).
    max_consecutive_infeasible: suggestions in a row the driver's proxy gate may reject before
    the search stops and says which ranges to widen. max_failures: how often Tune retries a
    trial whose worker died, from its last per-epoch checkpoint. early_stop: stop a trial at
    epochs 2, 4, 8, ... when a trial on a chip with no more memory already beats it there.
    """

    trials: int = 8
    max_concurrent: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    sampler: str = "tpe"
    seed: int = 0
    name: str = "default"
    storage: str = "~/mosaic-dse-results"
    proxy_seeds: int = 3
    proxy_threshold: float = 0.5
    max_consecutive_infeasible: int = 100
    max_failures: int = 2
    early_stop: bool = False


@dataclass(frozen=True)
class Bound:
    """An interval of allowed numbers, closed unless `open_low` / `open_high`."""

    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False

    def __contains__(self, v: float) -> bool:
        above = v > self.low if self.open_low else v >= self.low
        return above and (v < self.high if self.open_high else v <= self.high)

    def __str__(self) -> str:
        if self.high == math.inf:
            return f"{'>' if self.open_low else '>='} {_number(self.low)}"
        left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
        return f"in {left}{_number(self.low)}, {_number(self.high)}{right}"


def _number(v: float) -> str:
    """`v` for messages: integers in full (2**32 - 1 is 4294967295, not 4.29497e+09)."""
    return str(v) if isinstance(v, int) else f"{v:g}"


@dataclass(frozen=True)
class Pattern:
    """Strings matching `regex` in full; `words` describes them in messages."""

    regex: str
    words: str

    def __contains__(self, v: str) -> bool:
        return re.fullmatch(self.regex, v) is not None

    def __str__(self) -> str:
        return self.words


AT_LEAST_1, NON_NEGATIVE = Bound(1), Bound(0)
SEED_MAX = 2**32 - 1  # Optuna's samplers (numpy's legacy seeding) take seeds in [0, 2**32)
SEED = Bound(0, SEED_MAX)
POSITIVE, PROBABILITY = Bound(0, open_low=True), Bound(0, 1)
# Allowed values beyond the type: a Bound, a Pattern or a tuple of allowed strings.
_BOUNDS: Mapping[str, Mapping[str, Any]] = {
    "data": {"dataset": DATASETS, "root": Pattern(r".+", "a non-empty path"),
             "time_bins": AT_LEAST_1, "duration": POSITIVE, "n_inputs": Bound(1, N_CHANNELS),
             "val_fraction": Bound(0, 1, True, True), "split_seed": SEED,
             "channel_reduction": CHANNEL_REDUCTIONS, "stride": Bound(1, N_CHANNELS),
             "synthetic_train": AT_LEAST_1, "synthetic_test": AT_LEAST_1,
             "synthetic_seed": SEED},
    "search": {"trials": AT_LEAST_1, "max_concurrent": AT_LEAST_1, "cpus_per_trial": POSITIVE,
               "gpus_per_trial": NON_NEGATIVE, "sampler": SAMPLERS, "seed": SEED,
               "name": Pattern(r"(?!\.\.?\Z)[\w.-]+",
                               "a plain directory name (letters, digits, _ . -; not . or ..)"),
               "storage": Pattern(r".+", "a non-empty path or URI"),
               "proxy_seeds": AT_LEAST_1, "proxy_threshold": PROBABILITY,
               "max_consecutive_infeasible": AT_LEAST_1, "max_failures": NON_NEGATIVE},
    "hardware": {"rows": AT_LEAST_1, "cols": AT_LEAST_1, "neurons_per_tile": AT_LEAST_1,
                 "cap_nt": NON_NEGATIVE, "cap_r0": NON_NEGATIVE, "cap_r1": NON_NEGATIVE,
                 "hop_energy_pj": NON_NEGATIVE, "bits_per_cell": AT_LEAST_1},
    "training": {"method": METHODS, "lr": POSITIVE, "lr_decay": Bound(0, 1, open_low=True),
                 "epochs": AT_LEAST_1, "batch_size": AT_LEAST_1, "w_thr": NON_NEGATIVE,
                 "prune_min": NON_NEGATIVE, "alpha": NON_NEGATIVE, "tau": POSITIVE,
                 "threshold": POSITIVE, "rate_reg": NON_NEGATIVE, "target_rate": NON_NEGATIVE,
                 "rate_reg_form": RATE_REGS, "reset": RESETS, "lr_schedule": LR_SCHEDULES,
                 "mosaic_lambda": NON_NEGATIVE, "mosaic_beta": NON_NEGATIVE,
                 "mosaic_prune_thr": NON_NEGATIVE, "mosaic_warmup": NON_NEGATIVE,
                 "mosaic_clip_std": NON_NEGATIVE, "mosaic_noise": NON_NEGATIVE,
                 "chip_budget": CHIP_BUDGETS, "chip_order": CHIP_ORDERS,
                 "seed": SEED,
                 "input_gain": POSITIVE, "threads": AT_LEAST_1,
                 "rec_fan_in": NON_NEGATIVE,
                 "device": Pattern(r"auto|cpu|mps|cuda(:\d+)?", "auto, cpu, mps, cuda or cuda:N")},
}
_DATACLASSES = {"data": DataConfig, "search": SearchSettings, "hardware": MosaicSpec,
                "training": TrainConfig}
_NOT_KEYS = frozenset({"hop_profile", "progress"})  # from p1, p3, ... / a CLI flag
_FIXED_ONLY = frozenset({"device", "threads"})
_INT_OR_AUTO = frozenset({"threads"})  # an int, or the string "auto"
_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


@dataclass(frozen=True)
class KeyRule:
    """Type, default and allowed values of one config key (`default` MISSING: required)."""

    type: type
    default: Any
    allowed: Bound | Pattern | tuple[str, ...] | None = None
    searchable: bool = False
    ports: bool = False  # router port capacities: an int, or 8 ints as a fixed value
    auto: bool = False  # the string "auto" is allowed besides the type

    def check(self, value: Any, what: str = "") -> Any:
        """`value` converted to the key's type; ConfigError (without the key) if not allowed.

        what: which part of the entry is checked ("low", "choice", ...), for the message.
        """
        label = f"{what} " if what else ""
        if self.auto and value == "auto":
            return value
        if not _has_type(value, self.type):
            listed = self.ports and what and isinstance(value, list)
            extra = " (8-port lists only as a fixed value)" if listed else ""
            extra = ' or "auto"' if self.auto else extra
            raise ConfigError(f"{label}must be {_TYPE_WORDS[self.type]}{extra}, got {value!r}")
        value = float(value) if self.type is float else value
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{label}must be a finite number, got {value!r}")
        if self.allowed is not None and value not in self.allowed:
            raise ConfigError(f"{label}must be {self._allowed_text(value)}, got {value!r}")
        return value

    def _allowed_text(self, value: Any) -> str:
        if not isinstance(self.allowed, tuple):
            return str(self.allowed)
        close = difflib.get_close_matches(str(value), self.allowed, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return f"one of {', '.join(self.allowed)}{hint}"


def _has_type(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


def _section_rules(section: str) -> Mapping[str, KeyRule]:
    """Rules of a section's keys, from the fields of the dataclass it fills, in field order.

    Fields of other types than int, float, str and bool (and `_NOT_KEYS`) are not config keys.
    """
    cls = _DATACLASSES[section]
    hints = get_type_hints(cls)
    rules = {}
    for f in fields(cls):
        ports, auto = f.name.startswith("cap_"), f.name in _INT_OR_AUTO
        kind = int if ports or auto else hints[f.name]
        if f.name in _NOT_KEYS or kind not in _TYPE_WORDS:
            continue
        searchable = section in SEARCHED_SECTIONS and f.name not in _FIXED_ONLY
        rules[f.name] = KeyRule(kind, f.default, _BOUNDS[section].get(f.name), searchable, ports,
                                auto)
    return MappingProxyType(rules)


SCHEMA: Mapping[str, Mapping[str, KeyRule]] = MappingProxyType(
    {section: _section_rules(section) for section in SECTIONS})
HOP_RULE = KeyRule(float, MISSING, PROBABILITY, searchable=True)  # p1, p3, p5, ...


def key_rule(section: str, key: str) -> KeyRule | None:
    """The rule of [section].key, or None for an unknown section or key."""
    if section == "training" and HOP_KEY.fullmatch(key):
        return HOP_RULE
    return SCHEMA.get(section, {}).get(key)


def suggestion(word: str, options: Sequence[str], fmt: str = "{}") -> str:
    """', did you mean X?' for the closest of `options`, else ' (valid: ...)' listing them all."""
    close = difflib.get_close_matches(word, options, n=1)
    if close:
        return f", did you mean {fmt.format(close[0])}?"
    return f" (valid: {', '.join(fmt.format(o) for o in options)})"


def param_of_value(section: str, name: str, value: Any, rule: KeyRule) -> Param:
    """One key's value (fixed, or a range or choices table) as a Param; ConfigError if invalid."""
    if isinstance(value, dict):
        if not rule.searchable:
            raise ConfigError(f"must be a fixed value, not a range or choices, got {value}")
        if rule.type in (str, bool) and "choices" not in value:
            raise ConfigError(f"takes {_TYPE_WORDS[rule.type]}: search it with "
                              f"{{ choices = [...] }}, not a range, got {value}")
        return parse_param(name, section, value, rule.check, rule.type is int)
    if rule.ports and isinstance(value, list | tuple):
        return Param(name, section, "fixed", value=_ports(value))
    return Param(name, section, "fixed", value=rule.check(value))


def _ports(value: Sequence[Any]) -> tuple[int, ...]:
    """8 port capacities (in_N, in_E, in_S, in_W, out_N, out_E, out_S, out_W) as a tuple."""
    if len(value) != 8 or not all(_has_type(v, int) and v >= 0 for v in value):
        raise ConfigError("must be an integer >= 0 or a list of 8 of them (in_N, in_E, in_S, "
                          f"in_W, out_N, out_E, out_S, out_W), got {list(value)!r}")
    return tuple(value)
