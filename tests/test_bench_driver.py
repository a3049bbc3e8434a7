"""benchmarks/bench_driver.py: the pre-filled level is what a driver that ran it leaves."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from search.driver.searcher import STUDY_NAME, open_storage
from search.store.results import ResultsStore
from tests.conftest import loaded_benchmark


@pytest.fixture(scope="module")
def bench():
    with loaded_benchmark("bench_driver") as module:
        yield module


def test_prefill_matches_rows_and_journal(bench, tmp_path: Path) -> None:
    cfg = bench.bench_config()
    bench.prefill(cfg, tmp_path, 12, pool=5)
    store = ResultsStore(tmp_path, cfg.to_toml())
    study = optuna.load_study(study_name=STUDY_NAME, storage=open_storage(tmp_path))
    ids = {t.user_attrs["ray_trial_id"] for t in study.get_trials(deepcopy=False)}
    assert len(store) == 12 and ids == set(store.rows_by_trial_id())
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


def test_surrogate_record_is_a_final_report(bench) -> None:
    cfg = bench.bench_config()
    study = optuna.create_study(directions=["maximize", "minimize"])
    params = bench.OptunaSpace.from_config(cfg)(study.ask())
    record = bench.surrogate_record(cfg, params)
    report = bench.final_report(record, cfg.search.objective_list)
    assert report["status"] == "ok" and 0 < report["val_accuracy"] < 1
    assert report["chip_memory_cells"] == record.chip_memory_cells
