"""Per-epoch trial checkpoints in Ray Tune's storage, and finding them again after a driver died.

A checkpoint is `model.checkpoint.run_state` saved as one `state.npz` in a Tune checkpoint
directory. Tune restores the latest one when it retries a trial whose worker died; a resumed
driver (a new Tuner segment) finds the checkpoints of each trial it re-runs in the earlier
segments' storage, keyed by the trial's parameters, so that trial continues from its last epoch
instead of epoch 0. A checkpoint is checked when chosen (`choose_start`): a damaged one (empty,
truncated, garbled, NaN weights, an epoch out of range) is skipped for the next older one, or
epoch 0, and the trial's row says so.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # model.checkpoint imports torch, which the driver does not need here
    from model.checkpoint import StateShape

STATE_FILE = "state.npz"
_CHECKPOINT = re.compile(r"checkpoint_(\d+)")
# [search].checkpoint_every: "N" epochs (N >= 1) or "Xs" seconds (X > 0)
CADENCE = re.compile(r"[1-9][0-9]*|(?=[0-9.]*[1-9])[0-9]+(\.[0-9]+)?s")


@dataclass(frozen=True)
class Cadence:
    """When a trial checkpoints: after every `epochs`-th epoch, or (epochs 0) after the first
    epoch that ends `seconds` or more after its last checkpoint (or its start)."""

    epochs: int = 1
    seconds: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Cadence:
        """The cadence of a `[search].checkpoint_every` value ("2" or "300s"); ConfigError if
        it is neither."""
        from hardware.errors import ConfigError

        if CADENCE.fullmatch(text) is None:
            raise ConfigError(f"checkpoint_every must be a number of epochs >= 1 or seconds "
                              f"> 0 such as \"300s\", got {text!r} (set [search].checkpoint_every)")
        return cls(0, float(text[:-1])) if text.endswith("s") else cls(int(text))

    def due(self, epoch: int, since_last: float) -> bool:
        """Whether epoch `epoch` (1-based) checkpoints, `since_last` seconds after the last."""
        return epoch % self.epochs == 0 if self.epochs else since_last >= self.seconds


def params_key(params: Mapping[str, Any], searched: Iterable[str]) -> str:
    """A stable text key of a trial's sampled values: those of the `searched` parameter names
    (what Optuna records; fixed values are the same for every trial), JSON with keys sorted."""
    values = {name: params[name] for name in sorted(searched) if name in params}
    return json.dumps(values, sort_keys=True, default=str)


@contextmanager
def staged_checkpoint(state: Mapping[str, np.ndarray]) -> Iterator[Any]:
    """A `ray.tune.Checkpoint` holding `state` in a fresh staging directory, removed on exit.

    `tune.report` copies the directory into Tune's storage before it returns, so the staging
    copy is garbage once reported (one per checkpoint would pile up in $TMPDIR otherwise).
    """
    from ray import tune

    directory = tempfile.mkdtemp(prefix="mosaic-dse-checkpoint-")
    try:
        np.savez(os.path.join(directory, STATE_FILE), **state)
        yield tune.Checkpoint.from_directory(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def load_state(checkpoint: Any) -> dict[str, np.ndarray]:
    """The run state inside a `ray.tune.Checkpoint` (local or on a pyarrow filesystem);
    CheckpointError when its state file is missing or not a readable npz archive."""
    from model.checkpoint import CheckpointError

    try:
        with checkpoint.as_directory() as directory, \
                np.load(os.path.join(directory, STATE_FILE)) as saved:
            return {name: saved[name] for name in saved.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise CheckpointError(f"{STATE_FILE} is not a readable archive "
                              f"({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class StartPoint:
    """Where a trial starts: the state to continue from (None: epoch 0) and the damaged
    checkpoints skipped on the way, each as 'which: why'."""

    state: dict[str, np.ndarray] | None = None
    skipped: tuple[str, ...] = ()

    @property
    def epoch(self) -> int | None:
        """The epoch the trial continues after; 0 when it restarts because every checkpoint was
        damaged, None when it had none."""
        if self.state is not None:
            return int(self.state["epoch"])
        return 0 if self.skipped else None

    def annotate(self, record: Any) -> Any:
        """`record` (a search.driver.trial.TrialRecord) with resumed_from_epoch and, when
        checkpoints
        were skipped, a note saying which and why in its `error` field."""
        if self.epoch is None:
            return record
        if not self.skipped:
            return dataclasses.replace(record, resumed_from_epoch=self.epoch)
        where = "restarted from epoch 0" if self.state is None else f"continued from epoch "\
                f"{self.epoch}"
        note = f"{where}, skipping damaged checkpoints: {'; '.join(self.skipped)}"
        error = note if record.error is None else f"{record.error} ({note})"
        return dataclasses.replace(record, resumed_from_epoch=self.epoch, error=error)


def choose_start(candidates: Iterable[Any], shape: StateShape) -> StartPoint:
    """The first of `candidates` (newest first: `ray.tune.Checkpoint`s, paths or URIs) whose
    state loads and fits a run of `shape` (`model.checkpoint.check_state`), with those skipped."""
    from ray import tune

    from model.checkpoint import CheckpointError, check_state

    skipped = []
    for candidate in candidates:
        checkpoint = tune.Checkpoint(candidate) if isinstance(candidate, str) else candidate
        try:
            state = load_state(checkpoint)
            check_state(state, shape)
        except CheckpointError as exc:
            skipped.append(f"{checkpoint_name(str(checkpoint.path))}: {exc}")
            continue
        return StartPoint(state, tuple(skipped))
    return StartPoint(None, tuple(skipped))


def checkpoint_name(path: str) -> str:
    """'checkpoint_000002 of trainable_ab12c_00000' for a Tune checkpoint path (no absolute
    paths in rows)."""
    parts = path.rstrip("/").split("/")
    if len(parts) < 2:
        return parts[-1]
    return f"{parts[-1]} of {'_'.join(parts[-2].split('_')[:3])}"


def latest_checkpoint(ray_storage: str, ray_trial_id: str) -> str | None:
    """Path or URI of the newest checkpoint of Ray trial `ray_trial_id` in any segment
    (`<ray_storage>/run-*/trainable_<id>_*/checkpoint_N`), or None."""
    found = trial_checkpoints(ray_storage, ray_trial_id)
    return found[0] if found else None


def trial_checkpoints(ray_storage: str, ray_trial_id: str) -> list[str]:
    """Paths or URIs of every checkpoint with a state file of Ray trial `ray_trial_id` in any
    segment (`<ray_storage>/run-*/trainable_<id>_*/checkpoint_N`), newest first."""
    return checkpoint_index(ray_storage, {ray_trial_id}).get(ray_trial_id, [])


def checkpoint_index(ray_storage: str, ray_trial_ids: set[str]) -> dict[str, list[str]]:
    """Checkpoints (paths or URIs with a state file, newest first) of each of `ray_trial_ids`
    that has some, from one pass over the segments' trial directories."""
    from pyarrow import fs

    if "://" in ray_storage:
        filesystem, root = fs.FileSystem.from_uri(ray_storage)
        prefix = ray_storage[:len(ray_storage) - len(root)] if ray_storage.endswith(root) else ""
    else:
        filesystem, root, prefix = fs.LocalFileSystem(), str(Path(ray_storage)), ""
    found: dict[str, list[tuple[int, str, str]]] = {}
    for segment in _children(filesystem, root, "run-"):
        for trial in _children(filesystem, segment, "trainable_"):
            # trainable_<id>_<n>_<params>: ids are "<5 hex>_<5 digits>" (tests use shorter ones)
            parts = trial.rsplit("/", 1)[-1].split("_")
            ray_id = next((i for i in ("_".join(parts[1:3]), parts[1]) if i in ray_trial_ids), None)
            for path in _children(filesystem, trial, "checkpoint_") if ray_id else ():
                match = _CHECKPOINT.fullmatch(path.rsplit("/", 1)[-1])
                if match and filesystem.get_file_info(f"{path}/{STATE_FILE}").is_file:
                    found.setdefault(ray_id, []).append((int(match[1]), segment, path))
    return {ray_id: [prefix + path for _, _, path in sorted(paths, reverse=True)]
            for ray_id, paths in found.items()}


