"""Config files (TOML, DESIGN.md 8): load, override, validate, resolve, and build one trial.

Four sections. [data] and [search] hold fixed values; every [hardware] and [training] key is a
`search.config.space.Param` (fixed, range or choices). Training keys p1, p3, p5, ... are the hop
profile
by odd hop distance. The keys, their types, defaults and allowed values are the schema in
`search.config.schema` (re-exported here). `load_config` checks everything before a search starts:
each problem is one `ConfigError` line naming the key, the rule, the value and the fix.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import tomli_w

from analysis.objectives import MID_RUN_OBJECTIVES
from hardware.errors import ConfigError
from hardware.geometry import hop_distance_matrix
from hardware.spec import MosaicSpec
from model.config import DataConfig, TrainConfig
from search.config.paths import home_path_problem
from search.config.schema import (
    AT_LEAST_1,
    HOP_KEY,
    HOP_RULE,
    NON_NEGATIVE,
    POSITIVE,
    PROBABILITY,
    PRUNE_KEYS,
    SAMPLERS,
    SCHEMA,
    SEARCHED_SECTIONS,
    SECTIONS,
    Bound,
    KeyRule,
    Pattern,
    SearchSettings,
    key_rule,
    param_of_value,
    prune_min_of_fraction,
    suggestion,
)
from search.config.space import Param, domain_text, grid_size, value_text

__all__ = [
    "AT_LEAST_1", "HOP_KEY", "HOP_RULE", "MAX_NEURONS", "MAX_TILES", "N_CLASSES", "NON_NEGATIVE",
    "POSITIVE", "PROBABILITY", "RESUMABLE_KEYS", "SAMPLERS", "SCHEMA", "SEARCHED_SECTIONS",
    "SECTIONS", "SHIPPED_CONFIGS", "Bound", "KeyRule", "Pattern", "SearchConfig", "SearchSettings",
    "build_trial", "canonical_config", "chip_size_problem", "config_differences",
    "config_fingerprint", "dump_toml", "hop_profile", "key_rule", "load_config", "parse_config",
    "read_config_text", "resolve_defaults", "toml_value", "trial_values",
]

SHIPPED_CONFIGS = ("default", "study", "tiny", "chip", "speech")
N_CLASSES = 20  # SHD and synthetic SHD: the readout needs one neuron per class
# Largest chip a search, `train` or `map` takes: the hop-distance and route tables grow with
# tiles^2 and the dense recurrent weights with neurons^2 (a 32x32x16 chip routes in ~1 min).
MAX_TILES, MAX_NEURONS = 1024, 16384
# Keys that may change when a search resumes (declared `resumable` on their field): budget,
# resources and locations (the binned-data cache is keyed by its contents).
RESUMABLE_KEYS = frozenset((section, name) for section, rules in SCHEMA.items()
                           for name, rule in rules.items() if rule.resumable)


@dataclass(frozen=True)
class SearchConfig:
    """A validated config: data and search settings, and every hardware/training Param.

    params: [hardware] keys then [training] keys (hop keys p1, p3, ... after `method`), each
    present (missing keys are fixed at their dataclass default). source: where it came from.
    """

    data: DataConfig
    search: SearchSettings
    params: tuple[Param, ...]
    source: str = field(default="<string>", compare=False)

    def param(self, name: str) -> Param:
        """The parameter called `name` (KeyError if none)."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def searched(self) -> tuple[Param, ...]:
        """The ranges and choices (the dimensions the sampler explores)."""
        return tuple(p for p in self.params if p.kind != "fixed")

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The resolved config as TOML-ready nested dicts, one per section, every key given."""
        out = {"data": asdict(self.data), "search": asdict(self.search)}
        for section in SEARCHED_SECTIONS:
            out[section] = {p.name: p.to_toml_value() for p in self.params
                            if p.section == section}
        return out

    def to_toml(self) -> str:
        """TOML text that `parse_config` reads back into an equal config."""
        return f"# mosaic-dse config resolved from {self.source}\n" + dump_toml(self.to_dict())


def dump_toml(doc: Mapping[str, Mapping[str, Any]]) -> str:
    """Sections of scalars, lists and one level of inline tables as TOML text."""
    blocks = []
    for section, body in doc.items():
        lines = [f"[{section}]"] + [f"{key} = {toml_value(v)}" for key, v in body.items()]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def toml_value(value: Any) -> str:
    """One value as TOML text: strings escaped exactly, lists and one level of inline tables."""
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).removeprefix("v = ").rstrip("\n")


def load_config(path_or_name: str | os.PathLike[str],
                overrides: Sequence[str] = ()) -> SearchConfig:
    """Read a TOML file (or a shipped config by name), apply `--set` overrides and validate.

    overrides: "section.key=value" (value parsed as a TOML value, else taken as a string);
    "section.key.field=value" changes one field of a range or choices table.
    """
    text, source = read_config_text(path_or_name)
    return parse_config(text, source, overrides)


def read_config_text(path_or_name: str | os.PathLike[str]) -> tuple[str, str]:
    """(TOML text, source label) of a file, or of a shipped config when no such file exists."""
    path = Path(os.path.expanduser(path_or_name))  # a `~nosuchuser` path is then not found
    name = str(path_or_name)
    if name in SHIPPED_CONFIGS and not path.is_file():
        shipped = resources.files("search.config").joinpath("configs", f"{name}.toml")
        return shipped.read_text(encoding="utf-8"), f"{name}.toml (shipped config)"
    if not path.is_file():
        raise ConfigError(f"config file not found: {path} (give a TOML file or a shipped "
                          f"config: {', '.join(SHIPPED_CONFIGS)})")
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc} (give a UTF-8 TOML file)") from None


def parse_config(text: str, source: str = "<string>",
                 overrides: Sequence[str] = ()) -> SearchConfig:
    """Validate TOML `text` with `overrides` applied (see `load_config`)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc} (fix the syntax)") from None
    origins = {}
    for item in overrides:
        origins[_apply_override(raw, item)] = f"--set {item}"
    where = _Where(source, MappingProxyType(origins))
    _check_sections(raw, where)
    cfg = SearchConfig(
        data=DataConfig(**_fixed_section(raw, "data", where)),
        search=SearchSettings(**_fixed_section(raw, "search", where)),
        params=_params(raw, "hardware", where) + _params(raw, "training", where),
        source=source,
    )
    _check_combinations(cfg, where)
    for section, key, path in (("data", "root", cfg.data.root),
                               ("data", "cache_dir", cfg.data.cache_dir),
                               ("search", "storage", cfg.search.storage)):
        if (problem := home_path_problem(path)) is not None:
            raise where.error(section, key, problem)
    build_trial(cfg, resolve_defaults(cfg))  # MosaicSpec's own checks raise SpecError now
    return cfg


