"""Connecting to Ray: address checks, a fast reachability probe, and a resource check.

Bad addresses and impossible resource requests become one-line ConfigErrors instead of a
traceback or a search that waits forever for resources that never come.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

from hardware.errors import ConfigError

ADDRESS = re.compile(r"^(?P<host>[A-Za-z0-9_.\-]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")


def check_address(address: str) -> None:
    """ConfigError unless `address` is "auto" or a reachable HOST:PORT."""
    if address == "auto":
        return
    if address.startswith("ray://"):
        raise ConfigError(f"--address {address}: Ray Client is not supported (its driver runs on "
                          "the head node, away from the results directory); run mosaic-dse on "
                          "the head node with --address auto")
    match = ADDRESS.match(address)
    if match is None:
        raise ConfigError(f"--address must be auto or HOST:PORT, got {address!r} "
                          "(e.g. --address 10.0.0.5:6379)")
    host, port = match["host"].strip("[]"), int(match["port"])
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise ConfigError(f"no Ray cluster answers at {address} ({exc.strerror or exc}); start "
                          "one with `ray start --head` or fix --address") from None


def init_ray(address: str | None) -> bool:
    """Connect to `address` or start a local Ray on 127.0.0.1; False if Ray was already
    initialised. The caller's SIGTERM handler stays in place throughout: ray.init would
    replace it with sys.exit(15) while it starts (a silent exit 15 for a SIGTERM then). A
    SIGTERM or Ctrl+C while Ray starts waits until it has started, then Ray is shut down and
    the signal delivered to the caller's handler."""
    import ray

    if ray.is_initialized():
        return False
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        if address:
            check_address(address)
            try:
                with _kept_sigterm_handler(), _stops_held_while_ray_starts():
                    ray.init(address=address, **quiet)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ConfigError(f"cannot join the Ray cluster at {address}: {first}") from None
        else:
            with _loopback_node(), _kept_sigterm_handler(), _stops_held_while_ray_starts():
                ray.init(address="local", include_dashboard=False, **quiet)
    finally:
        if sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, sigterm)
    return True


@contextlib.contextmanager
def _stops_held_while_ray_starts() -> Iterator[None]:
    """Hold SIGTERM and SIGINT while the block starts Ray (main thread only); if one came, shut
    the started Ray down (still held: ray.shutdown may put back the handlers of its own start),
    put the caller's handlers back and deliver the signal to them. A KeyboardInterrupt raised
    inside ray.init's construction of its core worker left a half-built Ray that crashed the
    interpreter's exit (SIGSEGV after the stop line, about 1 stop in 2 at that moment)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum))
                for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
        if held:
            import ray

            ray.shutdown()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held:
            signal.raise_signal(held[0])


def shutdown_ray(started: bool, address: str | None) -> None:
    """Shut down the Ray this driver started; a local one also loses its session directory
    (/tmp/ray/session_*: ~0.5 MB of logs per search, never cleaned by Ray). A cluster's
    session (address given) belongs to the cluster and is left alone."""
    if not started:
        return
    import shutil

    import ray
    from ray._private import worker  # private: the session path (checked on ray 2.60)

    node = getattr(worker, "_global_node", None)
    session = Path(node.get_session_dir_path()) if node is not None and not address else None
    ray.shutdown()
    if session is None or not session.is_dir():
        return
    shutil.rmtree(session, ignore_errors=True)
    latest = session.parent / "session_latest"
    if latest.is_symlink() and not latest.exists():  # it pointed at the removed session
        latest.unlink(missing_ok=True)


@contextlib.contextmanager
def _kept_sigterm_handler() -> Iterator[None]:
    """Keep ray.init from installing its SIGTERM handler (checked on ray 2.60: it does so
    through ray._private.utils.set_sigterm_handler, looked up at call time)."""
    from ray._private import utils

    install = utils.set_sigterm_handler
    utils.set_sigterm_handler = lambda handler: None
    try:
        yield
    finally:
        utils.set_sigterm_handler = install


@contextlib.contextmanager
def _loopback_node() -> Iterator[None]:
    """Make the Ray started inside the block a loopback-only node.

    Ray's processes bind 127.0.0.1 only when the node's address is 127.0.0.1, and ray.init turns
    a given 127.0.0.1 into the machine's address unless clusters are disabled (what
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 sets, read once at import): so disable them while the
    node starts. Checked on ray 2.60 (tests/search/test_faults.py lists the ports it opens).
    """
    from ray._private import ray_constants

    enabled = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = enabled


def check_resources(cpus_per_trial: float, gpus_per_trial: float) -> None:
    """ConfigError when one trial asks for more CPUs/GPUs than the whole cluster has.

    Skipped when MOSAIC_DSE_AUTOSCALING is set (an autoscaler will add nodes).
    """
    import ray

    if os.environ.get("MOSAIC_DSE_AUTOSCALING"):
        return
    total = ray.cluster_resources()
    for key, wanted, flag in (("CPU", cpus_per_trial, "cpus_per_trial"),
                              ("GPU", gpus_per_trial, "gpus_per_trial")):
        have = float(total.get(key, 0.0))
        if wanted > have:
            raise ConfigError(f"[search].{flag} = {wanted:g} but the Ray cluster has {have:g} "
                              f"{key}s in all (lower --{flag.replace('_', '-')}, or set "
                              "MOSAIC_DSE_AUTOSCALING=1 if nodes will be added)")
