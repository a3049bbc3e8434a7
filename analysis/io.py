"""Reading results directories and atomic writes (the only disk I/O of `analysis`).

Every persistent write goes to a hidden temp file in the target's directory, is flushed and
fsynced, then renamed over the target with `os.replace`, so a reader sees the old or the new
file, never a partial one. Readers are tolerant: a trials.parquet written by hand with plain
pyarrow (no status/mappable/trial_id column) is still analysed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.objectives import DEFAULT_OBJECTIVES, Objectives, read_objectives
from analysis.schema import CONFIG_KEY, TRIALS_FILE, VERSIONS_KEY, read_reference
from hardware.errors import ResultsError


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write `path` atomically: `write(file)` into a hidden temp file, fsync, os.replace.

    ResultsError (one line) when the directory is missing, read-only or full; `path` is then
    left as it was.
    """
    path = Path(path)
    try:
        _replace(path, write)
    except OSError as exc:
        raise ResultsError(f"cannot write {path}: {exc.strerror or exc} ({write_fix(exc, path)})"
                           ) from None
    fsync_directory(path.parent)


def _replace(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    # os.open (not mkstemp, which makes 0600 files) so the file gets the umask's permissions
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_fix(exc: OSError, path: Path) -> str:
    if exc.errno == errno.ENOENT:
        return f"create the directory {path.parent} first"
    return f"free disk space or make {path.parent} writable"


def fsync_directory(directory: Path) -> None:
    """Persist the rename itself (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically."""
    _atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with UTF-8 `text` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_table(path: Path, table: pa.Table) -> None:
    """Replace the Parquet file `path` with `table` (schema metadata included) atomically."""
    _atomic_write(path, lambda f: pq.write_table(table, f))


def trials_path(path: Path) -> Path:
    """trials.parquet of a results directory (or `path` itself if it is a .parquet file)."""
    path = Path(path).expanduser()
    if path.is_file() and path.suffix == ".parquet":
        return path
    candidate = path / TRIALS_FILE
    if not candidate.is_file():
        raise ResultsError(f"not a results directory: {path} has no {TRIALS_FILE} (pass the "
                           "<storage>/<name> directory of a search)")
    return candidate


def read_table(path: Path) -> pa.Table:
    """The Arrow table of one Parquet file; ResultsError if it cannot be read.

    The file is opened once: `pq.read_table(path)` opens it twice (footer, then pages), and
    a search replacing it in between makes that read fail or mix two versions.
    """
    try:
        with pa.OSFile(str(path)) as source:
            return pq.read_table(source)
    except (OSError, pa.ArrowException) as exc:
        raise ResultsError(f"cannot read {path}: {exc} (is it a Parquet file written by "
                           "mosaic-dse?)") from exc


@dataclass(frozen=True)
class Results:
    """A results directory read into memory.

    trials: one row per trial in file (= trial) order, with status/mappable/trial_id/method
    present even if the file lacks them. config_text / versions / stored_reference: file
    metadata (None / {} / None when absent); stored_reference is the hypervolume and reference
    point the search printed ({"reference_point": [acc, cells], "hypervolume", "objectives"}).
    """

    directory: Path
    trials: pd.DataFrame = field(compare=False, repr=False)
    config_text: str | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    stored_reference: Mapping[str, Any] | None = None
    objectives: Objectives = DEFAULT_OBJECTIVES


def load_results(path: Path) -> Results:
    """Read `<path>/trials.parquet` (pareto.parquet is not needed: the front is recomputed)."""
    file = trials_path(path)
    table = read_table(file)
    metadata = table.schema.metadata or {}
    config = metadata.get(CONFIG_KEY.encode())
    versions = metadata.get(VERSIONS_KEY.encode())
    return Results(directory=file.parent, trials=tolerant_frame(table),
                   config_text=config.decode() if config is not None else None,
                   versions=json.loads(versions) if versions else {},
                   stored_reference=read_reference(metadata),
                   objectives=read_objectives(metadata))


def tolerant_frame(table: pa.Table) -> pd.DataFrame:
    """DataFrame of a trials table, filling what a hand-written file may lack.

    Missing `status` -> "ok"; missing `mappable` -> True (nothing says it is not); null
    `mappable`/`on_front` -> False; missing `method` -> "unknown"; missing `trial_id` -> the
    row number.
    """
    n = table.num_rows
    defaults = {"trial_id": pa.array([str(i) for i in range(n)], pa.string()),
                "status": pa.array(["ok"] * n, pa.string()),
                "method": pa.array(["unknown"] * n, pa.string()),
                "mappable": pa.array([True] * n, pa.bool_())}
    for name, column in defaults.items():
        if name not in table.column_names:
            table = table.append_column(name, column)
    for name in ("mappable", "on_front"):
        if name in table.column_names:
            index = table.column_names.index(name)
            filled = table.column(name).cast(pa.bool_()).fill_null(False)
            table = table.set_column(index, name, filled)
    return table.to_pandas()