@dataclass(frozen=True)
class _Where:
    """Where config values came from, to say what to fix: the file or a --set override."""

    source: str
    origins: Mapping[tuple[str, str], str]  # (section, key) -> "--set section.key=value"

    def error(self, section: str, key: str | None, problem: str) -> ConfigError:
        """'[section].key: problem (fix ...)' naming the override or file to change."""
        if key is None:
            origin = next((o for (s, _), o in self.origins.items() if s == section), None)
        else:
            origin = self.origins.get((section, key))
        fix = f"fix {origin}" if origin else f"fix it in {self.source}"
        place = f"[{section}].{key}" if key is not None else f"[{section}]"
        return ConfigError(f"{place}: {problem} ({fix})")


def _apply_override(raw: dict[str, Any], item: str) -> tuple[str, str]:
    """Set one 'section.key[.field]=value' override in `raw`; returns (section, key)."""
    target, sep, text = item.partition("=")
    parts = target.strip().split(".")
    if not sep or not text.strip() or len(parts) not in (2, 3) \
            or not all(re.fullmatch(r"\w+", part) for part in parts):
        raise ConfigError(f"--set {item!r}: expected section.key=value "
                          "(e.g. --set training.epochs=3 or --set training.p1.default=0.9)")
    section, key = parts[0], parts[1]
    value = _override_value(text.strip(), key_rule(section, key) if len(parts) == 2 else None)
    body = raw.setdefault(section, {})
    if not isinstance(body, dict):
        raise ConfigError(f"--set {item}: {section} is a value, not a section (fix the config)")
    if len(parts) == 2:
        body[key] = value
        if section == "training" and key in PRUNE_KEYS:  # the given threshold replaces the other
            body.pop(next(k for k in PRUNE_KEYS if k != key), None)
        return section, key
    table = body.setdefault(key, {})
    if not isinstance(table, dict):
        raise ConfigError(f"--set {item}: [{section}].{key} is a fixed value, not a range or "
                          f"choices table (set it whole: --set {section}.{key}=...)")
    table[parts[2]] = value
    return section, key


