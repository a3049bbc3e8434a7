"""Hand-made trial records and results directories for the analysis and results tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from search.store.results import ResultsStore

CONFIG_TEXT = '[search]\ntrials = 8\n\n[hardware]\nrows = 2\ncap_r1 = { low = 8, high = 16 }\n'


def record(trial_id: str, val_accuracy: float | None = 0.5, chip_memory_cells: int = 100,
           status: str = "ok", method: str = "routing_aware", **extra: Any) -> dict[str, Any]:
    """One flat trial record as the search writes it (trained and mappable by default)."""
    trained = status == "ok"
    base = {"trial_id": trial_id, "status": status, "method": method, "rows": 2, "cols": 2,
            "cap_r1": 8, "p1": 0.5, "p3": 0.1, "lr": 1e-3,
            "val_accuracy": val_accuracy if trained else None,
            "accuracy": val_accuracy - 0.01 if trained and val_accuracy is not None else None,
            "train_accuracy": None, "chip_memory_cells": chip_memory_cells,
            "memory_cells": chip_memory_cells if trained else None,
            "proxy_memory_cells": chip_memory_cells, "mappable": trained,
            "violations": 0 if trained else 2, "n_links": 10 if trained else None,
            "n_weights": 100 if trained else None, "hop_profile": [0.0, 0.5, 0.0, 0.1],
            "error": None if trained else "proxy: 0% of sampled networks map", "seed": 0}
    return base | extra


def write_store(directory: Path, records: list[dict[str, Any]],
                config_text: str = CONFIG_TEXT) -> Path:
    """Write `records` through ResultsStore (the search's writer); returns the directory."""
    store = ResultsStore(directory, config_text)
    for r in records:
        store.add(r)
    store.close()  # the Parquet files hold every row
    return directory


def write_plain(directory: Path, columns: dict[str, list[Any]]) -> Path:
    """A trials.parquet written with plain pyarrow (no mosaic-dse schema, no metadata)."""
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), directory / "trials.parquet")
    return directory
