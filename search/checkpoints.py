"""Per-epoch trial checkpoints in Ray Tune's storage, and finding them again after a driver died.

A checkpoint is `model.checkpoint.run_state` saved as one `state.npz` in a Tune checkpoint
directory. Tune restores the latest one when it retries a trial whose worker died; a resumed
driver (a new Tuner segment) finds the latest checkpoint of each trial it re-runs in the
earlier segments' storage, keyed by the trial's parameters, so that trial continues from its
last epoch instead of epoch 0.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

STATE_FILE = "state.npz"
_CHECKPOINT = re.compile(r"checkpoint_(\d+)")


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
    """The run state inside a `ray.tune.Checkpoint` (local or on a pyarrow filesystem)."""
    with checkpoint.as_directory() as directory, \
            np.load(os.path.join(directory, STATE_FILE)) as saved:
        return {name: saved[name] for name in saved.files}


def latest_checkpoint(ray_storage: str, ray_trial_id: str) -> str | None:
    """Path or URI of the newest checkpoint of Ray trial `ray_trial_id` in any segment
    (`<ray_storage>/run-*/trainable_<id>_*/checkpoint_N`), or None."""
    from pyarrow import fs

    if "://" in ray_storage:
        filesystem, root = fs.FileSystem.from_uri(ray_storage)
        prefix = ray_storage[:len(ray_storage) - len(root)] if ray_storage.endswith(root) else ""
    else:
        filesystem, root, prefix = fs.LocalFileSystem(), str(Path(ray_storage)), ""
    best: tuple[int, str, str] | None = None
    for segment in _children(filesystem, root, "run-"):
        for trial in _children(filesystem, segment, f"trainable_{ray_trial_id}_"):
            for path in _children(filesystem, trial, "checkpoint_"):
                match = _CHECKPOINT.fullmatch(path.rsplit("/", 1)[-1])
                if match and filesystem.get_file_info(f"{path}/{STATE_FILE}").is_file:
                    found = (int(match[1]), segment, path)
                    best = found if best is None or found > best else best
    return None if best is None else prefix + best[2]


def _children(filesystem: Any, directory: str, prefix: str) -> list[str]:
    """Paths of the sub-directories of `directory` whose names start with `prefix`."""
    from pyarrow import fs

    try:
        infos = filesystem.get_file_info(fs.FileSelector(directory, allow_not_found=True))
    except OSError:
        return []
    return sorted(i.path for i in infos
                  if i.type == fs.FileType.Directory and i.base_name.startswith(prefix))
