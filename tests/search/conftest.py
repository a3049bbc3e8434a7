"""Search fixtures: one session-scoped local Ray (2 CPUs) and one shared synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ray_session():
    """A real local Ray cluster with limited CPUs, shared by every search test."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """A data root where the tiny synthetic dataset is generated once for the session."""
    from model.data import load_dataset
    from search.config.files import load_config

    root = tmp_path_factory.mktemp("data")
    load_dataset(load_config("tiny", [f"data.root={str(root)!r}"]).data)
    return root


def tiny_sets(data_root: Path, storage: Path, name: str, trials: int, *extra: str) -> list[str]:
    """--set overrides for a tiny search under `storage`."""
    return [f"data.root={str(data_root)!r}", f"search.storage={str(storage)!r}",
            f"search.name={name!r}", f"search.trials={trials}", "training.epochs=2", *extra]


def read_while_writing(read, store, rows: int) -> tuple[list, list]:
    """(values `read()` returned, exceptions it raised) while `store` adds `rows` records
    t1..t<rows> (store: a search.store.results.ResultsStore); `read` runs in a loop on a thread."""
    import threading

    from tests.analysis.factories import record

    seen, failures, done = [], [], threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                seen.append(read())
            except Exception as exc:  # noqa: BLE001 - any failed read is the finding
                failures.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(1, rows):
        store.add(record(f"t{i}", i / rows))
    done.set()
    thread.join()
    return seen, failures


def sigterm_and_wait(proc, wait_until=None) -> str:  # noqa: ANN001
    """SIGTERM the driver `proc` (its own session) once `wait_until()` holds (if given), and
    return its stderr; whatever is left of its process group is SIGKILLed afterwards."""
    import os
    import signal

    try:
        if wait_until is not None:
            wait_until()
        proc.send_signal(signal.SIGTERM)
        return proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
