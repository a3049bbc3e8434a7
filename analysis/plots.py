"""Paper-ready PNG figures of a search (matplotlib's Agg canvas; pyplot's global state unused).

Figures are built by pure functions returning a `Figure`; `save_png` writes one atomically.
Methods keep one colour across every figure (tab10 by sorted method name).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from analysis.front import default_reference_of, hypervolume_curve_of, nondominated
from analysis.io import atomic_write_bytes
from analysis.objectives import Objectives
from analysis.pareto import (
    accuracy_column,
    nondominated_mask,
    objective_values,
    objectives,
    requires_mappable,
    search_objectives,
)

DPI = 150
GREY = "#9a9a9a"
MEMORY_LABELS = {"chip_memory_cells": "chip memory (cells)",
                 "memory_cells": "network memory: smallest hosting chip (cells)"}
ACCURACY_LABELS = {"val_accuracy": "validation accuracy", "accuracy": "test accuracy"}
MARKERS = "osD^vP*X"


def method_colors(methods: Iterable[str]) -> dict[str, tuple[float, ...]]:
    """One tab10 colour per method, by sorted name (stable across figures)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {m: cmap(i % 10) for i, m in enumerate(sorted(set(methods)))}


def save_png(figure: Figure, path: Path) -> Path:
    """Render `figure` to PNG at DPI and replace `path` atomically."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def _new_figure(width: float = 7.0, height: float = 4.8, ncols: int = 1) -> tuple[Figure, list]:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, ncols, squeeze=False)[0]
    for ax in axes:
        ax.grid(True, which="major", alpha=0.35)
        ax.grid(True, which="minor", alpha=0.12)
    return figure, list(axes)


def _step_front(ax: Axes, accuracy: np.ndarray, memory: np.ndarray, x_max: float,
                **style: object) -> None:
    """Draw the front of (accuracy, memory) as a staircase: best accuracy within a budget."""
    mask = nondominated_mask(accuracy, memory)
    if not mask.any():
        return
    order = np.argsort(memory[mask], kind="stable")
    mem, acc = memory[mask][order], accuracy[mask][order]
    ax.step(np.append(mem, x_max), np.append(acc, acc[-1]), where="post", **style)


def front_figure(trials: pd.DataFrame, memory_column: str = "chip_memory_cells",
                 title: str | None = None) -> Figure:
    """Accuracy vs memory (log x): a point per trial coloured by method, fronts as steps.

    Trials that are not considered (not trained, or not mappable on their chip when memory is
    chip_memory_cells) are grey; those without accuracy sit as a rug at the bottom. Memory
    <= 0 (rows of crashed workers) cannot sit on a log axis and is left out.
    """
    figure, (ax,) = _new_figure(width=9.0)
    score = accuracy_column(trials)
    accuracy, memory = objectives(trials, memory_column)
    memory = np.where(memory > 0, memory, np.nan)
    raw_acc = _floats(trials, score)
    raw_mem = _floats(trials, memory_column)
    raw_mem[~(raw_mem > 0)] = np.nan
    considered = np.isfinite(accuracy) & np.isfinite(memory)
    _grey_points(ax, raw_acc, raw_mem, considered, memory_column)
    x_max = 1.25 * np.nanmax(raw_mem) if np.isfinite(raw_mem).any() else 10.0
    _method_points(ax, trials, np.where(considered, accuracy, np.nan), memory, x_max)
    _step_front(ax, accuracy, memory, x_max, color="black", linewidth=2.4, alpha=0.45,
                zorder=2, label="overall front")
    front = nondominated_mask(accuracy, memory)
    ax.scatter(memory[front], accuracy[front], s=70, facecolor="none", edgecolor="black",
               linewidth=1.2, zorder=5)
    if np.isfinite(raw_mem).any():  # explicit: the rug alone does not autoscale x
        ax.set_xlim(np.nanmin(raw_mem) / 1.3, x_max * 1.1)
    else:
        ax.set_xlim(1.0, 10.0)
        ax.text(0.5, 0.5, "no trial with a memory to plot", transform=ax.transAxes,
                ha="center", color=GREY)
    _label_axes(ax, trials, memory_column, score, title, front.sum())
    _leave_room_for_rug(ax, raw_acc[considered | np.isfinite(raw_mem)])
    return figure


def _floats(trials: pd.DataFrame, column: str) -> np.ndarray:
    """float (n,) of a column (a writable copy), NaN where null or not numeric."""
    values = pd.to_numeric(trials[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return values.copy()


def _method_points(ax: Axes, trials: pd.DataFrame, accuracy: np.ndarray, memory: np.ndarray,
                   x_max: float) -> None:
    """Considered trials (finite accuracy) coloured by method, each method's front dashed."""
    methods = trials["method"].astype(str).to_numpy()
    for method, color in method_colors(methods).items():
        mine = np.isfinite(accuracy) & (methods == method)
        if not mine.any():
            continue
        ax.scatter(memory[mine], accuracy[mine], s=30, color=color, edgecolor="white",
                   linewidth=0.5, zorder=3, label=f"{method} ({mine.sum()})")
        _step_front(ax, np.where(mine, accuracy, np.nan), memory, x_max, color=color,
                    linestyle="--", linewidth=1.2, zorder=4, label=f"{method} front")


