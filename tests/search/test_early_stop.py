"""search/driver/early_stop.py: rungs, the dominance rule, and a real search that stops trials."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from search.config.files import load_config
from search.driver.early_stop import DominatedStopper, beaten_by, rungs_below
from search.driver.runner import run_search
from tests.search.conftest import tiny_sets


def test_rungs_are_powers_of_two_below_the_last_epoch():
    assert rungs_below(2) == () and rungs_below(3) == (2,)
    assert rungs_below(8) == (2, 4) and rungs_below(20) == (2, 4, 8, 16)


def test_only_a_trial_on_a_chip_with_no_more_memory_beats_it():
    board = [(100.0, 0.5, "a"), (300.0, 0.9, "b")]
    assert beaten_by(board, 200.0, 0.4) == "a"  # cheaper and better
    assert beaten_by(board, 200.0, 0.6) is None  # b is better but on a bigger chip
    assert beaten_by(board, 100.0, 0.5) is None  # a tie is no beat
    assert beaten_by(board, 300.0, 0.6) == "b"  # same memory, higher accuracy
    assert beaten_by([], 1.0, 0.0) is None


class _Trial:
    def __init__(self, trial_id: str) -> None:
        self.trial_id = trial_id


def test_the_stopper_decides_at_rungs_only():
    stopper = DominatedStopper((2, 4))
    result = {"chip_memory_cells": 100.0, "val_accuracy": 0.5}
    assert stopper.on_trial_result(None, _Trial("a"), {**result, "epoch": 2}) == "CONTINUE"
    worse = {"chip_memory_cells": 200.0, "val_accuracy": 0.3}
    assert stopper.on_trial_result(None, _Trial("b"), {**worse, "epoch": 1}) == "CONTINUE"
    assert stopper.on_trial_result(None, _Trial("b"), {**worse, "epoch": 2}) == "STOP"
    assert stopper.on_trial_result(None, _Trial("c"), {**worse, "epoch": 4}) == "CONTINUE"
    final = {**worse, "epoch": 2, "record": "{}"}  # a trial's final report is never stopped
    assert stopper.on_trial_result(None, _Trial("d"), final) == "CONTINUE"


@pytest.mark.usefixtures("ray_session")
def test_a_search_with_early_stop_keeps_stopped_rows_off_the_front(data_root, tmp_path):
    # one chip for every trial, lr searched: a trial worse at epoch 2 than an earlier one on
    # the same chip stops there (the random sampler's draws and CPU training are seeded)
    sets = tiny_sets(data_root, tmp_path, "early", 5, "search.early_stop=true",
                     "search.max_concurrent=1", "training.epochs=4", "hardware.cap_r0=8",
                     "hardware.cap_r1=16", "training.method=routing_aware", "training.p1=0.8",
                     "training.p3=0.1", "search.seed=1")
    outcome = run_search(load_config("tiny", sets), verbose=False)
    rows = pq.read_table(outcome.directory / "trials.parquet").to_pylist()
    assert outcome.finished == 5 and len(rows) == 5
    stopped = [r for r in rows if r["status"] == "stopped"]
    ok = [r for r in rows if r["status"] == "ok"]
    assert stopped and ok and len(stopped) + len(ok) == 5
    for r in stopped:
        assert "early stop after epoch 2 of 4" in r["error"] and not r["on_front"]
        assert 0.0 <= r["val_accuracy"] <= 1.0 and r["accuracy"] is None
    assert any(r["on_front"] for r in ok)
