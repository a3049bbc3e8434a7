"""One driver per results directory: an exclusive `flock` on the directory itself.

The lock belongs to the driver's open directory, so the OS drops it when the driver dies, even
by SIGKILL: it is never stale and nothing has to clean it up. A lock on a file inside could be
bypassed by deleting the file (a second driver would lock a new one); a directory that holds
results cannot be removed while it holds them. `<directory>/driver.lock` holds the holder's pid
for the message a second driver (search or resume) prints before it exits.

Where directories cannot be flock'ed (NFS emulates flock with write locks, which need a file
open for writing), the driver locks `driver.lock` instead and checks, once locked, that the
file is still the one at that path (else it was deleted meanwhile and it locks the new one).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from hardware.errors import ResultsError
from search.store.layout import DRIVER_LOCK

# what flock on a directory descriptor raises where the filesystem cannot lock directories
NO_DIRECTORY_LOCKS = frozenset({errno.EBADF, errno.EINVAL, errno.ENOLCK, errno.EOPNOTSUPP})


@contextlib.contextmanager
def hold_directory(directory: Path, create: bool = True) -> Iterator[None]:
    """Hold the driver lock of `directory` while the block runs; ResultsError if it is held.

    create: make the directory when missing (a new search). Without it a missing directory is
    not locked: there is nothing in it to resume, and the caller's own check says so.
    """
    if not create and not directory.is_dir():
        yield
        return
    fd = _locked(directory)
    try:
        _write_holder(directory)
        yield
    finally:
        os.close(fd)  # releases the lock


def _locked(directory: Path) -> int:
    """A descriptor holding the exclusive lock of `directory`; ResultsError when it is held."""
    fd = _open(directory, directory_itself=True)
    try:
        _flock(fd, directory)
        return fd
    except OSError as exc:  # not "held": that is a ResultsError
        os.close(fd)
        if exc.errno not in NO_DIRECTORY_LOCKS:
            raise
    while True:  # the lock-file fallback
        fd = _open(directory, directory_itself=False)
        _flock(fd, directory)
        if _same_file(fd, directory / DRIVER_LOCK):
            return fd
        os.close(fd)  # deleted (or replaced) between open and flock: lock the new one


def _flock(fd: int, directory: Path) -> None:
    """Take the exclusive lock on `fd`; ResultsError naming the holder (fd closed) when held."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ResultsError(f"{directory} is in use by another mosaic-dse driver (pid "
                           f"{_holder(directory)}); wait for it to finish or stop it, then "
                           "resume") from None


def _open(directory: Path, directory_itself: bool) -> int:
    """A read descriptor of `directory` (created if needed), or a read-write one of its lock
    file; ResultsError on I/O."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if directory_itself:
            return os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        return os.open(directory / DRIVER_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise ResultsError(f"cannot write the results directory {directory}: "
                           f"{exc.strerror or exc} (set --storage to a writable directory)"
                           ) from None


def _same_file(fd: int, path: Path) -> bool:
    """Whether `path` still names the file open as `fd`."""
    try:
        held, named = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)


def _write_holder(directory: Path) -> None:
    """Write this process's pid to `<directory>/driver.lock` (in place: the fallback's lock
    file must keep its inode); ResultsError on I/O."""
    try:
        fd = os.open(directory / DRIVER_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ResultsError(f"cannot write {directory / DRIVER_LOCK}: {exc.strerror or exc} "
                           "(set --storage to a writable directory)") from None


def _holder(directory: Path) -> str:
    """The pid the holding driver wrote ('unknown' while it has not written it, or when the
    file was deleted)."""
    try:
        text = (directory / DRIVER_LOCK).read_text(errors="replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"
