"""SIGTERM and Ctrl+C at every moment: exit 143 / 130, no traceback, and the resume command
only when there is a search to resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from analysis.io import read_table
from search.cli import main
from search.driver.signals import stop_signals
from tests.search.conftest import sigterm_and_wait, tiny_sets
from tests.search.test_faults import FITS
from tests.search.test_kill_and_cluster import CLI, _env


def _signal_self(signum: int):  # noqa: ANN202 - a stand-in for run_search or ray.init
    def stand_in(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        os.kill(os.getpid(), signum)
        time.sleep(30)  # the handler raises here
        raise AssertionError("the signal was not handled")

    return stand_in


def test_sigterm_while_ray_starts_reaches_our_handler(monkeypatch):
    import ray
    from ray._private import utils

    def ray_init(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - what ray.init does first
        utils.set_sigterm_handler(lambda signum, frame: sys.exit(signum))
        os.kill(os.getpid(), signal.SIGTERM)  # held until ray.init returns (test_cluster.py)

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", ray_init)
    monkeypatch.setattr(ray, "shutdown", lambda: None)  # not the test session's Ray
    from search.driver.cluster import init_ray

    with stop_signals() as stop, pytest.raises(KeyboardInterrupt):
        init_ray(None)
    assert stop.terminated and stop.exit_code == 143


@pytest.mark.parametrize(("signum", "code", "word"), [(signal.SIGTERM, 143, "terminated"),
                                                      (signal.SIGINT, 130, "interrupted")])
def test_a_search_stopped_before_it_started_has_nothing_to_resume(tmp_path, capsys,
                                                                  monkeypatch, signum, code,
                                                                  word):
    monkeypatch.setattr("search.driver.runner.run_search", _signal_self(signum))
    args = ["search", "--config", "tiny", "--quiet", f"--set=search.storage={str(tmp_path)!r}"]
    assert main(args) == code
    assert capsys.readouterr().err == (f"mosaic-dse: {word} before the search started; "
                                       "nothing to resume\n")
    (tmp_path / "tiny").mkdir(exist_ok=True)
    (tmp_path / "tiny" / "config.toml").write_text("")  # once written, there is a search
    assert main([*args, "--resume"]) == code
    assert capsys.readouterr().err == (f"mosaic-dse: {word}; finished trials are saved. Continue "
                                       f"with: mosaic-dse resume {tmp_path / 'tiny'}\n")


def test_a_library_error_raised_while_stopping_still_ends_143(tmp_path, capsys, monkeypatch):
    # Seen under load: SIGTERM while Optuna released its journal lock; the lock's cleanup
    # raised FileNotFoundError over our KeyboardInterrupt and the driver died with a traceback
    def cleanup_fails(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        try:
            _signal_self(signal.SIGTERM)()
        finally:
            raise FileNotFoundError("lock file vanished")

    monkeypatch.setattr("search.driver.runner.run_search", cleanup_fails)
    args = ["search", "--config", "tiny", "--quiet", f"--set=search.storage={str(tmp_path)!r}"]
    assert main(args) == 143
    assert capsys.readouterr().err == ("mosaic-dse: terminated before the search started; "
                                       "nothing to resume\n")
    monkeypatch.setattr("model.data.load_dataset", cleanup_fails)
    assert main(["train", "--config", "tiny", "--quiet"]) == 143
    assert capsys.readouterr().err.splitlines()[-1] == "mosaic-dse: terminated"


class Unhandled(Exception):
    """SIGTERM reached the handler outside main(): main installed none."""


def test_sigterm_in_train_is_143_with_one_line(capsys, monkeypatch):
    def outside(signum, frame):  # noqa: ANN001, ANN202
        raise Unhandled

    monkeypatch.setattr("model.data.load_dataset", _signal_self(signal.SIGTERM))
    previous = signal.signal(signal.SIGTERM, outside)
    try:
        assert main(["train", "--config", "tiny", "--quiet"]) == 143
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert capsys.readouterr().err.splitlines()[-1] == "mosaic-dse: terminated"


@pytest.mark.slow
@pytest.mark.parametrize("delay", [1.0, 4.0, 10.0])
def test_sigterm_at_several_moments_of_a_real_search(data_root, tmp_path, delay):
    sets = tiny_sets(data_root, tmp_path, "term", 2, "training.epochs=3",
                     "search.max_concurrent=1", *FITS)
    proc = subprocess.Popen([*CLI, "search", "--config", "tiny", "--quiet",
                             *[f"--set={s}" for s in sets]], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    err = sigterm_and_wait(proc, lambda: time.sleep(delay))  # a moment, not a timing check
    assert "Traceback" not in err, err[-3000:]
    trials = tmp_path / "term" / "trials.parquet"
    done = trials.is_file() and read_table(trials).num_rows == 2
    if proc.returncode in (0, -signal.SIGTERM) and done:  # the signal came after main() ended
        return
    if proc.returncode == -signal.SIGTERM:  # before Python reached main(): nothing ran
        assert err == ""
        return
    assert proc.returncode == 143, err[-3000:]
    last = err.strip().splitlines()[-1]
    resume_line = ("mosaic-dse: terminated; finished trials are saved. Continue with: "
                   f"mosaic-dse resume {tmp_path / 'term'}")
    if done:  # stopped while closing
        assert last in (resume_line, "mosaic-dse: terminated")
    elif (tmp_path / "term" / "config.toml").is_file():
        assert last == resume_line
    else:
        assert last in ("mosaic-dse: terminated before the search started; nothing to resume",
                        "mosaic-dse: terminated")