def resume_checkpoints(trials: Iterable[Any], ray_storage: str,
                       searched: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Checkpoints (paths or URIs, newest first) by `params_key` of each trial a resumed search
    runs again.

    trials: the Optuna study's FrozenTrials after `search.driver.searcher.reconcile_study`. A trial
    runs
    again when it waits in the study's queue (its parameters in system_attrs "fixed_params");
    its checkpoints are those of every Ray trial that ran the same parameters, the latest
    first. So a trial interrupted twice, the second time before it started again or before its
    first new checkpoint, still continues from the first run's checkpoints.
    """
    from optuna.trial import TrialState

    names = list(searched)
    trials = sorted(trials, key=lambda t: t.number, reverse=True)
    waiting = {params_key(t.system_attrs.get("fixed_params", {}), names) for t in trials
               if t.state == TrialState.WAITING}
    runs: dict[str, list[str]] = {}
    for trial in trials:
        key, ray_id = params_key(trial.params, names), trial.user_attrs.get("ray_trial_id")
        if key in waiting and ray_id and trial.state != TrialState.WAITING:
            runs.setdefault(key, []).append(ray_id)
    index = checkpoint_index(ray_storage, {i for ids in runs.values() for i in ids})
    found = {key: tuple(p for i in ids for p in index.get(i, ())) for key, ids in runs.items()}
    return {key: paths for key, paths in found.items() if paths}


def _children(filesystem: Any, directory: str, prefix: str) -> list[str]:
    """Paths of the sub-directories of `directory` whose names start with `prefix`."""
    from pyarrow import fs

    try:
        infos = filesystem.get_file_info(fs.FileSelector(directory, allow_not_found=True))
    except OSError:
        return []
    return sorted(i.path for i in infos
                  if i.type == fs.FileType.Directory and i.base_name.startswith(prefix))
