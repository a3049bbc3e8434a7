"""The one record type of a results row, with a constructor per way a trial ends.

Every row of trials.parquet is a `TrialRecord` turned into a flat dict (`to_row`): trained and
routed (`ok`), rejected by the proxy (`infeasible`), stopped early at a rung (`stopped`), failed
(`failed`: training error, divergence, bad parameters, a crashed worker), or read back from a
stored row (`from_row`). Its fields are the fixed columns of `analysis.schema` (a test ties
them), so a new column is a field here plus its Column there. Pure Python: the driver's
callbacks import it without the training stack.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from analysis.objectives import DEFAULT_OBJECTIVES, Objectives, is_considered
from analysis.schema import FIXED_COLUMNS, STORE_COLUMNS


@dataclass(frozen=True)
class TrialRecord:
    """Everything a finished trial reports; `params` are the sampled/fixed config values."""

    status: str  # analysis.schema.STATUSES
    method: str
    chip_memory_cells: int
    proxy_memory_cells: int | None
    params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    accuracy: float | None = None
    accuracy_first_copy: float | None = None
    val_accuracy: float | None = None
    train_accuracy: float | None = None
    memory_cells: int | None = None
    proxy_error: float | None = None
    chip_utilisation: float | None = None
    usage_fraction: float | None = None
    synapse_cells: int | None = None
    mappable: bool = False
    violations: int | None = None
    n_links: int | None = None
    n_weights: int | None = None
    hop_profile: tuple[float, ...] = ()
    energy_pj_per_sample: float | None = None
    train_seconds: float | None = None
    resumed_from_epoch: int | None = None
    seed: int = 0
    trial_id: str | None = None  # set by whoever stores the row (Ray's id, infeasible-NNNNN)

    def __post_init__(self) -> None:
        # a parameter named like a fixed column (method, seed) is that column: one value each
        if any(name in FIXED_COLUMNS for name in self.params):
            object.__setattr__(self, "params", {k: v for k, v in self.params.items()
                                                if k not in FIXED_COLUMNS})

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def ok(cls, **values: Any) -> TrialRecord:
        """A trained and exactly routed trial (mappable or not)."""
        return cls(status="ok", **values)

    @classmethod
    def infeasible(cls, error: str, violations: int, **values: Any) -> TrialRecord:
        """A configuration the proxy predicts does not fit its chip: never trained."""
        return cls(status="infeasible", error=error, violations=violations, **values)

    @classmethod
    def failed(cls, error: str, params: Mapping[str, Any], **values: Any) -> TrialRecord:
        """A trial that failed (bad parameters, training error, divergence, a worker that
        crashed too often): method and seed from `params` unless given."""
        values = {"method": str(params.get("method", "")), "chip_memory_cells": 0,
                  "proxy_memory_cells": 0, "seed": int(params.get("seed", 0))} | values
        return cls(status="error", error=error, params=dict(params), **values)

    @classmethod
    def stopped(cls, params: Mapping[str, Any], report: Mapping[str, Any],
                trial_id: str | None = None) -> TrialRecord:
        """A trial early stopping ended at a rung, from its last per-epoch report (epoch,
        epochs, val_accuracy, chip_memory_cells, n_links, time_total_s)."""
        return cls(
            status="stopped", method=str(params.get("method", "")), params=dict(params),
            error=f"early stop after epoch {report['epoch']} of {report['epochs']}: a trial on "
                  "a chip with no more memory had a higher val_accuracy there",
            val_accuracy=float(report["val_accuracy"]),
            chip_memory_cells=int(report["chip_memory_cells"]), proxy_memory_cells=None,
            n_links=int(report["n_links"]),
            train_seconds=float(report.get("time_total_s") or 0.0) or None,
            seed=int(params.get("seed", 0)), trial_id=trial_id)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TrialRecord:
        """The record of a stored (or JSON) row: fixed columns to fields, the rest params."""
        names = {f.name for f in fields(cls)} - {"params"}
        values = {k: row[k] for k in names if k in row}
        values["hop_profile"] = tuple(float(p) for p in (row.get("hop_profile") or ()))
        params = {k: v for k, v in row.items() if k not in FIXED_COLUMNS}
        values["mappable"] = bool(values.get("mappable") or False)
        values["seed"] = int(values.get("seed") or 0)
        return cls(params=params, **{k: v for k, v in values.items() if k not in STORE_COLUMNS})

    # -- views --------------------------------------------------------------------------------

    @property
    def considered(self) -> bool:
        """The feasibility rule (analysis.objectives.is_considered): ok and mappable."""
        return is_considered(self.status, self.mappable)

    @property
    def constraint(self) -> float:
        """Optuna constraint (feasible iff <= 0): violations on the chip, proxy or exact.

        A stopped trial was dominated at a rung, not infeasible: 0."""
        if self.considered or self.status == "stopped":
            return 0.0
        return float(self.violations or 1)

    def objective_values(self, objectives: Objectives = DEFAULT_OBJECTIVES) -> list[float]:
        """The values told to the sampler, in `objectives` order: NaN for a failed trial (Optuna
        marks it FAIL); a missing value (never trained) is the objective's worst, so
        infeasible trials are dominated as well as constrained."""
        if self.status == "error":
            return [math.nan] * len(objectives)
        out = []
        for objective in objectives:
            value = getattr(self, objective.name)
            out.append(objective.worst() if value is None else float(value))
        return out

    def to_row(self) -> dict[str, Any]:
        """Flat dict: parameters then fields (the Parquet row, without on_front/finished_at;
        trial_id only when set)."""
        row = {**self.params, **{k: v for k, v in asdict(self).items() if k != "params"}}
        row["hop_profile"] = list(self.hop_profile)
        if row["trial_id"] is None:
            del row["trial_id"]
        return row
