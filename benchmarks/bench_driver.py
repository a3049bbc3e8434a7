"""Driver cost per trial at n = 0, 1k, 5k, 20k finished trials, beside a bare Tune loop.

The real driver of `search.driver.runner._fit`: a Ray Tune `Tuner` with the product's
`ConstrainedOptunaSearch` (journal storage, the windowed TPE, the proxy gate writing through
the results store) and `ResultsCallback` (row log + Arrow table + Parquet files), on the tiny
config; the training is replaced by an instant trainable that reports the product's final
result once (a record built from the sampled chip, surrogate accuracy). Each level n is
simulated by pre-filling the results directory (trials.parquet) and the Optuna journal with n
finished trials, then running a batch of trials. The bare loop is a `Tuner` with the same
resources and concurrency, no searcher and no callback (Tune's default JSON, CSV and TensorBoard
loggers on, as Tune comes; the driver turns them off), whose trainable reports once.
Printed: CPU of the driver process (all its threads; Ray's workers excluded) and of its main
thread (Tune's loop, the searcher, the callbacks; the issue's measure) per trial in
steady state (between the completions of the first fifth and the last trial of a batch, so the
one-time opening of the store and the journal is left out; it is printed beside as the whole
segment's CPU), and the ratio to the bare loop measured in the same run.
Run: python benchmarks/bench_driver.py [--levels 0,1000,5000,20000] [--batch 100]
(about 6-8 min on 2 shared cores, most of it pre-filling the 20k journal).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
from search.driver.tune_env import set_tune_environment  # noqa: E402

set_tune_environment()  # the driver's Tune settings (the bare loop turns Tune's loggers back on)
DRIVER_LOGGERS = os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"]  # the driver's (or the user's)

import optuna  # noqa: E402
import ray  # noqa: E402
from ray import tune  # noqa: E402

from analysis.io import atomic_write_table  # noqa: E402
from analysis.schema import build_table, file_metadata  # noqa: E402
from hardware.memory import chip_memory_cells  # noqa: E402
from search.config.files import SearchConfig, build_trial, load_config  # noqa: E402
from search.config.space import OptunaSpace  # noqa: E402
from search.driver.callbacks import ResultsCallback  # noqa: E402
from search.driver.gate import ProxyGate  # noqa: E402
from search.driver.searcher import (  # noqa: E402
    STUDY_NAME,
    ConstrainedOptunaSearch,
    make_sampler,
    open_storage,
)
from search.driver.trial import TrialRecord, TrialSettings  # noqa: E402
from search.driver.tune_env import tune_loggers  # noqa: E402
from search.driver.worker import final_report  # noqa: E402
from search.store.results import close_store, front_table  # noqa: E402


def bench_config() -> SearchConfig:
    """The tiny config with chips the proxy mostly accepts (a few suggestions are infeasible)."""
    return load_config("tiny", ["hardware.cap_r0=32", "hardware.cap_r1={low=32, high=96, step=8}"])


def surrogate_record(cfg: SearchConfig, params: dict[str, Any]) -> TrialRecord:
    """An `ok` record for `params` without training (accuracy from the link budget)."""
    spec, _ = build_trial(cfg, params)
    budget = float(params.get("p1", 0.5)) + 2.0 * float(params.get("p3", 0.0))
    accuracy = float(1.0 - np.exp(-2.0 * budget))
    memory = int(chip_memory_cells(spec))
    return TrialRecord(status="ok", method=str(params["method"]), chip_memory_cells=memory,
                       proxy_memory_cells=memory, params=dict(params), accuracy=accuracy,
                       val_accuracy=accuracy, train_accuracy=accuracy, memory_cells=memory,
                       mappable=True, violations=0, n_links=100, n_weights=1000,
                       hop_profile=(0.0, 0.5, 0.0, 0.1), train_seconds=0.0)


def instant_trainable(config: dict[str, Any], cfg: SearchConfig | None = None) -> None:
    """The product's final report of a trial, at once."""
    record = surrogate_record(cfg, dict(config))
    tune.report(final_report(record, cfg.search.objective_list))


def bare_trainable(config: dict[str, Any]) -> None:
    """One report, nothing else."""
    tune.report({"x": 1.0})


def prefill(cfg: SearchConfig, directory: Path, n: int, seed: int = 0, pool: int = 256) -> None:
    """n finished trials in trials.parquet/pareto.parquet and the Optuna journal, as a driver
    that ran them would have left them (random configurations from a pool of `pool`,
    surrogate results). The journal is written without Optuna's fsync per line (only the
    pre-filling is sped up; the measured driver fsyncs as usual)."""
    directory.mkdir(parents=True, exist_ok=True)
    if n == 0:
        return
    memory_study = optuna.create_study(directions=["maximize", "minimize"],
                                       sampler=optuna.samplers.RandomSampler(seed=seed))
    space = OptunaSpace.from_config(cfg)
    records = []
    for _ in range(min(n, pool)):
        trial = memory_study.ask()
        records.append(surrogate_record(cfg, space(trial)))
        memory_study.tell(trial, records[-1].objective_values(cfg.search.objective_list))
    configs = list(zip(memory_study.get_trials(deepcopy=False), records, strict=True))
    pool_table = build_table([{**r.to_row(), "trial_id": ""} for _, r in configs],
                             file_metadata(cfg.to_toml()))
    which = np.arange(n) % len(configs)
    ids = [f"prefill-{i:05d}" for i in range(n)]
    table = pool_table.take(which)
    table = table.set_column(0, table.schema.field(0), pa.array(ids, pa.string()))
    atomic_write_table(directory / "trials.parquet", table)
    atomic_write_table(directory / "pareto.parquet", front_table(table))
    frozen = [optuna.trial.create_trial(
        params=configs[k][0].params, distributions=configs[k][0].distributions,
        values=configs[k][0].values, user_attrs={"ray_trial_id": tid},
        system_attrs={"constraints:violations": 0.0}) for k, tid in zip(which, ids, strict=True)]
    study = optuna.create_study(study_name=STUDY_NAME, storage=open_storage(directory),
                                directions=["maximize", "minimize"])
    fsync = os.fsync
    os.fsync = lambda fd: None  # noqa: ARG005 - pre-filling only
    try:
        study.add_trials(frozen)
    finally:
        os.fsync = fsync


