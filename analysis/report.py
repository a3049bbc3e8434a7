"""Text and Markdown views of a search: the front table, and report.md with its figures."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import compare, plots
from analysis.io import Results, atomic_write_text, load_results
from analysis.objectives import DEFAULT_OBJECTIVES, Objectives
from analysis.pareto import (
    ParetoFront,
    accuracy_column,
    best_under_budgets,
    pareto_front,
    search_objectives,
)
from analysis.schema import STATUSES, parameter_columns

ACCURACY_COLUMNS = {"accuracy", "val_accuracy", "train_accuracy", "target"}
MAX_KEY_PARAMETERS = 8
FIGURES = {"front": "front.png", "method_front": "front_memory_cells.png",
           "hypervolume": "hypervolume.png", "hop_profile": "hop_profile.png"}


def key_parameters(trials: pd.DataFrame, limit: int = MAX_KEY_PARAMETERS) -> list[str]:
    """Scalar parameter columns that vary across trials (at most `limit`, config order)."""
    keys = []
    for name in parameter_columns(trials.columns):
        values = trials[name].dropna()
        if len(values) and not isinstance(values.iloc[0], list | np.ndarray) \
                and values.nunique() > 1:
            keys.append(name)
    return keys[:limit]


def cell(value: object, column: str = "", missing: str = "-", grouped: bool = False) -> str:
    """One table cell: accuracies 3 decimals, ratios 'x', integers exact (with thousands
    separators if `grouped`), other floats 4 significant digits."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return missing
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return _integer(int(value), grouped)
    if isinstance(value, numbers.Real):
        number = float(value)
        if column in ACCURACY_COLUMNS or column.endswith(" test"):
            return f"{number:.3f}"
        if " / " in column:
            return f"{number:.2f}x"
        if number.is_integer() and abs(number) < 1e15:
            return _integer(int(number), grouped)
        return f"{number:.4g}"
    if isinstance(value, list | tuple | np.ndarray):
        return "[" + ", ".join(f"{float(v):.2f}" for v in value) + "]"
    return str(value)


def _integer(value: int, grouped: bool) -> str:
    return f"{value:,}" if grouped else str(value)


