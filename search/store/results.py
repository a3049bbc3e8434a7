"""The search's Parquet results: trials.parquet (one row per finished trial) and pareto.parquet.

pyarrow only (no ray, no torch), so it is testable alone. The schema and the front come from
`analysis` (one definition each). Rows are keyed by trial id: re-adding a trial replaces its
row in place, so a resumed or replayed search never duplicates one.

An add costs the same at 20,000 rows as at 0: the row is appended to an fsynced log
(`search.store.row_log`, durable at once) and to an in-memory Arrow table
(`search.store.result_table`);
the two Parquet files are materialised from that table every `flush_seconds` and at close, each
atomically (temp file + rename). Opening a store replays the log, so a SIGKILL loses no row
that was added. The driver's gate and results callback write through one store per directory
(`open_store`).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import math
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from analysis.front import front_order
from analysis.io import atomic_write_table, read_table
from analysis.objectives import (
    DEFAULT_OBJECTIVES,
    Objectives,
    objectives_metadata,
    parse_objectives,
)
from analysis.pareto import front_metadata, table_values
from analysis.schema import PARETO_FILE, STATUSES, TRIALS_FILE, file_metadata
from hardware.errors import ResultsError
from search.store.layout import ROW_LOG
from search.store.result_table import ResultTable
from search.store.row_log import RowLog

FLUSH_SECONDS = 5.0  # trials.parquet / pareto.parquet lag the added rows by at most this


class ResultsStore:
    """trials.parquet / pareto.parquet of one results directory, with the row log beside them.

    directory: `<storage>/<name>` (created if missing); existing rows are loaded and logged
    rows replayed (resume). config_text: the resolved config (TOML), stored as file metadata
    with package versions. flush_seconds: how often adds materialise the Parquet files
    (0: after every add). Opening removes this store's stale temp files and rewrites what is
    derived from the rows (pareto.parquet, on_front) when it differs.
    """

    def __init__(self, directory: Path | str, config_text: str,
                 flush_seconds: float = FLUSH_SECONDS) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.flush_seconds = flush_seconds
        self.objectives = config_objectives(config_text)
        self._metadata = file_metadata(config_text) | objectives_metadata(self.objectives)
        self._log = RowLog(self.directory / ROW_LOG)
        self._last_flush = -math.inf
        self._pending = False
        self._remove_stale_temp_files()
        loaded = read_table(self.trials_path) if self.trials_path.exists() else None
        self._rows = (ResultTable(self._metadata, self.objectives) if loaded is None
                      else ResultTable.from_table(loaded, self._metadata, self.objectives))
        replayed = self._log.read()
        for row in replayed:
            self._rows.upsert(_checked_row(row))
        if replayed:
            self.flush()
        elif loaded is not None:
            self._rewrite_derived(loaded)

    def _remove_stale_temp_files(self) -> None:
        """Delete the hidden temp files a killed writer of this store left
        (`.trials.parquet.<hex>.tmp`, `.pareto.parquet.<hex>.tmp`)."""
        for name in (TRIALS_FILE, PARETO_FILE):
            for tmp in self.directory.glob(f".{name}.*.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()

    def _rewrite_derived(self, loaded: pa.Table) -> None:
        """Rewrite what is derived from the loaded rows when it differs: trials.parquet's
        on_front, and pareto.parquet (a driver killed between the two renames leaves it
        stale, and a resume with nothing to run would never rewrite it otherwise)."""
        table = self._rows.table()
        if not loaded.column("on_front").equals(table.column("on_front")):
            self.flush()
            return
        front = front_table(table, self.objectives)
        try:
            current = read_table(self.pareto_path)
        except ResultsError:  # missing or unreadable
            current = None
        if current is None or not current.equals(front, check_metadata=True):
            atomic_write_table(self.pareto_path, front)

    @property
    def trials_path(self) -> Path:
        """`<directory>/trials.parquet`: one row per finished trial."""
        return self.directory / TRIALS_FILE

    @property
    def pareto_path(self) -> Path:
        """`<directory>/pareto.parquet`: the rows on the front, by chip memory."""
        return self.directory / PARETO_FILE

    def add(self, record: Mapping[str, Any]) -> None:
        """Store one finished trial (flat dict with trial_id and status): durable in the row log
        when this returns, in the Parquet files within `flush_seconds`.

        `finished_at` defaults to now; `on_front` is recomputed for every row when the files
        are written. A record whose values do not fit the schema raises ResultsError and
        changes nothing.
        """
        stored, commit = self._rows.prepare(_checked_row(record))
        self._log.append(stored)
        commit()
        self._pending = True
        self.flush_if_due()

    def flush_if_due(self) -> bool:
        """Materialise the Parquet files when rows are pending and `flush_seconds` have passed
        since the last time; True when it did."""
        if not self._pending or time.monotonic() - self._last_flush < self.flush_seconds:
            return False
        self.flush()
        return True

    def flush(self) -> None:
        """Write trials.parquet then pareto.parquet from the in-memory table (each atomically),
        then empty the row log (its rows are in trials.parquet now)."""
        table = self._rows.table()
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               **_str_keys(front_metadata(table,
                                                                          self.objectives))})
        atomic_write_table(self.trials_path, table)
        atomic_write_table(self.pareto_path, front_table(table, self.objectives))
        self._log.clear()
        self._pending = False
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Write what is pending and close the log."""
        if self._pending:
            self.flush()
        self._log.close()

    def rows_by_trial_id(self) -> dict[str, dict[str, Any]]:
        """Copies of the stored rows (one key per column) by trial id: O(rows)."""
        return self._rows.rows()

    def __contains__(self, trial_id: object) -> bool:
        return trial_id in self._rows

    def finished_count(self) -> int:
        """Number of finished trials (rows, whatever their status)."""
        return len(self._rows)

    def trained_count(self) -> int:
        """Number of rows of trials that occupied a training slot (every status but
        `infeasible`: those are decided in the driver before a trial starts)."""
        return self._rows.trained_count()

    def front_size(self) -> int:
        """Rows on the front now."""
        return self._rows.front_size

    def best_val_accuracy(self) -> float | None:
        """The best val_accuracy of an ok, mappable row (None while there is none)."""
        return self._rows.best_val_accuracy

    def next_infeasible_id(self) -> str:
        """A trial id `infeasible-NNNNN` that no row has (numbers continue across segments)."""
        return self._rows.next_infeasible_id()

    def __len__(self) -> int:
        return len(self._rows)


