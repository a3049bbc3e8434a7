"""The one definition of the results schema (trials.parquet, pareto.parquet).

A results table = fixed columns (identity, metrics) + one column per sampled or fixed config
parameter, named as in the config and typed from the values the trials recorded. A parameter
whose name is a fixed column (`method`, `seed`) is that column. The writer (`search.store.results`)
builds its tables here; the readers (`analysis.io`) use the same names.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from hardware.errors import ResultsError

TRIALS_FILE = "trials.parquet"
PARETO_FILE = "pareto.parquet"
CONFIG_KEY = "mosaic_dse.config"
VERSIONS_KEY = "mosaic_dse.versions"
REFERENCE_KEY = "mosaic_dse.reference_point"
STATUSES = ("ok", "infeasible", "error", "stopped")


@dataclass(frozen=True)
class Column:
    """One fixed column: its name, Arrow type and the sentence the README table shows."""

    name: str
    type: pa.DataType
    doc: str


HEAD_COLUMNS: tuple[Column, ...] = (
    Column("trial_id", pa.string(), "Ray Tune trial id; one row per trial (re-adding replaces)."),
    Column("status", pa.string(), "`ok` (trained and routed), `infeasible` (the proxy predicted "
           "it does not fit; not trained), `error` (training failed or diverged) or `stopped` "
           "(early stopping: dominated at a rung by a trial on a chip with no more memory; "
           "val_accuracy is the rung's)."),
    Column("error", pa.string(), "Why the trial is infeasible, failed or stopped, and which "
           "damaged checkpoints it skipped; otherwise null."),
    Column("method", pa.string(), "Training method: `routing_aware`, `chip_aware`, `deepr` or "
           "`mosaic` (the registry in `model/methods.py`)."),
)
# The sampled/fixed parameters (rows, cols, cap_r0, p1, lr, ...) come between head and metrics.
METRIC_COLUMNS: tuple[Column, ...] = (
    Column("accuracy", pa.float64(), "Test accuracy in [0, 1] (over every shifted copy with "
           "stride augmentation); reported, never used to select."),
    Column("accuracy_first_copy", pa.float64(), "Test accuracy on the first copy of the test "
           "set (equals `accuracy` without stride augmentation)."),
    Column("val_accuracy", pa.float64(), "Validation accuracy in [0, 1]: objective 1 (maximise)."),
    Column("train_accuracy", pa.float64(), "Training-set accuracy in [0, 1]."),
    Column("chip_memory_cells", pa.int64(), "Memory of the trial's chip spec (cells): "
           "objective 2 (minimise)."),
    Column("memory_cells", pa.int64(), "Memory of the smallest chip of the grid that hosts the "
           "trained network (cells); used for the method comparison."),
    Column("proxy_memory_cells", pa.int64(), "Proxy's memory_cells predicted before training; "
           "null for methods with no hop profile before training (`mosaic`)."),
    Column("proxy_error", pa.float64(), "(proxy_memory_cells - memory_cells) / memory_cells."),
    Column("chip_utilisation", pa.float64(), "memory_cells / chip_memory_cells: the share of "
           "the chip's router and crossbar memory the trained network needs."),
    Column("usage_fraction", pa.float64(), "Mean over the chip's ports of capacity > 0 of "
           "used / capacity (distinct source neurons per port)."),
    Column("synapse_cells", pa.int64(), "Crossbar cells: R*C*K*K intra-tile + input rows * K."),
    Column("mappable", pa.bool_(), "The trained network routes on the trial's chip."),
    Column("violations", pa.int64(), "(cell, port) pairs over capacity (proxy mean when "
           "infeasible)."),
    Column("n_links", pa.int64(), "Active (source neuron -> destination tile) links."),
    Column("n_weights", pa.int64(), "Weights of the trained network (the parameter count)."),
    Column("hop_profile", pa.list_(pa.float64()), "Realised hop profile p_d of the trained "
           "network, index = hop distance d (index 0 unused)."),
    Column("energy_pj_per_sample", pa.float64(), "Routing energy per sample (pJ)."),
    Column("train_seconds", pa.float64(), "Wall-clock training time (s)."),
    Column("resumed_from_epoch", pa.int64(), "The epoch whose checkpoint the trial continued "
           "from after its worker died or the driver was resumed (0: every checkpoint was "
           "damaged, see error); null when it ran through."),
    Column("on_front", pa.bool_(), "On the Pareto front: ok, mappable and non-dominated on "
           "the search's objectives ([search].objectives, default max val_accuracy, min "
           "chip_memory_cells; stored in the metadata key mosaic_dse.objectives)."),
    Column("seed", pa.int64(), "Training seed."),
    Column("finished_at", pa.timestamp("us", tz="UTC"), "When the row was written (UTC)."),
)
FIXED_COLUMNS: dict[str, Column] = {c.name: c for c in (*HEAD_COLUMNS, *METRIC_COLUMNS)}
# Columns the store fills when it writes a row; every other fixed column is a trial record field.
STORE_COLUMNS = ("on_front", "finished_at")
# The numeric results a search may optimise ([search].objectives): every int or float metric
# but the bookkeeping ones.
OBJECTIVE_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in METRIC_COLUMNS
    if (pa.types.is_integer(c.type) or pa.types.is_floating(c.type))
    and c.name not in ("seed", "resumed_from_epoch"))


def parameter_columns(names: Iterable[str]) -> list[str]:
    """The parameter columns among `names` (every name that is not a fixed column), in order."""
    return [name for name in names if name not in FIXED_COLUMNS]


def _plain(value: Any) -> Any:
    """numpy scalars/arrays and tuples -> Python values/lists; NaN floats -> None."""
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        value = value.tolist()
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def parameter_type(values: Iterable[Any]) -> pa.DataType:
    """Arrow type of a parameter column from its values (None ignored).

    All bool -> bool; all int -> int64; ints and floats -> float64; lists of numbers ->
    list<float64>; anything else (strings, mixtures) -> string.
    """
    kinds = {_kind(v) for v in (_plain(v) for v in values) if v is not None}
    if kinds == {"bool"}:
        return pa.bool_()
    if kinds == {"int"}:
        return pa.int64()
    if kinds and kinds <= {"int", "float"}:
        return pa.float64()
    if kinds == {"list"}:
        return pa.list_(pa.float64())
    return pa.string() if kinds else pa.float64()


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list) and all(isinstance(v, int | float) for v in value):
        return "list"
    return "other"


def results_schema(rows: Sequence[Mapping[str, Any]],
                   metadata: Mapping[str, str] | None = None) -> pa.Schema:
    """Schema of `rows`: head columns, parameters (first-seen order), metrics; + file metadata."""
    seen = dict.fromkeys(name for row in rows for name in row)
    params = parameter_columns(seen)
    fields = [_fixed_field(c) for c in HEAD_COLUMNS]
    fields += [pa.field(p, parameter_type(row.get(p) for row in rows)) for p in params]
    fields += [_fixed_field(c) for c in METRIC_COLUMNS]
    return pa.schema(fields, metadata=dict(metadata) if metadata else None)


def _fixed_field(column: Column) -> pa.Field:
    return pa.field(column.name, column.type, metadata={"doc": column.doc})


def build_table(rows: Sequence[Mapping[str, Any]],
                metadata: Mapping[str, str] | None = None) -> pa.Table:
    """One Arrow table of `rows` (flat dicts) under `results_schema(rows, metadata)`.

    Values are coerced to their column type; ResultsError names the trial and column of a
    value that does not fit (e.g. 2.5 in an int64 column).
    """
    schema = results_schema(rows, metadata)
    columns = {f.name: [] for f in schema}
    for row in rows:
        for f in schema:
            try:
                columns[f.name].append(coerce(row.get(f.name), f.type))
            except (TypeError, ValueError) as exc:
                raise ResultsError(f"trial {row.get('trial_id')!r}: column {f.name!r} cannot "
                                   f"hold {row.get(f.name)!r} ({exc}; fix the record)") from exc
    return pa.table({f.name: pa.array(columns[f.name], f.type) for f in schema}, schema=schema)


def coerce(value: Any, type_: pa.DataType) -> Any:
    """`value` as a Python value Arrow stores exactly in `type_` (None stays None)."""
    value = _plain(value)
    if value is None:
        return None
    if pa.types.is_string(type_):
        return value if isinstance(value, str) else json.dumps(value, default=str)
    if pa.types.is_boolean(type_):
        if value not in (True, False):  # 0/1 pass; "False" must not become True
            raise ValueError("not a bool")
        return bool(value)
    if pa.types.is_integer(type_):
        if isinstance(value, float) and not value.is_integer():
            raise ValueError("not an integer")
        return int(value)
    if pa.types.is_floating(type_):
        return float(value)
    if pa.types.is_list(type_):
        return [None if v is None else float(v) for v in (_plain(v) for v in value)]
    if pa.types.is_timestamp(type_):
        return _timestamp(value)
    raise TypeError(f"unsupported column type {type_}")


def _timestamp(value: Any) -> dt.datetime:
    """datetime (naive = UTC), pandas Timestamp, or unix seconds -> aware UTC datetime."""
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    raise TypeError(f"expected a datetime or unix seconds, got {type(value).__name__}")


def package_versions() -> dict[str, str]:
    """Versions of mosaic-dse, numpy, pyarrow, and of torch/ray/optuna if already imported."""
    names = ["mosaic-dse", "numpy", "pyarrow"]
    names += [m for m in ("torch", "ray", "optuna") if m in sys.modules]
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def file_metadata(config_text: str, versions: Mapping[str, str] | None = None) -> dict[str, str]:
    """Parquet file metadata: the resolved config text and package versions (JSON)."""
    versions = package_versions() if versions is None else versions
    return {CONFIG_KEY: config_text, VERSIONS_KEY: json.dumps(dict(versions), sort_keys=True)}


def reference_metadata(reference: Sequence[float] | None, hypervolume: float,
                       objectives: Sequence[Any]) -> dict[str, str]:
    """{REFERENCE_KEY: JSON}: the front's hypervolume, the reference point it was computed
    for (one value per objective; null with no feasible trial), the objectives' columns and
    directions, so a reader can recompute the number the tool printed. objectives:
    `analysis.objectives.Objective`s."""
    point = None if reference is None else [float(v) for v in reference]
    return {REFERENCE_KEY: json.dumps(
        {"reference_point": point, "hypervolume": float(hypervolume),
         "objectives": [o.name for o in objectives],
         "directions": [o.direction for o in objectives]}, sort_keys=True)}


def read_reference(metadata: Mapping[bytes, bytes] | None) -> dict[str, Any] | None:
    """The parsed REFERENCE_KEY entry of a Parquet file's schema metadata (None if absent)."""
    raw = (metadata or {}).get(REFERENCE_KEY.encode())
    return None if raw is None else json.loads(raw)


def schema_markdown() -> str:
    """The README's column table (Markdown), generated from the docs above."""
    lines = ["| column | type | meaning |", "|---|---|---|"]
    for column in HEAD_COLUMNS:
        lines.append(f"| `{column.name}` | {column.type} | {column.doc} |")
    lines.append("| *parameters* | per value | Every sampled or fixed config parameter "
                 "(`rows`, `cap_r0`, `p1`, `lr`, ...), named as in the config. |")
    for column in METRIC_COLUMNS:
        lines.append(f"| `{column.name}` | {column.type} | {column.doc} |")
    return "\n".join(lines)
