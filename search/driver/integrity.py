"""What a resume checks against what the results directory already holds, before any work.

The config a search started with is the one in trials.parquet's metadata: every row is written
under it and each resume is checked against it before it writes, so it stays the first start's
config (up to the keys a resume may change). config.toml is only a copy a user may edit.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from analysis.schema import CONFIG_KEY
from hardware.errors import ConfigError, ResultsError
from search.config.files import SearchConfig, config_differences, config_fingerprint, parse_config
from search.store.layout import CONFIG_FILE, TRIALS_FILE


def stored_config_text(directory: Path) -> str | None:
    """The config text in `<directory>/trials.parquet`'s metadata; None when no trial is stored
    yet. ResultsError when the file is not a mosaic-dse results file."""
    path = directory / TRIALS_FILE
    if not path.exists():
        return None
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException) as exc:
        raise ResultsError(f"cannot read {path}: {str(exc).splitlines()[0]} (restore it from a "
                           "backup, or start a new --name)") from None
    text = metadata.get(CONFIG_KEY.encode())
    if text is None:
        raise ResultsError(f"{path} has no mosaic-dse config in its metadata: it was not written "
                           "by a mosaic-dse search (restore it from a backup, or start a new "
                           "--name)")
    return text.decode("utf-8", errors="replace")


def check_same_config(cfg: SearchConfig, directory: Path) -> None:
    """ConfigError naming every changed key when `cfg` explores something else than the search
    in `directory` started with (config.toml when no trial is stored yet)."""
    text = stored_config_text(directory)
    if text is None:
        started = parse_config((directory / CONFIG_FILE).read_text(encoding="utf-8"),
                               str(directory / CONFIG_FILE))
        where = str(directory / CONFIG_FILE)
    else:
        where = f"the metadata of {directory / TRIALS_FILE}"
        started = parse_config(text, where)
    if config_fingerprint(started) != config_fingerprint(cfg):
        changed = "; ".join(config_differences(started, cfg))
        raise ConfigError(f"config differs from the one this search started with, stored in "
                          f"{where} ({changed}); resume with that config (only [search] trials, "
                          f"concurrency and resources may change; undo edits to {CONFIG_FILE}) "
                          "or start a new --name")
