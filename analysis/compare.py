"""The study's method comparison: best accuracy at equal weights, memory for iso-accuracy.

Per DESIGN.md 6 the comparison uses `memory_cells` (the smallest chip of the grid that hosts
each trained network), so every trained ("ok") trial counts whether or not it mapped on the
chip it was sampled with: a non-routing-aware network's extra routing memory is exactly what
the comparison measures. Accuracy is the search objective (`val_accuracy`, or `accuracy` where
the file has none); the test accuracy of the selected trial is shown beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.pareto import accuracy_column, objectives

REFERENCE_METHOD = "routing_aware"


def reference_method(methods: Sequence[str]) -> str:
    """The method others are compared with: routing_aware if present, else the first by name."""
    return REFERENCE_METHOD if REFERENCE_METHOD in methods else sorted(methods)[0]


def trained(trials: pd.DataFrame, memory_column: str = "memory_cells") -> pd.DataFrame:
    """Trials with status ok and finite accuracy and memory (mappable or not)."""
    accuracy, memory = objectives(trials, memory_column, require_mappable=False)
    return trials[np.isfinite(accuracy) & np.isfinite(memory)]


def weight_bins(n_weights: np.ndarray, max_bins: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(bin int (n,), bounds float (b, 2)) for weight counts n_weights (n,).

    At most `max_bins` distinct counts (matched budgets): one bin per exact count, bounds
    (v, v). Otherwise `max_bins` geometric bins from min to max, bounds [low, high).
    """
    values = np.asarray(n_weights, dtype=float)
    distinct = np.unique(values)
    if distinct.size <= max_bins:
        return np.searchsorted(distinct, values), np.column_stack([distinct, distinct])
    edges = np.geomspace(max(distinct[0], 1.0), distinct[-1], max_bins + 1)
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, max_bins - 1)
    return index, np.column_stack([edges[:-1], edges[1:]])


def accuracy_at_equal_weights(trials: pd.DataFrame, max_bins: int = 6) -> pd.DataFrame:
    """Best accuracy per method within each n_weights bin (see `weight_bins`).

    Columns: n_weights_low, n_weights_high, then per method m: `m` (best accuracy, the
    objective column), `m test` (test accuracy of that trial), `m trials` (count). Bins no
    method reached are left out; NaN where a method has no trial in a bin.
    """
    rows = trained(trials)
    if "n_weights" in rows:
        rows = rows[np.isfinite(pd.to_numeric(rows["n_weights"], errors="coerce"))]
    if rows.empty or "n_weights" not in rows:
        return pd.DataFrame(columns=["n_weights_low", "n_weights_high"])
    score = accuracy_column(trials)
    index, bounds = weight_bins(rows["n_weights"].to_numpy(dtype=float), max_bins)
    table = []
    for b in np.unique(index):
        entry: dict[str, float] = {"n_weights_low": bounds[b, 0], "n_weights_high": bounds[b, 1]}
        in_bin = rows[index == b]
        for method in sorted(rows["method"].unique()):
            entry |= _best_entry(in_bin[in_bin["method"] == method], method, score)
        table.append(entry)
    return pd.DataFrame(table)


def _best_entry(rows: pd.DataFrame, method: str, score: str) -> dict[str, float]:
    """{method: best score, 'method test': its test accuracy, 'method trials': count}."""
    if rows.empty:
        return {method: np.nan, f"{method} test": np.nan, f"{method} trials": 0}
    best = rows.loc[pd.to_numeric(rows[score]).idxmax()]
    test = best["accuracy"] if "accuracy" in rows else np.nan
    return {method: float(best[score]), f"{method} test": float(test),
            f"{method} trials": len(rows)}


def memory_to_reach(accuracy: np.ndarray, memory: np.ndarray, target: float) -> float:
    """Smallest memory among points with accuracy >= target (NaN if none reaches it)."""
    reached = np.asarray(memory, dtype=float)[np.asarray(accuracy, dtype=float) >= target]
    return float(reached.min()) if reached.size else np.nan


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator; NaN when either is NaN or the denominator is 0."""
    if not np.isfinite(numerator) or not np.isfinite(denominator) or denominator == 0:
        return np.nan
    return numerator / denominator


def iso_accuracy_memory(trials: pd.DataFrame,
                        memory_column: str = "memory_cells") -> pd.DataFrame:
    """Memory each method needs to reach each method's best accuracy, and ratios.

    One row per distinct best accuracy (highest first): `target` = that accuracy, `best of` =
    the method(s) whose best it is; then per method x: `x` = smallest memory (cells) of x's
    trials with accuracy >= target (NaN: never reached), and for x other than the reference
    method r, `x / r` = memory ratio (> 1: x needs more memory than r for the same accuracy).
    """
    rows = trained(trials, memory_column)
    if rows.empty:
        return pd.DataFrame(columns=["target", "best of"])
    score = accuracy_column(trials)
    methods = sorted(rows["method"].unique())
    ref = reference_method(methods)
    per_method = {m: (rows.loc[rows["method"] == m, score].to_numpy(dtype=float),
                      rows.loc[rows["method"] == m, memory_column].to_numpy(dtype=float))
                  for m in methods}
    owners: dict[float, list[str]] = {}
    for m, (acc, _) in per_method.items():
        owners.setdefault(float(acc.max()), []).append(m)
    table = []
    for target in sorted(owners, reverse=True):  # methods tied on their best share a row
        entry: dict[str, object] = {"target": target, "best of": ", ".join(owners[target])}
        for m in methods:
            entry[m] = memory_to_reach(*per_method[m], target)
        for m in methods:
            if m != ref:
                entry[f"{m} / {ref}"] = _ratio(entry[m], entry[ref])
        table.append(entry)
    return pd.DataFrame(table)
