"""Optuna through Ray Tune: constrained multi-objective searcher, samplers, persistent study.

The Optuna study lives in a journal file in the results directory, so a resumed search (a new
Tuner over the same directory) keeps the sampler's full history.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.trial import TrialState
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from analysis.objectives import DEFAULT_OBJECTIVES, Objectives
from hardware.errors import ConfigError
from search.driver.study_attrs import name_objectives, set_result_attrs
from search.store.layout import JOURNAL
from search.store.record import TrialRecord
from search.store.study_storage import StudyStorage

STUDY_NAME = "mosaic-dse"
log = logging.getLogger(__name__)


TPE_WINDOW = 200  # TPE models the most recent trials only: its cost stops growing here


def make_sampler(name: str, seed: int, window: int = TPE_WINDOW) -> optuna.samplers.BaseSampler:
    """Seeded Optuna sampler by name: tpe (default; multivariate, on the last `window`
    trials), nsga2 or random."""
    samplers = {"tpe": WindowedTPESampler, "nsga2": optuna.samplers.NSGAIISampler,
                "random": optuna.samplers.RandomSampler}
    if name not in samplers:
        raise ConfigError(f"[search].sampler must be one of {sorted(samplers)}, got {name!r}")
    if name == "tpe":  # one joint model per suggestion: ~3x cheaper than one per parameter
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return WindowedTPESampler(seed=seed, window=window, multivariate=True)
    return samplers[name](seed=seed)


class WindowedTPESampler(optuna.samplers.TPESampler):
    """TPE whose search space and density models see only the `window` most recent trials.

    TPE's cost per suggestion grows with every trial it models (a multi-objective split and
    two Parzen estimators per parameter); with a window it stays flat past `window` trials
    and equals plain TPE below. Every sampler call gets the study seen through the window, so
    on a `StudyStorage` nothing per suggestion scans all trials. Relies on TPESampler reading
    trials through `study._get_trials` (optuna 5, pinned).
    """

    def __init__(self, *, window: int = TPE_WINDOW, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.window = window

    def infer_relative_search_space(self, study: optuna.Study,
                                    trial: Any) -> dict[str, Any]:
        return super().infer_relative_search_space(_recent(study, self.window), trial)

    def sample_relative(self, study: optuna.Study, trial: Any,
                        search_space: dict[str, Any]) -> dict[str, Any]:
        return super().sample_relative(_recent(study, self.window), trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: Any, param_name: str,
                           param_distribution: Any) -> Any:
        return super().sample_independent(_recent(study, self.window), trial, param_name,
                                          param_distribution)


def _recent(study: Any, window: int) -> _RecentTrials:
    return study if isinstance(study, _RecentTrials) else _RecentTrials(study, window)


class _RecentTrials:
    """A study seen through its `window` most recent trials in the asked states (every other
    attribute passes)."""

    def __init__(self, study: optuna.Study, window: int) -> None:
        self._study = study
        self._window = window

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Any = None,
                    use_cache: bool = False) -> list:
        storage = self._study._storage
        if isinstance(storage, StudyStorage):  # O(window), not O(trials)
            trials = storage.recent_trials(self._study._study_id, self._window, states)
            return copy.deepcopy(trials) if deepcopy else trials
        trials = self._study._get_trials(deepcopy, states, use_cache)
        return trials[-self._window:] if len(trials) > self._window else trials


def open_storage(directory: Path) -> StudyStorage:
    """The journal-file Optuna storage of a results directory (`StudyStorage`: writes are
    durable after its `sync`)."""
    return StudyStorage(str(directory / JOURNAL))


class ConstrainedOptunaSearch(OptunaSearch):
    """OptunaSearch that tags trials with Ray ids, gates suggestions and passes feasibility.

    With a `gate` (search.driver.gate.ProxyGate), a suggestion the proxy rejects is recorded and
    told
    to Optuna as infeasible here, in the driver, and Optuna is asked again: only configurations
    that may fit become Ray trials. After `max_infeasible` rejections in a row, `suggest`
    returns FINISHED and `stop_reason` says which ranges to widen. A result's `constraint`
    (> 0: unmappable) becomes an Optuna constraint, so samplers learn to avoid chips the
    networks do not fit; status 'error' is told as FAIL. Optuna's objectives are
    `objectives` (the metric names and modes follow them).
    """

    def __init__(self, *args: Any, objectives: Objectives = DEFAULT_OBJECTIVES,
                 gate: Any = None, max_infeasible: int = 100, **kwargs: Any) -> None:
        self.objectives = tuple(objectives)  # before super(): it sets the study up
        super().__init__(*args, metric=[o.name for o in objectives],
                         mode=[o.direction for o in objectives], **kwargs)
        self.gate = gate
        self.max_infeasible = max_infeasible
        self.in_a_row = 0  # infeasible suggestions since the last feasible one
        self.stop_reason: str | None = None

    def _setup_study(self, mode: str | list) -> None:
        super()._setup_study(mode)
        name_objectives(self._ot_study, [o.name for o in self.objectives])  # for the dashboard

    def suggest(self, trial_id: str) -> dict | str | None:
        while True:
            if self.stop_reason is not None:
                return Searcher.FINISHED
            config = super().suggest(trial_id)
            ot_trial = self._ot_trials.get(trial_id)
            if config is None or ot_trial is None:
                return config
            record = self.gate.check(config) if self.gate is not None else None
            if record is None:
                ot_trial.set_user_attr("ray_trial_id", trial_id)
                self._sync()  # durable before the trial's row can name it
                self.in_a_row = 0
                return config
            self._tell_infeasible(trial_id, ot_trial, record)
            if self.in_a_row >= self.max_infeasible:
                self.stop_reason = self.gate.stop_message(self.in_a_row)

    def _tell_infeasible(self, trial_id: str, ot_trial: Any, record: Any) -> None:
        """Row first (tagged, so a resumed driver reconciles it), then Optuna's tell."""
        row_id = self.gate.new_row_id()
        ot_trial.set_user_attr("ray_trial_id", row_id)
        self._sync()
        self.gate.record(record, row_id)
        set_result_attrs(ot_trial, record.to_row())
        ot_trial.set_constraint("violations", record.constraint)
        self._ot_study.tell(ot_trial, record.objective_values(self.objectives))
        del self._ot_trials[trial_id]  # the Ray trial id is asked again for a new suggestion
        self.in_a_row += 1

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None or trial_id in self._completed_trials:
            return super().on_trial_complete(trial_id, result, error)
        if result and "record" in result:
            set_result_attrs(ot_trial, json.loads(result["record"]))
        if result and "constraint" in result:
            ot_trial.set_constraint("violations", float(result["constraint"]))
        elif result and "epoch" in result:  # stopped early at a rung: dominated, not infeasible
            ot_trial.set_constraint("violations", 0.0)
        if error or not result or result.get("status") == "error":
            self._ot_study.tell(ot_trial, state=TrialState.FAIL)
        else:
            values = [result.get(o.name) for o in self.objectives]
            if any(v is None for v in values):  # stopped at a rung: an end-only objective
                self._ot_study.tell(ot_trial, state=TrialState.PRUNED)
            else:
                self._ot_study.tell(ot_trial, [float(v) for v in values])
        # no fsync here: the next suggestion's makes these lines durable, and a tell lost to a
        # power loss before it is retold from the trial's row (reconcile_study) on resume
        self._completed_trials.add(trial_id)
        del self._ot_trials[trial_id]  # not kept (nor pickled at every checkpoint) once told
        return None

    def _sync(self) -> None:
        """Make the study's writes durable (one fsync on a `StudyStorage`; Optuna's own
        storages write through)."""
        sync = getattr(self._ot_study._storage, "sync", None)
        if sync is not None:
            sync()