_OPEN: dict[Path, ResultsStore] = {}


def open_store(directory: Path | str, config_text: str) -> ResultsStore:
    """The one store of `directory` in this process (opened on first use): the driver's gate
    and results callback write through it, so neither rereads or overwrites the other."""
    key = Path(directory).resolve()
    store = _OPEN.get(key)
    if store is None:
        store = _OPEN[key] = ResultsStore(key, config_text)
    return store


def close_store(directory: Path | str) -> None:
    """Write what the directory's open store holds and forget it (a later open rereads)."""
    store = _OPEN.pop(Path(directory).resolve(), None)
    if store is not None:
        store.close()


@atexit.register
def _close_all() -> None:
    """At exit, materialise what open stores hold (their rows are in the log regardless)."""
    for directory in list(_OPEN):
        with contextlib.suppress(ResultsError, OSError):
            close_store(directory)


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


def front_table(trials: pa.Table, objectives: Objectives = DEFAULT_OBJECTIVES) -> pa.Table:
    """The rows of `trials` with on_front, in `analysis.front.front_order` (by chip memory for
    the default objectives; same schema)."""
    on_front = trials.column("on_front").to_numpy(zero_copy_only=False).astype(bool)
    index = np.flatnonzero(on_front)
    values = table_values(trials.take(pa.array(index, pa.int64())), objectives)
    return trials.take(pa.array(index[front_order(values, objectives)], pa.int64()))


def config_objectives(config_text: str) -> Objectives:
    """[search].objectives of a resolved config text (DEFAULT_OBJECTIVES when it has none)."""
    try:
        search = tomllib.loads(config_text).get("search", {})
    except tomllib.TOMLDecodeError as exc:
        raise ResultsError(f"the results store needs the resolved config as TOML: {exc} (pass "
                           "SearchConfig.to_toml())") from None
    texts = search.get("objectives")
    return DEFAULT_OBJECTIVES if texts is None else parse_objectives(texts)


def _str_keys(metadata: Mapping[str, str]) -> dict[bytes, bytes]:
    """Parquet schema metadata as bytes (Arrow's own form), to merge with a table's."""
    return {k.encode(): v.encode() for k, v in metadata.items()}
