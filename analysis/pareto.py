"""The Pareto front of a trials table: DataFrame wrappers over `analysis.front`.

They pick the objective columns (the search's objectives, stored in the file; default max
val_accuracy, min chip_memory_cells) and the considered trials (`analysis.objectives`), and
give the front, its exact hypervolume and the reference point. The 2-D core (accuracy, memory)
is re-exported from `analysis.front` for the accuracy-vs-memory views.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.front import (
    _valid,
    default_reference,
    default_reference_of,
    front_order,
    front_ranks,
    hypervolume,
    hypervolume_curve,
    hypervolume_curve_of,
    hypervolume_of,
    nondominated,
    nondominated_mask,
    nondominated_mask_reference,
    valid_rows,
)
from analysis.objectives import DEFAULT_OBJECTIVES, Objective, Objectives, considered_mask
from analysis.schema import reference_metadata
from hardware.errors import ResultsError

__all__ = ["default_reference", "front_ranks", "hypervolume", "hypervolume_curve",
           "nondominated_mask", "nondominated_mask_reference"]

MEMORY_COLUMNS = ("chip_memory_cells", "memory_cells")


# ---- DataFrame wrappers -------------------------------------------------------------------

def accuracy_column(trials: pd.DataFrame) -> str:
    """`val_accuracy` (the search objective), or `accuracy` (test) if the file has no
    validation column, or only nulls there while test accuracies exist."""
    has_test = "accuracy" in trials and trials["accuracy"].notna().any()
    if "val_accuracy" in trials and (trials["val_accuracy"].notna().any() or not has_test):
        return "val_accuracy"
    return "accuracy" if "accuracy" in trials else "val_accuracy"


def requires_mappable(memory_column: str) -> bool:
    """chip_memory_cells counts only trials that map on their chip; memory_cells is the
    smallest chip hosting the trained network, so every trained trial counts there."""
    return memory_column != "memory_cells"


def _numeric(trials: pd.DataFrame, column: str) -> np.ndarray:
    if column not in trials:
        return np.full(len(trials), np.nan)
    return pd.to_numeric(trials[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def objectives(trials: pd.DataFrame, memory_column: str = "chip_memory_cells",
               require_mappable: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(accuracy, memory) float (n,), NaN where a trial is not considered.

    ResultsError if the table has no such memory column or no accuracy column at all.
    """
    for column in (memory_column, accuracy_column(trials)):
        if column not in trials:
            raise ResultsError(f"the trials table has no {column!r} column (columns: "
                               f"{', '.join(map(str, trials.columns))}); choose another "
                               "objective or check the file")
    if require_mappable is None:
        require_mappable = requires_mappable(memory_column)
    keep = considered_mask(trials["status"], trials["mappable"], require_mappable)
    accuracy = np.where(keep, _numeric(trials, accuracy_column(trials)), np.nan)
    return accuracy, np.where(keep, _numeric(trials, memory_column), np.nan)


def search_objectives(trials: pd.DataFrame, objectives: Objectives | None = None,
                      memory_column: str = "chip_memory_cells") -> Objectives:
    """The objectives to analyse `trials` on: `objectives` (default DEFAULT_OBJECTIVES) with
    val_accuracy read as `accuracy_column(trials)` (test accuracy in files without validation
    accuracy) and chip_memory_cells as `memory_column` (`pareto --objective-x`)."""
    swap = {"val_accuracy": accuracy_column(trials), "chip_memory_cells": memory_column}
    return tuple(Objective(swap.get(o.name, o.name), o.direction)
                 for o in (objectives or DEFAULT_OBJECTIVES))


def objective_values(trials: pd.DataFrame, objectives: Objectives,
                     require_mappable: bool = True) -> np.ndarray:
    """float (n, k): the objectives' columns, NaN where a trial is not considered.

    ResultsError if the table lacks an objective's column."""
    for o in objectives:
        if o.name not in trials:
            raise ResultsError(f"the trials table has no {o.name!r} column (columns: "
                               f"{', '.join(map(str, trials.columns))}); choose another "
                               "objective or check the file")
    keep = considered_mask(trials["status"], trials["mappable"], require_mappable)
    columns = [np.where(keep, _numeric(trials, o.name), np.nan) for o in objectives]
    return np.column_stack(columns) if columns else np.zeros((len(trials), 0))


