"""search/checkpoints.py: parameter keys and finding a trial's newest checkpoint again."""

from __future__ import annotations

import numpy as np

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
