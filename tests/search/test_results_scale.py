"""ResultsStore at scale: rows durable at once in the row log, files on a cadence, O(1) adds,
one store shared by the gate and the callback, infeasible ids unique across segments."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.io import read_table
from analysis.pareto import nondominated_mask
from search.store.layout import ROW_LOG
from search.store.results import ResultsStore, close_store, open_store
from tests.analysis.factories import CONFIG_TEXT, record

ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import sys, time
from search.store.results import ResultsStore
from tests.analysis.factories import CONFIG_TEXT, record
store = ResultsStore(sys.argv[1], CONFIG_TEXT, flush_seconds=3600)
for i in range(30):
    store.add(record(f"t{i}", i / 30))
print("added", flush=True)
time.sleep(600)
"""


def test_a_sigkilled_writer_loses_no_added_row(tmp_path):
    # the files are written at the first add only (a long cadence); every later row is in the
    # fsynced log when add returns, and opening the directory replays it into trials.parquet
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "added"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert read_table(tmp_path / "trials.parquet").num_rows == 1  # materialised at the first add
    assert (tmp_path / ROW_LOG).exists()
    store = ResultsStore(tmp_path, CONFIG_TEXT)
    assert list(store.rows_by_trial_id()) == [f"t{i}" for i in range(30)]
    table = read_table(tmp_path / "trials.parquet")
    assert table.column("trial_id").to_pylist() == [f"t{i}" for i in range(30)]
    assert read_table(tmp_path / "pareto.parquet").column("trial_id").to_pylist() == ["t29"]
    assert not (tmp_path / ROW_LOG).exists()  # replayed into trials.parquet, then removed


def test_a_torn_last_log_line_is_ignored_and_replay_is_idempotent(tmp_path):
    store = ResultsStore(tmp_path, CONFIG_TEXT, flush_seconds=3600)
    store.add(record("a", 0.5))
    store.add(record("b", 0.6))
    with open(tmp_path / ROW_LOG, "ab") as log:
        log.write(b'{"trial_id": "c", "sta')  # a write cut short: its add never returned
    rows = ResultsStore(tmp_path, CONFIG_TEXT).rows_by_trial_id()
    assert list(rows) == ["a", "b"] and rows["b"]["val_accuracy"] == 0.6
    assert rows["a"]["finished_at"] == store.rows_by_trial_id()["a"]["finished_at"]


def test_adds_never_rebuild_the_table_from_python_rows(tmp_path, monkeypatch):
    import search.store.result_table

    built, build_table = [], search.store.result_table.build_table

    def counting(rows, metadata=None):
        built.append(len(rows))
        return build_table(rows, metadata)

    monkeypatch.setattr(search.store.result_table, "build_table", counting)
    store = ResultsStore(tmp_path, CONFIG_TEXT, flush_seconds=0)
    for i in range(60):
        store.add(record(f"t{i}", (i % 7) / 7, chip_memory_cells=100 + i % 5, p1=0.5 + i / 100))
    store.add(record("t3", 0.99))  # a replaced row keeps its place
    store.add(record("t60", 0.5, tau=0.045))  # a new parameter column
    assert max(built, default=0) == 0  # only the empty table of a new store
    table = read_table(tmp_path / "trials.parquet")
    assert table.num_rows == 61 and table.column("trial_id")[3].as_py() == "t3"
    assert table.column("tau").null_count == 60


rows_strategy = st.lists(
    st.tuples(st.integers(0, 12), st.sampled_from(["ok", "ok", "infeasible", "error"]),
              st.booleans(), st.integers(0, 5), st.integers(1, 6)), max_size=40)


