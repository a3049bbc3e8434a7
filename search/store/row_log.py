"""The append-only row log beside trials.parquet: every finished row is durable at once.

One JSON object per line, appended with a single write and fsynced before `append` returns, so
a SIGKILL or power loss after a trial's row was stored never loses it. The log only holds rows
not yet materialised into trials.parquet: `clear` removes it after each materialisation, and a
store opened on the directory replays what it still holds (replaying a row already in
trials.parquet replaces it with itself).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from analysis.io import fsync_directory, write_fix
from hardware.errors import ResultsError

TIMESTAMP_KEYS = ("finished_at",)  # ISO strings in the log, datetimes in the rows


class RowLog:
    """Appends rows to `path` (created on first append) and reads them back."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def append(self, row: dict[str, Any]) -> None:
        """Write `row` as one line and fsync it; ResultsError (one line) on I/O errors."""
        line = json.dumps({k: _jsonable(v) for k, v in row.items()}) + "\n"
        try:
            fd = self._open()
            os.write(fd, line.encode("utf-8"))
            getattr(os, "fdatasync", os.fsync)(fd)  # the data; no need for the mtime too
        except OSError as exc:
            raise _write_error(self.path, exc) from None

    def clear(self) -> None:
        """Remove the log (its rows are in trials.parquet now); the next append recreates it."""
        self.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _write_error(self.path, exc) from None
        fsync_directory(self.path.parent)

    def read(self) -> list[dict[str, Any]]:
        """The logged rows in order. A torn last line (a write cut short: its add never
        returned) is ignored; a bad line before the last is a ResultsError."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ResultsError(f"cannot read {self.path}: {exc.strerror or exc} (make it "
                               "readable, then resume)") from None
        lines = data.split(b"\n")
        rows = []
        for number, line in enumerate(lines, 1):
            if not line:
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("not an object")
            except ValueError:
                if number == len(lines):  # no newline after it: the torn last write
                    break
                raise ResultsError(f"{self.path} line {number} is not a logged row (restore "
                                   "the file, or delete it to lose the rows not yet in "
                                   "trials.parquet)") from None
            rows.append(_row_values(row))
        return rows

    def close(self) -> None:
        """Close the file (a later append reopens it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _open(self) -> int:
        if self._fd is None:
            created = not self.path.exists()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            if created:
                fsync_directory(self.path.parent)
        return self._fd


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _row_values(row: dict[str, Any]) -> dict[str, Any]:
    for key in TIMESTAMP_KEYS:
        if isinstance(row.get(key), str):
            row[key] = dt.datetime.fromisoformat(row[key])
    return row


def _write_error(path: Path, exc: OSError) -> ResultsError:
    return ResultsError(f"cannot write {path}: {exc.strerror or exc} ({write_fix(exc, path)})")
