"""The Ray Tune trainable of one trial: the worker side of the search.

Each trial reports after every epoch (with a checkpoint on `[search].checkpoint_every`'s
cadence) and once at the end with its JSON record (`search.driver.callbacks` turns that into its
Parquet row), after saving its trained network (`search.artefacts.trial_networks`). It continues
from Tune's latest checkpoint when Tune retries it (its worker died), or from the checkpoints
an interrupted driver left (`TrialContext.previous`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from analysis.objectives import MID_RUN_OBJECTIVES, Objectives
from hardware.errors import MosaicDSEError
from search.config.files import SearchConfig, build_trial
from search.driver.trial import TrialRecord, TrialSettings, evaluate

if TYPE_CHECKING:
    from search.store.tune_checkpoints import Cadence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialContext:
    """What every trial needs besides its sampled parameters (shipped once to workers).

    previous: checkpoint paths or URIs (newest first) by
    `search.store.tune_checkpoints.params_key`, for
    the trials an interrupted driver left unfinished: a re-run continues from the newest sound
    one. networks: where trained networks go (a path or URI, `search.artefacts.trial_networks`),
    None to save none.
    """

    config: SearchConfig
    settings: TrialSettings
    previous: dict[str, tuple[str, ...]] = field(default_factory=dict)
    networks: str | None = None


def trainable(config: dict[str, Any], data: Any = None,
              context: TrialContext | None = None) -> None:
    """Ray Tune function trainable: one trial, reported after every epoch (val_accuracy, loss,
    firing rate, links; a checkpoint when one is due) and once at the end with its JSON record.

    A retried trial (its worker died) continues from Tune's latest checkpoint; a trial an
    interrupted driver left unfinished continues from the checkpoint in `context.previous`.
    """
    from ray import tune

    params = dict(config)
    objectives = context.config.search.objective_list
    try:
        spec, train_cfg = build_trial(context.config, params)
    except MosaicDSEError as exc:
        record = TrialRecord.failed(str(exc), params)
    else:
        from hardware.memory import chip_memory_cells
        from model.checkpoint import expected_state
        from search.store.tune_checkpoints import Cadence

        cadence = Cadence.parse(context.config.search.checkpoint_every)
        start = _start_point(context, params, expected_state(spec, train_cfg, data.n_inputs))
        reporter = EpochReporter(float(chip_memory_cells(spec)), end_only(objectives), cadence)
        record, result = evaluate(spec, train_cfg, data, context.config.data, params,
                                  context.settings, on_epoch=reporter, state=start.state)
        record = start.annotate(record)
        if record.status == "ok" and context.networks is not None:
            save_trial_network(context, spec, train_cfg, data, params, result)
    tune.report(final_report(record, objectives))


def save_trial_network(context: TrialContext, spec: Any, train_cfg: Any, data: Any,
                       params: dict[str, Any], result: Any) -> None:
    """Write a trained trial's network file to `context.networks` under its Tune trial id
    (the id of its row). A failed write is logged, not raised: the trial's result stands."""
    from ray import tune

    from search.artefacts.network_file import network_bytes, trial_neuron
    from search.artefacts.trial_networks import write_trial_network
    from search.config.files import resolved_toml

    trial_id = tune.get_context().get_trial_id()
    content = network_bytes(spec, result.links, result.w_in, result.w_rec, result.hop_profile,
                            resolved_toml(context.config, params),
                            trial_neuron(train_cfg, data, context.config.data))
    try:
        write_trial_network(context.networks, trial_id, content)
    except (OSError, MosaicDSEError) as exc:
        log.warning("trial %s: its network was not saved to %s: %s", trial_id,
                    context.networks, exc)


def final_report(record: TrialRecord, objectives: Objectives) -> dict[str, Any]:
    """A trial's last Tune report: its objective values by name (what the searcher tells
    Optuna), its constraint and status, and its row as JSON (what the callback stores)."""
    values = record.objective_values(objectives)
    return {**{o.name: v for o, v in zip(objectives, values, strict=True)},
            "constraint": record.constraint, "status": record.status,
            "record": json.dumps(record.to_row(), default=_json_default)}


def end_only(objectives: Objectives) -> tuple[str, ...]:
    """The objectives known only when a trial ends (energy, memory_cells, ...)."""
    return tuple(o.name for o in objectives if o not in MID_RUN_OBJECTIVES)


@dataclass
class EpochReporter:
    """A trial's `on_epoch`: every epoch's Tune report, with a checkpoint when `cadence` says
    one is due (`clock`: seconds, monotonic; the trial's start counts as its last checkpoint).
    unknown: the objectives known only at the end (reported as None mid-run)."""

    chip_memory: float
    unknown: tuple[str, ...]
    cadence: Cadence
    clock: Callable[[], float] = time.monotonic
    last: float = field(init=False)

    def __post_init__(self) -> None:
        self.last = self.clock()

    def __call__(self, report: Any, checkpoint: Callable[[], Any]) -> None:
        now = self.clock()
        due = self.cadence.due(report.epoch, now - self.last)
        report_epoch(self.chip_memory, self.unknown, report, checkpoint if due else None)
        if due:
            self.last = now


def report_epoch(chip_memory: float, unknown: tuple[str, ...], report: Any,
                 checkpoint: Callable[[], Any] | None) -> None:
    """Tune report of one finished epoch (a `model.train.EpochReport`), with the checkpoint
    `checkpoint()` returns unless it is None: the objectives known mid-run
    (MID_RUN_OBJECTIVES: val_accuracy, chip_memory_cells), progress, and None for the
    `unknown` objectives (Tune wants every metric in each report; the searcher tells a trial
    stopped with None values as pruned)."""
    from ray import tune

    from search.store.tune_checkpoints import staged_checkpoint

    accuracy, memory = (o.name for o in MID_RUN_OBJECTIVES)
    metrics = {**dict.fromkeys(unknown), accuracy: report.val_accuracy, memory: chip_memory,
               "epoch": report.epoch, "epochs": report.epochs, "loss": report.loss,
               "firing_rate": report.firing_rate, "n_links": report.n_links}
    if checkpoint is None:
        tune.report(metrics)
        return
    with staged_checkpoint(checkpoint()) as staged:
        tune.report(metrics, checkpoint=staged)


def _start_point(context: TrialContext, params: dict[str, Any], shape: Any) -> Any:
    """Where the trial starts (a `search.store.tune_checkpoints.StartPoint`): Tune's checkpoint (a
    retry),
    else an earlier segment's, newest first, skipping damaged ones; else epoch 0."""
    from ray import tune

    from search.store.tune_checkpoints import choose_start, params_key

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