def study_size(storage: JournalStorage) -> int:
    """Number of trials the search's Optuna study already holds (0 when it does not exist)."""
    try:
        return len(optuna.load_study(study_name=STUDY_NAME, storage=storage).trials)
    except KeyError:
        return 0


def reconcile_study(storage: JournalStorage, rows: dict[str, dict[str, Any]],
                    objectives: Objectives = DEFAULT_OBJECTIVES
                    ) -> list[tuple[dict[str, Any], str]]:
    """Close trials an interrupted driver left RUNNING; re-enqueue those with no result row.

    rows: finished trials by Ray trial id (from trials.parquet). Returns (parameters, Ray
    trial id or "") of each re-enqueued trial: they run again first when the search resumes,
    from their latest checkpoint when one is found under that Ray trial id.
    """
    try:
        study = optuna.load_study(study_name=STUDY_NAME, storage=storage)
    except KeyError:
        return []
    requeued = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        ray_trial_id = trial.user_attrs.get("ray_trial_id", "")
        row = rows.get(ray_trial_id)
        if row is None:
            study.tell(trial.number, state=TrialState.FAIL)
            study.enqueue_trial(trial.params, skip_if_exists=False)
            requeued.append((dict(trial.params), ray_trial_id))
            continue
        ot_trial = optuna.trial.Trial(study, trial._trial_id)
        set_result_attrs(ot_trial, row)
        record = TrialRecord.from_row(row)
        ot_trial.set_constraint("violations", record.constraint)
        _tell_stored(study, trial.number, record, objectives)
    if isinstance(storage, StudyStorage):
        storage.sync()
    return requeued


def _tell_stored(study: optuna.Study, number: int, record: TrialRecord,
                 objectives: Objectives) -> None:
    """Tell Optuna the outcome of a stored row, as the live searcher would have."""
    if record.status == "stopped" and any(getattr(record, o.name) is None for o in objectives):
        study.tell(number, state=TrialState.PRUNED)  # stopped before an end-only objective
        return
    values = record.objective_values(objectives)
    if any(math.isnan(v) for v in values):
        study.tell(number, state=TrialState.FAIL)
    else:
        study.tell(number, values)
