"""Non-dominated sorting and exact 2-D hypervolume: maximise accuracy, minimise memory.

Pure functions on numpy arrays (accuracy: float (n,) in [0, 1]; memory: float (n,) in cells;
NaN in either marks a trial that is not considered), plus thin DataFrame wrappers that pick the
objective columns and the considered trials. Point p dominates q iff acc_p >= acc_q and
mem_p <= mem_q with one strict; exact duplicates do not dominate each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.objectives import considered_mask
from analysis.schema import reference_metadata
from hardware.errors import ResultsError

MEMORY_COLUMNS = ("chip_memory_cells", "memory_cells")


def _valid(accuracy: np.ndarray, memory: np.ndarray) -> np.ndarray:
    """bool (n,): both objectives finite."""
    return np.isfinite(accuracy) & np.isfinite(memory)


def nondominated_mask(accuracy: np.ndarray, memory: np.ndarray) -> np.ndarray:
    """bool (n,): on the first front. O(n log n): sort by (memory asc, accuracy desc).

    A point is on the front iff its accuracy is the best of its memory value and strictly
    above every accuracy at strictly smaller memory.
    """
    accuracy = np.asarray(accuracy, dtype=float)
    memory = np.asarray(memory, dtype=float)
    mask = np.zeros(accuracy.shape, dtype=bool)
    idx = np.flatnonzero(_valid(accuracy, memory))
    if idx.size == 0:
        return mask
    order = idx[np.lexsort((-accuracy[idx], memory[idx]))]
    acc, mem = accuracy[order], memory[order]
    _, starts, group = np.unique(mem, return_index=True, return_inverse=True)
    best_in_group = acc[starts][group]
    prefix_max = np.maximum.accumulate(acc)
    before = np.concatenate(([-np.inf], prefix_max[starts[1:] - 1]))[group]
    mask[order] = (acc == best_in_group) & (acc > before)
    return mask


def nondominated_mask_reference(accuracy: np.ndarray, memory: np.ndarray) -> np.ndarray:
    """O(n^2) reference of `nondominated_mask` (pairwise dominance), for tests."""
    accuracy = np.asarray(accuracy, dtype=float)
    memory = np.asarray(memory, dtype=float)
    valid = _valid(accuracy, memory)
    mask = np.zeros(accuracy.shape, dtype=bool)
    for i in np.flatnonzero(valid):
        mask[i] = not any(
            accuracy[j] >= accuracy[i] and memory[j] <= memory[i]
            and (accuracy[j] > accuracy[i] or memory[j] < memory[i])
            for j in np.flatnonzero(valid))
    return mask


def front_ranks(accuracy: np.ndarray, memory: np.ndarray) -> np.ndarray:
    """int64 (n,): 0 = first front, 1 = front once it is removed, ...; -1 = not considered."""
    accuracy = np.asarray(accuracy, dtype=float)
    memory = np.asarray(memory, dtype=float)
    ranks = np.full(accuracy.shape, -1, dtype=np.int64)
    remaining = _valid(accuracy, memory)
    rank = 0
    while remaining.any():
        front = nondominated_mask(np.where(remaining, accuracy, np.nan), memory)
        ranks[front] = rank
        remaining &= ~front
        rank += 1
    return ranks


def default_reference(memory: np.ndarray) -> tuple[float, float] | None:
    """(accuracy 0, 1.1 x largest considered memory); None when no memory is finite."""
    memory = np.asarray(memory, dtype=float)
    finite = memory[np.isfinite(memory)]
    return (0.0, 1.1 * float(finite.max())) if finite.size else None


def hypervolume(accuracy: np.ndarray, memory: np.ndarray,
                reference: tuple[float, float]) -> float:
    """Exact 2-D hypervolume (accuracy x cells) dominated by the points, bounded by `reference`.

    reference = (acc_ref, mem_ref); only points with acc > acc_ref and mem < mem_ref count.
    With the front sorted by memory m_1 < ... < m_k (accuracy rising a_1 < ... < a_k):
    HV = sum_i (m_{i+1} - m_i) * (a_i - acc_ref), m_{k+1} = mem_ref.
    """
    acc_ref, mem_ref = reference
    accuracy = np.asarray(accuracy, dtype=float)
    memory = np.asarray(memory, dtype=float)
    inside = _valid(accuracy, memory) & (accuracy > acc_ref) & (memory < mem_ref)
    front = nondominated_mask(np.where(inside, accuracy, np.nan), memory)
    order = np.argsort(memory[front], kind="stable")
    acc, mem = accuracy[front][order], memory[front][order]
    widths = np.diff(np.append(mem, mem_ref))
    return float(np.sum(widths * (acc - acc_ref)))


def hypervolume_curve(accuracy: np.ndarray, memory: np.ndarray,
                      reference: tuple[float, float]) -> np.ndarray:
    """float64 (n,): entry k = hypervolume of trials 0..k (trial order), one fixed reference."""
    accuracy = np.asarray(accuracy, dtype=float)
    memory = np.asarray(memory, dtype=float)
    return np.array([hypervolume(accuracy[:k + 1], memory[:k + 1], reference)
                     for k in range(accuracy.size)])


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


@dataclass(frozen=True)
class ParetoFront:
    """The front of a trials table: rows sorted by memory, hypervolume and its reference.

    reference_point: (accuracy, memory cells), None when no trial is considered.
    """

    front: pd.DataFrame = field(compare=False, repr=False)
    hypervolume: float
    reference_point: tuple[float, float] | None
    accuracy_column: str
    memory_column: str
    n_considered: int


def pareto_front(trials: pd.DataFrame, memory_column: str = "chip_memory_cells",
                 reference: tuple[float, float] | None = None) -> ParetoFront:
    """Front, hypervolume and reference point (default: `default_reference`) of `trials`."""
    accuracy, memory = objectives(trials, memory_column)
    reference = reference or default_reference(memory)
    mask = nondominated_mask(accuracy, memory)
    front = trials[mask].assign(_m=memory[mask]).sort_values("_m", kind="stable")
    volume = hypervolume(accuracy, memory, reference) if reference else 0.0
    return ParetoFront(front.drop(columns="_m"), volume, reference, accuracy_column(trials),
                       memory_column, int(_valid(accuracy, memory).sum()))


def hypervolume_convergence(trials: pd.DataFrame, memory_column: str = "chip_memory_cells",
                            reference: tuple[float, float] | None = None) -> np.ndarray:
    """float64 (n,): hypervolume after each trial in file order (reference fixed by all)."""
    accuracy, memory = objectives(trials, memory_column)
    reference = reference or default_reference(memory)
    if reference is None:
        return np.zeros(len(trials))
    return hypervolume_curve(accuracy, memory, reference)


def front_metadata(trials: pa.Table) -> dict[str, str]:
    """File metadata with the default reference point and hypervolume of a results table
    (objectives val_accuracy and chip_memory_cells), read column-wise: O(n) in Arrow."""
    def column(name: str) -> np.ndarray:
        return trials.column(name).to_numpy(zero_copy_only=False).astype(float)

    keep = considered_mask(trials.column("status").to_pylist(),
                           trials.column("mappable").to_pylist())
    accuracy = np.where(keep, column("val_accuracy"), np.nan)
    memory = np.where(keep, column("chip_memory_cells"), np.nan)
    reference = default_reference(memory)
    volume = hypervolume(accuracy, memory, reference) if reference else 0.0
    return reference_metadata(reference, volume)


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