def _override_value(text: str, rule: KeyRule | None) -> Any:
    """An override's value: a TOML value, else the bare text (also for any string key)."""
    try:
        doc = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        return text
    value = doc["v"] if len(doc) == 1 else text
    if rule is not None and rule.type is str and not isinstance(value, str | dict | list):
        return text  # --set search.name=2024 means the name "2024"
    return value


def _check_sections(raw: Mapping[str, Any], where: _Where) -> None:
    for section, body in raw.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{section} = {body!r} is outside any section (put it under "
                              f"{', '.join(f'[{s}]' for s in SECTIONS)}; fix it in {where.source})")
        if section not in SECTIONS:
            raise where.error(section, None,
                              "unknown section" + suggestion(section, SECTIONS, "[{}]"))


def _check_known_keys(section: str, body: Mapping[str, Any], where: _Where) -> None:
    options = list(SCHEMA[section]) + (["p1", "p3", "p5"] if section == "training" else [])
    for key in body:
        if key_rule(section, key) is None:
            raise where.error(section, key, "unknown key" + suggestion(key, options))
        if HOP_KEY.fullmatch(key) and int(key[1:]) % 2 == 0:
            raise where.error(section, key, "hop distances of routed links are 1, 3, 5, ..., "
                              f"so {key} has no meaning (use p1, p3, p5, ...)")


def _fixed_section(raw: Mapping[str, Any], section: str, where: _Where) -> dict[str, Any]:
    """The given keys of a fixed-only section ([data], [search]), checked and converted."""
    body = raw.get(section, {})
    _check_known_keys(section, body, where)
    values = {}
    for key, value in body.items():
        if isinstance(value, dict):
            raise where.error(section, key, f"must be a fixed value, got {value} (ranges and "
                              "choices are only for [hardware] and [training])")
        try:
            values[key] = SCHEMA[section][key].check(value)
        except ConfigError as exc:
            raise where.error(section, key, str(exc)) from None
    return values


def _params(raw: Mapping[str, Any], section: str, where: _Where) -> tuple[Param, ...]:
    """Every key of [hardware] or [training] as a Param, missing ones at their defaults."""
    body = dict(raw.get(section, {}))
    _check_known_keys(section, body, where)
    names = list(SCHEMA[section])
    if section == "training":
        hops = sorted((k for k in body if HOP_KEY.fullmatch(k)), key=lambda k: int(k[1:]))
        if not hops:  # no p_d given: TrainConfig's default profile
            default = TrainConfig.__dataclass_fields__["hop_profile"].default
            body |= {f"p{d}": p for d, p in enumerate(default) if d % 2 == 1}
            hops = [f"p{d}" for d in range(1, len(default), 2)]
        at = names.index("method") + 1
        names[at:at] = hops
        names.remove(_unused_prune_key(body, where))
    return tuple(_param(section, name, body.get(name, MISSING), where) for name in names)


def _unused_prune_key(body: Mapping[str, Any], where: _Where) -> str:
    """The pruning-threshold key [training] does not use: prune_min (an absolute count of a
    link's K weights) when given, else prune_min_fraction (of K; the default). Both: an error."""
    if all(key in body for key in PRUNE_KEYS):
        raise where.error("training", "prune_min_fraction", "and prune_min both set the pruning "
                          "threshold (keep one: prune_min_fraction scales with "
                          "neurons_per_tile, prune_min is a count of weights)")
    return "prune_min_fraction" if "prune_min" in body else "prune_min"


def _param(section: str, name: str, value: Any, where: _Where) -> Param:
    rule = key_rule(section, name)
    assert rule is not None  # names come from the schema
    if value is MISSING:
        if rule.default is MISSING:
            raise where.error(section, name, f"is required (add {name} = ... to [{section}])")
        value = rule.default
    try:
        return param_of_value(section, name, value, rule)
    except ConfigError as exc:
        raise where.error(section, name, str(exc)) from None