def _leave_room_for_rug(ax: Axes, accuracy: np.ndarray) -> None:
    """Lower the y limit so the bottom 8% of the axes (the rug of untrained trials) is free."""
    finite = accuracy[np.isfinite(accuracy)]
    if finite.size == 0:
        ax.set_ylim(0.0, 1.0)
        return
    low, high = float(finite.min()), float(finite.max())
    pad = max(high - low, 0.02) * 0.06
    top, bottom = high + pad, low - pad
    ax.set_ylim(bottom - 0.1 * (top - bottom), top)


def _grey_points(ax: Axes, accuracy: np.ndarray, memory: np.ndarray, considered: np.ndarray,
                 memory_column: str) -> None:
    """Grey markers: trained but excluded (at their accuracy), untrained (rug at the bottom)."""
    has_mem = np.isfinite(memory) & ~considered
    trained = has_mem & np.isfinite(accuracy)
    if trained.any():
        why = "not mappable on its chip" if requires_mappable(memory_column) else "excluded"
        ax.scatter(memory[trained], accuracy[trained], s=26, facecolor="none", edgecolor=GREY,
                   linewidth=0.9, zorder=1, label=f"trained, {why} ({trained.sum()})")
    untrained = has_mem & ~np.isfinite(accuracy)
    if untrained.any():
        ax.scatter(memory[untrained], np.full(untrained.sum(), 0.03), marker="x", s=22,
                   color=GREY, linewidth=0.9, zorder=1, transform=ax.get_xaxis_transform(),
                   label=f"infeasible / error, no accuracy ({untrained.sum()})")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _label_axes(ax: Axes, trials: pd.DataFrame, memory_column: str, score: str,
                title: str | None, n_front: int) -> None:
    ax.set_xscale("log")
    ax.set_xlabel(MEMORY_LABELS.get(memory_column, memory_column) + ", log scale")
    ax.set_ylabel(ACCURACY_LABELS.get(score, score))
    ax.set_title(title or f"Accuracy vs {MEMORY_LABELS.get(memory_column, memory_column)}"
                          f"\n{_count(len(trials), 'trial')}, {n_front} on the front",
                 fontsize=11)
    if ax.get_legend_handles_labels()[0]:  # outside the axes: never hides a point
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)


def hypervolume_figure(trials: pd.DataFrame, memory_column: str = "chip_memory_cells",
                       objectives: Objectives | None = None) -> Figure:
    """Hypervolume after each finished trial (file order), overall and per method, on the
    search's objectives (default: accuracy and memory).

    One reference point for every curve: accuracy 0, 1.1 x the largest considered value of
    each minimised objective.
    """
    figure, (ax,) = _new_figure(height=4.2)
    chosen = search_objectives(trials, objectives, memory_column)
    values = objective_values(trials, chosen, requires_mappable(memory_column))
    reference = default_reference_of(values, chosen)
    count = np.arange(1, len(trials) + 1)
    if reference is not None:
        methods = trials["method"].astype(str).to_numpy()
        ax.step(count, hypervolume_curve_of(values, chosen, reference), where="post",
                color="black", linewidth=2.6, alpha=0.45, label="all trials")
        for method, color in method_colors(methods).items():
            mine = np.where((methods == method)[:, None], values, np.nan)
            ax.step(count, hypervolume_curve_of(mine, chosen, reference), where="post",
                    color=color, linestyle="--", linewidth=1.3, label=f"{method} trials only")
        ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
        ref = "reference " + ", ".join(f"{o.name} {v:.3g}"
                                       for o, v in zip(chosen, reference, strict=True))
    else:
        ref = "no feasible trial yet"
        ax.text(0.5, 0.5, ref, transform=ax.transAxes, ha="center", color=GREY)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("finished trials")
    ax.set_ylabel("hypervolume (" + " x ".join(o.name for o in chosen) + ")")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    ax.set_title(f"Hypervolume convergence\n{ref}", fontsize=11)
    ax.set_xlim(0.5, max(len(trials), 1) + 0.5)
    return figure


def hop_profile_figure(trials: pd.DataFrame) -> Figure:
    """Left: accuracy vs total link count (trained trials). Right: p1 vs p3 coloured by
    accuracy (sampled targets if the columns exist, else the realised hop profile)."""
    p1, p3 = _profile_coordinates(trials)
    figure, axes = _new_figure(width=11.0, height=4.4, ncols=2 if p1 is not None else 1)
    score = accuracy_column(trials)
    accuracy = _floats(trials, score)
    ok = (trials["status"] == "ok").to_numpy() & np.isfinite(accuracy)
    links = _floats(trials, "n_links") if "n_links" in trials else np.full(len(trials), np.nan)
    methods = trials["method"].astype(str).to_numpy()
    ax = axes[0]
    for method, color in method_colors(methods).items():
        mine = ok & (methods == method) & np.isfinite(links)
        ax.scatter(links[mine], accuracy[mine], s=30, color=color, edgecolor="white",
                   linewidth=0.5, label=f"{method} ({mine.sum()})")
    ax.set_xlabel("active links after training (source neuron -> tile)")
    ax.set_ylabel(ACCURACY_LABELS.get(score, score))
    ax.set_title("Accuracy vs link budget", fontsize=11)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    if p1 is not None:
        _profile_panel(figure, axes[1], p1, p3, accuracy, ok, methods, score)
    return figure


