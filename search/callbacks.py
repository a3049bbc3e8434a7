"""Driver-side Tune callback: every finished trial becomes a Parquet row, then progress."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ray import tune


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
        self.remote = remote  # search.remote.RemoteResults when storage is a URI
        self._store = None

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_store"} | {"_store": None}

    @property
    def store(self):  # noqa: ANN201 - search.results.ResultsStore
        """The results store of the directory (opened on first use)."""
        if self._store is None:
            from search.results import ResultsStore

            self._store = ResultsStore(Path(self.directory), self.config_text)
        return self._store

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        record = json.loads(result["record"])
        record["trial_id"] = trial.trial_id
        self._add(record)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """A trial whose worker crashed (not a recorded training error): keep an error row."""
        if trial.trial_id in self.store.rows_by_trial_id():
            return
        record = {**dict(trial.config), "trial_id": trial.trial_id, "status": "error",
                  "method": str(trial.config.get("method", "")),
                  "error": f"trial process failed: {trial.error_file or 'see Ray logs'}",
                  "mappable": False, "chip_memory_cells": 0, "proxy_memory_cells": 0,
                  "hop_profile": [], "seed": int(trial.config.get("seed", 0))}
        self._add(record)

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
        rows = list(self.store.rows_by_trial_id().values())
        ok = [r for r in rows if r.get("status") == "ok" and r.get("mappable")]
        best = max((r["val_accuracy"] for r in ok), default=None)
        front = sum(bool(r.get("on_front")) for r in rows)
        acc = record.get("val_accuracy")
        if acc is None:
            what = (record.get("error") or "")[:70]
        else:
            what = f"val_acc {acc:.3f}" + ("" if record.get("mappable") else " (unmappable)")
        print(f"[{len(rows)}/{self.total}] {record['trial_id']} {record['status']:<10} "
              f"{record.get('method', '')}: {what} | best val_acc "
              f"{'n/a' if best is None else f'{best:.3f}'} | "
              f"front {front}", file=sys.stderr, flush=True)
