"""The environment Ray Tune runs under in a search: one table, set by the driver and the driver
benchmark alike (each entry a default: a user's own setting wins)."""

from __future__ import annotations

import os

TUNE_ENV = {
    "RAY_AIR_NEW_OUTPUT": "0",  # no Tune tables: progress lines are ours
    "TUNE_DISABLE_SIGINT_HANDLER": "1",  # Ctrl+C reaches the CLI
    # per-epoch checkpoints of short trials are frequent by design
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    # Tune's automatic loggers: off, and `tune_loggers()` puts back the one Tune needs
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
}


def tune_loggers() -> list:
    """The Tune loggers a search keeps: result.json per trial, which Tune's own result grid
    reads at the end of a run (without it Tune warns for every trial). The CSV and TensorBoard
    copies are dropped: trials.parquet holds every result, and TensorBoard's writer cost the
    driver ~7 ms of CPU per trial (benchmarks/bench_driver.py).
    TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=0 brings all three back."""
    from ray.tune.logger import JsonLoggerCallback

    return [JsonLoggerCallback()]


def set_tune_environment() -> None:
    """Set every TUNE_ENV variable the environment does not set already (read by Tune when a
    Tuner runs, so call it before `Tuner.fit`)."""
    for name, value in TUNE_ENV.items():
        os.environ.setdefault(name, value)