def _profile_coordinates(trials: pd.DataFrame) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(p1, p3) float (n,) from the p1/p3 parameters, else from hop_profile[1], [3]."""
    if "p1" in trials:
        p3 = trials["p3"] if "p3" in trials else pd.Series(0.0, index=trials.index)
        return _floats(trials, "p1"), _floats(trials.assign(p3=p3), "p3")
    if "hop_profile" not in trials:
        return None, None
    entry = [lambda h, d=d: float(h[d]) if h is not None and len(h) > d else np.nan
             for d in (1, 3)]
    return tuple(trials["hop_profile"].map(f).to_numpy(dtype=float) for f in entry)


def _profile_panel(figure: Figure, ax: Axes, p1: np.ndarray, p3: np.ndarray,
                   accuracy: np.ndarray, ok: np.ndarray, methods: np.ndarray,
                   score: str) -> None:
    """p1 vs p3 scatter: trained trials coloured by accuracy, marker by method; others grey x."""
    rest = ~ok & np.isfinite(p1) & np.isfinite(p3)
    if rest.any():
        ax.scatter(p1[rest], p3[rest], marker="x", s=24, color=GREY, linewidth=0.9, zorder=4)
    finite = accuracy[ok]
    norm = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    mappable, handles = None, []
    for i, method in enumerate(sorted(set(methods))):
        mine = ok & (methods == method)
        if mine.any():
            mappable = ax.scatter(p1[mine], p3[mine], c=accuracy[mine], cmap="viridis",
                                  vmin=norm[0], vmax=norm[1], s=40, marker=MARKERS[i % 8],
                                  edgecolor="black", linewidth=0.4)
            # legend marker in neutral white: the colour encodes accuracy, not the method
            handles.append(Line2D([], [], linestyle="none", marker=MARKERS[i % 8],
                                  markerfacecolor="white", markeredgecolor="black",
                                  label=f"{method} ({mine.sum()})"))
    if mappable is not None:
        figure.colorbar(mappable, ax=ax, label=ACCURACY_LABELS.get(score, score))
    if rest.any():
        handles.append(Line2D([], [], linestyle="none", marker="x", color=GREY,
                              label=f"not trained: infeasible or error ({rest.sum()})"))
    ax.set_xlabel("p1 (fraction of 1-hop links)")
    ax.set_ylabel("p3 (fraction of 3-hop links)")
    ax.set_title("Hop profile of each trial (sampled p1, p3)", fontsize=11)
    if handles:
        ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.9)


def projections_figure(trials: pd.DataFrame, objectives: Objectives) -> Figure:
    """The search's objectives two at a time (3 panels for 3 objectives): considered trials
    coloured by method, the others' values grey, the front on all objectives ringed."""
    chosen = search_objectives(trials, objectives)
    values = objective_values(trials, chosen)
    front = nondominated(values, chosen)
    pairs = [(i, j) for i in range(len(chosen)) for j in range(i + 1, len(chosen))]
    figure, axes = _new_figure(width=5.0 * len(pairs) + 2.0, height=4.4, ncols=len(pairs))
    methods = trials["method"].astype(str).to_numpy()
    considered = np.isfinite(values).all(axis=1)
    for ax, (i, j) in zip(axes, pairs, strict=True):
        x, y = chosen[j], chosen[i]
        raw_x, raw_y = _floats(trials, x.name), _floats(trials, y.name)
        rest = ~considered & np.isfinite(raw_x) & np.isfinite(raw_y)
        ax.scatter(raw_x[rest], raw_y[rest], s=24, facecolor="none", edgecolor=GREY,
                   linewidth=0.9, label=f"not considered ({rest.sum()})")
        for method, color in method_colors(methods).items():
            mine = considered & (methods == method)
            ax.scatter(values[mine, j], values[mine, i], s=30, color=color, edgecolor="white",
                       linewidth=0.5, zorder=3, label=f"{method} ({mine.sum()})")
        ax.scatter(values[front, j], values[front, i], s=70, facecolor="none",
                   edgecolor="black", linewidth=1.2, zorder=5, label=f"front ({front.sum()})")
        if not x.maximise and (raw_x[np.isfinite(raw_x)] > 0).all() and considered.any():
            ax.set_xscale("log")
        ax.set_xlabel(f"{x} ({'larger' if x.maximise else 'smaller'} is better)")
        ax.set_ylabel(f"{y} ({'larger' if y.maximise else 'smaller'} is better)")
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    figure.suptitle(f"Objectives two at a time: {len(trials)} trials, {front.sum()} on the "
                    f"front of {', '.join(map(str, chosen))}", fontsize=11)
    return figure
