"""File names inside a results directory `<storage>/<name>/` (one definition for all modules)."""

from __future__ import annotations

from analysis.schema import PARETO_FILE, TRIALS_FILE

CONFIG_FILE = "config.toml"
JOURNAL = "optuna-journal.log"  # the Optuna study: the sampler's history across segments
SYNCED_FILES = (CONFIG_FILE, TRIALS_FILE, PARETO_FILE, JOURNAL)

__all__ = ["CONFIG_FILE", "JOURNAL", "PARETO_FILE", "SYNCED_FILES", "TRIALS_FILE"]
