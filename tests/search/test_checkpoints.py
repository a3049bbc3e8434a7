"""search/store/tune_checkpoints.py: parameter keys and finding a trial's newest checkpoint
again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from search.store.tune_checkpoints import STATE_FILE, latest_checkpoint, params_key


def _checkpoint(root, segment, trial, index, with_state=True):
    path = root / segment / trial / f"checkpoint_{index:06d}"
    path.mkdir(parents=True)
    if with_state:
        np.savez(path / STATE_FILE, epoch=np.array(index + 1))
    return path


def test_params_key_ignores_order_and_fixed_values():
    a = params_key({"lr": 0.01, "p1": 0.5, "epochs": 3}, ["p1", "lr"])
    assert a == params_key({"p1": 0.5, "lr": 0.01, "epochs": 9}, ["lr", "p1"])
    assert a != params_key({"p1": 0.5, "lr": 0.02}, ["p1", "lr"])


def test_latest_checkpoint_is_the_newest_complete_one_of_that_trial(tmp_path):
    ray = tmp_path / "ray"
    _checkpoint(ray, "run-1", "trainable_abc_1_lr=0.01", 0)
    _checkpoint(ray, "run-1", "trainable_abc_1_lr=0.01", 2)
    _checkpoint(ray, "run-1", "trainable_abc_1_lr=0.01", 3, with_state=False)  # being written
    _checkpoint(ray, "run-1", "trainable_abd_2_lr=0.02", 5)  # another trial
    expected = ray / "run-1" / "trainable_abc_1_lr=0.01" / "checkpoint_000002"
    assert latest_checkpoint(str(ray), "abc") == str(expected)
    assert latest_checkpoint(f"file://{ray}", "abc") == f"file://{expected}"
    assert latest_checkpoint(str(ray), "zzz") is None
    assert latest_checkpoint(str(tmp_path / "missing"), "abc") is None


def test_a_reported_checkpoint_leaves_no_staging_directory(tmp_path, monkeypatch):
    # Tune copies a reported checkpoint into its storage inside tune.report; the staging
    # directory in $TMPDIR must be gone afterwards, also when the report fails.
    import shutil
    import tempfile

    from ray import tune

    from model.train import EpochReport
    from search.driver.worker import report_epoch

    staging = tmp_path / "tmp"
    staging.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(staging))
    persisted = []

    def fake_report(metrics, checkpoint=None):
        target = tmp_path / f"storage{len(persisted)}"
        shutil.copytree(checkpoint.path, target)  # what Tune's persist_current_checkpoint does
        persisted.append(target)
        if metrics["epoch"] == 2:
            raise OSError("no space left on device")

    monkeypatch.setattr(tune, "report", fake_report)
    state = {"epoch": np.array(1), "w_rec": np.ones((2, 2), dtype=np.float32)}
    report_epoch(5.0, (), EpochReport(1, 3, 0.5, 0.25, 0.01, 4), lambda: state)
    with pytest.raises(OSError, match="no space"):
        report_epoch(5.0, (), EpochReport(2, 3, 0.5, 0.25, 0.01, 4), lambda: state)
    assert list(staging.iterdir()) == []
    with np.load(persisted[0] / STATE_FILE) as saved:
        assert saved["w_rec"].tolist() == [[1.0, 1.0], [1.0, 1.0]]


def _damaged(root, good: dict) -> list[str]:
    """Checkpoint directories (newest first) of one trial: five damaged ones over a sound one
    (epoch 2), as a full disk, a bad copy or a hostile edit would leave them."""
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **good)
    raw = buffer.getvalue()
    rng = np.random.default_rng(0)
    contents = [
        b"",  # written while the disk was full
        rng.integers(0, 256, len(raw), dtype=np.uint8).tobytes(),  # garbled
        raw[:len(raw) // 2],  # truncated
        good | {"w_rec": np.full_like(good["w_rec"], np.nan)},
        good | {"epoch": np.array(99), "curve": np.ones(99)},
        good,
    ]
    paths = []
    for index, content in zip(range(6, 0, -1), contents, strict=True):
        path = root / "run-1" / "trainable_abc12_00000_0_lr=0.01" / f"checkpoint_{index:06d}"
        path.mkdir(parents=True)
        if isinstance(content, bytes):
            (path / STATE_FILE).write_bytes(content)
        else:
            np.savez(path / STATE_FILE, **content)
        paths.append(str(path))
    return paths


def test_damaged_checkpoints_are_skipped_for_the_newest_sound_one(tmp_path):
    from search.driver.trial import TrialRecord
    from search.store.tune_checkpoints import choose_start
    from tests.model.test_checkpoint import SHAPE, saved_state

    good = saved_state()
    paths = _damaged(tmp_path, good)
    start = choose_start(paths, SHAPE)
    assert start.epoch == 2 and start.state["w_rec"].tolist() == good["w_rec"].tolist()
    reasons = ["not a readable archive", "not a readable archive", "not a readable archive",
               "w_rec holds non-finite values", "epoch 99 is outside 0..3"]
    assert len(start.skipped) == len(reasons)
    for index, (note, reason) in enumerate(zip(start.skipped, reasons, strict=True)):
        assert note.startswith(f"checkpoint_{6 - index:06d} of trainable_abc12_00000: ")
        assert reason in note and str(tmp_path) not in note
    record = start.annotate(TrialRecord("ok", "deepr", 10, 10))
    assert record.resumed_from_epoch == 2 and record.status == "ok"
    assert record.error.startswith("continued from epoch 2, skipping damaged checkpoints: "
                                   "checkpoint_000006 of trainable_abc12_00000: ")

    nothing = choose_start(paths[:-1], SHAPE)  # every one damaged: epoch 0, and it says so
    assert nothing.state is None and nothing.epoch == 0 and len(nothing.skipped) == 5
    failed = nothing.annotate(TrialRecord("error", "deepr", 10, 10, error="diverged: x"))
    assert failed.resumed_from_epoch == 0
    assert failed.error.startswith("diverged: x (restarted from epoch 0, skipping damaged")
    untouched = choose_start([], SHAPE).annotate(TrialRecord("ok", "deepr", 10, 10))
    assert untouched.resumed_from_epoch is None and untouched.error is None


class FakeTune:
    """tune.report / tune.get_checkpoint of one trial, persisting checkpoints as Tune does
    (copied to `<storage>/run-1/trainable_abc12_00000_0/checkpoint_N`)."""

    def __init__(self, storage, retry=None):
        self.storage, self.retry, self.results, self.checkpoints = storage, retry, [], []

    def report(self, metrics, checkpoint=None):
        import shutil

        if checkpoint is not None:
            target = (self.storage / "run-1" / "trainable_abc12_00000_0" /
                      f"checkpoint_{len(self.checkpoints):06d}")
            shutil.copytree(checkpoint.path, target)
            self.checkpoints.append(str(target))
        self.results.append(metrics)

    def get_checkpoint(self):
        return self.retry


def _trial(monkeypatch, cfg, data, fake, previous=()) -> dict:
    """The row a trial of `cfg` (every parameter fixed) reports through `fake`."""
    import json

    from ray import tune

    from search.driver.trial import TrialSettings
    from search.driver.worker import TrialContext, trainable
    from search.store.tune_checkpoints import params_key

    monkeypatch.setattr(tune, "report", fake.report)
    monkeypatch.setattr(tune, "get_checkpoint", fake.get_checkpoint)
    key = params_key({}, [p.name for p in cfg.searched])
    trainable({}, data, TrialContext(cfg, TrialSettings(), {key: tuple(previous)}))
    return json.loads(fake.results[-1]["record"])


def _fixed_tiny(data_root, *sets: str):
    """The tiny config with 3 epochs and every parameter fixed (a trial's params are {})."""
    from search.config.files import load_config

    return load_config("tiny", [f"data.root={str(data_root)!r}", "training.epochs=3",
                                "hardware.cap_r0=8", "hardware.cap_r1=16", "training.p1=0.8",
                                "training.p3=0.1", "training.lr=0.005",
                                "training.method='routing_aware'", *sets])


def test_a_trial_resumed_from_a_damaged_checkpoint_falls_back_and_says_so(
        data_root, tmp_path, monkeypatch):
    # issue 16 H3/M2: a resumed trial whose newest checkpoint is a zero-byte state.npz (the
    # disk was full) continues from the one before it, ends ok with the uninterrupted run's
    # result, and its row names the skipped checkpoint.
    from ray import tune

    from model.data import load_dataset

    cfg = _fixed_tiny(data_root, "search.checkpoint_every=1")
    data = load_dataset(cfg.data)
    whole = FakeTune(tmp_path / "whole")
    reference = _trial(monkeypatch, cfg, data, whole)
    assert reference["status"] == "ok" and reference["resumed_from_epoch"] is None
    assert len(whole.checkpoints) == 3
    (Path(whole.checkpoints[1]) / STATE_FILE).write_bytes(b"")
    resumed = _trial(monkeypatch, cfg, data, FakeTune(tmp_path / "resumed"),
                     previous=whole.checkpoints[1::-1])
    assert resumed["status"] == "ok" and resumed["resumed_from_epoch"] == 1
    assert resumed["error"].startswith("continued from epoch 1, skipping damaged checkpoints: "
                                       "checkpoint_000001 of trainable_abc12_00000: state.npz "
                                       "is not a readable archive")
    for key in ("val_accuracy", "accuracy", "n_links", "memory_cells", "hop_profile"):
        assert resumed[key] == reference[key], key
    retried = _trial(monkeypatch, cfg, data,  # Tune's own checkpoint (a retry) damaged too
                     FakeTune(tmp_path / "retried", tune.Checkpoint(whole.checkpoints[1])))
    assert retried["status"] == "ok" and retried["resumed_from_epoch"] == 0
    assert retried["error"].startswith("restarted from epoch 0, skipping damaged checkpoints")
    assert retried["val_accuracy"] == reference["val_accuracy"]


def test_a_trial_checkpoints_on_its_cadence(data_root, tmp_path, monkeypatch):
    # issue 15: every 2nd epoch of 3 is one checkpoint (after epoch 2); every epoch still reports
    from model.data import load_dataset

    cfg = _fixed_tiny(data_root, "search.checkpoint_every=2")
    fake = FakeTune(tmp_path)
    row = _trial(monkeypatch, cfg, load_dataset(cfg.data), fake)
    assert row["status"] == "ok"
    assert [r.get("epoch") for r in fake.results] == [1, 2, 3, None]
    assert len(fake.checkpoints) == 1
    with np.load(Path(fake.checkpoints[0]) / STATE_FILE) as saved:
        assert int(saved["epoch"]) == 2


def test_the_epoch_reporter_checkpoints_when_the_cadence_is_due(monkeypatch):
    from ray import tune

    from model.train import EpochReport
    from search.driver.worker import EpochReporter
    from search.store.tune_checkpoints import Cadence

    checkpointed = []
    monkeypatch.setattr(tune, "report", lambda metrics, checkpoint=None: checkpointed.append(
        checkpoint is not None))
    ticks = iter([100.0, 104.0, 111.0, 115.0, 120.0, 140.0, 141.0])  # start, then each epoch

    def epochs(reporter, n):
        checkpointed.clear()
        for epoch in range(1, n + 1):
            reporter(EpochReport(epoch, n, 0.5, 0.25, 0.01, 4), lambda: {"epoch": np.array(1)})
        return list(checkpointed)

    # 10 s cadence: epochs end 4, 11, 15, 20, 40, 41 s after the start; due at 11 (11 s after
    # the start), 40 (29 s after 11); at 20 only 9 s have passed since 11
    seconds = EpochReporter(5.0, (), Cadence(0, 10.0), clock=lambda: next(ticks))
    assert epochs(seconds, 6) == [False, True, False, False, True, False]
    assert epochs(EpochReporter(5.0, (), Cadence(3)), 7) == [False, False, True, False, False, True,
                                                           False]
    assert epochs(EpochReporter(5.0, (), Cadence(1)), 3) == [True, True, True]


def _study_with(runs):
    """An in-memory Optuna study of the searcher's shape: `runs` are (state, lr, ray trial id)
    in trial order; state WAITING enqueues lr."""
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"])
    for state, lr, ray_id in runs:
        if state == TrialState.WAITING:
            study.enqueue_trial({"lr": lr}, skip_if_exists=False)
            continue
        study.enqueue_trial({"lr": lr}, skip_if_exists=False)
        trial = study.ask({"lr": FloatDistribution(1e-3, 1e-2, log=True)})
        trial.set_user_attr("ray_trial_id", ray_id)
        if state == TrialState.COMPLETE:
            study.tell(trial, [0.5, 100.0])
        elif state == TrialState.FAIL:
            study.tell(trial, state=TrialState.FAIL)
    return study.get_trials(deepcopy=False)


def test_a_trial_interrupted_twice_continues_from_the_first_runs_checkpoints(tmp_path):
    # issue 16 (low): the first resume's run of an unfinished trial is killed before it saved a
    # checkpoint (or before it started): the second resume must still find the first run's.
    from optuna.trial import TrialState

    from search.store.tune_checkpoints import resume_checkpoints

    ray = tmp_path / "ray"
    first = [_checkpoint(ray, "run-1", "trainable_aaaaa_00000_0_lr=0.005", i) for i in (0, 1)]
    other = _checkpoint(ray, "run-1", "trainable_aaaaa_00001_1_lr=0.002", 0)
    (ray / "run-2" / "trainable_bbbbb_00000_0_lr=0.005").mkdir(parents=True)  # no checkpoint
    key = params_key({"lr": 0.005}, ["lr"])
    # killed again before the re-run saved a checkpoint: RUNNING was told FAIL and re-enqueued
    killed_running = _study_with([(TrialState.FAIL, 0.005, "aaaaa_00000"),
                                  (TrialState.COMPLETE, 0.002, "aaaaa_00001"),
                                  (TrialState.FAIL, 0.005, "bbbbb_00000"),
                                  (TrialState.WAITING, 0.005, "")])
    expected = {key: (str(first[1]), str(first[0]))}
    assert resume_checkpoints(killed_running, str(ray), ["lr"]) == expected
    # killed again before the re-enqueued trial started: it still waits in the queue
    killed_waiting = _study_with([(TrialState.FAIL, 0.005, "aaaaa_00000"),
                                  (TrialState.COMPLETE, 0.002, "aaaaa_00001"),
                                  (TrialState.WAITING, 0.005, "")])
    assert resume_checkpoints(killed_waiting, str(ray), ["lr"]) == expected
    # the re-run had saved one: it comes first, the first run's after it (fallbacks)
    second = _checkpoint(ray, "run-2", "trainable_bbbbb_00000_0_lr=0.005", 0)
    assert resume_checkpoints(killed_running, str(ray), ["lr"]) == {
        key: (str(second), str(first[1]), str(first[0]))}
    finished = _study_with([(TrialState.COMPLETE, 0.002, "aaaaa_00001")])
    assert resume_checkpoints(finished, str(ray), ["lr"]) == {}  # nothing to run again
    assert other.exists()
