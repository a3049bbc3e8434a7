"""What each Optuna trial carries for optuna-dashboard: objective names and result attributes.

The search's Optuna study (optuna-journal.log) is what `mosaic-dse dashboard` serves; these
names and attributes make its trial table and Pareto front readable without trials.parquet.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import optuna

# trials.parquet column -> user attribute name shown by the dashboard
RESULT_ATTRS = {"method": "method", "status": "status", "chip_memory_cells": "chip_memory_cells",
                "memory_cells": "memory_cells", "mappable": "mappable",
                "violations": "violations", "accuracy": "test_accuracy"}


def name_objectives(study: optuna.Study, names: list[str]) -> None:
    """Give the study's objectives their result names (val_accuracy, chip_memory_cells)."""
    if study.metric_names != names:
        with warnings.catch_warnings():  # experimental since Optuna 3.2, stable in use
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)


def set_result_attrs(trial: optuna.Trial, row: Mapping[str, Any]) -> None:
    """Copy a result row's method, status, chip memory, mappable, violations and test accuracy
    into the trial's user attributes (missing or NaN values are left out)."""
    for column, attr in RESULT_ATTRS.items():
        value = row.get(column)
        if value is None or isinstance(value, float) and math.isnan(value):
            continue
        trial.set_user_attr(attr, value.item() if hasattr(value, "item") else value)
