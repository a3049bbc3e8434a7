"""The search objectives and the feasibility rule, each defined once (no torch, no ray).

An objective is a numeric results column and a direction (`max val_accuracy`). The searcher,
the trainable's reports, early stopping, the store's running front and analysis all read the
objectives from here; a search's own objectives ([search].objectives) are stored in its Parquet
metadata (OBJECTIVES_KEY) so analysis reads them from the files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.schema import OBJECTIVE_COLUMNS
from hardware.errors import ConfigError, ResultsError

DIRECTIONS = ("max", "min")
OBJECTIVES_KEY = "mosaic_dse.objectives"
MIN_OBJECTIVES, MAX_OBJECTIVES = 2, 3


@dataclass(frozen=True)
class Objective:
    """One search objective: a numeric results column and whether larger (max) is better."""

    name: str
    direction: str

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ConfigError(f"objective {self.name!r}: direction must be max or min, got "
                              f"{self.direction!r} (write e.g. 'min {self.name}')")

    @classmethod
    def parse(cls, text: str) -> Objective:
        """'max val_accuracy' -> Objective('val_accuracy', 'max'); ConfigError when malformed."""
        parts = str(text).split()
        if len(parts) != 2 or parts[0] not in DIRECTIONS:
            raise ConfigError(f"objective {text!r} must be 'max COLUMN' or 'min COLUMN' (e.g. "
                              "'min energy_pj_per_sample')")
        return cls(parts[1], parts[0])

    @property
    def maximise(self) -> bool:
        """True when larger values are better."""
        return self.direction == "max"

    def minimised(self, values: np.ndarray) -> np.ndarray:
        """float (n,): `values` turned so that smaller is better (max objectives negated)."""
        values = np.asarray(values, dtype=float)
        return -values if self.maximise else values

    def worst(self) -> float:
        """The value told to the sampler for a trial that has none (infeasible, never trained):
        0 for a max objective (accuracies), +inf for a min objective."""
        return 0.0 if self.maximise else math.inf

    def __str__(self) -> str:
        return f"{self.direction} {self.name}"


Objectives = tuple[Objective, ...]
# What a running trial reports after every epoch: all early stopping can compare mid-run.
MID_RUN_OBJECTIVES: Objectives = (Objective("val_accuracy", "max"),
                                  Objective("chip_memory_cells", "min"))
DEFAULT_OBJECTIVES: Objectives = MID_RUN_OBJECTIVES
DEFAULT_TEXT: tuple[str, ...] = tuple(str(o) for o in DEFAULT_OBJECTIVES)


def parse_objectives(texts: Sequence[str]) -> Objectives:
    """[search].objectives as Objectives: 2 or 3 'max|min COLUMN' entries over distinct numeric
    result columns; ConfigError (one line) naming what is wrong."""
    if isinstance(texts, str) or not MIN_OBJECTIVES <= len(texts) <= MAX_OBJECTIVES:
        raise ConfigError(f"takes {MIN_OBJECTIVES} or {MAX_OBJECTIVES} objectives like "
                          f"['max val_accuracy', 'min chip_memory_cells'], got {texts!r}")
    objectives = tuple(Objective.parse(t) for t in texts)
    for o in objectives:
        if o.name not in OBJECTIVE_COLUMNS:
            close = [c for c in OBJECTIVE_COLUMNS if o.name in c or c in o.name][:1]
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(f"objective {str(o)!r}: {o.name!r} is not a numeric result "
                              f"column ({hint}one of {', '.join(OBJECTIVE_COLUMNS)})")
    names = [o.name for o in objectives]
    if len(set(names)) < len(names):
        raise ConfigError(f"objectives name a column twice, got {list(texts)!r} (give each "
                          "column once)")
    return objectives


def check_objectives(texts: Any) -> str | None:
    """Why `texts` is not a valid [search].objectives value, or None (for the config schema)."""
    try:
        parse_objectives(texts)
    except ConfigError as exc:
        return str(exc)
    return None


def objectives_metadata(objectives: Objectives) -> dict[str, str]:
    """{OBJECTIVES_KEY: JSON list like ["max val_accuracy", ...]} for a Parquet file."""
    return {OBJECTIVES_KEY: json.dumps([str(o) for o in objectives])}


def read_objectives(metadata: Mapping[bytes, bytes] | None) -> Objectives:
    """The objectives stored in a Parquet file's metadata (DEFAULT_OBJECTIVES when absent:
    files written before objectives were configurable)."""
    raw = (metadata or {}).get(OBJECTIVES_KEY.encode())
    if raw is None:
        return DEFAULT_OBJECTIVES
    try:
        return parse_objectives(json.loads(raw))
    except (ValueError, ConfigError) as exc:
        raise ResultsError(f"the file's {OBJECTIVES_KEY} metadata is not valid: {exc} (was it "
                           "written by mosaic-dse?)") from None


def is_considered(status: object, mappable: object) -> bool:
    """The feasibility rule: a trial counts for the front iff it trained (status ok) and its
    network maps on its chip."""
    return status == "ok" and _is_true(mappable)


def considered_mask(status: Sequence[object], mappable: Sequence[object],
                    require_mappable: bool = True) -> np.ndarray:
    """bool (n,): `is_considered` per row (only status ok when `require_mappable` is False:
    memory_cells, the smallest chip hosting the network, counts every trained trial)."""
    if not require_mappable:
        return np.asarray([s == "ok" for s in status], dtype=bool)
    return np.asarray([is_considered(s, m) for s, m in zip(status, mappable, strict=True)],
                      dtype=bool)


def _is_true(value: object) -> bool:
    """True for True/1 (numpy too); False for False, None, NaN and pandas' NA."""
    return value is not None and value is not pd.NA and value == value and bool(value)
