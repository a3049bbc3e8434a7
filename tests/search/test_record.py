"""search/store/record.py: one record type for every row, tied to the Parquet schema."""

from __future__ import annotations

import math
import typing
from dataclasses import fields

import pyarrow as pa
import pytest

from analysis.objectives import DEFAULT_OBJECTIVES, Objective, is_considered
from analysis.schema import FIXED_COLUMNS, STORE_COLUMNS
from search.store.record import TrialRecord
from search.store.results import ResultsStore
from tests.analysis.factories import CONFIG_TEXT

ARROW_OF_HINT = {int: pa.int64(), float: pa.float64(), bool: pa.bool_(), str: pa.string(),
                 tuple: pa.list_(pa.float64())}


def _arrow_type(hint: object) -> pa.DataType:
    """The Arrow type a field's hint stores as (`X | None` as X, tuple[float, ...] as list)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is tuple:
        return ARROW_OF_HINT[tuple]
    return ARROW_OF_HINT[args[0] if args else hint]


def test_every_record_field_is_a_schema_column_of_its_type_and_back():
    # a field without a Column would become a parameter column with a guessed type
    hints = typing.get_type_hints(TrialRecord)
    names = [f.name for f in fields(TrialRecord) if f.name != "params"]
    assert set(names) == set(FIXED_COLUMNS) - set(STORE_COLUMNS)
    for name in names:
        assert _arrow_type(hints[name]) == FIXED_COLUMNS[name].type, name


def _ok(**values) -> TrialRecord:
    return TrialRecord.ok(method="deepr", chip_memory_cells=100, proxy_memory_cells=90,
                          params={"lr": 0.01}, val_accuracy=0.8,
                          mappable=True, violations=0, hop_profile=(0.0, 0.5),
                          energy_pj_per_sample=3.0, **values)


def test_a_row_reads_back_as_the_same_record():
    record = _ok(trial_id="t1")
    row = record.to_row()
    assert row["lr"] == 0.01 and row["hop_profile"] == [0.0, 0.5] and row["trial_id"] == "t1"
    stored = {**row, "on_front": True, "finished_at": None}  # what the store adds
    assert TrialRecord.from_row(stored) == record
    assert "trial_id" not in _ok().to_row()  # no id until someone stores it


def test_constructors_give_each_status_its_fields():
    failed = TrialRecord.failed("boom", {"method": "mosaic", "seed": 3, "lr": 0.1},
                                trial_id="x")
    assert (failed.status, failed.method, failed.seed, failed.error) == ("error", "mosaic", 3,
                                                                         "boom")
    assert failed.to_row()["lr"] == 0.1 and failed.constraint == 1.0
    report = {"epoch": 2, "epochs": 4, "val_accuracy": 0.4, "chip_memory_cells": 50,
              "n_links": 7, "time_total_s": 1.5}
    stopped = TrialRecord.stopped({"method": "deepr", "lr": 0.1}, report, "s")
    assert stopped.status == "stopped" and stopped.error.startswith("early stop after epoch 2")
    assert (stopped.val_accuracy, stopped.chip_memory_cells, stopped.n_links) == (0.4, 50, 7)
    assert stopped.constraint == 0.0 and not stopped.considered
    infeasible = TrialRecord.infeasible("proxy: no", 4, method="deepr", chip_memory_cells=10,
                                        proxy_memory_cells=20)
    assert infeasible.status == "infeasible" and infeasible.constraint == 4.0


def test_every_constructor_row_is_stored_as_is(tmp_path):
    store = ResultsStore(tmp_path, CONFIG_TEXT, flush_seconds=0)
    records = [_ok(trial_id="a"),
               TrialRecord.failed("boom", {"method": "deepr", "lr": 0.1}, trial_id="b"),
               TrialRecord.stopped({"method": "deepr", "lr": 0.1},
                                   {"epoch": 2, "epochs": 4, "val_accuracy": 0.4,
                                    "chip_memory_cells": 50, "n_links": 7}, "c")]
    for record in records:
        store.add(record.to_row())
    rows = store.rows_by_trial_id()
    assert [TrialRecord.from_row(rows[r.trial_id]) for r in records] == records


def test_objective_values_follow_the_objectives():
    record = _ok()
    assert record.objective_values() == [0.8, 100.0]
    energy = (*DEFAULT_OBJECTIVES, Objective("energy_pj_per_sample", "min"))
    assert record.objective_values(energy) == [0.8, 100.0, 3.0]
    never_trained = TrialRecord.infeasible("proxy", 2, method="deepr", chip_memory_cells=10,
                                           proxy_memory_cells=None)
    assert never_trained.objective_values(energy) == [0.0, 10.0, math.inf]
    assert all(math.isnan(v) for v in TrialRecord.failed("x", {}).objective_values(energy))


@pytest.mark.parametrize(("status", "mappable", "considered"), [
    ("ok", True, True), ("ok", False, False), ("ok", None, False), ("ok", float("nan"), False),
    ("stopped", True, False), ("error", True, False)])
def test_the_feasibility_rule(status, mappable, considered):
    assert is_considered(status, mappable) is considered
