"""StudyStorage: the driver's journal storage answers as Optuna's JournalStorage does, writes the
same file, and makes its writes durable on `sync`."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from search.driver.searcher import make_sampler
from search.store.study_storage import StudyStorage

STATE_SETS = [None, (TrialState.WAITING,), (TrialState.RUNNING,),
              (TrialState.WAITING, TrialState.RUNNING), (TrialState.COMPLETE,),
              (TrialState.COMPLETE, TrialState.PRUNED), (TrialState.RUNNING, TrialState.FAIL)]


def _random_study(path: Path, seed: int, n: int) -> optuna.Study:
    """A study in a StudyStorage with trials left in every state, in random order."""
    rng = np.random.default_rng(seed)
    study = optuna.create_study(storage=StudyStorage(str(path)), directions=["minimize"])
    running = []
    for _ in range(n):
        action = rng.integers(5)
        if action == 0:
            study.enqueue_trial({"x": float(rng.random())})
        elif action == 1 and running:
            trial = running.pop(int(rng.integers(len(running))))
            state = [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL][rng.integers(3)]
            study.tell(trial, float(rng.random()) if state == TrialState.COMPLETE else None,
                       state=state)
        else:
            trial = study.ask()
            trial.suggest_float("x", 0, 1)
            running.append(trial)
    return study


def _summary(trials: list) -> list[tuple]:
    return [(t.number, t.state, t.params, t.values) for t in trials]


@pytest.mark.parametrize("seed", range(4))
def test_queries_agree_with_optuna_journal_storage(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "journal.log"
    study = _random_study(path, seed, 60)
    plain = JournalStorage(JournalFileBackend(str(path)))
    fast = study._storage
    for states in STATE_SETS:
        for deepcopy in (False, True):
            expected = plain.get_all_trials(study._study_id, deepcopy=deepcopy, states=states)
            got = fast.get_all_trials(study._study_id, deepcopy=deepcopy, states=states)
            assert _summary(got) == _summary(expected), states
        for count in (1, 5, 200):
            expected = plain.get_all_trials(study._study_id, deepcopy=False, states=states)
            got = fast.recent_trials(study._study_id, count, states)
            assert _summary(got) == _summary(expected[-count:]), (states, count)
    _random_study(path, seed + 10, 10)  # another study... in the same file is not ours
    with pytest.raises(KeyError):
        fast.recent_trials(99, 3)


def test_the_unfinished_scan_follows_trials_finishing_in_any_order(tmp_path: Path) -> None:
    study = optuna.create_study(storage=StudyStorage(str(tmp_path / "j.log")))
    trials = [study.ask() for _ in range(6)]
    running = (TrialState.RUNNING,)
    told = set()
    for k in (3, 0, 1, 5, 2):
        study.tell(trials[k], 1.0)
        told.add(k)
        left = study._storage.get_all_trials(study._study_id, False, running)
        assert [t.number for t in left] == [t.number for t in trials if t.number not in told]


def test_writes_reach_the_file_at_once_and_disk_on_sync(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "j.log"
    storage = StudyStorage(str(path))
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    study = optuna.create_study(storage=storage, study_name="s")
    study.enqueue_trial({"x": 0.5})
    assert synced == []  # no fsync per operation
    reader = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(
        str(path))))
    assert len(reader.trials) == 1  # a SIGKILL now loses nothing: the lines are in the file
    storage.sync()
    storage.sync()  # nothing new: no second fsync
    assert len(synced) == 1


def test_other_writers_are_seen(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    ours = optuna.create_study(storage=StudyStorage(str(path)), study_name="s")
    ours.enqueue_trial({"x": 0.1})
    theirs = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(
        str(path))))
    theirs.enqueue_trial({"x": 0.2})
    waiting = ours.get_trials(states=(TrialState.WAITING,))
    assert [t.system_attrs["fixed_params"] for t in waiting] == [{"x": 0.1}, {"x": 0.2}]


def test_a_pickled_storage_replays_the_file(tmp_path: Path) -> None:
    storage = StudyStorage(str(tmp_path / "j.log"))
    study = optuna.create_study(storage=storage, study_name="s")
    for _ in range(3):
        study.tell(study.ask(), 1.0)
    copy = pickle.loads(pickle.dumps(storage))  # Tune checkpoints the searcher with it
    again = optuna.load_study(study_name="s", storage=copy)
    assert len(again.get_trials(states=(TrialState.RUNNING,))) == 0
    assert len(copy.recent_trials(again._study_id, 2)) == 2


def _suggestions(storage, n: int) -> list[dict]:
    study = optuna.create_study(storage=storage, directions=["maximize", "minimize"],
                                sampler=make_sampler("tpe", 5, window=12))
    out = []
    for _ in range(n):
        trial = study.ask()
        x, y = trial.suggest_float("x", 0, 1), trial.suggest_int("c", 4, 32, step=4)
        trial.set_constraint("violations", 1.0 if x < 0.2 else 0.0)
        study.tell(trial, [x * (1 - x), y * (1 + x)])
        out.append(trial.params)
    return out


def test_windowed_tpe_suggests_the_same_on_every_storage(tmp_path: Path) -> None:
    fast = _suggestions(StudyStorage(str(tmp_path / "a.log")), 30)
    plain = _suggestions(JournalStorage(JournalFileBackend(str(tmp_path / "b.log"))), 30)
    assert fast == plain == _suggestions(optuna.storages.InMemoryStorage(), 30)


def test_the_searcher_syncs_once_per_trial_and_forgets_told_trials(tmp_path: Path,
                                                                    monkeypatch) -> None:
    from search.config.files import load_config
    from search.config.space import OptunaSpace
    from search.driver.searcher import STUDY_NAME, ConstrainedOptunaSearch, open_storage

    cfg = load_config("tiny")
    searcher = ConstrainedOptunaSearch(
        space=OptunaSpace.from_config(cfg), objectives=cfg.search.objective_list,
        storage=open_storage(tmp_path), sampler=optuna.samplers.RandomSampler(seed=0),
        study_name=STUDY_NAME)
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    for k in range(3):
        searcher.suggest(f"t{k}")
        assert len(synced) == k + 1  # the trial's Ray id is durable before it runs
        searcher.on_trial_complete(f"t{k}", {"val_accuracy": 0.5, "chip_memory_cells": 10.0,
                                             "constraint": 0.0, "status": "ok"})
        assert len(synced) == k + 1  # the tell rides on the next suggestion's fsync
    assert searcher._ot_trials == {}  # nothing kept per told trial
    searcher.on_trial_complete("t1", {"val_accuracy": 0.5})  # a repeat is ignored
    study = optuna.load_study(study_name=STUDY_NAME, storage=JournalStorage(
        JournalFileBackend(str(tmp_path / "optuna-journal.log"))))
    assert [t.user_attrs["ray_trial_id"] for t in study.trials] == ["t0", "t1", "t2"]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
