"""Crash recovery of the Optuna journal (`optuna-journal.log`: one JSON object per line).

A driver that dies mid-append (power loss, full disk) can leave a last line cut short, and a
killed one can leave Optuna's lock file behind. Optuna appends after a torn line, which makes
every later read fail, and waits out a 30 s grace period on a stale lock. `recover_journal`
fixes both before a resume, under the driver lock (`search.lock`), so no other driver is
writing the journal while it does.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from analysis.io import atomic_write_bytes
from hardware.errors import ResultsError

log = logging.getLogger(__name__)
# optuna 5's default JournalFileSymlinkLock: a symlink `<journal>.lock`, removed on release
OPTUNA_LOCK_SUFFIX = ".lock"


@dataclass(frozen=True)
class TornTail:
    """What `repair_tail` cut: the bytes after the last whole line, kept in `backup`."""

    backup: Path
    dropped_bytes: int
    kept_lines: int


def recover_journal(path: Path) -> None:
    """Remove a stale Optuna lock and cut a torn tail off `path`, logging one line for each.

    Call only while holding the directory's driver lock. ResultsError when the journal is
    damaged before its tail or cannot be rewritten.
    """
    lock = path.with_name(path.name + OPTUNA_LOCK_SUFFIX)
    try:
        if os.path.lexists(lock):
            os.unlink(lock)
            log.warning("removed the stale Optuna lock %s left by a stopped driver", lock)
        torn = repair_tail(path)
    except OSError as exc:
        raise ResultsError(f"cannot repair {path}: {exc.strerror or exc} (make its directory "
                           "writable, then resume)") from None
    if torn is not None:
        log.warning("repaired %s: cut %d bytes of a torn last write after line %d (the whole "
                    "file is kept in %s)", path, torn.dropped_bytes, torn.kept_lines,
                    torn.backup)


def repair_tail(path: Path) -> TornTail | None:
    """Cut `path` after its last whole line when only its tail is torn; None when it is whole.

    A line is whole when it ends with a newline and holds valid JSON. The original file is
    copied to `<path>.<time>.bak` first and the journal is replaced atomically.
    """
    if not path.is_file():
        return None
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    whole = [_is_whole(line) for line in lines]
    if all(whole):
        return None
    first_bad = whole.index(False)
    if any(whole[first_bad:]):
        raise ResultsError(f"{path} line {first_bad + 1} is not valid JSON but later lines "
                           "are: the journal is damaged beyond a torn last write (restore it "
                           "from a backup, or start a new --name)")
    keep = sum(len(line) for line in lines[:first_bad])
    backup = path.with_name(f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.bak")
    atomic_write_bytes(backup, data)
    atomic_write_bytes(path, data[:keep])
    return TornTail(backup, len(data) - keep, first_bad)


def _is_whole(line: bytes) -> bool:
    if not line.endswith(b"\n"):
        return False
    try:
        json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return False
    return True
