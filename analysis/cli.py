"""`mosaic-dse pareto` and `mosaic-dse report`: read a results directory (no torch, no ray)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.io import load_results
from analysis.pareto import MEMORY_COLUMNS, ParetoFront, pareto_front
from analysis.schema import FIXED_COLUMNS
from hardware.errors import ResultsError

DIRECTORY_HELP = "results directory <storage>/<name> (or a trials.parquet file)"
EXIT_POLICY = (
    "A directory without trials.parquet is an error (exit 2, one line naming the path). A "
    "search with no feasible trial yet, or an interrupted one (trials.parquet only), is not: "
    "the front is empty or computed from the trials written so far, and the exit code is 0.")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `pareto` and `report` sub-commands."""
    p = subparsers.add_parser(
        "pareto", help="print the Pareto front and hypervolume of a search",
        description="Print the non-dominated trials on the search's objectives (stored in "
                    "the file's mosaic_dse.objectives; default max validation accuracy, or "
                    "test accuracy for files without it, and min chip memory; a third such "
                    "as min energy_pj_per_sample when the search had one) sorted by memory, "
                    "with test "
                    "accuracy and key parameters, and the exact hypervolume (reference: "
                    "accuracy 0, 1.1 x the largest considered memory, or --ref). The search "
                    "stores the reference point and hypervolume it printed in the metadata "
                    "key mosaic_dse.reference_point of trials.parquet and pareto.parquet; "
                    "this command prints them too.",
        epilog=EXIT_POLICY)
    p.add_argument("directory", type=Path, help=DIRECTORY_HELP)
    p.add_argument("--json", action="store_true",
                   help='print one JSON object {"front": [...], "hypervolume": h, '
                        '"reference_point": [one value per objective]} instead of the table')
    p.add_argument("--plot", type=Path, metavar="FILE.png",
                   help="also write the accuracy-vs-memory figure to FILE.png")
    p.add_argument("--objective-x", choices=MEMORY_COLUMNS, default="chip_memory_cells",
                   help="memory objective: chip_memory_cells (the sampled chip; only trials "
                        "mappable on it count) or memory_cells (smallest chip hosting the "
                        "trained network; every trained trial counts). Default: %(default)s")
    p.add_argument("--ref", metavar="ACC,CELLS[,X]",
                   help="reference point of the hypervolume, one value per objective in the "
                        "search's order: accuracy and memory (cells), e.g. 0.05,2e6, and the "
                        "third objective's if the search has one (default: accuracy 0, 1.1 x "
                        "the largest considered value of each minimised objective)")
    p.set_defaults(func=run_pareto)
    r = subparsers.add_parser(
        "report", help="write report.md and figures for a search",
        description="Write report.md with PNG figures: trials by status and method, the "
                    "front, the best configuration per memory budget, and the method "
                    "comparison (best accuracy at equal weights, memory_cells for "
                    "iso-accuracy).",
        epilog=EXIT_POLICY)
    r.add_argument("directory", type=Path, help=DIRECTORY_HELP)
    r.add_argument("--out", type=Path, help="where report.md and the PNGs go (default: the "
                                            "results directory)")
    r.set_defaults(func=run_report)


def run_pareto(args: argparse.Namespace) -> int:
    """Print the front (table or JSON) and optionally plot it; 0 even when it is empty."""
    from analysis.report import front_text

    if args.plot is not None:
        check_output_directory(args.plot.expanduser().parent, "--plot")
    reference = None if args.ref is None else parse_reference(args.ref)
    results = load_results(args.directory)
    trials = results.trials
    objectives = results.objectives
    front = pareto_front(trials, args.objective_x, reference, objectives)
    if args.plot is not None:
        from analysis.plots import front_figure, projections_figure, save_png

        figure = (front_figure(trials, args.objective_x) if len(objectives) == 2
                  else projections_figure(trials, front.objectives))
        save_png(figure, args.plot)
    if args.json:
        print(json.dumps(front_json(front) | {"stored": results.stored_reference},
                         allow_nan=False))
        if front.front.empty:
            print(f"no feasible trial among {len(trials)} trials: the front is empty",
                  file=sys.stderr)
    else:
        print(front_text(trials, args.objective_x, reference, objectives))
        if results.stored_reference is not None:
            print(stored_reference_line(results.stored_reference))
    return 0


