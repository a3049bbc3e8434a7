"""ResultsStore: one row per trial id, atomic rewrites, resume, the front, file metadata."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.io import read_table
from analysis.schema import CONFIG_KEY, REFERENCE_KEY, VERSIONS_KEY, package_versions
from hardware.errors import ResultsError
from search.store.layout import ROW_LOG
from search.store.results import ResultsStore, close_store, open_store
from tests.analysis.factories import CONFIG_TEXT, record
from tests.search.conftest import read_while_writing


def _read(directory, name="trials.parquet") -> pd.DataFrame:
    return pq.read_table(directory / name).to_pandas()


def test_same_trial_twice_is_one_row_with_the_latest_values(tmp_path):
    store = ResultsStore(tmp_path, CONFIG_TEXT)
    store.add(record("a", 0.5))
    store.add(record("b", 0.6))
    store.add(record("a", 0.7))
    store.flush()
    trials = _read(tmp_path)
    assert trials["trial_id"].tolist() == ["a", "b"]  # a keeps its position
    assert trials["val_accuracy"].tolist() == [0.7, 0.6]
    assert store.finished_count() == 2 and len(store) == 2


def test_resume_loads_existing_rows_and_never_duplicates(tmp_path):
    ResultsStore(tmp_path, CONFIG_TEXT).add(record("a", 0.5))
    resumed = ResultsStore(tmp_path, CONFIG_TEXT)
    assert list(resumed.rows_by_trial_id()) == ["a"]
    resumed.add(record("a", 0.5))  # a replayed result after a restart
    resumed.add(record("b", 0.4, chip_memory_cells=50))
    resumed.close()
    assert _read(tmp_path)["trial_id"].tolist() == ["a", "b"]


def test_on_front_and_pareto_file_are_recomputed_whenever_the_files_are_written(tmp_path):
    store = ResultsStore(tmp_path, CONFIG_TEXT, flush_seconds=0)
    store.add(record("a", 0.6, chip_memory_cells=100))
    store.add(record("b", 0.8, chip_memory_cells=300))
    store.add(record("c", 0.5, chip_memory_cells=50))
    assert _read(tmp_path, "pareto.parquet")["trial_id"].tolist() == ["c", "a", "b"]
    store.add(record("d", 0.7, chip_memory_cells=100))  # dominates a (same memory, better)
    store.add(record("e", 0.99, chip_memory_cells=10, mappable=False))  # never on the front
    store.add(record("f", None, chip_memory_cells=5, status="infeasible"))
    trials = _read(tmp_path)
    assert dict(zip(trials["trial_id"], trials["on_front"], strict=True)) == {
        "a": False, "b": True, "c": True, "d": True, "e": False, "f": False}
    pareto = _read(tmp_path, "pareto.parquet")
    assert pareto["trial_id"].tolist() == ["c", "d", "b"]  # sorted by chip memory
    assert list(pareto.columns) == list(trials.columns)
    assert store.rows_by_trial_id()["a"]["on_front"] is False


def test_no_temp_files_left_and_files_replaced_atomically(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path, CONFIG_TEXT, flush_seconds=0)
    store.add(record("a", 0.5))
    assert sorted(os.listdir(tmp_path)) == ["pareto.parquet", "trials.parquet"]
    before = (tmp_path / "trials.parquet").read_bytes()

    def broken_write(table, where, **kwargs):
        where.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr("analysis.io.pq.write_table", broken_write)
    with pytest.raises(ResultsError, match="cannot write .*trials.parquet: disk full"):
        store.add(record("b", 0.6))
    assert (tmp_path / "trials.parquet").read_bytes() == before  # old file intact
    # no temp file left; the row that could not be materialised is durable in the row log
    assert sorted(os.listdir(tmp_path)) == sorted(["pareto.parquet", "trials.parquet", ROW_LOG])
    monkeypatch.undo()  # disk space freed: opening the directory again replays the log
    assert list(ResultsStore(tmp_path, CONFIG_TEXT).rows_by_trial_id()) == ["a", "b"]
    assert _read(tmp_path)["trial_id"].tolist() == ["a", "b"]
    assert sorted(os.listdir(tmp_path)) == ["pareto.parquet", "trials.parquet"]


def test_a_concurrent_reader_always_sees_a_whole_file(tmp_path):
    store = ResultsStore(tmp_path, CONFIG_TEXT)
    store.add(record("t0", 0.1))
    # one open file per read (pq.read_table(path) opens it twice and can race)
    seen, failures = read_while_writing(
        lambda: read_table(tmp_path / "trials.parquet").num_rows, store, 20)
    assert failures == [] and len(seen) > 0
    assert seen == sorted(seen) and seen[-1] <= 20  # row counts only grow


def test_metadata_round_trips_config_and_versions(tmp_path):
    ResultsStore(tmp_path, CONFIG_TEXT).add(record("a"))
    for name in ("trials.parquet", "pareto.parquet"):
        metadata = pq.read_schema(tmp_path / name).metadata
        assert metadata[CONFIG_KEY.encode()].decode() == CONFIG_TEXT
        versions = json.loads(metadata[VERSIONS_KEY.encode()])
        assert {"mosaic-dse", "numpy", "pyarrow"} <= set(versions)
        assert versions["numpy"] == np.__version__
    assert ("torch" in package_versions()) == ("torch" in sys.modules)


def test_reference_point_and_hypervolume_are_stored_in_both_files(tmp_path):
    store = ResultsStore(tmp_path, CONFIG_TEXT)
    for r in (record("a", 0.6, 100), record("b", 0.7, 200),
              record("d", 0.9, 400, mappable=False)):  # not mappable: not considered
        store.add(r)
    store.flush()
    # Reference (0, 1.1 x 200 = 220); HV = (200 - 100) * 0.6 + (220 - 200) * 0.7 = 74
    for name in ("trials.parquet", "pareto.parquet"):
        stored = json.loads(pq.read_schema(tmp_path / name).metadata[REFERENCE_KEY.encode()])
        assert stored["reference_point"] == pytest.approx([0.0, 220.0])
        assert stored["hypervolume"] == pytest.approx(74.0)
        assert stored["objectives"] == ["val_accuracy", "chip_memory_cells"]
    store.add(record("e", 0.8, 300))  # the reference follows the largest considered memory
    store.flush()
    stored = json.loads(pq.read_schema(tmp_path / "pareto.parquet").metadata[
        REFERENCE_KEY.encode()])
    # Reference (0, 330): HV = 100 * 0.6 + 100 * 0.7 + 30 * 0.8 = 154
    assert stored["reference_point"] == pytest.approx([0.0, 330.0])
    assert stored["hypervolume"] == pytest.approx(154.0)


def test_types_numpy_values_and_parameter_columns(tmp_path):
    store = ResultsStore(tmp_path, CONFIG_TEXT)
    store.add(record("a", np.float64(0.5), chip_memory_cells=np.int64(100), p1=1,
                     hop_profile=(0.0, np.float32(0.5)), finished_at=0.0))
    store.add(record("b", 0.6, p1=0.5, tau=0.045))  # p1 becomes float; tau appears later
    store.flush()
    table = pq.read_table(tmp_path / "trials.parquet")
    types = {f.name: str(f.type) for f in table.schema}
    assert types["p1"] == "double" and types["rows"] == "int64" and types["tau"] == "double"
    assert types["chip_memory_cells"] == "int64"
    assert table.schema.field("hop_profile").type.value_type == pa.float64()
    assert table.column_names[:4] == ["trial_id", "status", "error", "method"]
    assert table.column_names.count("method") == 1  # a parameter named like a fixed column
    assert table.column("p1").to_pylist() == [1.0, 0.5]
    assert table.column("tau").to_pylist() == [None, 0.045]
    finished = table.column("finished_at").to_pylist()
    assert finished[0] == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert finished[1] > dt.datetime(2020, 1, 1, tzinfo=dt.UTC)  # defaulted to now


def test_bad_records_raise_and_change_nothing(tmp_path):
    store = ResultsStore(tmp_path, CONFIG_TEXT)
    store.add(record("a"))
    before = (tmp_path / "trials.parquet").read_bytes()
    with pytest.raises(ResultsError, match="status must be one of ok, infeasible, error"):
        store.add(record("b", status="done"))
    with pytest.raises(ResultsError, match="non-empty string trial_id"):
        store.add(record(""))
    with pytest.raises(ResultsError, match="column 'chip_memory_cells' cannot hold 2.5"):
        store.add(record("b", chip_memory_cells=2.5))
    assert (tmp_path / "trials.parquet").read_bytes() == before
    assert list(store.rows_by_trial_id()) == ["a"]


def test_error_rows_from_crashed_workers_are_stored(tmp_path):
    # What search.driver.callbacks writes for a trial whose process died: config + a few fields.
    crashed = {"method": "deepr", "p1": 0.4, "trial_id": "x", "status": "error",
               "error": "trial process failed", "mappable": False, "chip_memory_cells": 0,
               "proxy_memory_cells": 0, "hop_profile": [], "seed": 0}
    store = ResultsStore(tmp_path, CONFIG_TEXT)
    store.add(crashed)
    row = store.rows_by_trial_id()["x"]
    assert row["status"] == "error" and row["val_accuracy"] is None and row["on_front"] is False
    assert pd.read_parquet(tmp_path / "pareto.parquet").empty


def test_the_gate_and_the_callback_write_through_one_store(tmp_path):
    # the driver's proxy gate and the results callback share the directory's one open store:
    # neither rereads nor overwrites what the other wrote
    gate, callback = open_store(tmp_path, CONFIG_TEXT), open_store(tmp_path, CONFIG_TEXT)
    assert gate is callback
    callback.add(record("t1", 0.5))
    gate.add({**record("infeasible-00001", 0.0), "status": "infeasible", "val_accuracy": None})
    callback.add(record("t2", 0.7))
    close_store(tmp_path)
    rows = ResultsStore(tmp_path, CONFIG_TEXT).rows_by_trial_id()
    assert list(rows) == ["t1", "infeasible-00001", "t2"]
    assert open_store(tmp_path, CONFIG_TEXT) is not gate  # closed: a later open rereads
    assert open_store(tmp_path, CONFIG_TEXT).trained_count() == 2  # infeasible never trained
    close_store(tmp_path)


def test_opening_rewrites_a_stale_pareto_file_and_removes_temp_files(tmp_path):
    # a driver SIGKILLed between the trials.parquet and pareto.parquet renames of its last
    # trial: trials.parquet holds the row, pareto.parquet is the one before, a temp file is left
    store = ResultsStore(tmp_path, CONFIG_TEXT)
    store.add(record("a", 0.5, chip_memory_cells=100))
    stale = (tmp_path / "pareto.parquet").read_bytes()
    store.add(record("b", 0.9, chip_memory_cells=100))  # dominates a
    (tmp_path / "pareto.parquet").write_bytes(stale)
    (tmp_path / ".pareto.parquet.0123456789ab.tmp").write_bytes(b"PAR1 half a file")
    (tmp_path / ".trials.parquet.ba9876543210.tmp").write_bytes(b"")
    ResultsStore(tmp_path, CONFIG_TEXT)
    assert _read(tmp_path, "pareto.parquet")["trial_id"].tolist() == ["b"]
    assert sorted(os.listdir(tmp_path)) == ["pareto.parquet", "trials.parquet"]
