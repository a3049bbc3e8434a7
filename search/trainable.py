"""The Ray Tune trainable of one trial: the worker side of the search.

Each trial reports after every epoch with a checkpoint and once at the end with its JSON
record (`search.callbacks` turns that into its Parquet row). It continues from Tune's latest
checkpoint when Tune retries it (its worker died), or from the checkpoint an interrupted driver
left (`TrialContext.previous`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from hardware.errors import MosaicDSEError
from search.config import SearchConfig, build_trial
from search.trial import TrialRecord, TrialSettings, run_trial


@dataclass(frozen=True)
class TrialContext:
    """What every trial needs besides its sampled parameters (shipped once to workers).

    previous: checkpoint path or URI by `search.checkpoints.params_key`, for the trials an
    interrupted driver left unfinished: a re-run continues from there.
    """

    config: SearchConfig
    settings: TrialSettings
    previous: dict[str, str] = field(default_factory=dict)


def trainable(config: dict[str, Any], data: Any = None,
              context: TrialContext | None = None) -> None:
    """Ray Tune function trainable: one trial, reported after every epoch with a checkpoint
    (val_accuracy, loss, firing rate, links) and once at the end with its JSON record.

    A retried trial (its worker died) continues from Tune's latest checkpoint; a trial an
    interrupted driver left unfinished continues from the checkpoint in `context.previous`.
    """
    from ray import tune

    params = dict(config)
    try:
        spec, train_cfg = build_trial(context.config, params)
    except MosaicDSEError as exc:
        record = TrialRecord(status="error", method=str(params.get("method", "")),
                             chip_memory_cells=0, proxy_memory_cells=0, params=params,
                             error=str(exc))
    else:
        from hardware.memory import chip_memory_cells

        state = _start_state(context, params)
        record = run_trial(spec, train_cfg, data, context.config.data, params, context.settings,
                           on_epoch=partial(report_epoch, float(chip_memory_cells(spec))),
                           state=state)
        if state is not None:
            record = dataclasses.replace(record, resumed_from_epoch=int(state["epoch"]))
    accuracy, memory = record.objectives()
    tune.report({"val_accuracy": accuracy, "chip_memory_cells": memory,
                 "constraint": record.constraint, "status": record.status,
                 "record": json.dumps(record.to_row(), default=_json_default)})


def report_epoch(chip_memory: float, report: Any, checkpoint: Any) -> None:
    """Tune report of one finished epoch (a `model.train.EpochReport`) with its checkpoint."""
    from ray import tune

    from search.checkpoints import save_state

    tune.report({"val_accuracy": report.val_accuracy, "chip_memory_cells": chip_memory,
                 "epoch": report.epoch, "epochs": report.epochs, "loss": report.loss,
                 "firing_rate": report.firing_rate, "n_links": report.n_links},
                checkpoint=save_state(checkpoint()))


def _start_state(context: TrialContext, params: dict[str, Any]) -> dict[str, Any] | None:
    """The run state to continue from: Tune's (a retry) or an earlier segment's, else None."""
    from ray import tune

    from search.checkpoints import load_state, params_key

    checkpoint = tune.get_checkpoint()
    key = params_key(params, (p.name for p in context.config.searched))
    if checkpoint is None and key in context.previous:
        checkpoint = tune.Checkpoint(context.previous[key])
    return None if checkpoint is None else load_state(checkpoint)


def _json_default(value: Any) -> Any:
    """numpy scalars -> Python numbers for json.dumps."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