def _check_combinations(cfg: SearchConfig, where: _Where) -> None:
    """Rules between keys, checked at the extremes of every range and choice."""
    rows, cols, k = (cfg.param(n) for n in ("rows", "cols", "neurons_per_tile"))
    too_large = chip_size_problem(rows.largest, cols.largest, k.largest)
    if too_large is not None:  # before any table of that size is built
        raise where.error("hardware", *too_large)
    tiles, k_min = rows.smallest * cols.smallest, k.smallest
    if tiles * k_min < N_CLASSES:
        raise where.error("hardware", "neurons_per_tile", f"rows*cols*neurons_per_tile must be "
                          f">= {N_CLASSES} (one readout neuron per class), got {rows.smallest}*"
                          f"{cols.smallest}*{k_min} = {tiles * k_min} (enlarge the grid)")
    from model.data import validate_data_config

    try:
        validate_data_config(cfg.data)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (fix it in {where.source})") from None
    n_inputs = cfg.data.n_inputs
    if math.ceil(n_inputs / k_min) > tiles:
        raise where.error("data", "n_inputs", f"{n_inputs} inputs need ceil({n_inputs}/"
                          f"{k_min}) = {math.ceil(n_inputs / k_min)} input tiles but the "
                          f"smallest grid has {tiles} tiles (lower n_inputs or enlarge the grid)")
    prune_min = next((p.largest for p in cfg.params if p.name == "prune_min"), 0)
    if prune_min > k_min:
        raise where.error("training", "prune_min", f"must be <= neurons_per_tile (a link holds "
                          f"K weights), got prune_min={prune_min} with neurons_per_tile={k_min} "
                          "(lower prune_min, or set prune_min_fraction instead to scale with K)")
    _check_hop_distances(cfg, where)
    _check_early_stop(cfg, where)


def _check_early_stop(cfg: SearchConfig, where: _Where) -> None:
    """Early stopping compares the objectives known mid-run (max val_accuracy, min
    chip_memory_cells): the search must optimise both (a third, end-only one may be added)."""
    missing = [str(o) for o in MID_RUN_OBJECTIVES if o not in cfg.search.objective_list]
    if cfg.search.early_stop and missing:
        raise where.error("search", "early_stop", f"compares trials at rungs on "
                          f"{' and '.join(str(o) for o in MID_RUN_OBJECTIVES)}, but the "
                          f"objectives lack {', '.join(missing)} (add them to "
                          "[search].objectives or set early_stop = false)")


def chip_size_problem(rows: int, cols: int, neurons_per_tile: int) -> tuple[str, str] | None:
    """(key, why) when a chip is too large to route or train (MAX_TILES, MAX_NEURONS), or None."""
    tiles = rows * cols
    if tiles > MAX_TILES:
        return "rows", (f"rows*cols must be <= {MAX_TILES} tiles, got {rows}*{cols} = {tiles} "
                        "(shrink the grid)")
    if tiles * neurons_per_tile > MAX_NEURONS:
        return "neurons_per_tile", (
            f"rows*cols*neurons_per_tile must be <= {MAX_NEURONS} neurons, got {rows}*{cols}*"
            f"{neurons_per_tile} = {tiles * neurons_per_tile} (shrink the grid or the tiles)")
    return None


def _check_hop_distances(cfg: SearchConfig, where: _Where) -> None:
    rows, cols = cfg.param("rows").largest, cfg.param("cols").largest
    max_d = int(hop_distance_matrix(rows, cols).max())
    for p in cfg.params:
        if p.section == "training" and HOP_KEY.fullmatch(p.name) and int(p.name[1:]) > max_d \
                and p.largest > 0:
            raise where.error("training", p.name, f"is never used: the longest route on the "
                              f"largest grid ({rows}x{cols}) has {max_d} hops, got {p.name} up "
                              f"to {p.largest:g} (drop {p.name} or enlarge the grid)")


def resolve_defaults(cfg: SearchConfig) -> dict[str, Any]:
    """{name: value} of every parameter for `train`: fixed value, `default`, low or 1st choice."""
    return {p.name: p.resolved for p in cfg.params}


def build_trial(cfg: SearchConfig, params: Mapping[str, Any]) -> tuple[MosaicSpec, TrainConfig]:
    """The chip and training settings of one trial from its flat {name: value} parameters.

    params: every searched parameter (fixed ones default to the config's; keys that are no
    parameter are ignored). The hop profile (0, p1, 0, p3, ...) is cut at the trial grid's
    longest route, so p_d of distances a smaller grid lacks are dropped. prune_min_fraction
    becomes the trial's prune_min (a count of the trial's K weights). MosaicSpec raises
    SpecError for an invalid chip.
    """
    values = trial_values(cfg, params)
    spec = MosaicSpec(**{p.name: values[p.name] for p in cfg.params if p.section == "hardware"})
    training = {p.name: values[p.name] for p in cfg.params
                if p.section == "training" and not HOP_KEY.fullmatch(p.name)}
    if "prune_min_fraction" in training:
        training["prune_min"] = prune_min_of_fraction(training.pop("prune_min_fraction"),
                                                      spec.neurons_per_tile)
    return spec, TrainConfig(hop_profile=hop_profile(values, spec.rows, spec.cols), **training)