def text_table(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """Fixed-width table (two spaces between columns) for the terminal."""
    rows = [[cell(v, c) for c, v in zip(columns, row, strict=True)]
            for row in frame[list(columns)].itertuples(index=False)]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(frame: pd.DataFrame, columns: Sequence[str],
                   headers: Sequence[str] | None = None) -> str:
    """GitHub Markdown table of `columns` of `frame` (missing values as an em dash)."""
    headers = list(headers or columns)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in frame[list(columns)].itertuples(index=False):
        lines.append("| " + " | ".join(cell(v, c, "—", grouped=True) for c, v in
                                       zip(columns, row, strict=True)) + " |")
    return "\n".join(lines)


def front_columns(trials: pd.DataFrame, memory_column: str = "chip_memory_cells",
                  objectives: Objectives | None = None) -> list[str]:
    """trial_id, method, the objective accuracy, test accuracy, memory and any further
    objectives, key parameters."""
    names = [o.name for o in search_objectives(trials, objectives, memory_column)]
    score = accuracy_column(trials)
    columns = ["trial_id", "method", score]
    columns += ["accuracy"] if score != "accuracy" and "accuracy" in trials else []
    columns += [n for n in names if n not in columns]
    return columns + [p for p in key_parameters(trials) if p not in columns]


def _unit(name: str) -> str:
    """The unit word of an objective column in hypervolume lines."""
    if name in ACCURACY_COLUMNS or name.endswith("accuracy") or name == "accuracy_first_copy":
        return "accuracy"
    if name.endswith("_cells"):
        return "cells"
    return "pJ" if name.startswith("energy") else name


def reference_text(names: Sequence[str], point: Sequence[float]) -> str:
    """'(accuracy 0, memory 440 cells, energy 3.3 pJ)': a reference point in words."""
    parts = []
    for name, value in zip(names, point, strict=True):
        unit = _unit(name)
        if unit == "accuracy":
            parts.append(f"accuracy {value:g}")
        elif unit == "cells":
            parts.append(f"{'memory' if 'memory' in name else name} {value:.6g} cells")
        elif unit == "pJ":
            parts.append(f"energy {value:.6g} pJ")
        else:
            parts.append(f"{name} {value:.6g}")
    return "(" + ", ".join(parts) + ")"


def hypervolume_line(front: ParetoFront) -> str:
    """'hypervolume: ... (accuracy x cells), reference point (accuracy 0, memory ... cells)'."""
    if front.reference_point is None:
        return "hypervolume: 0 (no feasible trial)"
    names = [o.name for o in front.objectives]
    return (f"hypervolume: {front.hypervolume:.6g} ({' x '.join(_unit(n) for n in names)}), "
            f"reference point {reference_text(names, front.reference_point)}")


def front_text(trials: pd.DataFrame, memory_column: str = "chip_memory_cells",
               reference: tuple[float, ...] | None = None,
               objectives: Objectives | None = None) -> str:
    """The `pareto` command's table: the front (by memory) and the hypervolume line
    (reference: one value per objective; default `default_reference_of`)."""
    front = pareto_front(trials, memory_column, reference, objectives)
    if front.front.empty:
        return (f"no feasible trial among {len(trials)} trials (none is ok"
                f"{' and mappable' if memory_column == 'chip_memory_cells' else ''}): "
                "the front is empty")
    header = (f"Pareto front: {len(front.front)} of {len(trials)} trials ({front.n_considered} "
              f"considered); {', '.join(map(str, front.objectives))}")
    columns = front_columns(trials, memory_column, objectives)
    return "\n".join([header, text_table(front.front, columns), hypervolume_line(front)])


def write_report(path: Path, out: Path | None = None) -> Path:
    """Write report.md and its PNG figures to `out` (default: the results directory)."""
    results = load_results(path)
    out = Path(out) if out is not None else results.directory
    out.mkdir(parents=True, exist_ok=True)
    trials, objectives = results.trials, results.objectives
    if objectives == DEFAULT_OBJECTIVES:
        plots.save_png(plots.front_figure(trials), out / FIGURES["front"])
    else:  # pairwise projections of the search's objectives
        plots.save_png(plots.projections_figure(trials, objectives), out / FIGURES["front"])
    plots.save_png(plots.front_figure(trials, "memory_cells", _method_title(trials)),
                   out / FIGURES["method_front"])
    plots.save_png(plots.hypervolume_figure(trials, objectives=objectives),
                   out / FIGURES["hypervolume"])
    plots.save_png(plots.hop_profile_figure(trials), out / FIGURES["hop_profile"])
    report = out / "report.md"
    atomic_write_text(report, report_markdown(results))
    return report


def _method_title(trials: pd.DataFrame) -> str:
    return (f"Method comparison: accuracy vs memory of the trained network\n"
            f"{len(compare.trained(trials))} trained trials (mappable on their chip or not)")


def report_markdown(results: Results) -> str:
    """The whole report.md text (figures referenced by the names in FIGURES)."""
    trials = results.trials
    sections = [f"# mosaic-dse search report\n\nResults: `{results.directory}`",
                summary_section(results), front_section(trials, results.objectives),
                budget_section(trials),
                comparison_section(trials), _figure_section(), _provenance(results)]
    return "\n\n".join(sections) + "\n"


def summary_section(results: Results) -> str:
    """Trials by status and by method."""
    trials = results.trials
    counts = pd.crosstab(trials["method"].astype(str), trials["status"].astype(str))
    # `stopped` (early stopping) only in searches that have it
    statuses = [s for s in STATUSES if s != "stopped" or s in counts.columns]
    statuses += [s for s in counts.columns if s not in statuses]
    counts = counts.reindex(columns=statuses, fill_value=0).reset_index()
    counts["total"] = counts[statuses].sum(axis=1)
    mappable = trials["mappable"].astype(bool) & (trials["status"] == "ok")
    lines = ["## Search summary", "",
             f"{len(trials)} trials: " + ", ".join(f"{int((trials['status'] == s).sum())} {s}"
                                                   for s in statuses) +
             f"; {int(mappable.sum())} trained networks map on their chip.", "",
             markdown_table(counts, ["method", *statuses, "total"])]
    return "\n".join(lines)


def front_section(trials: pd.DataFrame, objectives: Objectives = DEFAULT_OBJECTIVES) -> str:
    """The front on the search objectives, its hypervolume and the figures."""
    front = pareto_front(trials, objectives=objectives)
    words = ", ".join(f"{'maximise' if o.maximise else 'minimise'} `{o.name}`"
                      for o in front.objectives)
    lines = ["## Pareto front", "",
             f"Objectives: {words}; only trials trained and mappable on their chip count. "
             "Test accuracy is shown beside, never used for selection.", "",
             f"![the front on the objectives]({FIGURES['front']})", ""]
    if front.front.empty:
        lines.append("No feasible trial: the front is empty.")
    else:
        columns = front_columns(trials, objectives=objectives)
        lines += [markdown_table(front.front, columns), "",
                  hypervolume_line(front) + ".", "",
                  f"![hypervolume convergence]({FIGURES['hypervolume']})"]
    return "\n".join(lines)


def budget_section(trials: pd.DataFrame) -> str:
    """The most accurate feasible configuration within each memory budget."""
    best = best_under_budgets(trials)
    best = best[~best["trial_id"].duplicated()]  # a larger budget with the same best adds nothing
    lines = ["## Best configuration per memory budget", "",
             "The most accurate feasible trial within each chip-memory budget (a budget "
             "whose best is the one above it is left out).", ""]
    if best.empty:
        return "\n".join([*lines, "No feasible trial."])
    best = best.assign(budget=[f"≤ {int(b):,}" for b in best["budget"]])
    columns = ["budget", *front_columns(trials, "chip_memory_cells")]
    return "\n".join([*lines, markdown_table(best, columns, ["budget (cells)", *columns[1:]])])


def comparison_section(trials: pd.DataFrame) -> str:
    """Best accuracy at equal weights, and memory_cells needed for iso-accuracy, per method."""
    score = accuracy_column(trials)
    lines = ["## Method comparison", "",
             "Every trained trial counts, mappable on its sampled chip or not: memory is "
             "`memory_cells`, the smallest chip of the grid that hosts the trained network, so "
             "a method's routing cost is what is compared.", "",
             f"![method comparison]({FIGURES['method_front']})", "",
             f"### Best `{score}` at equal number of weights", ""]
    equal = compare.accuracy_at_equal_weights(trials)
    if equal.empty:
        lines.append("No trained trial with a weight count.")
    else:
        methods = [c for c in equal.columns if c not in ("n_weights_low", "n_weights_high")
                   and not c.endswith((" test", " trials"))]
        equal = equal.assign(n_weights=[_bin_label(lo, hi) for lo, hi in
                                        zip(equal["n_weights_low"], equal["n_weights_high"],
                                            strict=True)])
        for m in methods:
            equal[m] = [_score_cell(*v) for v in
                        zip(equal[m], equal[f"{m} test"], equal[f"{m} trials"], strict=True)]
        lines += [markdown_table(equal, ["n_weights", *methods]), "",
                  "Cells: best objective accuracy (test accuracy of that trial; trials)."]
    lines += ["", "### Memory for iso-accuracy", "", _iso_text(trials)]
    return "\n".join(lines)


def _bin_label(low: float, high: float) -> str:
    return f"{int(low):,}" if low == high else f"{int(low):,} – {int(high):,}"


def _score_cell(best: float, test: float, count: int) -> str:
    if not np.isfinite(best):
        return "—"
    return f"{best:.3f} (test {cell(test, 'accuracy')}; {int(count)})"


def _iso_text(trials: pd.DataFrame) -> str:
    iso = compare.iso_accuracy_memory(trials)
    if iso.empty:
        return "No trained trial."
    methods = sorted(compare.trained(trials)["method"].unique())
    ratios = [c for c in iso.columns if " / " in c]
    ref = compare.reference_method(methods)
    return "\n".join([
        f"Smallest `memory_cells` (cells) at which each method reaches each method's best "
        f"accuracy (— : never reached); ratios are memory relative to `{ref}` "
        "(> 1: more memory for the same accuracy).", "",
        markdown_table(iso, ["target", "best of", *methods, *ratios])])


def _figure_section() -> str:
    return "\n".join(["## Hop profile", "",
                      f"![accuracy vs hop profile]({FIGURES['hop_profile']})"])


def _provenance(results: Results) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in sorted(results.versions.items()))
    lines = ["## Provenance", "", f"Package versions: {versions or 'not recorded'}."]
    if results.config_text:
        lines += ["", "<details><summary>Resolved config</summary>", "", "```toml",
                  results.config_text.rstrip(), "```", "", "</details>"]
    return "\n".join(lines)
