"""Ray addresses: bad formats, Ray Client and unreachable clusters fail fast with one line."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from hardware.errors import ConfigError
from search.driver.cluster import check_address
from search.driver.runner import segment_seed
from tests.search.test_kill_and_cluster import _env


@pytest.mark.parametrize(("address", "message"), [
    ("notaurl", "--address must be auto or HOST:PORT, got 'notaurl'"),
    ("ray://10.0.0.1:10001", "Ray Client is not supported"),
    ("host:99999999", "--address must be auto or HOST:PORT"),
])
def test_bad_address_formats(address, message):
    with pytest.raises(ConfigError) as info:
        check_address(address)
    assert message in str(info.value)


def test_unreachable_cluster_is_reported_not_waited_for():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConfigError, match=f"no Ray cluster answers at 127.0.0.1:{port}"):
        check_address(f"127.0.0.1:{port}")


def test_auto_and_listening_ports_pass():
    check_address("auto")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        check_address(f"127.0.0.1:{s.getsockname()[1]}")


def test_segment_seed_is_the_seed_first_then_derived():
    assert segment_seed(7, 0) == 7
    later = {segment_seed(7, n) for n in (1, 2, 5)}
    assert len(later) == 3 and 7 not in later
    assert segment_seed(7, 5) == segment_seed(7, 5)  # reproducible


def test_a_local_ray_the_driver_started_leaves_no_session_directory():
    # Ray never removes /tmp/ray/session_* (~0.5 MB of logs per search, issue 16)
    import subprocess
    import sys

    code = ("from pathlib import Path; from ray._private import worker\n"
            "from search.driver.cluster import init_ray, shutdown_ray\n"
            "assert init_ray(None)\n"
            "session = Path(worker._global_node.get_session_dir_path())\n"
            "assert session.is_dir()\n"
            "shutdown_ray(True, None)\n"
            "print(session, session.exists())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env=_env())
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("False")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_ray_starts_waits_for_it_then_shuts_it_down(monkeypatch, signum):
    # A KeyboardInterrupt raised inside ray.init (its core worker half built) crashed the
    # interpreter's exit with SIGSEGV after the stop line: the signal must wait for ray.init.
    import ray

    from search.driver.cluster import init_ray

    calls = []

    def fake_init(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        os.kill(os.getpid(), signum)
        time.sleep(0.2)  # a handler that raises would cut this call short here
        calls.append("init done")

    def on_signal(signum, frame):  # noqa: ANN001, ANN202
        calls.append("handler")
        raise KeyboardInterrupt

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", fake_init)

    def fake_shutdown() -> None:  # as a Ray that puts back the handlers of its own start
        calls.append("shutdown")
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, lambda signum, frame: calls.append("ray's handler"))

    monkeypatch.setattr(ray, "shutdown", fake_shutdown)
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with pytest.raises(KeyboardInterrupt):
            init_ray(None)
        assert calls == ["init done", "shutdown", "handler"]
        assert signal.getsignal(signum) is on_signal  # the caller's handler is back
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