def resolved_toml(cfg: SearchConfig, params: Mapping[str, Any]) -> str:
    """The config with every range and choice fixed at one run's `params`, as TOML text (what
    a network file stores: `mosaic-dse train --config` runs it again)."""
    doc = cfg.to_dict()
    for p in cfg.params:
        value = params[p.name]
        doc[p.section][p.name] = list(value) if isinstance(value, tuple) else value
    return f"# mosaic-dse: the resolved config of one run\n{dump_toml(doc)}"


def trial_values(cfg: SearchConfig, params: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter's value for one trial: `params` (numpy scalars made plain) over fixed."""
    values, missing = {}, []
    for p in cfg.params:
        if p.name in params:
            values[p.name] = _plain(params[p.name], key_rule(p.section, p.name))
        elif p.kind == "fixed":
            values[p.name] = p.value
        else:
            missing.append(p.name)
    if missing:
        raise ConfigError(f"trial parameters lack {', '.join(missing)} (pass every searched "
                          f"parameter; got {', '.join(sorted(params)) or 'none'})")
    return values


def _plain(value: Any, rule: KeyRule | None) -> Any:
    """numpy scalars and arrays (as read back from Parquet) as Python ints, floats, tuples."""
    if rule is None or isinstance(value, bool | str):
        return value
    if rule.ports and not isinstance(value, numbers.Integral):
        return tuple(int(v) for v in value)
    if rule.type is int and isinstance(value, numbers.Integral):
        return int(value)
    if rule.type is float and isinstance(value, numbers.Real):
        return float(value)
    return value


def hop_profile(values: Mapping[str, Any], rows: int, cols: int) -> tuple[float, ...]:
    """(0, p1, 0, p3, ...) by hop distance from the p_d in `values`, cut at the longest route.

    Distances without a p_d key are 0; index 0 (intra-tile, dense, never routed) is 0.
    """
    given = {int(k[1:]): float(v) for k, v in values.items() if HOP_KEY.fullmatch(k)}
    depth = min(max(given, default=0), int(hop_distance_matrix(rows, cols).max())) + 1
    return tuple(given.get(d, 0.0) for d in range(depth))


def canonical_config(cfg: SearchConfig) -> dict[str, dict[str, Any]]:
    """`cfg.to_dict()` without the keys a resume may change (`RESUMABLE_KEYS`)."""
    doc = cfg.to_dict()
    for section, key in RESUMABLE_KEYS:
        doc[section].pop(key, None)
    return doc


def config_fingerprint(cfg: SearchConfig) -> str:
    """16 hex digits identifying what a search explores (not its budget, resources, place)."""
    text = json.dumps(canonical_config(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_differences(saved: SearchConfig, current: SearchConfig) -> tuple[str, ...]:
    """'[section].key: saved -> current' for every entry that differs, resumable keys excluded."""
    a, b = canonical_config(saved), canonical_config(current)
    out = []
    for section in SECTIONS:
        for key in dict.fromkeys([*a[section], *b[section]]):
            old, new = a[section].get(key, MISSING), b[section].get(key, MISSING)
            if old != new:
                out.append(f"[{section}].{key}: {_shown(old)} -> {_shown(new)}")
    return tuple(out)


def _shown(value: Any) -> str:
    return "(absent)" if value is MISSING else toml_value(value)


def describe_space(cfg: SearchConfig) -> str:
    """A table of every parameter (section, kind, domain, train default) plus a summary line."""
    rows = [("parameter", "section", "kind", "domain", "default")]
    rows += [(p.name, p.section, p.kind, domain_text(p), value_text(p.resolved))
             for p in cfg.params]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
             for r in rows]
    searched = sum(p.kind != "fixed" for p in cfg.params)
    size = grid_size(cfg.params)
    grid = f"a discrete grid of {size} points" if size is not None else "a continuous space"
    s = cfg.search
    lines.append(f"{searched} searched and {len(cfg.params) - searched} fixed parameters, "
                 f"{grid}; {s.trials} trials, sampler {s.sampler} (seed {s.seed}), "
                 f"{s.max_concurrent} concurrent")
    return "\n".join(line.rstrip() for line in lines)
