"""File names inside a results directory `<storage>/<name>/` (one definition for all modules)."""

from __future__ import annotations

from analysis.schema import PARETO_FILE, TRIALS_FILE

CONFIG_FILE = "config.toml"
JOURNAL = "optuna-journal.log"  # the Optuna study: the sampler's history across segments
ROW_LOG = "trials-pending.jsonl"  # rows not yet in trials.parquet (search.store.row_log)
NETWORKS_DIR = "networks"  # <trial_id>.npz per trained trial (search.artefacts.trial_networks)
DRIVER_LOCK = "driver.lock"  # the pid of the directory's one driver (search.store.lock)
# In upload order: the journal before trials.parquet, so a row on remote storage always has
# its trial in the study there (a journal ahead of the rows only re-runs a trial); the row log
# after trials.parquet, so a log emptied by a flush never reaches it before the flushed rows.
SYNCED_FILES = (CONFIG_FILE, JOURNAL, TRIALS_FILE, ROW_LOG, PARETO_FILE)

__all__ = ["CONFIG_FILE", "DRIVER_LOCK", "JOURNAL", "NETWORKS_DIR", "PARETO_FILE", "ROW_LOG",
           "SYNCED_FILES", "TRIALS_FILE"]
