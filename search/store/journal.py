"""Crash recovery of the Optuna journal (`optuna-journal.log`: one JSON object per line).

A driver that dies mid-append (power loss, full disk) can leave a last line cut short, and a
killed one can leave Optuna's lock file behind. Optuna appends after a torn line, which makes
every later read fail, and waits out a 30 s grace period on a stale lock. `recover_journal`
fixes both before a resume, under the driver lock (`search.store.lock`), so no other driver is
writing the journal while it does. `check_journal` then refuses a journal that is not the
study the stored rows came from: one emptied, deleted or replaced by an older copy would let
the sampler replay its draws (training configurations again) and reuse trial numbers.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from analysis.io import atomic_write_bytes
from hardware.errors import ResultsError
from search.store.layout import TRIALS_FILE

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


# what to do about a journal that is not the study of the rows (one line, ends the message)
RESTORE = ("restore its newest copy (a .bak beside it, if any, or a backup), or start a new "
           "--name")


def check_journal(path: Path, row_ids: Iterable[str]) -> None:
    """ResultsError unless `path` holds only Optuna operations and its study knows every stored
    trial id (`ray_trial_id` user attribute), as the study the rows came from always does.

    row_ids: the trial ids of trials.parquet (trained and infeasible rows alike).
    """
    ids = sorted(row_ids)
    known = set()
    if path.exists():
        check_operations(path)
        known = stored_trial_ids(path)
    unknown = [i for i in ids if i not in known]
    if not unknown:
        return
    held = f"{TRIALS_FILE} holds {len(ids)} trials"
    if not path.exists():
        state = f"is missing but {held}"
    elif path.stat().st_size == 0:
        state = f"is empty but {held}"
    else:
        shown = ", ".join(unknown[:3]) + (", ..." if len(unknown) > 3 else "")
        state = f"lacks {len(unknown)} of the {len(ids)} trials in {TRIALS_FILE} ({shown})"
    raise ResultsError(f"{path} {state}: it was deleted, emptied or replaced by an older copy, "
                       "and resuming would train configurations again and reuse trial numbers; "
                       f"{RESTORE}")


def check_operations(path: Path) -> None:
    """ResultsError naming the first line of `path` that is not an Optuna journal operation."""
    from optuna.storages.journal._storage import JournalOperation

    codes = {int(op) for op in JournalOperation}
    with open(path, "rb") as lines:
        for number, line in enumerate(lines, 1):
            try:
                op = json.loads(line)
            except ValueError:
                op = None
            if not (isinstance(op, dict) and isinstance(op.get("worker_id"), str)
                    and type(op.get("op_code")) is int and op["op_code"] in codes):
                raise ResultsError(f"{path} line {number} is not an Optuna journal operation "
                                   f"({_shortened(line)}); {RESTORE}")


def stored_trial_ids(path: Path) -> set[str]:
    """The `ray_trial_id` user attributes of the search's study in the journal `path`."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from search.driver.searcher import STUDY_NAME

    # the storage replays every operation; these are what an operation lacking a key or
    # holding a wrong type raises there
    try:
        storage = JournalStorage(JournalFileBackend(str(path)))
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise ResultsError(f"{path} cannot be replayed by Optuna ({type(exc).__name__} "
                           f"{exc}): {RESTORE}") from None
    try:
        study = optuna.load_study(study_name=STUDY_NAME, storage=storage)
    except KeyError:
        return set()
    return {str(t.user_attrs["ray_trial_id"]) for t in study.get_trials(deepcopy=False)
            if "ray_trial_id" in t.user_attrs}


def _shortened(line: bytes) -> str:
    """The start of a journal line, for a one-line message."""
    text = line.decode("utf-8", errors="replace").strip()
    return text if len(text) <= 60 else text[:57] + "..."
