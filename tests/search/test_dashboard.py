"""optuna-dashboard on a finished tiny search: the study names its objectives, each trial carries
the constraint and result attributes, and headless Chromium renders the trials and the front."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pyarrow.parquet as pq
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from analysis.objectives import DEFAULT_OBJECTIVES
from search.cli import main
from search.config.files import load_config
from search.driver.runner import run_search
from search.driver.searcher import STUDY_NAME
from tests.search.conftest import tiny_sets

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def finished_search(ray_session, data_root, tmp_path_factory) -> Path:
    """A tiny search of 2 trained trials (1 epoch), with infeasible suggestions among them."""
    storage = tmp_path_factory.mktemp("dashboard")
    cfg = load_config("tiny", tiny_sets(data_root, storage, "dash", 2, "training.epochs=1"))
    return run_search(cfg, verbose=False).directory


def _study(directory: Path) -> optuna.Study:
    storage = JournalStorage(JournalFileBackend(str(directory / "optuna-journal.log")))
    return optuna.load_study(study_name=STUDY_NAME, storage=storage)


def test_trials_carry_objective_names_constraint_and_result_attributes(finished_search):
    study = _study(finished_search)
    assert study.metric_names == [o.name for o in DEFAULT_OBJECTIVES]
    rows = {r["trial_id"]: r for r in pq.read_table(finished_search / "trials.parquet")
            .to_pylist()}
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == len(rows)  # every row is a told trial, infeasible ones included
    for trial in trials:
        row = rows[trial.user_attrs["ray_trial_id"]]
        attrs = trial.user_attrs
        assert (attrs["method"], attrs["status"]) == (row["method"], row["status"])
        assert attrs["chip_memory_cells"] == row["chip_memory_cells"]
        assert attrs["mappable"] == row["mappable"]
        assert attrs.get("test_accuracy") == row["accuracy"]  # absent when not trained
        feasible = row["status"] == "ok" and row["mappable"]
        assert (trial.system_attrs["constraints:violations"] <= 0) == feasible


def test_dashboard_without_a_study_exits_2_with_one_line(capsys, tmp_path):
    assert main(["dashboard", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"mosaic-dse: error: no Optuna study in {tmp_path}: optuna-journal.log is missing (pass "
        "the <storage>/<name> directory of a search)\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_served(url: str, server: subprocess.Popen) -> None:
    """Poll `url` until it answers (the server needs a few seconds to import and bind)."""
    for _ in range(600):
        assert server.poll() is None, server.communicate()[0]
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def _rendered(url: str) -> str:
    """The DOM of `url` after headless Chromium ran its scripts (15 s of virtual time)."""
    done = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
         "--virtual-time-budget=15000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def _text(html: str) -> str:
    html = re.sub(r"<style.*?</style>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install "
                                                   "chromium) to render the dashboard")
def test_dashboard_renders_trials_and_pareto_front_in_chromium(finished_search):
    trials = _study(finished_search).get_trials(states=(TrialState.COMPLETE,))
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "search.cli", "dashboard", str(finished_search), "--port",
         str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}/dashboard"
    try:
        _wait_until_served(f"http://127.0.0.1:{port}/api/studies", server)
        page = _rendered(f"{base}/studies/0")
        front = page[page.index('id="graph-pareto-front"'):page.index('id="plot-history"')]
        # one marker per finished trial; axes chosen among the named objectives
        assert len(re.findall(r'class="point"', front)) == len(trials)
        assert "Objective X: val_accuracy" in _text(page)
        assert "Objective Y: chip_memory_cells" in _text(page)
        trained = next(t for t in trials if t.user_attrs["status"] == "ok")
        detail = _text(_rendered(f"{base}/studies/0/trials?numbers={trained.number}"))
        assert f"{len(trials)} Trials" in detail
        for name in ("method", "chip_memory_cells", "mappable", "test_accuracy"):
            assert f"{name} {trained.user_attrs[name]}" in detail
    finally:
        server.terminate()
        server.wait(timeout=30)
