"""The driver's Optuna storage: the journal file, with per-suggestion costs that do not grow.

Optuna's `JournalStorage` answers every query by rereading the journal file and scanning every
trial of the study, and fsyncs each of the ~16 operations of a trial (~5 ms of wall time each).
At 20,000 trials the scans cost ~20 ms each, three per suggestion. `StudyStorage` is the same
storage (same file, same replay, same lock) with three shortcuts, all relying on a finished
Optuna trial never changing again (the journal replay refuses updates to it):

- queries for unfinished trials (`ask` looks for WAITING ones) scan only from the oldest
  unfinished trial on;
- `recent_trials` returns the most recent trials in some states without a full scan (the
  windowed TPE sampler models those only);
- operations are appended without an fsync each; `sync` makes them durable (the searcher calls
  it before a result row can refer to them). A SIGKILL loses nothing either way: an appended
  line is in the file once `write` returns.

Relies on `JournalStorage._replay_result` and `JournalFileBackend._log_number_offset` (optuna
5, pinned in pyproject); tests compare each shortcut with the plain storage.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Container, Iterator
from typing import Any

from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal._file import get_lock_file
from optuna.storages.journal._storage import NOT_FOUND_MSG
from optuna.trial import FrozenTrial, TrialState


class JournalFile(JournalFileBackend):
    """Optuna's journal file, appended without fsync (see `sync`) and reread only when it grew."""

    def __init__(self, file_path: str) -> None:
        super().__init__(file_path)
        self._unsynced = False

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        """The operations from `log_number_from` on (none without opening the file when it
        ends where the last read did)."""
        end = self._log_number_offset.get(log_number_from)
        if end is not None and end == os.stat(self._file_path).st_size:
            return iter(())
        return super().read_logs(log_number_from)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Append the operations under Optuna's lock, as Optuna does, but without its fsync."""
        text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs)
        with get_lock_file(self._lock), open(self._file_path, "ab") as file:
            file.write(text.encode("utf-8"))
        self._unsynced = True

    def sync(self) -> None:
        """fsync what was appended since the last call (durable across a power loss)."""
        if not self._unsynced:
            return
        fd = os.open(self._file_path, os.O_WRONLY | os.O_APPEND)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._unsynced = False


class StudyStorage(JournalStorage):
    """`JournalStorage` on a `JournalFile` whose scans start at the oldest unfinished trial."""

    def __init__(self, path: str) -> None:
        super().__init__(JournalFile(path))
        self._settled: dict[int, int] = {}  # study id -> how many leading trials are finished

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._settled = {}  # the replay starts over

    def sync(self) -> None:
        """Make every operation written so far durable (one fsync)."""
        with self._thread_lock:
            self._backend.sync()

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        if states is None or any(state.is_finished() and state in states
                                 for state in TrialState):
            return super().get_all_trials(study_id, deepcopy, states)
        with self._thread_lock:
            self._sync_with_backend()
            ids = self._trial_ids(study_id)
            start = self._settled.get(study_id, 0)
            trials = self._replay_result._trials
            while start < len(ids) and trials[ids[start]].state.is_finished():
                start += 1
            self._settled[study_id] = start
            found = [trials[i] for i in ids[start:] if trials[i].state in states]
        return copy.deepcopy(found) if deepcopy else found

    def recent_trials(self, study_id: int, count: int,
                      states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        """The `count` most recent trials (by number) in `states` (any when None), oldest
        first; not copies (do not modify them)."""
        with self._thread_lock:
            self._sync_with_backend()
            trials = self._replay_result._trials
            found = []
            for trial_id in reversed(self._trial_ids(study_id)):
                if len(found) == count:
                    break
                if states is None or trials[trial_id].state in states:
                    found.append(trials[trial_id])
        found.reverse()
        return found

    def _trial_ids(self, study_id: int) -> list[int]:
        if study_id not in self._replay_result._studies:
            raise KeyError(NOT_FOUND_MSG)
        return self._replay_result._study_id_to_trial_ids[study_id]