def parse_reference(text: str) -> tuple[float, ...]:
    """(accuracy, cells[, third objective]) of `--ref ACC,CELLS[,X]`: one finite number per
    objective; ResultsError naming the flag when malformed."""
    message = (f"--ref must be two finite numbers ACC,CELLS (three with a third objective), "
               f"got {text!r} (e.g. --ref 0.05,2e6)")
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:  # not a number
        raise ResultsError(message) from None
    if len(values) not in (2, 3) or not all(math.isfinite(v) for v in values):
        raise ResultsError(message)
    cells = values[1]
    if cells <= 0:
        raise ResultsError(f"--ref memory must be > 0 cells, got {cells:g} (e.g. --ref 0,2e6)")
    return values


def stored_reference_line(stored: Mapping[str, Any]) -> str:
    """'stored with the results: hypervolume ... at reference point (...)'."""
    from analysis.report import reference_text

    point = stored.get("reference_point")
    names = list(stored.get("objectives") or ("val_accuracy", "chip_memory_cells"))
    if point is None:
        return "stored with the results: hypervolume 0 (no feasible trial when written)"
    return (f"stored with the results (mosaic_dse.reference_point): hypervolume "
            f"{stored.get('hypervolume', 0.0):.6g} ({' x '.join(names)}), reference point "
            f"{reference_text(names, point)}")


def run_report(args: argparse.Namespace) -> int:
    """Write the report and print where it is."""
    from analysis.report import write_report

    out = None if args.out is None else args.out.expanduser()
    if out is not None and out.exists():
        check_output_directory(out, "--out")
    try:
        print(write_report(args.directory, out))
    except OSError as exc:  # --out cannot be created (a file on its path, read-only parent)
        raise ResultsError(f"--out {args.out}: cannot create it: {exc.strerror or exc} (give a "
                           "writable directory)") from None
    return 0


def check_output_directory(directory: Path, flag: str) -> None:
    """ResultsError unless `directory` (where `flag` writes) exists as a directory."""
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise ResultsError(f"{flag}: {directory} {what} (create the directory first)")


def front_json(front: ParetoFront) -> dict[str, Any]:
    """{"front": [row dicts by memory], "hypervolume": float, "reference_point": [acc, mem]};
    NaN and missing values become null; reference_point is [0.0, null] with no feasible trial."""
    rows = [{k: _json_value(v, k) for k, v in row.items()}
            for row in front.front.to_dict(orient="records")]
    reference = (list(front.reference_point) if front.reference_point
                 else [0.0 if o.maximise else None for o in front.objectives])
    return {"front": rows, "hypervolume": float(front.hypervolume),
            "reference_point": reference}


def _json_value(value: Any, column: str = "") -> Any:
    """A JSON-safe version of one DataFrame cell (integer schema columns stay integers)."""
    if isinstance(value, np.ndarray | list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, pd.Timestamp | dt.datetime):
        return None if pd.isna(value) else value.isoformat()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, float) and column in FIXED_COLUMNS \
            and pa.types.is_integer(FIXED_COLUMNS[column].type):
        return int(value)  # an int64 column with nulls arrives as float64 from pandas
    return value


def front_table_text(directory: Path, memory_column: str = "chip_memory_cells") -> str:
    """The `pareto` table of a results directory (used after a search finishes)."""
    from analysis.report import front_text

    results = load_results(directory)
    return front_text(results.trials, memory_column, objectives=results.objectives)
