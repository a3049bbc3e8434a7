"""The search driver: prepares data once, runs Ray Tune + Optuna segments, resumes.

Each `run_search` call is one segment: a fresh Tuner over the same results directory, asked
for the trials still missing from trials.parquet. The Optuna study (a journal file in the
directory) carries the sampler's history across segments, and `reconcile_study` closes or
re-enqueues trials an interrupted driver left running. trials.parquet is the record of what
finished, so a trial is never re-run once its row exists, and never written twice.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hardware.errors import ConfigError, ResultsError, SearchStopped
from search.config.files import SearchConfig
from search.driver.cluster import check_resources, init_ray, shutdown_ray
from search.driver.integrity import check_same_config
from search.driver.trial import TrialSettings
from search.driver.worker import TrialContext, trainable
from search.store.layout import CONFIG_FILE, JOURNAL, TRIALS_FILE
from search.store.remote import RemoteResults, is_uri


@dataclass(frozen=True)
class SearchOutcome:
    """Where a search segment wrote and how far it got."""

    directory: Path
    finished: int
    requested: int
    ran: int


def results_directory(storage: str, name: str) -> Path:
    """Absolute `<storage>/<name>` (Ray needs absolute storage paths)."""
    return Path(os.path.expanduser(storage)).resolve() / name


def check_directory(cfg: SearchConfig, directory: Path, resume: bool) -> None:
    """Enforce the new-vs-resume rules before anything is written; ConfigError/ResultsError."""
    if cfg.data.val_fraction == 0:  # `train` may use every recording; a search may not
        raise ConfigError("[data].val_fraction must be > 0 for a search: trials are selected on "
                          "validation accuracy, never on test (set e.g. val_fraction = 0.1)")
    saved = directory / CONFIG_FILE
    if resume:
        if not saved.is_file():
            raise ResultsError(f"no search to resume at {directory} (no {CONFIG_FILE}; start it "
                               "without --resume, or check --name/--storage)")
        check_same_config(cfg, directory)
    elif (directory / TRIALS_FILE).exists() or (directory / JOURNAL).exists():
        raise ConfigError(f"{directory} already holds a search; continue it with --resume or "
                          "choose another --name")


def write_config(cfg: SearchConfig, directory: Path) -> None:
    """Create the results directory and write config.toml atomically (ResultsError on I/O)."""
    from analysis.io import atomic_write_text

    try:
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(directory / CONFIG_FILE, cfg.to_toml())
    except OSError as exc:
        raise ResultsError(f"cannot write the results directory {directory}: "
                           f"{exc.strerror or exc} (set --storage to a writable directory)"
                           ) from None


def run_search(cfg: SearchConfig, resume: bool = False, address: str | None = None,
               verbose: bool = True) -> SearchOutcome:
    """Run (or continue) the search of `cfg` until [search].trials trials have finished.

    Storage is a directory or a pyarrow filesystem URI (worked on in a local mirror). Data,
    Ray and resources are checked before config.toml is written, so a failed start leaves
    nothing that blocks the next attempt.
    """
    remote = None
    if is_uri(cfg.search.storage):
        remote = RemoteResults.for_search(cfg.search.storage, cfg.search.name, cfg.data.root)
        remote.download()
        directory, ray_storage = remote.mirror, remote.uri + "/ray"
    else:
        directory = results_directory(cfg.search.storage, cfg.search.name)
        ray_storage = str(directory / "ray")
    check_directory(cfg, directory, resume)
    from search.driver.searcher import open_storage, reconcile_study
    from search.store.results import close_store, open_store

    previous, trained = {}, 0
    if resume:  # under the driver lock the CLI holds (search.store.lock): no other writer
        from search.store.journal import check_journal, recover_journal

        recover_journal(directory / JOURNAL)
        try:  # opening replays the row log and rewrites pareto.parquet
            store = open_store(directory, cfg.to_toml())
            rows = store.rows_by_trial_id()
            check_journal(directory / JOURNAL, rows)
            storage = open_storage(directory)
            reconcile_study(storage, rows, cfg.search.objective_list)
            previous = previous_checkpoints(storage, ray_storage, cfg)
            trained = store.trained_count()
        finally:
            close_store(directory)
    remaining = cfg.search.trials - trained  # infeasible suggestions never took a trial
    if remaining <= 0:
        return SearchOutcome(directory, trained, cfg.search.trials, 0)
    if address is None:  # trials run on this machine
        from search.driver.device import check_device

        check_device(str(cfg.param("device").value), cfg.search.gpus_per_trial)
    from model.data import load_dataset

    data = load_dataset(cfg.data)  # once per search, shared through the object store
    started = init_ray(address)
    try:
        check_resources(cfg.search.cpus_per_trial, cfg.search.gpus_per_trial)
        write_config(cfg, directory)
        if remote is not None:
            remote.upload()
        stop_reason = _fit(cfg, directory, ray_storage, remote, data, remaining, verbose,
                           previous)
        done = open_store(directory, cfg.to_toml()).trained_count()
    finally:
        close_store(directory)  # the Parquet files hold every row
        if remote is not None and (directory / CONFIG_FILE).exists():
            remote.upload()  # the journal after the searcher's last tell
        shutdown_ray(started, address)
    if stop_reason is not None:
        raise SearchStopped(f"search stopped after {done} of {cfg.search.trials} trials: "
                            f"{stop_reason}")
    return SearchOutcome(directory, done, cfg.search.trials, done - trained)


def previous_checkpoints(storage: Any, ray_storage: str,
                         cfg: SearchConfig) -> dict[str, tuple[str, ...]]:
    """Checkpoints (paths or URIs, newest first) by parameter key of each trial the resumed
    search runs again (`search.store.tune_checkpoints.resume_checkpoints`); storage: the Optuna
    journal."""
    import optuna

    from search.driver.searcher import STUDY_NAME
    from search.store.tune_checkpoints import resume_checkpoints

    try:
        study = optuna.load_study(study_name=STUDY_NAME, storage=storage)
    except KeyError:
        return {}
    return resume_checkpoints(study.get_trials(deepcopy=False), ray_storage,
                              (p.name for p in cfg.searched))


def networks_of(cfg: SearchConfig, directory: Path, remote: RemoteResults | None) -> str | None:
    """Where the trials save their networks: `<results>/networks` on the storage itself (the
    URI, not the driver's mirror, when storage is remote); None with save_networks = false."""
    from search.artefacts.trial_networks import networks_location

    if not cfg.search.save_networks:
        return None
    return networks_location(remote.uri if remote is not None else str(directory))


def _scheduler(cfg: SearchConfig) -> Any:
    """The Tune scheduler: `DominatedStopper` with [search].early_stop, else None (FIFO)."""
    if not cfg.search.early_stop:
        return None
    from search.driver.early_stop import DominatedStopper, rungs_below

    return DominatedStopper(rungs_below(int(cfg.param("epochs").largest)))


def segment_seed(seed: int, trials_so_far: int) -> int:
    """Sampler seed of a search segment: `seed` for the first, derived for later ones.

    A resumed segment must not replay the first segment's random draws.
    """
    if trials_so_far == 0:
        return seed
    return int(np.random.SeedSequence([seed, trials_so_far]).generate_state(1)[0])


def _fit(cfg: SearchConfig, directory: Path, ray_storage: str, remote: RemoteResults | None,
         data: Any, remaining: int, verbose: bool,
         previous: dict[str, tuple[str, ...]] | None = None) -> str | None:
    """Build the Tuner for one segment and run it; errors inside trials are recorded rows.

    Returns why the searcher stopped early (too many infeasible suggestions in a row), or None.
    """
    from search.driver.tune_env import set_tune_environment, tune_loggers

    set_tune_environment()
    import optuna
    from ray import tune

    from search.config.space import OptunaSpace
    from search.driver.callbacks import ResultsCallback
    from search.driver.gate import ProxyGate
    from search.driver.searcher import (
        STUDY_NAME,
        ConstrainedOptunaSearch,
        make_sampler,
        open_storage,
        study_size,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is ours
    storage = open_storage(directory)
    settings = TrialSettings(cfg.search.proxy_seeds, cfg.search.proxy_threshold)
    searcher = ConstrainedOptunaSearch(
        space=OptunaSpace(cfg.params), objectives=cfg.search.objective_list, storage=storage,
        sampler=make_sampler(cfg.search.sampler,
                             segment_seed(cfg.search.seed, study_size(storage))),
        study_name=STUDY_NAME, gate=ProxyGate(cfg, settings, str(directory), cfg.to_toml()),
        max_infeasible=cfg.search.max_consecutive_infeasible)
    context = TrialContext(cfg, settings, dict(previous or {}), networks_of(cfg, directory, remote))
    resources = {"cpu": cfg.search.cpus_per_trial, "gpu": cfg.search.gpus_per_trial}
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, data=data, context=context),
                            resources),
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=_scheduler(cfg),
                                    num_samples=remaining,
                                    max_concurrent_trials=cfg.search.max_concurrent,
                                    reuse_actors=True),
        run_config=tune.RunConfig(
            name=time.strftime("run-%Y%m%d-%H%M%S"), storage_path=ray_storage, verbose=0,
            callbacks=[ResultsCallback(str(directory), cfg.to_toml(), cfg.search.trials,
                                       verbose, remote), *tune_loggers()],
            failure_config=tune.FailureConfig(max_failures=cfg.search.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
    )
    tuner.fit()
    return searcher.stop_reason
