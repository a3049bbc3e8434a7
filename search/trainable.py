"""The Ray Tune trainable of one trial: the worker side of the search.

Each trial reports after every epoch (with a checkpoint on `[search].checkpoint_every`'s
cadence) and once at the end with its JSON record (`search.callbacks` turns that into its
Parquet row). It continues from Tune's latest checkpoint when Tune retries it (its worker
died), or from the checkpoints an interrupted driver left (`TrialContext.previous`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hardware.errors import MosaicDSEError
from search.config import SearchConfig, build_trial
from search.trial import TrialRecord, TrialSettings, run_trial

if TYPE_CHECKING:
    from search.checkpoints import Cadence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialContext:
    """What every trial needs besides its sampled parameters (shipped once to workers).

    previous: checkpoint paths or URIs (newest first) by `search.checkpoints.params_key`, for
    the trials an interrupted driver left unfinished: a re-run continues from the newest sound
    one.
    """

    config: SearchConfig
    settings: TrialSettings
    previous: dict[str, tuple[str, ...]] = field(default_factory=dict)


def trainable(config: dict[str, Any], data: Any = None,
              context: TrialContext | None = None) -> None:
    """Ray Tune function trainable: one trial, reported after every epoch (val_accuracy, loss,
    firing rate, links; a checkpoint when one is due) and once at the end with its JSON record.

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
        from model.checkpoint import expected_state
        from search.checkpoints import Cadence

        cadence = Cadence.parse(context.config.search.checkpoint_every)
        start = _start_point(context, params, expected_state(spec, train_cfg, data.n_inputs))
        record = run_trial(spec, train_cfg, data, context.config.data, params, context.settings,
                           on_epoch=EpochReporter(float(chip_memory_cells(spec)), cadence),
                           state=start.state)
        record = start.annotate(record)
    accuracy, memory = record.objectives()
    tune.report({"val_accuracy": accuracy, "chip_memory_cells": memory,
                 "constraint": record.constraint, "status": record.status,
                 "record": json.dumps(record.to_row(), default=_json_default)})


@dataclass
class EpochReporter:
    """A trial's `on_epoch`: every epoch's Tune report, with a checkpoint when `cadence` says
    one is due (`clock`: seconds, monotonic; the trial's start counts as its last checkpoint)."""

    chip_memory: float
    cadence: Cadence
    clock: Callable[[], float] = time.monotonic
    last: float = field(init=False)

    def __post_init__(self) -> None:
        self.last = self.clock()

    def __call__(self, report: Any, checkpoint: Callable[[], Any]) -> None:
        now = self.clock()
        due = self.cadence.due(report.epoch, now - self.last)
        report_epoch(self.chip_memory, report, checkpoint if due else None)
        if due:
            self.last = now


def report_epoch(chip_memory: float, report: Any, checkpoint: Callable[[], Any] | None) -> None:
    """Tune report of one finished epoch (a `model.train.EpochReport`), with the checkpoint
    `checkpoint()` returns unless it is None."""
    from ray import tune

    from search.checkpoints import staged_checkpoint

    metrics = {"val_accuracy": report.val_accuracy, "chip_memory_cells": chip_memory,
               "epoch": report.epoch, "epochs": report.epochs, "loss": report.loss,
               "firing_rate": report.firing_rate, "n_links": report.n_links}
    if checkpoint is None:
        tune.report(metrics)
        return
    with staged_checkpoint(checkpoint()) as staged:
        tune.report(metrics, checkpoint=staged)


def _start_point(context: TrialContext, params: dict[str, Any], shape: Any) -> Any:
    """Where the trial starts (a `search.checkpoints.StartPoint`): Tune's checkpoint (a retry),
    else an earlier segment's, newest first, skipping damaged ones; else epoch 0."""
    from ray import tune

    from search.checkpoints import choose_start, params_key

    retry = tune.get_checkpoint()
    key = params_key(params, (p.name for p in context.config.searched))
    candidates = [*([retry] if retry is not None else []), *context.previous.get(key, ())]
    start = choose_start(candidates, shape)
    if start.skipped:
        log.warning("trial %s: %s", key, "; ".join(start.skipped))
    return start


def _json_default(value: Any) -> Any:
    """numpy scalars -> Python numbers for json.dumps."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
