"""The config key schema: each key's type, default and allowed values, and how one value is checked.

Every key is declared once, on the dataclass field it fills (`DataConfig`, `SearchSettings`,
`MosaicSpec`, `TrainConfig`, made with `hardware.keys.key`: type, default, allowed values, help,
searchable, resumable); a field added there is a config key at once. Training keys p1, p3, p5,
... (`HOP_KEY`) are the hop profile by odd hop distance. Checks here raise `ConfigError` without
the key; `search.config.files` adds where the value came from.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from types import MappingProxyType
from typing import Any, get_origin, get_type_hints

from analysis.objectives import DEFAULT_TEXT, Objectives, check_objectives, parse_objectives
from hardware.errors import ConfigError
from hardware.keys import (
    AT_LEAST_1,
    NON_NEGATIVE,
    POSITIVE,
    PROBABILITY,
    SEED,
    SEED_MAX,
    Allowed,
    Bound,
    Checked,
    Pattern,
    admits,
    allowed_text,
    key,
    key_meta,
)
from hardware.spec import CAPACITIES, MosaicSpec
from model.config import DataConfig, TrainConfig
from search.config.space import Param, parse_param
from search.store.tune_checkpoints import CADENCE

SECTIONS = ("data", "search", "hardware", "training")
SEARCHED_SECTIONS = ("hardware", "training")  # the sections whose keys may be ranges or choices
SAMPLERS = ("tpe", "nsga2", "random")
CAPACITY_KEYS = frozenset(kind.key for kind in CAPACITIES)
__all__ = ["AT_LEAST_1", "NON_NEGATIVE", "POSITIVE", "PROBABILITY", "SEED", "SEED_MAX", "Bound",
           "KeyRule", "Pattern", "SearchSettings"]
HOP_KEY = re.compile(r"p([1-9][0-9]*)")  # p1, p3, ...: hop profile by distance


@dataclass(frozen=True)
class SearchSettings:
    """[search]: budget, resources, sampler and where results go (ignored by `train`)."""

    trials: int = key(8, AT_LEAST_1, "trained trials to finish (infeasible ones do not count)",
                      resumable=True)
    max_concurrent: int = key(2, AT_LEAST_1, "trials running at once", resumable=True)
    cpus_per_trial: float = key(1.0, POSITIVE, "Ray CPUs per trial (fractions allowed)",
                                resumable=True)
    gpus_per_trial: float = key(0.0, NON_NEGATIVE, "Ray GPUs per trial (fractions allowed)",
                                resumable=True)
    sampler: str = key("tpe", SAMPLERS, "Optuna sampler: tpe, nsga2 or random")
    seed: int = key(0, SEED, "seed of the sampler")
    name: str = key("default", Pattern(r"(?!\.\.?\Z)[\w.-]+", "a plain directory name "
                                       "(letters, digits, _ . -; not . or ..)"),
                    "results go to <storage>/<name>/", resumable=True)
    storage: str = key("~/mosaic-dse-results", Pattern(r".+", "a non-empty path or URI"),
                       "results root: a path or pyarrow filesystem URI", resumable=True)
    proxy_seeds: int = key(3, AT_LEAST_1, "random networks the proxy routes per trial")
    proxy_threshold: float = key(0.5, PROBABILITY, "fraction of the proxy's networks that must "
                                 "map for the trial to be trained (else it is infeasible)")
    max_consecutive_infeasible: int = key(100, AT_LEAST_1, "suggestions in a row the proxy "
                                          "gate may reject before the search stops and says "
                                          "which ranges to widen", resumable=True)
    max_failures: int = key(2, NON_NEGATIVE, "how often Tune retries a trial whose worker "
                            "died, from its newest checkpoint", resumable=True)
    # ~12 kB per trial on `tiny`, ~32 kB on `default`, ~360 kB on `study` (5x5 x 32 neurons)
    save_networks: bool = key(True, None, "save each trained trial's network as "
                              "<storage>/<name>/networks/<trial_id>.npz (`mosaic-dse export` "
                              "writes it as .npz or NIR)", resumable=True)
    early_stop: bool = key(False, None, "stop a trial at epochs 2, 4, 8, ... when a trial on a "
                           "chip with no more memory already beats it there")
    # each checkpoint costs the driver ~6-11 ms of its main thread (benchmarks/
    # bench_checkpoint.py): 300 s keeps that to a few ms per trial (README, Configs)
    checkpoint_every: str = key("300s", Pattern(CADENCE.pattern, "a number of epochs >= 1 (2) "
                                                "or seconds > 0 (\"300s\")", ints=True),
                                "how often a trial saves a checkpoint: \"N\" epochs (every N-th) "
                                "or \"Xs\" seconds (the first epoch X s after the last one)",
                                resumable=True)
    objectives: tuple[str, ...] = key(
        DEFAULT_TEXT, Checked(check_objectives, "2 or 3 'max|min COLUMN' of distinct numeric "
                              "result columns"),
        "what the search optimises: 2 or 3 numeric result columns with a direction, e.g. "
        "['max val_accuracy', 'min chip_memory_cells', 'min energy_pj_per_sample']")

    @property
    def objective_list(self) -> Objectives:
        """[search].objectives as `analysis.objectives.Objective`s."""
        return parse_objectives(self.objectives)


_DATACLASSES = {"data": DataConfig, "search": SearchSettings, "hardware": MosaicSpec,
                "training": TrainConfig}
_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               tuple: "a list of strings"}


@dataclass(frozen=True)
class KeyRule:
    """Type, default and allowed values of one config key (`default` MISSING: required)."""

    type: type
    default: Any
    allowed: Allowed = None
    searchable: bool = False
    ports: bool = False  # router port capacities: an int, or 8 ints as a fixed value
    help: str = ""
    resumable: bool = False

    def check(self, value: Any, what: str = "") -> Any:
        """`value` converted to the key's type; ConfigError (without the key) if not allowed.

        what: which part of the entry is checked ("low", "choice", ...), for the message.
        """
        label = f"{what} " if what else ""
        if isinstance(self.allowed, Pattern) and self.allowed.ints:
            if not _has_type(value, int) and not _has_type(value, str):
                raise ConfigError(f"{label}must be {self.allowed}, got {value!r}")
            value = str(value)
        if isinstance(self.allowed, Checked) and _has_type(value, self.type):
            problem = self.allowed.problem(value)
            if problem is not None:
                raise ConfigError(f"{label}{problem}")
        if not _has_type(value, self.type):
            listed = self.ports and what and isinstance(value, list)
            extra = " (8-port lists only as a fixed value)" if listed else ""
            raise ConfigError(f"{label}must be {_TYPE_WORDS[self.type]}{extra}, got {value!r}")
        value = float(value) if self.type is float else value
        value = tuple(value) if self.type is tuple else value
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{label}must be a finite number, got {value!r}")
        if not admits(self.allowed, value):
            raise ConfigError(f"{label}must be {allowed_text(self.allowed, value)}, "
                              f"got {value!r}")
        return value


def _has_type(value: Any, kind: type) -> bool:
    if kind is tuple:
        return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


def _section_rules(section: str) -> Mapping[str, KeyRule]:
    """Rules of a section's keys, from the fields of the dataclass it fills (made with
    `hardware.keys.key`), in field order."""
    cls = _DATACLASSES[section]
    hints = get_type_hints(cls)
    rules = {}
    for f in fields(cls):
        meta = key_meta(f)
        if meta is None:
            continue
        ports = f.name in CAPACITY_KEYS
        kind = int if ports else hints[f.name]
        kind = tuple if get_origin(kind) is tuple else kind  # tuple[str, ...]: a string list
        searchable = section in SEARCHED_SECTIONS and meta.searchable
        rules[f.name] = KeyRule(kind, f.default, meta.allowed, searchable, ports, meta.help,
                                meta.resumable)
    return MappingProxyType(rules)


PRUNE_MIN_FRACTION = 20 / 32  # the original study's pruning threshold: 20 of a link's 32 weights
PRUNE_KEYS = ("prune_min", "prune_min_fraction")  # absolute count, fraction of K: one of them


def prune_min_of_fraction(fraction: float, neurons_per_tile: int) -> int:
    """The absolute pruning threshold for a fraction of a link's K weights, rounded half up
    (0.625 of K = 32 -> 20, of 16 -> 10, of 12 -> 8)."""
    return math.floor(fraction * neurons_per_tile + 0.5)


def _with_prune_fraction(rules: Mapping[str, KeyRule]) -> Mapping[str, KeyRule]:
    """[training] rules with prune_min_fraction (no TrainConfig field: `search.config.files` turns
    it into the trial's prune_min) right after prune_min."""
    fraction = KeyRule(float, PRUNE_MIN_FRACTION, PROBABILITY, searchable=True,
                       help="pruning threshold as a fraction of a link's K weights (rounded "
                       "half up; default the original's 20/32); set it or prune_min, not both")
    out = {}
    for name, rule in rules.items():
        out[name] = rule
        if name == "prune_min":
            out["prune_min_fraction"] = fraction
    return MappingProxyType(out)


SCHEMA: Mapping[str, Mapping[str, KeyRule]] = MappingProxyType(
    {section: _with_prune_fraction(_section_rules(section)) if section == "training"
     else _section_rules(section) for section in SECTIONS})
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
