"""One driver per results directory: the driver lock, and two real drivers on one directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hardware.errors import ResultsError
from search.cli import main
from search.store.lock import hold_directory
from tests.search.conftest import tiny_sets
from tests.search.test_faults import FITS
from tests.search.test_kill_and_cluster import CLI, _env


def test_a_second_holder_is_refused_with_the_directory_and_the_pid(tmp_path):
    directory = tmp_path / "run"
    with hold_directory(directory):
        assert (directory / "driver.lock").read_text() == f"{os.getpid()}\n"
        # flock locks belong to open files: a second open in this process conflicts too
        message = f"{directory} is in use by another mosaic-dse driver \\(pid {os.getpid()}\\)"
        with pytest.raises(ResultsError, match=message), hold_directory(directory):
            pass
    with hold_directory(directory):  # released on exit
        pass


def test_resume_of_a_missing_directory_creates_nothing(tmp_path):
    with hold_directory(tmp_path / "absent", create=False):
        pass
    assert not (tmp_path / "absent").exists()


def test_an_unwritable_directory_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ResultsError, match="cannot write the results directory .*file/run: "
                                           "Not a directory"):
        with hold_directory(tmp_path / "file" / "run"):
            pass


HOLDER = ("import sys, time; from pathlib import Path; from search.store.lock import "
          "hold_directory\nwith hold_directory(Path(sys.argv[1])):\n"
          "    print('held', flush=True); time.sleep(60)")


def _holding_process(directory):  # noqa: ANN001, ANN202
    """A process holding `directory`'s lock until killed (it printed 'held' when it has it)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], env=_env(),
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "held\n"
    return proc


def test_sigkill_never_leaves_the_lock_stale(tmp_path):
    proc = _holding_process(tmp_path)
    try:
        with pytest.raises(ResultsError, match=f"pid {proc.pid}"), hold_directory(tmp_path):
            pass
    finally:
        proc.kill()
        proc.wait()
    started = time.monotonic()
    with hold_directory(tmp_path):  # at once: the OS released it with the process
        assert time.monotonic() - started < 1


def test_deleting_the_lock_file_under_a_driver_does_not_let_a_second_one_in(tmp_path):
    proc = _holding_process(tmp_path)
    try:
        (tmp_path / "driver.lock").unlink()
        with pytest.raises(ResultsError, match=f"{tmp_path} is in use by another mosaic-dse "
                                               "driver \\(pid unknown\\)"):
            with hold_directory(tmp_path):
                pass
        (tmp_path / "driver.lock").write_text("")  # a new lock file changes nothing either
        with pytest.raises(ResultsError, match="in use by another mosaic-dse driver"):
            with hold_directory(tmp_path):
                pass
    finally:
        proc.kill()
        proc.wait()
    with hold_directory(tmp_path):
        pass


def test_without_directory_locks_a_lock_file_deleted_before_it_is_locked_is_not_held(
        tmp_path, monkeypatch):
    import errno
    import fcntl
    import stat

    flock, deleted = fcntl.flock, []

    def no_directory_locks(fd, operation):  # noqa: ANN001, ANN202 - NFS-like, and a racer
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EBADF, "Bad file descriptor")
        if not deleted:  # another driver deletes the file this one opened and makes a new one
            deleted.append(True)
            (tmp_path / "driver.lock").unlink()
            (tmp_path / "driver.lock").write_text("")
        return flock(fd, operation)

    monkeypatch.setattr("search.store.lock.fcntl.flock", no_directory_locks)
    with hold_directory(tmp_path):
        assert deleted and (tmp_path / "driver.lock").read_text() == f"{os.getpid()}\n"
        with pytest.raises(ResultsError, match=f"pid {os.getpid()}"), hold_directory(tmp_path):
            pass


@pytest.mark.slow
def test_a_second_driver_exits_2_and_the_first_keeps_every_row(data_root, tmp_path, capsys):
    sets = tiny_sets(data_root, tmp_path, "dup", 2, "training.epochs=1",
                     "search.max_concurrent=1", *FITS)
    args = ["search", "--config", "tiny", "--quiet", *[f"--set={s}" for s in sets]]
    proc = subprocess.Popen([*CLI, *args], env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    directory = tmp_path / "dup"
    try:
        _wait_for(lambda: _holder(directory) == str(proc.pid), proc, timeout=120)
        assert main(args) == 2  # a second search of the same name
        assert capsys.readouterr().err.strip() == (
            f"mosaic-dse: error: {directory} is in use by another mosaic-dse driver (pid "
            f"{proc.pid}); wait for it to finish or stop it, then resume")
        _wait_for(lambda: (directory / "config.toml").is_file(), proc, timeout=120)
        assert main(["resume", str(directory), "--quiet"]) == 2  # a resume of it
        assert f"(pid {proc.pid})" in capsys.readouterr().err
        err = proc.communicate(timeout=400)[1]
        assert proc.returncode == 0, err[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "2/2 trials finished (2 this run)" in err
    rows = pq.read_table(directory / "trials.parquet").to_pylist()
    assert len(rows) == 2 and len({r["trial_id"] for r in rows}) == 2


def _holder(directory: Path) -> str:
    try:
        return (directory / "driver.lock").read_text().strip()
    except FileNotFoundError:
        return ""


def _wait_for(condition, proc: subprocess.Popen, timeout: float) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.monotonic() < deadline, f"not reached within {timeout} s"
        time.sleep(0.1)