class CpuClock(tune.Callback):
    """Driver CPU time at every trial completion (steady state: setup excluded): the whole
    process (all its threads) and the main thread, which runs Tune's loop and the searcher."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, float]] = []

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.marks.append((time.process_time(), time.thread_time()))

    def per_trial(self, skip: int) -> tuple[float, float]:
        """(process, main-thread) CPU seconds per trial between completion `skip` and the
        last."""
        marks = np.array(self.marks[skip:])
        return tuple((marks[-1] - marks[0]) / (len(marks) - 1))


def run_tuner(trainable: Any, batch: int, concurrency: int, storage: Path, searcher: Any = None,
              callbacks: list | None = None) -> tuple[tuple[float, float], float]:
    """((process, main-thread) driver CPU seconds per trial in steady state, after the first
    fifth of the trials; CPU seconds of the whole Tuner.fit, setup included). Without a
    searcher (the bare loop) Tune runs as it comes, its JSON, CSV and TensorBoard loggers on."""
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "0" if searcher is None else DRIVER_LOGGERS
    clock = CpuClock()
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=batch,
                                    max_concurrent_trials=concurrency, reuse_actors=True),
        run_config=tune.RunConfig(name=f"run-{time.time_ns()}", storage_path=str(storage),
                                  verbose=0, callbacks=[*(callbacks or []), clock],
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))
    start = time.process_time()
    results = tuner.fit()
    spent = time.process_time() - start
    assert results.num_errors == 0, [r.error for r in results if r.error]
    return clock.per_trial(max(1, batch // 5)), spent


def driver_level(cfg: SearchConfig, root: Path, n: int, batch: int,
                 concurrency: int) -> tuple[tuple[float, float], float]:
    """((process, main-thread) steady-state CPU seconds per trial, CPU seconds of the whole
    segment including opening the store and the journal) of the real driver after n finished
    trials."""
    directory = root / f"level-{n}"
    start = time.perf_counter()
    prefill(cfg, directory, n)
    print(f"  level {n}: pre-filled in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    settings = TrialSettings(cfg.search.proxy_seeds, cfg.search.proxy_threshold)
    storage = open_storage(directory)
    searcher = ConstrainedOptunaSearch(
        space=OptunaSpace(cfg.params), objectives=cfg.search.objective_list, storage=storage,
        sampler=make_sampler("tpe", n + 1), study_name=STUDY_NAME,
        gate=ProxyGate(cfg, settings, str(directory), cfg.to_toml()),
        max_infeasible=cfg.search.max_consecutive_infeasible)
    callback = ResultsCallback(str(directory), cfg.to_toml(), n + batch, verbose=False)
    trainable = tune.with_parameters(instant_trainable, cfg=cfg)
    try:
        return run_tuner(trainable, batch, concurrency, directory / "ray", searcher,
                         [callback, *tune_loggers()])
    finally:
        close_store(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="0,1000,5000,20000",
                        help="finished trials before each measured batch")
    parser.add_argument("--batch", type=int, default=100, help="trials measured per level")
    parser.add_argument("--concurrency", type=int, default=2, help="trials at once")
    args = parser.parse_args()
    levels = [int(v) for v in args.levels.split(",")]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")
    cfg = bench_config()
    ray.init(address="local", num_cpus=args.concurrency, include_dashboard=False,
             log_to_driver=False, logging_level="ERROR")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, ray {ray.__version__}, "
          f"optuna {optuna.__version__}; tiny config, instant trainable (one final report), "
          f"{args.batch} trials per level, {args.concurrency} at a time; driver-process CPU "
          "ms per trial (the process, all its threads; and its main thread)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bare = [run_tuner(bare_trainable, args.batch, args.concurrency, root / "bare")[0]]
        print(f"{'finished trials':>16}{'driver ms':>11}{'bare ms':>9}{'ratio':>7}"
              f"{'main thread: driver':>21}{'bare':>6}{'ratio':>7}{'segment CPU s':>15}")
        for n in levels:
            driver, segment = driver_level(cfg, root, n, args.batch, args.concurrency)
            bare.append(run_tuner(bare_trainable, args.batch, args.concurrency,
                                  root / "bare")[0])
            reference = np.mean(bare[-2:], axis=0)  # the bare runs before and after the level
            print(f"{n:>16}{1e3 * driver[0]:>11.1f}{1e3 * reference[0]:>9.1f}"
                  f"{driver[0] / reference[0]:>7.2f}{1e3 * driver[1]:>21.1f}"
                  f"{1e3 * reference[1]:>6.1f}{driver[1] / reference[1]:>7.2f}{segment:>15.1f}",
                  flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
