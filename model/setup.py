"""Checks and schedules of a training run that need no network: setup validation, the
learning-rate schedule and the epoch progress bar."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from hardware.errors import ConfigError
from hardware.spec import MosaicSpec
from model.config import (
    AUTO_THREADS,
    CHIP_BUDGETS,
    CHIP_ORDERS,
    LR_SCHEDULES,
    RATE_REGS,
    RESETS,
    DataConfig,
    TrainConfig,
)
from model.methods import METHOD_NAMES

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
    checks = (
        (cfg.method in METHOD_NAMES, "training", "method", f"one of {METHOD_NAMES}"),
        (cfg.reset in RESETS, "training", "reset", f"one of {RESETS}"),
        (cfg.rate_reg_form in RATE_REGS, "training", "rate_reg_form", f"one of {RATE_REGS}"),
        (cfg.lr_schedule in LR_SCHEDULES, "training", "lr_schedule", f"one of {LR_SCHEDULES}"),
        (cfg.chip_budget in CHIP_BUDGETS, "training", "chip_budget", f"one of {CHIP_BUDGETS}"),
        (cfg.chip_order in CHIP_ORDERS, "training", "chip_order", f"one of {CHIP_ORDERS}"),
        (cfg.epochs >= 0, "training", "epochs", ">= 0"),
        (cfg.batch_size >= 1, "training", "batch_size", ">= 1"),
        (math.isfinite(cfg.lr) and cfg.lr > 0, "training", "lr", "finite and > 0"),
        (0 < cfg.lr_decay <= 1, "training", "lr_decay", "in (0, 1]"),
        (cfg.tau > 0, "training", "tau", "> 0 seconds"),
        (cfg.threshold > 0, "training", "threshold", "> 0"),
        (cfg.w_thr >= 0, "training", "w_thr", ">= 0"),
        (cfg.prune_min >= 0, "training", "prune_min", ">= 0"),
        (cfg.alpha >= 0, "training", "alpha", ">= 0"),
        (cfg.input_gain > 0, "training", "input_gain", "> 0"),
        (cfg.rec_fan_in >= 0, "training", "rec_fan_in", ">= 0 (0: off)"),
        (cfg.mosaic_noise >= 0, "training", "mosaic_noise", ">= 0"),
        (_threads_valid(cfg.threads), "training", "threads", '"auto" or an integer >= 1'),
        (data_cfg.duration > 0, "data", "duration", "> 0 seconds"),
    )
    for ok, section, key, rule in checks:
        if not ok:
            value = getattr(cfg if section == "training" else data_cfg, key)
            raise ConfigError(f"{key} must be {rule}, got {value!r} (set [{section}].{key})")
    if data.n_classes > n:
        raise ConfigError(f"the readout needs n_classes = {data.n_classes} neurons but the chip "
                          f"has N = {n} (enlarge [hardware] rows/cols/neurons_per_tile)")
    if -(-n_inputs // k) > spec.n_tiles:
        raise ConfigError(f"n_inputs = {n_inputs} needs {-(-n_inputs // k)} input tiles of "
                          f"{k} rows but the chip has {spec.n_tiles} tiles (lower [data].n_inputs)")
    if len(data.train_y) == 0:
        raise ConfigError("the training split is empty (lower [data].val_fraction or add data)")


def _threads_valid(threads: object) -> bool:
    return threads == "auto" or (type(threads) is int and threads >= 1)


def torch_threads(threads: int | str) -> int:
    """The torch CPU thread count of [training].threads ("auto" -> AUTO_THREADS)."""
    if not _threads_valid(threads):
        raise ConfigError(f'threads must be "auto" or an integer >= 1, got {threads!r} '
                          "(set [training].threads)")
    return AUTO_THREADS if threads == "auto" else int(threads)


def epoch_bar(cfg: TrainConfig, start_epoch: int = 0) -> Iterable[int]:
    """A tqdm bar over epochs start_epoch+1 .. cfg.epochs when cfg.progress and stderr is a
    terminal, else a plain range."""
    epochs = range(start_epoch + 1, cfg.epochs + 1)
    if cfg.progress and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(epochs, desc="epochs", unit="epoch", leave=False)
    return epochs
