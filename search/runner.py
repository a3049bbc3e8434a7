"""The search driver: prepares data once, runs Ray Tune + Optuna segments, resumes.

Each `run_search` call is one segment: a fresh Tuner over the same results directory, asked
for the trials still missing from trials.parquet. The Optuna study (a journal file in the
directory) carries the sampler's history across segments, and `reconcile_study` closes or
re-enqueues trials an interrupted driver left running. trials.parquet is the record of what
finished, so a trial is never re-run once its row exists, and never written twice.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hardware.errors import ConfigError, MosaicDSEError, ResultsError
from search.cluster import check_resources, init_ray
from search.config import (
    SearchConfig,
    build_trial,
    config_differences,
    config_fingerprint,
    load_config,
)
from search.layout import CONFIG_FILE, JOURNAL, TRIALS_FILE
from search.remote import RemoteResults, is_uri
from search.trial import TrialRecord, TrialSettings, run_trial


@dataclass(frozen=True)
class TrialContext:
    """What every trial needs besides its sampled parameters (shipped once to workers)."""

    config: SearchConfig
    settings: TrialSettings


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


def trainable(config: dict[str, Any], data: Any = None,
              context: TrialContext | None = None) -> None:
    """Ray Tune function trainable: one trial, reported once (metrics + the JSON record)."""
    import torch
    from ray import tune

    # this worker process is the trial's: match torch's threads to its CPU reservation
    torch.set_num_threads(max(1, int(context.config.search.cpus_per_trial)))
    params = dict(config)
    try:
        spec, train_cfg = build_trial(context.config, params)
    except MosaicDSEError as exc:
        record = TrialRecord(status="error", method=str(params.get("method", "")),
                             chip_memory_cells=0, proxy_memory_cells=0, params=params,
                             error=str(exc))
    else:
        record = run_trial(spec, train_cfg, data, context.config.data, params, context.settings)
    accuracy, memory = record.objectives()
    tune.report({"val_accuracy": accuracy, "chip_memory_cells": memory,
                 "constraint": record.constraint, "status": record.status,
                 "record": json.dumps(record.to_row(), default=_json_default)})


def _json_default(value: Any) -> Any:
    """numpy scalars -> Python numbers for json.dumps."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def check_directory(cfg: SearchConfig, directory: Path, resume: bool) -> None:
    """Enforce the new-vs-resume rules before anything is written; ConfigError/ResultsError."""
    saved = directory / CONFIG_FILE
    if resume:
        if not saved.is_file():
            raise ResultsError(f"no search to resume at {directory} (no {CONFIG_FILE}; start it "
                               "without --resume, or check --name/--storage)")
        previous = load_config(str(saved), [])
        if config_fingerprint(previous) != config_fingerprint(cfg):
            changed = "; ".join(config_differences(previous, cfg))
            raise ConfigError(f"config differs from the one saved in {saved} ({changed}); "
                              "resume with the same config (only [search] trials, concurrency "
                              "and resources may change) or start a new --name")
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
    if resume:  # under the driver lock the CLI holds (search.lock): no other writer
        from search.journal import recover_journal

        recover_journal(directory / JOURNAL)
    from search.results import ResultsStore
    from search.searcher import open_storage, reconcile_study

    rows = ResultsStore(directory, cfg.to_toml()).rows_by_trial_id() if resume else {}
    if resume:
        reconcile_study(open_storage(directory), rows)
    remaining = cfg.search.trials - len(rows)
    if remaining <= 0:
        return SearchOutcome(directory, len(rows), cfg.search.trials, 0)
    from model.data import load_dataset

    data = load_dataset(cfg.data)  # once per search, shared through the object store
    started = init_ray(address)
    try:
        check_resources(cfg.search.cpus_per_trial, cfg.search.gpus_per_trial)
        write_config(cfg, directory)
        if remote is not None:
            remote.upload()
        _fit(cfg, directory, ray_storage, remote, data, remaining, verbose)
    finally:
        if remote is not None and (directory / CONFIG_FILE).exists():
            remote.upload()  # the journal after the searcher's last tell
        if started:
            import ray

            ray.shutdown()
    done = ResultsStore(directory, cfg.to_toml()).finished_count()
    return SearchOutcome(directory, done, cfg.search.trials, done - len(rows))


def segment_seed(seed: int, trials_so_far: int) -> int:
    """Sampler seed of a search segment: `seed` for the first, derived for later ones.

    A resumed segment must not replay the first segment's random draws.
    """
    if trials_so_far == 0:
        return seed
    return int(np.random.SeedSequence([seed, trials_so_far]).generate_state(1)[0])


def _fit(cfg: SearchConfig, directory: Path, ray_storage: str, remote: RemoteResults | None,
         data: Any, remaining: int, verbose: bool) -> None:
    """Build the Tuner for one segment and run it; errors inside trials are recorded rows."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # no Tune tables: progress lines are ours
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")  # Ctrl+C reaches the CLI
    import optuna
    from ray import tune

    from search.callbacks import ResultsCallback
    from search.searcher import (
        METRICS,
        MODES,
        STUDY_NAME,
        ConstrainedOptunaSearch,
        make_sampler,
        open_storage,
        study_size,
    )
    from search.space import OptunaSpace

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is ours
    storage = open_storage(directory)
    searcher = ConstrainedOptunaSearch(
        space=OptunaSpace(cfg.params), metric=METRICS, mode=MODES, storage=storage,
        sampler=make_sampler(cfg.search.sampler,
                             segment_seed(cfg.search.seed, study_size(storage))),
        study_name=STUDY_NAME)
    context = TrialContext(cfg, TrialSettings(cfg.search.proxy_seeds,
                                              cfg.search.proxy_threshold))
    resources = {"cpu": cfg.search.cpus_per_trial, "gpu": cfg.search.gpus_per_trial}
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, data=data, context=context),
                            resources),
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=remaining,
                                    max_concurrent_trials=cfg.search.max_concurrent,
                                    reuse_actors=True),
        run_config=tune.RunConfig(
            name=time.strftime("run-%Y%m%d-%H%M%S"), storage_path=ray_storage, verbose=0,
            callbacks=[ResultsCallback(str(directory), cfg.to_toml(), cfg.search.trials,
                                       verbose, remote)],
            failure_config=tune.FailureConfig(max_failures=0)),
    )
    tuner.fit()
