"""Driver-side Tune callback: every finished trial becomes a Parquet row, then progress."""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ray import tune

from search.store.record import TrialRecord

PROGRESS_SECONDS = 5.0  # at most one line about running trials this often


class ResultsCallback(tune.Callback):
    """Writes each trial's record to trials.parquet / pareto.parquet as soon as it reports.

    Rows are written on the trial's single result (before the searcher is told), so a trial
    the sampler has seen always has its row. The store is opened lazily and never pickled.
    """

    def __init__(self, directory: str, config_text: str, total: int, verbose: bool = True,
                 remote: Any = None) -> None:
        self.directory = directory
        self.config_text = config_text
        self.total = total
        self.verbose = verbose
        self.remote = remote  # search.store.remote.RemoteResults when storage is a URI
        self._store = None
        self._running: dict[str, tuple[int, int, float]] = {}  # epoch, epochs, val_accuracy
        self._last_line = -math.inf

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_store"} | {"_store": None}

    @property
    def store(self):  # noqa: ANN201 - search.store.results.ResultsStore
        """The results store of the directory (opened on first use)."""
        if self._store is None:
            from search.store.results import open_store

            self._store = open_store(Path(self.directory), self.config_text)
        return self._store

    def on_step(self, iteration: int, trials: list, **info: Any) -> None:
        """Materialise the Parquet files when rows wait longer than the store's cadence."""
        if self._store is not None:
            self._store.flush_if_due()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """Write the rows the store still holds."""
        if self._store is not None:
            self._store.flush()
            if self.remote is not None:
                self.remote.upload()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        if "record" not in result:  # a per-epoch report of a running trial
            self._epoch(trial.trial_id, result)
            return
        self._running.pop(trial.trial_id, None)
        record = TrialRecord.from_row(json.loads(result["record"]))
        self._add(replace(record, trial_id=trial.trial_id).to_row())

    def _epoch(self, trial_id: str, result: dict) -> None:
        """Remember a running trial's last epoch; print one line about the running trials at
        most every PROGRESS_SECONDS."""
        self._running[trial_id] = (int(result["epoch"]), int(result["epochs"]),
                                   float(result["val_accuracy"]))
        now = time.monotonic()
        if not self.verbose or now - self._last_line < PROGRESS_SECONDS:
            return
        self._last_line = now
        parts = [f"{tid} epoch {e}/{n} val_acc {acc:.3f}"
                 for tid, (e, n, acc) in sorted(self._running.items())]
        print("running: " + ", ".join(parts), file=sys.stderr, flush=True)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """A trial the early-stopping scheduler stopped at a rung: keep a `stopped` row with
        what it reached there (a trial that reported its record already has its row)."""
        self._running.pop(trial.trial_id, None)
        result = trial.last_result or {}
        if "epoch" not in result or "record" in result:
            return
        if trial.trial_id in self.store:
            return
        self._add(TrialRecord.stopped(dict(trial.config), result, trial.trial_id).to_row())

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """A trial whose worker crashed more than [search].max_failures times (not a recorded
        training error): keep an error row."""
        self._running.pop(trial.trial_id, None)
        if trial.trial_id in self.store:
            return
        error = f"trial process failed: {trial.error_file or 'see Ray logs'}"
        self._add(TrialRecord.failed(error, dict(trial.config), trial_id=trial.trial_id).to_row())

    def _add(self, record: dict[str, Any]) -> None:
        """Store the row (and upload it when storage is remote), then print progress."""
        self.store.add(record)
        if self.remote is not None:
            self.remote.upload()
        self._progress(record)

    def _progress(self, record: dict[str, Any]) -> None:
        """One progress line: trials done/total, this trial, best val accuracy, front size."""
        if not self.verbose:
            return
        store = self.store  # O(1) summaries: a progress line costs the same at any size
        trained = store.trained_count()
        skipped = store.finished_count() - trained
        best, front = store.best_val_accuracy(), store.front_size()
        acc = record.get("val_accuracy")
        if acc is None:
            what = (record.get("error") or "")[:70]
        else:
            what = f"val_acc {acc:.3f}" + ("" if record.get("mappable") else " (unmappable)")
        print(f"[{trained}/{self.total}] {record['trial_id']} {record['status']:<10} "
              f"{record.get('method', '')}: {what} | best val_acc "
              f"{'n/a' if best is None else f'{best:.3f}'} | front {front}"
              + (f" | {skipped} infeasible skipped" if skipped else ""),
              file=sys.stderr, flush=True)

