"""The search's Parquet results: trials.parquet (one row per finished trial) and pareto.parquet.

pyarrow only (no ray, no torch), so it is testable alone. The schema and the front come from
`analysis` (one definition each). Rows are keyed by trial id: re-adding a trial replaces its
row in place, so a resumed or replayed search never duplicates one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from analysis.io import atomic_write_table, read_table
from analysis.pareto import considered_mask, front_metadata, nondominated_mask
from analysis.schema import PARETO_FILE, STATUSES, TRIALS_FILE, build_table, file_metadata
from hardware.errors import ResultsError


class ResultsStore:
    """trials.parquet / pareto.parquet of one results directory, rewritten after every add.

    directory: `<storage>/<name>` (created if missing); existing rows are loaded (resume).
    config_text: the resolved config (TOML), stored as file metadata with package versions.
    Each file is replaced atomically; trials.parquet is written first and is the record of
    what finished (pareto.parquet is derived from it).
    """

    def __init__(self, directory: Path | str, config_text: str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._metadata = file_metadata(config_text)
        self._rows: dict[str, dict[str, Any]] = {}
        self._seen: tuple[int, ...] | None = None  # (inode, mtime_ns, size) last read/written
        self._remove_stale_temp_files()
        self._reload()
        self._rewrite_derived()

    def _remove_stale_temp_files(self) -> None:
        """Delete the hidden temp files a killed writer of this store left
        (`.trials.parquet.<hex>.tmp`, `.pareto.parquet.<hex>.tmp`)."""
        for name in (TRIALS_FILE, PARETO_FILE):
            for tmp in self.directory.glob(f".{name}.*.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()

    def _rewrite_derived(self) -> None:
        """Rewrite pareto.parquet from trials.parquet when it differs (or is missing): a driver
        killed between the two renames leaves it stale, and a resume with nothing to run would
        never rewrite it otherwise."""
        if not self.trials_path.exists():
            return
        front = front_table(read_table(self.trials_path))
        try:
            current = read_table(self.pareto_path)
        except ResultsError:  # missing or unreadable
            current = None
        if current is None or not current.equals(front, check_metadata=True):
            atomic_write_table(self.pareto_path, front)

    def _reload(self) -> None:
        """Re-read trials.parquet when another writer (the driver's proxy gate, a second
        store) replaced it since this store last read or wrote it."""
        try:
            stat = self.trials_path.stat()
        except FileNotFoundError:
            return
        if (stat.st_ino, stat.st_mtime_ns, stat.st_size) != self._seen:
            rows = read_table(self.trials_path).to_pylist()
            self._rows = {str(row.get("trial_id")): row for row in rows}
            self._seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    @property
    def trials_path(self) -> Path:
        """`<directory>/trials.parquet`: one row per finished trial."""
        return self.directory / TRIALS_FILE

    @property
    def pareto_path(self) -> Path:
        """`<directory>/pareto.parquet`: the rows on the front, by chip memory."""
        return self.directory / PARETO_FILE

    def add(self, record: Mapping[str, Any]) -> None:
        """Store one finished trial (flat dict with trial_id and status) and rewrite both files.

        `finished_at` defaults to now; `on_front` is recomputed for every row. A record whose
        values do not fit the schema raises ResultsError and changes nothing.
        """
        row = _checked_row(record)
        self._reload()  # merge with what is on disk: rows another writer added are kept
        rows = {**self._rows, row["trial_id"]: row}  # an existing id keeps its position
        rows_on_front = with_front(list(rows.values()))
        table = build_table(rows_on_front, {**self._metadata, **front_metadata(rows_on_front)})
        atomic_write_table(self.trials_path, table)
        atomic_write_table(self.pareto_path, front_table(table))
        self._rows = {r["trial_id"]: r for r in table.to_pylist()}
        stat = self.trials_path.stat()
        self._seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def rows_by_trial_id(self) -> dict[str, dict[str, Any]]:
        """Copies of the stored rows (as written: one key per column) by trial id."""
        self._reload()
        return {trial_id: dict(row) for trial_id, row in self._rows.items()}

    def finished_count(self) -> int:
        """Number of finished trials (rows, whatever their status)."""
        self._reload()
        return len(self._rows)

    def trained_count(self) -> int:
        """Number of rows of trials that occupied a training slot (every status but
        `infeasible`: those are decided in the driver before a trial starts)."""
        self._reload()
        return sum(row.get("status") != "infeasible" for row in self._rows.values())

    def __len__(self) -> int:
        return len(self._rows)


def _checked_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `record` with a valid trial_id and status, and finished_at set."""
    trial_id = record.get("trial_id")
    if not isinstance(trial_id, str) or not trial_id:
        raise ResultsError(f"a results record needs a non-empty string trial_id, got "
                           f"{trial_id!r} (set record['trial_id'])")
    if record.get("status") not in STATUSES:
        raise ResultsError(f"trial {trial_id!r}: status must be one of {', '.join(STATUSES)}, "
                           f"got {record.get('status')!r}")
    row = dict(record)
    if row.get("finished_at") is None:
        row["finished_at"] = dt.datetime.now(dt.UTC)
    return row


def _column(rows: list[dict[str, Any]], name: str) -> np.ndarray:
    """float (n,) of a numeric column, NaN where missing or null."""
    return np.array([np.nan if r.get(name) is None else float(r[name]) for r in rows])


def with_front(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of `rows` with `on_front` recomputed (ok, mappable, non-dominated on
    max val_accuracy / min chip_memory_cells)."""
    keep = considered_mask([r.get("status") for r in rows], [r.get("mappable") for r in rows])
    accuracy = np.where(keep, _column(rows, "val_accuracy"), np.nan)
    front = nondominated_mask(accuracy, _column(rows, "chip_memory_cells"))
    return [{**row, "on_front": bool(flag)} for row, flag in zip(rows, front, strict=True)]


def front_table(trials: pa.Table) -> pa.Table:
    """The rows of `trials` with on_front, sorted by chip_memory_cells (same schema)."""
    on_front = np.asarray(trials.column("on_front").to_pylist(), dtype=bool)
    memory = np.asarray(trials.column("chip_memory_cells").to_pylist(), dtype=float)
    index = np.flatnonzero(on_front)
    return trials.take(pa.array(index[np.argsort(memory[index], kind="stable")]))
