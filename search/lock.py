"""One driver per results directory: an exclusive `flock` on `<directory>/driver.lock`.

The lock belongs to the driver's open file, so the OS drops it when the driver dies, even by
SIGKILL: it is never stale and nothing has to clean it up. The file holds the holder's pid for
the message a second driver (search or resume) prints before it exits.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from hardware.errors import ResultsError
from search.layout import DRIVER_LOCK


@contextlib.contextmanager
def hold_directory(directory: Path, create: bool = True) -> Iterator[None]:
    """Hold the driver lock of `directory` while the block runs; ResultsError if it is held.

    create: make the directory when missing (a new search). Without it a missing directory is
    not locked: there is nothing in it to resume, and the caller's own check says so.
    """
    if not create and not directory.is_dir():
        yield
        return
    fd = _open_lock_file(directory)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResultsError(f"{directory} is in use by another mosaic-dse driver (pid "
                               f"{_holder(fd)}); wait for it to finish or stop it, then "
                               "resume") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _open_lock_file(directory: Path) -> int:
    """The lock file's descriptor (created with the directory if needed); ResultsError on I/O."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return os.open(directory / DRIVER_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise ResultsError(f"cannot write the results directory {directory}: "
                           f"{exc.strerror or exc} (set --storage to a writable directory)"
                           ) from None


def _holder(fd: int) -> str:
    """The pid the holding driver wrote ('unknown' while it has not written it yet)."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return text if text.isdigit() else "unknown"