@settings(max_examples=40, deadline=None)
@given(rows_strategy)
def test_the_running_front_matches_the_exact_one(tmp_path_factory, rows):
    directory = tmp_path_factory.mktemp("front")
    store = ResultsStore(directory, CONFIG_TEXT, flush_seconds=3600)
    for key, status, mappable, acc, mem in rows:  # keys repeat: replaced rows
        store.add(record(f"t{key}", acc / 5, chip_memory_cells=mem * 100, status=status,
                         mappable=mappable and status == "ok"))
    final = store.rows_by_trial_id()
    considered = [r for r in final.values() if r["status"] == "ok" and r["mappable"]]
    mask = nondominated_mask(np.array([r["val_accuracy"] for r in considered], dtype=float),
                             np.array([r["chip_memory_cells"] for r in considered], dtype=float))
    expected = {r["trial_id"] for r, keep in zip(considered, mask, strict=True) if keep}
    assert {tid for tid, r in final.items() if r["on_front"]} == expected
    assert store.front_size() == len(expected)
    best = max((r["val_accuracy"] for r in considered), default=None)
    assert store.best_val_accuracy() == best
    assert store.trained_count() == sum(r["status"] != "infeasible" for r in final.values())


def _gate(directory: Path):
    from search.config.files import load_config
    from search.driver.gate import ProxyGate
    from search.driver.trial import TrialSettings

    cfg = load_config("tiny", [])
    return ProxyGate(cfg, TrialSettings(cfg.search.proxy_seeds, cfg.search.proxy_threshold),
                     str(directory), CONFIG_TEXT)


def _infeasible():
    from search.driver.trial import TrialRecord

    return TrialRecord(status="infeasible", method="deepr", chip_memory_cells=100,
                       proxy_memory_cells=120, params={"p1": 0.5}, error="proxy", violations=3)


def test_the_gate_writes_through_the_one_open_store(tmp_path, monkeypatch):
    import search.store.results

    opened, init = [], search.store.results.ResultsStore.__init__

    def counting(self, *args, **kwargs):
        opened.append(1)
        init(self, *args, **kwargs)

    monkeypatch.setattr(search.store.results.ResultsStore, "__init__", counting)
    gate = _gate(tmp_path)
    for _ in range(5):
        gate.record(_infeasible(), gate.new_row_id())
    assert len(opened) == 1  # not a fresh store (and a full reread) per rejected suggestion
    assert open_store(tmp_path, CONFIG_TEXT).finished_count() == 5
    close_store(tmp_path)


def test_infeasible_ids_are_never_reused_across_segments(tmp_path):
    # a resumed segment whose Optuna numbering restarts (an older journal): the ids continue
    # from the stored rows, so no earlier infeasible row is overwritten
    store = ResultsStore(tmp_path, CONFIG_TEXT)
    store.add({**record("infeasible-00000", None, status="infeasible"), "p1": 0.1})
    store.add({**record("infeasible-00002", None, status="infeasible"), "p1": 0.2})
    store.close()
    gate = _gate(tmp_path)
    first = gate.new_row_id()
    gate.record(_infeasible(), first)
    assert (first, gate.new_row_id()) == ("infeasible-00003", "infeasible-00004")
    close_store(tmp_path)
    rows = ResultsStore(tmp_path, CONFIG_TEXT).rows_by_trial_id()
    assert [rows[f"infeasible-0000{i}"]["p1"] for i in (0, 2, 3)] == [0.1, 0.2, 0.5]


def test_a_full_disk_at_the_row_log_is_one_error_and_changes_nothing(tmp_path, monkeypatch):
    import errno

    import search.store.row_log

    store = ResultsStore(tmp_path, CONFIG_TEXT, flush_seconds=3600)
    store.add(record("a"))

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(search.store.row_log.os, "write", full)
    try:
        store.add(record("b"))
    except Exception as exc:  # noqa: BLE001 - the type and words are the finding
        assert type(exc).__name__ == "ResultsError"
        assert str(exc) == (f"cannot write {tmp_path / ROW_LOG}: No space left on device (free "
                            f"disk space or make {tmp_path} writable)")
    else:
        raise AssertionError("no error")
    assert "b" not in store and len(store) == 1
