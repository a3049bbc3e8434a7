"""Optuna through Ray Tune: constrained multi-objective searcher, samplers, persistent study.

The Optuna study lives in a journal file in the results directory, so a resumed search (a new
Tuner over the same directory) keeps the sampler's full history.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from hardware.errors import ConfigError
from search.layout import JOURNAL

METRICS = ["val_accuracy", "chip_memory_cells"]
MODES = ["max", "min"]
STUDY_NAME = "mosaic-dse"
log = logging.getLogger(__name__)


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """Seeded Optuna sampler by name: tpe (default), nsga2 or random."""
    samplers = {"tpe": optuna.samplers.TPESampler, "nsga2": optuna.samplers.NSGAIISampler,
                "random": optuna.samplers.RandomSampler}
    if name not in samplers:
        raise ConfigError(f"[search].sampler must be one of {sorted(samplers)}, got {name!r}")
    return samplers[name](seed=seed)


def open_storage(directory: Path) -> JournalStorage:
    """The journal-file Optuna storage of a results directory."""
    return JournalStorage(JournalFileBackend(str(directory / JOURNAL)))


class ConstrainedOptunaSearch(OptunaSearch):
    """OptunaSearch that tags trials with Ray ids and passes feasibility to Optuna.

    A result's `constraint` (> 0: unmappable or infeasible) becomes an Optuna constraint, so
    samplers learn to avoid chips the networks do not fit; status 'error' is told as FAIL.
    """

    def suggest(self, trial_id: str) -> dict | None:
        config = super().suggest(trial_id)
        if config is not None and trial_id in self._ot_trials:
            self._ot_trials[trial_id].set_user_attr("ray_trial_id", trial_id)
        return config

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None or trial_id in self._completed_trials:
            return super().on_trial_complete(trial_id, result, error)
        if result and "constraint" in result:
            ot_trial.set_constraint("violations", float(result["constraint"]))
        if error or not result or result.get("status") == "error":
            self._ot_study.tell(ot_trial, state=TrialState.FAIL)
            self._completed_trials.add(trial_id)
            return None
        return super().on_trial_complete(trial_id, result, error)


def study_size(storage: JournalStorage) -> int:
    """Number of trials the search's Optuna study already holds (0 when it does not exist)."""
    try:
        return len(optuna.load_study(study_name=STUDY_NAME, storage=storage).trials)
    except KeyError:
        return 0


def reconcile_study(storage: JournalStorage, rows: dict[str, dict[str, Any]]) -> int:
    """Close trials an interrupted driver left RUNNING; re-enqueue those with no result row.

    rows: finished trials by Ray trial id (from trials.parquet). Returns how many were
    re-enqueued (they run again first when the search resumes).
    """
    try:
        study = optuna.load_study(study_name=STUDY_NAME, storage=storage)
    except KeyError:
        return 0
    requeued = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        row = rows.get(trial.user_attrs.get("ray_trial_id", ""))
        if row is None:
            study.tell(trial.number, state=TrialState.FAIL)
            study.enqueue_trial(trial.params, skip_if_exists=False)
            requeued += 1
            continue
        ot_trial = optuna.trial.Trial(study, trial._trial_id)
        feasible = row.get("status") == "ok" and bool(row.get("mappable"))
        ot_trial.set_constraint("violations", 0.0 if feasible else float(row.get("violations")
                                                                          or 1))
        values = [row.get("val_accuracy") or 0.0, row.get("chip_memory_cells")]
        if row.get("status") == "error" or any(v is None or math.isnan(v) for v in values):
            study.tell(trial.number, state=TrialState.FAIL)
        else:
            study.tell(trial.number, values)
    return requeued
