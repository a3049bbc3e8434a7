"""search/checkpoints.py: parameter keys and finding a trial's newest checkpoint again."""

from __future__ import annotations

import numpy as np
import pytest

from search.checkpoints import STATE_FILE, latest_checkpoint, params_key


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
    from search.trainable import report_epoch

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
    report_epoch(5.0, EpochReport(1, 3, 0.5, 0.25, 0.01, 4), lambda: state)
    with pytest.raises(OSError, match="no space"):
        report_epoch(5.0, EpochReport(2, 3, 0.5, 0.25, 0.01, 4), lambda: state)
    assert list(staging.iterdir()) == []
    with np.load(persisted[0] / STATE_FILE) as saved:
        assert saved["w_rec"].tolist() == [[1.0, 1.0], [1.0, 1.0]]
