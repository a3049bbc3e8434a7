"""The rows of trials.parquet as one in-memory Arrow table that grows a row at a time.

Adding a row builds a one-row table under the current schema and concatenates it (Arrow
chunks, no copy of the others), so an add costs the same at 20,000 rows as at 0. The schema is
the one `analysis.schema.build_table` gives all rows: a parameter first seen in a later row
becomes a new column (null before), an int column that meets a float becomes float64. Only a
change Arrow cannot cast (say a bool column that meets a string) rebuilds the table from its
rows, at most a few times per column. `on_front` is computed when the table is taken.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from analysis.front import dominates, nondominated
from analysis.objectives import DEFAULT_OBJECTIVES, Objectives, is_considered
from analysis.schema import (
    HEAD_COLUMNS,
    METRIC_COLUMNS,
    build_table,
    coerce,
    parameter_columns,
    parameter_type,
)
from hardware.errors import ResultsError

INFEASIBLE_ID = re.compile(r"infeasible-(\d+)")


def _sample(type_: pa.DataType) -> list[Any] | None:
    """A value of the kind that gives a parameter column `type_` ([] none; None: unknown)."""
    if pa.types.is_boolean(type_):
        return [True]
    if pa.types.is_int64(type_):
        return [1]
    if pa.types.is_float64(type_):
        return [0.5]
    if pa.types.is_string(type_):
        return ["x"]
    if pa.types.is_list(type_) and pa.types.is_float64(type_.value_type):
        return [[0.0]]
    return None


class ResultTable:
    """Stored rows by trial id, in first-added order (a re-added id keeps its position).

    The front is on `objectives` (the search's), over the considered rows."""

    def __init__(self, metadata: Mapping[str, str],
                 objectives: Objectives = DEFAULT_OBJECTIVES) -> None:
        self._metadata = dict(metadata)
        self.objectives = tuple(objectives)
        self._table = build_table([], self._metadata)
        self._index: dict[str, int] = {}
        self._status: list[str] = []
        self._values: list[tuple[float, ...]] = []  # objectives of considered rows, else NaN
        self._val_accuracy: list[float] = []  # of considered rows, else NaN
        self._best = -np.inf  # the largest of _val_accuracy
        self._front: dict[str, tuple[float, ...]] = {}  # minimised, considered, non-dominated
        self._next_infeasible = 0
        self._trained = 0

    @classmethod
    def from_table(cls, table: pa.Table, metadata: Mapping[str, str],
                   objectives: Objectives = DEFAULT_OBJECTIVES) -> ResultTable:
        """The rows of a trials.parquet table (rebuilt through build_table when its schema is
        not this writer's, e.g. a file of an older version)."""
        self = cls(metadata, objectives)
        if not _is_our_layout(table) or len(set(table.column("trial_id").to_pylist())) < len(
                table):
            rows = {str(r.get("trial_id")): r for r in table.to_pylist()}
            table = build_table(list(rows.values()), self._metadata)
        self._table = table.replace_schema_metadata(self._metadata)
        names = ["trial_id", "status", "mappable", "val_accuracy",
                 *(o.name for o in objectives)]
        for i, row in enumerate(self._table.select(list(dict.fromkeys(names))).to_pylist()):
            self._index[row["trial_id"]] = i
            self._track(row, None)
        self._recompute_front()
        return self

    def upsert(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Add `row` (a checked record) or replace the row of its trial id; returns the row as
        stored. ResultsError and no change when a value does not fit its column."""
        stored, commit = self.prepare(row)
        commit()
        return stored

    def prepare(self, row: Mapping[str, Any]) -> tuple[dict[str, Any], Callable[[], None]]:
        """(the row as it will be stored: plain Python values, one key per column; the call
        that stores it). Nothing changes until that call, so the row can be made durable
        first. ResultsError when a value does not fit its column."""
        table = self._table_for(row)
        if table is None:  # a type change Arrow cannot cast: rebuild from the rows
            rebuilt = self._rebuilt_with(row)
            stored = rebuilt._table.slice(rebuilt._index[row["trial_id"]], 1).to_pylist()[0]
            return stored, lambda: self.__dict__.update(rebuilt.__dict__)
        one = _row_table(row, table.schema)
        stored = one.to_pylist()[0]
        return stored, lambda: self._commit(table, one, stored)

    def _commit(self, table: pa.Table, one: pa.Table, stored: dict[str, Any]) -> None:
        trial_id = stored["trial_id"]
        position = self._index.get(trial_id)
        if position is None:
            self._table = pa.concat_tables([table, one])
            self._index[trial_id] = len(self._status)
            self._track(stored, None)
        else:
            self._table = pa.concat_tables([table.slice(0, position), one,
                                            table.slice(position + 1)])
            self._track(stored, position)

    def table(self) -> pa.Table:
        """The whole table in one chunk per column, `on_front` recomputed."""
        self._table = self._table.combine_chunks()
        on_front = nondominated(self._value_array(), self.objectives)
        index = self._table.schema.get_field_index("on_front")
        self._table = self._table.set_column(index, self._table.schema.field(index),
                                             pa.array(on_front, pa.bool_()))
        return self._table

    def rows(self) -> dict[str, dict[str, Any]]:
        """Every row (plain Python) by trial id: O(rows), for a resume's reconciliation."""
        return {row["trial_id"]: row for row in self.table().to_pylist()}

    def __contains__(self, trial_id: object) -> bool:
        return trial_id in self._index

    def __len__(self) -> int:
        return len(self._index)

    def trained_count(self) -> int:
        """Rows of trials that took a training slot (every status but `infeasible`)."""
        return self._trained

    @property
    def front_size(self) -> int:
        """Rows on the front now."""
        return len(self._front)

    @property
    def best_val_accuracy(self) -> float | None:
        """The best val_accuracy of an ok, mappable row (None while there is none)."""
        return float(self._best) if np.isfinite(self._best) else None

    def next_infeasible_id(self) -> str:
        """A trial id for an infeasible row that no stored row has: `infeasible-NNNNN`, one
        above the largest so far (numbers continue across segments, whatever Optuna's)."""
        return f"infeasible-{self._next_infeasible:05d}"

    # -- internals ---------------------------------------------------------------------------

    def _track(self, row: dict[str, Any], position: int | None) -> None:
        """Update the per-row lists, counters and front for a stored row."""
        status = row.get("status")
        considered = is_considered(status, row.get("mappable"))
        values = tuple(_float(row.get(o.name)) if considered else np.nan
                       for o in self.objectives)
        accuracy = _float(row.get("val_accuracy")) if considered else np.nan
        match = INFEASIBLE_ID.fullmatch(row["trial_id"])
        if match:
            self._next_infeasible = max(self._next_infeasible, int(match.group(1)) + 1)
        if position is None:
            self._status.append(status)
            self._values.append(values)
            self._val_accuracy.append(accuracy)
            self._trained += status != "infeasible"
            self._best = max(self._best, accuracy) if np.isfinite(accuracy) else self._best
            self._add_to_front(row["trial_id"], values)
            return
        self._trained += (status != "infeasible") - (self._status[position] != "infeasible")
        self._status[position] = status
        self._values[position] = values
        self._val_accuracy[position] = accuracy
        self._best = np.nanmax([-np.inf, *self._val_accuracy])
        self._recompute_front()

    def _value_array(self) -> np.ndarray:
        """float (rows, objectives): the tracked objective values."""
        return np.array(self._values, dtype=float).reshape(-1, len(self.objectives))

    def _add_to_front(self, trial_id: str, values: tuple[float, ...]) -> None:
        """Incremental front: keep the new point unless a front point dominates it, and drop
        the points it dominates (duplicates do not dominate each other)."""
        if not all(np.isfinite(values)):
            return
        point = tuple(float(v) for v in
                      (o.minimised(np.array([v]))[0] for o, v in zip(self.objectives, values,
                                                                     strict=True)))
        if any(dominates(other, point) for other in self._front.values()):
            return
        self._front = {tid: other for tid, other in self._front.items()
                       if not dominates(point, other)}
        self._front[trial_id] = point

    def _recompute_front(self) -> None:
        self._front = {}
        ids = list(self._index)
        values = self._value_array()
        for i in np.flatnonzero(nondominated(values, self.objectives)):
            self._add_to_front(ids[i], tuple(values[i]))

    def _table_for(self, row: Mapping[str, Any]) -> pa.Table | None:
        """The current table with the columns and types `row` needs (new parameter columns
        null before it, int -> float casts), or None when only a rebuild can give them."""
        table = self._table
        schema = table.schema
        insert_at = schema.get_field_index(METRIC_COLUMNS[0].name)
        for name in parameter_columns(row):
            index = schema.get_field_index(name)
            if index < 0:
                field = pa.field(name, parameter_type([row[name]]))
                table = table.add_column(insert_at, field, pa.nulls(len(table), field.type))
                schema, insert_at = table.schema, insert_at + 1
                continue
            old = schema.field(index).type
            column = table.column(index)
            empty = column.null_count == len(column)
            base = [] if empty else _sample(old)
            if base is None:
                return None
            new = parameter_type([*base, row[name]])
            if new == old:
                continue
            if not (empty or (pa.types.is_int64(old) and pa.types.is_float64(new))):
                return None
            table = table.set_column(index, pa.field(name, new), column.cast(new))
            schema = table.schema
        return table

    def _rebuilt_with(self, row: Mapping[str, Any]) -> ResultTable:
        """A new table of the rows with `row` added or replaced (a rare type change)."""
        rows = self._table.to_pylist()
        position = self._index.get(row["trial_id"])
        if position is None:
            rows.append(dict(row))
        else:
            rows[position] = dict(row)
        return ResultTable.from_table(build_table(rows, self._metadata), self._metadata,
                                      self.objectives)


def _float(value: Any) -> float:
    """A stored number as float (NaN when null)."""
    return np.nan if value is None else float(value)


def _row_table(row: Mapping[str, Any], schema: pa.Schema) -> pa.Table:
    """One row under `schema` (values coerced; ResultsError naming the column that refuses)."""
    columns = []
    for field in schema:
        try:
            columns.append(pa.array([coerce(row.get(field.name), field.type)], field.type))
        except (TypeError, ValueError, pa.ArrowException) as exc:
            raise ResultsError(f"trial {row.get('trial_id')!r}: column {field.name!r} cannot "
                               f"hold {row.get(field.name)!r} ({exc}; fix the record)") from exc
    return pa.Table.from_arrays(columns, schema=schema)


def _is_our_layout(table: pa.Table) -> bool:
    """Head columns first, metric columns last, each with this version's type and doc, and
    parameter columns of the types this writer makes."""
    names, schema = table.column_names, table.schema
    head, metrics = len(HEAD_COLUMNS), len(METRIC_COLUMNS)
    if len(names) < head + metrics:
        return False
    fixed = [*zip(names[:head], HEAD_COLUMNS, strict=True),
             *zip(names[-metrics:], METRIC_COLUMNS, strict=True)]
    if any(name != c.name or schema.field(name).type != c.type for name, c in fixed):
        return False
    return all(_sample(schema.field(name).type) is not None for name in names[head:-metrics])
