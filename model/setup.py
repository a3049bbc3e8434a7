"""Checks and schedules of a training run that need no network: setup validation, the
learning-rate schedule and the epoch progress bar."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from hardware.errors import ConfigError
from hardware.keys import check_fields
from hardware.spec import MosaicSpec
from model.config import AUTO_THREADS, DataConfig, TrainConfig

if TYPE_CHECKING:
    from model.data import BinnedDataset

POLY_START = 0.2  # the polynomial decay starts after this fraction of the epochs
POLY_END = 0.1  # ... and ends at lr * POLY_END
POLY_POWER = 0.5


def learning_rate(cfg: TrainConfig, epochs_done: int) -> float:
    """The learning rate of the epoch after `epochs_done` epochs.

    exponential: lr * lr_decay^epochs_done. polynomial (the original study's, counted in
    epochs; the original counts its horizon in steps, so its decay is over almost at once):
    lr for the first 20% of the epochs, then lr_end + (lr - lr_end) * (1 - q)^0.5 with
    q = (epochs_done / epochs - 0.2) / 0.8 and lr_end = lr / 10.
    """
    if cfg.lr_schedule == "exponential":
        return cfg.lr * cfg.lr_decay ** epochs_done
    progress = epochs_done / max(cfg.epochs, 1)
    if progress <= POLY_START:
        return cfg.lr
    q = min(1.0, (progress - POLY_START) / (1.0 - POLY_START))
    end = cfg.lr * POLY_END
    return end + (cfg.lr - end) * (1.0 - q) ** POLY_POWER


def validate_setup(spec: MosaicSpec, cfg: TrainConfig, data: BinnedDataset,
                   data_cfg: DataConfig) -> None:
    """Raise ConfigError when cfg, the chip and the data cannot train together."""
    n, k, n_inputs = spec.n_neurons, spec.neurons_per_tile, data.n_inputs
    check_fields(cfg, "training")  # the schema's own bounds, for configs built in code
    check_fields(data_cfg, "data")
    if data.n_classes > n:
        raise ConfigError(f"the readout needs n_classes = {data.n_classes} neurons but the chip "
                          f"has N = {n} (enlarge [hardware] rows/cols/neurons_per_tile)")
    if -(-n_inputs // k) > spec.n_tiles:
        raise ConfigError(f"n_inputs = {n_inputs} needs {-(-n_inputs // k)} input tiles of "
                          f"{k} rows but the chip has {spec.n_tiles} tiles (lower [data].n_inputs)")
    if len(data.train_y) == 0:
        raise ConfigError("the training split is empty (lower [data].val_fraction or add data)")


def torch_threads(threads: int | str) -> int:
    """The torch CPU thread count of [training].threads ("auto" -> AUTO_THREADS; the value
    was checked against the key's bound by validate_setup or the config)."""
    return AUTO_THREADS if threads == "auto" else int(threads)


def epoch_bar(cfg: TrainConfig, start_epoch: int = 0) -> Iterable[int]:
    """A tqdm bar over epochs start_epoch+1 .. cfg.epochs when cfg.progress and stderr is a
    terminal, else a plain range."""
    epochs = range(start_epoch + 1, cfg.epochs + 1)
    if cfg.progress and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(epochs, desc="epochs", unit="epoch", leave=False)
    return epochs
