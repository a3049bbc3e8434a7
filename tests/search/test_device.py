"""The training device is checked before data and the first trial: one line, exit 2."""

from __future__ import annotations

import pytest

from search.cli import main
from search.driver.device import device_problem, trial_cuda_devices


@pytest.mark.parametrize(("name", "cuda", "mps", "problem"), [
    ("auto", 0, False, None), ("cpu", 0, False, None), ("cuda", 1, False, None),
    ("cuda:1", 2, False, None), ("mps", 0, True, None),
    ("cuda", 0, True, "CUDA is not available on this machine"),
    ("cuda:3", 0, False, "CUDA is not available on this machine"),
    ("cuda:1", 1, False, "a trial sees 1 CUDA device(s), cuda:0 to cuda:0"),
    ("mps", 2, False, "MPS is not available on this machine")])
def test_device_problem(name, cuda, mps, problem):
    assert device_problem(name, cuda, mps) == problem


def test_a_trial_sees_the_gpus_ray_assigned_it():
    assert trial_cuda_devices(4, 0.0) == 4  # none assigned: Ray leaves CUDA_VISIBLE_DEVICES
    assert trial_cuda_devices(4, 0.5) == 1 and trial_cuda_devices(4, 2) == 2
    assert trial_cuda_devices(1, 2) == 1


def _no_accelerator_and_no_work(monkeypatch) -> None:  # noqa: ANN001
    import torch

    def started(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("work started")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr("model.data.load_dataset", started)
    monkeypatch.setattr("search.driver.runner.init_ray", started)


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_search_and_train_refuse_a_missing_device_before_any_work(tmp_path, capsys,
                                                                  monkeypatch, device):
    _no_accelerator_and_no_work(monkeypatch)
    sets = [f"--set=training.device={device!r}", f"--set=search.storage={str(tmp_path)!r}"]
    words = "CUDA" if device == "cuda" else "MPS"
    line = (f"mosaic-dse: error: [training].device = '{device}' but {words} is not available on "
            "this machine (set [training].device = \"auto\" or \"cpu\")\n")
    assert main(["search", "--config", "tiny", "--quiet", *sets]) == 2
    assert capsys.readouterr().err == line
    assert main(["train", "--config", "tiny", "--quiet", *sets]) == 2
    assert capsys.readouterr().err == line
    assert not (tmp_path / "tiny" / "config.toml").exists()
