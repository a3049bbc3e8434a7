"""End-to-end searches on a real local Ray with the tiny config: results, infeasible and failing
trials, resume after a normal stop, and the new-vs-resume rules."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pyarrow.parquet as pq
import pytest

from analysis.pareto import nondominated_mask
from hardware.errors import SearchStopped
from search.cli import main
from search.config.files import load_config
from search.driver.runner import run_search
from search.driver.searcher import STUDY_NAME, open_storage
from tests.search.conftest import tiny_sets

REQUIRED = ["trial_id", "status", "error", "method", "rows", "cols", "neurons_per_tile",
            "cap_nt", "cap_r0", "cap_r1", "hop_energy_pj", "p1", "p3", "lr", "epochs",
            "batch_size", "w_thr", "prune_min_fraction", "tau", "accuracy", "val_accuracy",
            "train_accuracy", "chip_memory_cells", "memory_cells", "proxy_memory_cells",
            "synapse_cells", "mappable", "violations", "n_links", "n_weights", "hop_profile",
            "energy_pj_per_sample", "train_seconds", "on_front", "seed"]

pytestmark = pytest.mark.usefixtures("ray_session")


def _rows(directory, name="trials.parquet"):
    return pq.read_table(directory / name).to_pylist()


def test_search_writes_every_column_and_the_exact_front(data_root, tmp_path, monkeypatch):
    monkeypatch.delenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", raising=False)  # the driver's own
    # capacities every method's networks fit, so all three trials train
    cfg = load_config("tiny", tiny_sets(data_root, tmp_path, "e2e", 3, "hardware.cap_nt=32",
                                        "hardware.cap_r0=32", "hardware.cap_r1=32"))
    outcome = run_search(cfg, verbose=False)
    table = pq.read_table(outcome.directory / "trials.parquet")
    assert outcome.finished == 3 and table.num_rows == 3
    assert set(REQUIRED) <= set(table.column_names)
    rows = table.to_pylist()
    assert len({r["trial_id"] for r in rows}) == 3
    ok = [r for r in rows if r["status"] == "ok"]
    assert ok, [r["error"] for r in rows]
    for r in ok:
        assert 0.0 <= r["val_accuracy"] <= 1.0 and 0.0 <= r["accuracy"] <= 1.0
        assert r["memory_cells"] > 0 and r["train_seconds"] > 0 and r["n_links"] > 0
    feasible = [r for r in ok if r["mappable"]]
    mask = nondominated_mask(np.array([r["val_accuracy"] for r in feasible], dtype=float),
                             np.array([r["chip_memory_cells"] for r in feasible], dtype=float))
    expected = {r["trial_id"] for r, keep in zip(feasible, mask, strict=True) if keep}
    assert {r["trial_id"] for r in rows if r["on_front"]} == expected
    assert {r["trial_id"] for r in _rows(outcome.directory, "pareto.parquet")} == expected
    metadata = table.schema.metadata
    assert any(b"config" in key for key in metadata)
    assert (outcome.directory / "config.toml").read_text() == cfg.to_toml()
    # of Tune's loggers only result.json, which Tune reads back (TensorBoard: ~7 ms per trial)
    tune_logs = {p.name.split(".")[0] for p in (outcome.directory / "ray").rglob("*")
                 if p.name in ("result.json", "progress.csv") or p.name.startswith("events.")}
    assert tune_logs == {"result"}


def test_all_infeasible_suggestions_stop_the_search_naming_the_ranges(data_root, tmp_path):
    # no chip of this space hosts any sampled network: every suggestion fails the proxy in
    # the driver, none becomes a Ray trial, and the search stops after 4 in a row
    sets = tiny_sets(data_root, tmp_path, "infeasible", 2, "hardware.cap_r0=0",
                     "hardware.cap_r1=1", "search.max_consecutive_infeasible=4")
    with pytest.raises(SearchStopped, match=r"after 0 of 2 trials: the last 4 suggestions were "
                                            r"all infeasible .*cap_r1 up to \d+"):
        run_search(load_config("tiny", sets), verbose=False)
    directory = tmp_path / "infeasible"
    rows = _rows(directory)
    assert [r["status"] for r in rows] == ["infeasible"] * 4
    assert [r["trial_id"] for r in rows] == [f"infeasible-{i:05d}" for i in range(4)]
    assert all(r["train_seconds"] is None and r["val_accuracy"] is None for r in rows)
    assert all(not r["on_front"] and r["proxy_memory_cells"] > 0 for r in rows)
    assert all("cap_r1 1 < " in r["error"] for r in rows)
    assert _rows(directory, "pareto.parquet") == []
    study = optuna.load_study(study_name=STUDY_NAME, storage=open_storage(directory))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 4
    assert all(t.system_attrs.get("constraints:violations", 0) > 0 for t in study.trials)
    assert not list((directory / "ray").glob("run-*/trainable_*"))  # no Ray trial ran


def test_infeasible_suggestions_are_recorded_in_the_driver_and_trials_count_trained(
        data_root, tmp_path):
    # cap_r0 = 0 cannot host p3 = 0.2 (diagonal links cross R0 routers): those suggestions are
    # infeasible rows written by the driver; the other ones train, until 2 have trained
    sets = tiny_sets(data_root, tmp_path, "gated", 2, "hardware.cap_r0={choices=[0, 8]}",
                     "hardware.cap_r1=16", "training.method=routing_aware", "training.p3=0.2",
                     "search.seed=4")  # the random sampler's first draws: cap_r0 0, 0, 8, 8
    outcome = run_search(load_config("tiny", sets), verbose=False)
    rows = _rows(outcome.directory)
    infeasible = [r for r in rows if r["status"] == "infeasible"]
    trained = [r for r in rows if r["status"] != "infeasible"]
    assert outcome.finished == 2 and len(trained) == 2 and infeasible
    assert all(r["cap_r0"] == 0 for r in infeasible) and all(r["cap_r0"] == 8 for r in trained)
    assert all(r["trial_id"].startswith("infeasible-") for r in infeasible)
    params = list((outcome.directory / "ray").glob("run-*/trainable_*"))
    assert len(params) == 2  # only the trained configurations became Ray trials
    study = optuna.load_study(study_name=STUDY_NAME, storage=open_storage(outcome.directory))
    assert len(study.trials) == len(rows)
    by_row = {t.user_attrs["ray_trial_id"]: t for t in study.trials}
    assert set(by_row) == {r["trial_id"] for r in rows}
    for r in infeasible:
        assert by_row[r["trial_id"]].system_attrs["constraints:violations"] > 0
    # resuming the finished search trains nothing and duplicates nothing
    again = run_search(load_config("tiny", sets), resume=True, verbose=False)
    assert again.ran == 0 and _rows(outcome.directory) == rows


def test_a_failing_trial_is_an_error_row_and_the_search_goes_on(data_root, tmp_path):
    # lr = 1e3 diverges in training (a missing device is now refused before any trial)
    sets = tiny_sets(data_root, tmp_path, "fails", 2, "training.lr=1000.0",
                     "hardware.cap_nt=32", "hardware.cap_r0=32",
                     "hardware.cap_r1=32")  # every trial passes the proxy
    outcome = run_search(load_config("tiny", sets), verbose=False)
    rows = _rows(outcome.directory)
    assert len(rows) == 2 and {r["status"] for r in rows} == {"error"}
    assert all("diverged" in r["error"] for r in rows)
    study = optuna.load_study(study_name=STUDY_NAME, storage=open_storage(outcome.directory))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2


def test_resume_after_normal_stop_reaches_larger_count(data_root, tmp_path, capsys):
    sets = tiny_sets(data_root, tmp_path, "grow", 2)
    first = run_search(load_config("tiny", sets), verbose=False)
    before = {r["trial_id"]: r for r in _rows(first.directory)}
    assert main(["search", "--config", "tiny", *[f"--set={s}" for s in sets], "--trials", "4",
                 "--resume", "--quiet"]) == 0
    after = {r["trial_id"]: r for r in _rows(first.directory)}
    trained = [r for r in after.values() if r["status"] != "infeasible"]
    assert len(trained) == 4 and set(before) <= set(after)
    for trial_id, row in before.items():
        assert after[trial_id]["val_accuracy"] == row["val_accuracy"]
    # the resumed segment samples anew: it does not replay the first segment's draws
    first_draws = {(r["p1"], r["lr"]) for r in before.values()}
    assert not first_draws & {(r["p1"], r["lr"]) for i, r in after.items() if i not in before}
    study = optuna.load_study(study_name=STUDY_NAME, storage=open_storage(first.directory))
    assert len(study.trials) == len(after)  # the sampler kept its history across segments
    assert "results:" in capsys.readouterr().out
    # resuming a finished search runs nothing more
    assert run_search(load_config("tiny", [*sets, "search.trials=4"]), resume=True,
                      verbose=False).ran == 0


def test_new_vs_resume_rules_exit_2(data_root, tmp_path, capsys):
    sets = tiny_sets(data_root, tmp_path, "rules", 1)
    args = ["search", "--config", "tiny", *[f"--set={s}" for s in sets], "--quiet"]
    assert main([*args, "--resume"]) == 2
    assert "no search to resume" in capsys.readouterr().err
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    assert "already holds a search" in capsys.readouterr().err
    assert main([*args, "--resume", "--set=training.epochs=3"]) == 2
    err = capsys.readouterr().err
    assert "config differs" in err and "[training].epochs: 2 -> 3" in err
    assert main(["resume", str(tmp_path / "nope")]) == 2


def test_dry_run_prints_space_without_running(capsys, tmp_path):
    assert main(["search", "--config", "tiny", "--dry-run",
                 f"--set=search.storage={str(tmp_path)!r}"]) == 0
    out = capsys.readouterr().out
    assert "p1" in out and "cap_r1" in out
    assert not any(tmp_path.iterdir())


def test_train_command_json(data_root, tmp_path, capsys):
    links = tmp_path / "links.npy"
    assert main(["train", "--config", "tiny", f"--set=data.root={str(data_root)!r}", "--json",
                 "--set=training.epochs=2", "--save-links", str(links)]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("accuracy", "val_accuracy", "train_accuracy", "memory_cells",
                "chip_memory_cells", "mappable", "violations", "n_links", "n_weights",
                "hop_profile", "train_seconds"):
        assert key in report
    saved = np.load(links)
    assert saved.dtype == bool and saved.shape == (3 * 3 * 8, 9)
    assert int(saved.sum() - saved[np.arange(72), np.arange(72) // 8].sum()) == report["n_links"]


def test_storage_uri_holds_results_and_resumes(data_root, tmp_path):
    remote_dir = tmp_path / "bucket"
    sets = tiny_sets(data_root, f"file://{remote_dir}", "remote", 1)
    cfg = load_config("tiny", sets)
    run_search(cfg, verbose=False)
    first = [r for r in _rows(remote_dir / "remote") if r["status"] != "infeasible"]
    assert len(first) == 1 and (remote_dir / "remote" / "config.toml").is_file()
    assert not list((remote_dir / "remote").glob(".*upload"))
    grown = run_search(load_config("tiny", [*sets, "search.trials=2"]), resume=True,
                       verbose=False)
    rows = [r for r in _rows(remote_dir / "remote") if r["status"] != "infeasible"]
    assert grown.ran == 1 and len(rows) == 2 and first[0]["trial_id"] in {
        r["trial_id"] for r in rows}


@pytest.mark.parametrize(("flags", "message"), [
    (["--gpus-per-trial", "1"], "[search].gpus_per_trial = 1 but the Ray cluster has 0 GPUs"),
    (["--cpus-per-trial", "64"], "[search].cpus_per_trial = 64 but the Ray cluster has 2 CPUs"),
])
def test_impossible_resources_fail_fast_and_leave_the_name_usable(data_root, tmp_path, capsys,
                                                                  flags, message):
    sets = tiny_sets(data_root, tmp_path, "res", 1)
    args = ["search", "--config", "tiny", *[f"--set={s}" for s in sets], "--quiet"]
    assert main([*args, *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "res" / "config.toml").exists()
    assert main(args) == 0  # the failed start did not claim the name
