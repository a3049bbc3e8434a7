"""The schema definition, its coercions, and tolerant reading of results directories."""

from __future__ import annotations

import datetime as dt
import os

import pyarrow as pa
import pytest

from analysis.io import atomic_write_text, load_results, read_table
from analysis.schema import (
    FIXED_COLUMNS,
    HEAD_COLUMNS,
    METRIC_COLUMNS,
    build_table,
    coerce,
    parameter_type,
    results_schema,
    schema_markdown,
)
from hardware.errors import ResultsError
from tests.analysis.factories import CONFIG_TEXT, record, write_plain, write_store

REQUIRED = ("trial_id status error method accuracy val_accuracy train_accuracy "
            "chip_memory_cells memory_cells proxy_memory_cells proxy_error synapse_cells "
            "mappable violations n_links n_weights hop_profile energy_pj_per_sample "
            "train_seconds on_front seed finished_at").split()


def test_every_required_column_is_defined_and_documented():
    assert set(REQUIRED) <= set(FIXED_COLUMNS)
    markdown = schema_markdown()
    for column in (*HEAD_COLUMNS, *METRIC_COLUMNS):
        assert column.doc and f"| `{column.name}` | {column.type} |" in markdown


@pytest.mark.parametrize(("values", "expected"), [
    ([1, 2, None], pa.int64()), ([1, 2.5], pa.float64()), ([True, False], pa.bool_()),
    (["tpe", "random"], pa.string()), ([1, "auto"], pa.string()),
    ([[0.0, 0.5], None], pa.list_(pa.float64())), ([None], pa.float64()),
])
def test_parameter_types(values, expected):
    assert parameter_type(values) == expected


def test_schema_places_parameters_between_head_and_metrics():
    schema = results_schema([{"trial_id": "a", "method": "deepr", "rows": 2, "p1": 0.5}])
    names = schema.names
    assert names[:6] == ["trial_id", "status", "error", "method", "rows", "p1"]
    assert names[6] == "accuracy" and names[-1] == "finished_at"


def test_coercions_are_exact_or_refused():
    assert coerce(3.0, pa.int64()) == 3
    assert coerce(float("nan"), pa.float64()) is None
    assert coerce(0, pa.timestamp("us", tz="UTC")) == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="not an integer"):
        coerce(2.5, pa.int64())
    with pytest.raises(ValueError, match="not a bool"):
        coerce("False", pa.bool_())
    with pytest.raises(ResultsError, match="trial 'x': column 'mappable' cannot hold 'yes'"):
        build_table([{"trial_id": "x", "status": "ok", "mappable": "yes"}])


def test_reader_tolerates_plain_pyarrow_files(tmp_path):
    write_plain(tmp_path, {"accuracy": [0.5, 0.7], "chip_memory_cells": [10, 20]})
    results = load_results(tmp_path)
    trials = results.trials
    assert trials["trial_id"].tolist() == ["0", "1"]
    assert trials["status"].tolist() == ["ok", "ok"]
    assert trials["mappable"].tolist() == [True, True]
    assert results.config_text is None and results.versions == {}


def test_reader_fills_null_booleans_and_reads_metadata(tmp_path):
    write_plain(tmp_path, {"trial_id": ["a", "b"], "status": ["ok", "error"],
                           "mappable": [True, None], "val_accuracy": [0.5, None],
                           "chip_memory_cells": [10, 20]})
    assert load_results(tmp_path).trials["mappable"].tolist() == [True, False]
    write_store(tmp_path / "store", [record("a")])
    results = load_results(tmp_path / "store" / "trials.parquet")  # a file path works too
    assert results.config_text == CONFIG_TEXT and "pyarrow" in results.versions


def test_not_a_results_directory_names_the_path(tmp_path):
    with pytest.raises(ResultsError, match=f"not a results directory: {tmp_path} has no "
                                           "trials.parquet"):
        load_results(tmp_path)
    (tmp_path / "trials.parquet").write_bytes(b"not parquet")
    with pytest.raises(ResultsError, match="cannot read .*trials.parquet"):
        read_table(tmp_path / "trials.parquet")


def test_atomic_text_write_leaves_only_the_target(tmp_path):
    atomic_write_text(tmp_path / "config.toml", "a = 1\n")
    atomic_write_text(tmp_path / "config.toml", "a = 2\n")
    assert os.listdir(tmp_path) == ["config.toml"]
    assert (tmp_path / "config.toml").read_text() == "a = 2\n"