@dataclass(frozen=True)
class ParetoFront:
    """The front of a trials table: rows in `front_order`, hypervolume and its reference.

    reference_point: one value per objective, None when no trial is considered.
    """

    front: pd.DataFrame = field(compare=False, repr=False)
    hypervolume: float
    reference_point: tuple[float, ...] | None
    objectives: Objectives
    n_considered: int

    @property
    def accuracy_column(self) -> str:
        """The first maximised objective's column (val_accuracy by default)."""
        return next((o.name for o in self.objectives if o.maximise), self.objectives[0].name)

    @property
    def memory_column(self) -> str:
        """The first minimised objective's column (chip_memory_cells by default)."""
        return next((o.name for o in self.objectives if not o.maximise),
                    self.objectives[-1].name)


def pareto_front(trials: pd.DataFrame, memory_column: str = "chip_memory_cells",
                 reference: tuple[float, ...] | None = None,
                 objectives: Objectives | None = None) -> ParetoFront:
    """Front, hypervolume and reference point (default: `default_reference_of`) of `trials`
    on `search_objectives(trials, objectives, memory_column)`."""
    chosen = search_objectives(trials, objectives, memory_column)
    values = objective_values(trials, chosen, requires_mappable(memory_column))
    if reference is not None and len(reference) != len(chosen):
        raise ResultsError(f"the reference point needs {len(chosen)} values (one per "
                           f"objective: {', '.join(map(str, chosen))}), got {len(reference)}")
    reference = tuple(reference) if reference else default_reference_of(values, chosen)
    mask = nondominated(values, chosen)
    index = np.flatnonzero(mask)[front_order(values[mask], chosen)]
    volume = hypervolume_of(values, chosen, reference) if reference else 0.0
    return ParetoFront(trials.iloc[index], volume, reference, chosen,
                       int(valid_rows(values).sum()))


def hypervolume_convergence(trials: pd.DataFrame, memory_column: str = "chip_memory_cells",
                            reference: tuple[float, ...] | None = None,
                            objectives: Objectives | None = None) -> np.ndarray:
    """float64 (n,): hypervolume after each trial in file order (reference fixed by all)."""
    chosen = search_objectives(trials, objectives, memory_column)
    values = objective_values(trials, chosen, requires_mappable(memory_column))
    reference = reference or default_reference_of(values, chosen)
    if reference is None:
        return np.zeros(len(trials))
    return hypervolume_curve_of(values, chosen, reference)


def table_values(trials: pa.Table, objectives: Objectives) -> np.ndarray:
    """float (n, k): the objectives of a results table's considered rows (NaN elsewhere),
    read column-wise: O(n) in Arrow."""
    keep = considered_mask(trials.column("status").to_pylist(),
                           trials.column("mappable").to_pylist())
    columns = [np.where(keep, trials.column(o.name).to_numpy(zero_copy_only=False)
                        .astype(float), np.nan) for o in objectives]
    return np.column_stack(columns)


def front_metadata(trials: pa.Table,
                   objectives: Objectives = DEFAULT_OBJECTIVES) -> dict[str, str]:
    """File metadata with the default reference point and hypervolume of a results table on
    `objectives`."""
    values = table_values(trials, objectives)
    reference = default_reference_of(values, objectives)
    volume = hypervolume_of(values, objectives, reference) if reference else 0.0
    return reference_metadata(reference, volume, objectives)


def best_under_budgets(trials: pd.DataFrame, budgets: Sequence[float] | None = None,
                       memory_column: str = "chip_memory_cells") -> pd.DataFrame:
    """Per memory budget (cells), the most accurate considered trial within it.

    Ties in accuracy go to the smaller memory. Default budgets: 1-2-5 steps spanning the
    considered memories. Budgets no trial fits are left out. Adds a `budget` column.
    """
    accuracy, memory = objectives(trials, memory_column)
    valid = _valid(accuracy, memory)
    if not valid.any():
        return trials.iloc[:0].assign(budget=pd.Series(dtype=float))
    budgets = nice_budgets(memory[valid]) if budgets is None else budgets
    rows = []
    for budget in budgets:
        fits = np.flatnonzero(valid & (memory <= budget))
        if fits.size:
            best = fits[np.lexsort((memory[fits], -accuracy[fits]))[0]]
            rows.append(trials.iloc[[best]].assign(budget=float(budget)))
    return pd.concat(rows) if rows else trials.iloc[:0].assign(budget=pd.Series(dtype=float))


def nice_budgets(memory: np.ndarray) -> list[float]:
    """1-2-5 x 10^k values from the smallest memory up to the first one >= the largest."""
    low, high = float(np.min(memory)), float(np.max(memory))
    budgets: list[float] = []
    exponent = int(np.floor(np.log10(max(low, 1.0))))
    while not budgets or budgets[-1] < high:
        for step in (1, 2, 5):
            value = step * 10.0 ** exponent
            if value >= low and (not budgets or budgets[-1] < high):
                budgets.append(value)
        exponent += 1
    return budgets
