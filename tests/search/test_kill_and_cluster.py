"""The product's promises that need separate processes: resume after the driver is killed
with SIGKILL mid-search, and a search against a real `ray start --head` cluster."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.search.conftest import tiny_sets

CLI = [sys.executable, "-m", "search.cli"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled", PYTHONUNBUFFERED="1",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    return env


def _ids(path: Path) -> list[str]:
    return pq.read_table(path, columns=["trial_id"]).column("trial_id").to_pylist()


def _wait_for_rows(path: Path, n: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(_ids(path)) >= n:
            return
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "driver exited"
        time.sleep(0.2)
    raise AssertionError(f"no {n} rows in {path} after {timeout} s")


@pytest.mark.slow
def test_resume_after_sigkill_keeps_every_row_once(data_root, tmp_path):
    sets = tiny_sets(data_root, tmp_path, "killed", 5, "search.max_concurrent=1")
    args = ["search", "--config", "tiny", *[f"--set={s}" for s in sets]]
    proc = subprocess.Popen([*CLI, *args], env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    trials = tmp_path / "killed" / "trials.parquet"
    try:
        _wait_for_rows(trials, 2, proc, timeout=240)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and everything it started
        proc.wait()
    before = pq.read_table(trials).to_pylist()
    done = subprocess.run([*CLI, "resume", str(tmp_path / "killed"), "--quiet"], env=_env(),
                          capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    after = {r["trial_id"]: r for r in pq.read_table(trials).to_pylist()}
    ids = _ids(trials)
    assert len(ids) == 5 and len(set(ids)) == 5  # none lost, none duplicated
    for row in before:  # finished before the kill: kept as they were, never re-run
        assert after[row["trial_id"]]["val_accuracy"] == row["val_accuracy"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_search_on_a_local_ray_cluster(data_root, tmp_path):
    ray_bin = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    port = _free_port()
    head = subprocess.Popen([ray_bin, "start", "--head", "--block", "--node-ip-address",
                             "127.0.0.1", f"--port={port}", "--num-cpus=2",
                             "--include-dashboard=false", "--disable-usage-stats"],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        sets = tiny_sets(data_root, tmp_path, "cluster", 2)
        done = subprocess.run([*CLI, "search", "--config", "tiny", "--quiet",
                               "--address", f"127.0.0.1:{port}", *[f"--set={s}" for s in sets]],
                              env=_env(), capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        rows = pq.read_table(tmp_path / "cluster" / "trials.parquet").to_pylist()
        assert len(rows) == 2 and all(r["status"] in ("ok", "infeasible") for r in rows)
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
