"""Spike binning and the copy layout: pure numpy, no I/O.

A spike at t microseconds (tonic's integer `t`) falls in time bin t * time_bins // D with
D = round(duration * 1e6), so bin b covers [b*D/T, (b+1)*D/T) from t = 0 and spikes at or after
`duration` are dropped. Channel reduction "sum" adds adjacent groups: channel c of 700 goes to
input c * n_inputs // 700. "stride" (the original study's input) makes `stride` copies of each
sample: copy o takes channels o, o + stride, ..., so channel c goes to input c // stride of copy
c % stride, and inputs past ceil((700 - o) / stride) stay zero. Counts are clipped to 255
(uint8), or to 1 with `binary`.
Copies are stored copy-major: a split of n samples held in k copies has k * n rows, rows
[c*n, (c+1)*n) being copy c, so the first n rows are copy 0.
"""

from __future__ import annotations

import numpy as np

from hardware.errors import DataError
from model.synthetic import N_CHANNELS


def first_copy(x_or_y: np.ndarray, copies: int) -> np.ndarray:
    """Copy 0 of a copy-major array of `copies` copies: its first len // copies rows (a view)."""
    if copies < 1 or len(x_or_y) % copies:
        raise DataError(f"{len(x_or_y)} rows do not hold {copies} equal copies (copy-major "
                        "arrays from load_dataset have copies * n rows)")
    return x_or_y[: len(x_or_y) // copies]


def channel_map(n_inputs: int) -> np.ndarray:
    """Input index of each SHD channel: int64 (700,), channel c -> c * n_inputs // 700."""
    return np.arange(N_CHANNELS, dtype=np.int64) * n_inputs // N_CHANNELS


def stride_map(stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(copy, input) of each SHD channel: int64 (700,) each, c -> (c % stride, c // stride)."""
    channels = np.arange(N_CHANNELS, dtype=np.int64)
    return channels % stride, channels // stride


def reduction_maps(n_inputs: int, channel_reduction: str,
                   stride: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(copy int64 (700,), input int64 (700,), copies) of each SHD channel for a reduction."""
    if channel_reduction == "stride":
        return (*stride_map(stride), stride)
    return np.zeros(N_CHANNELS, dtype=np.int64), channel_map(n_inputs), 1


def time_bins_of(t_us: np.ndarray, time_bins: int, duration: float) -> np.ndarray:
    """Time bin of each spike time t_us (int microseconds): int64, >= time_bins past duration."""
    return t_us * time_bins // round(duration * 1e6)


def bin_spikes(sample: np.ndarray, t_us: np.ndarray, units: np.ndarray, n_samples: int,
               time_bins: int, duration: float, n_inputs: int, binary: bool,
               channel_reduction: str = "sum", stride: int = 6) -> np.ndarray:
    """Dense counts uint8 (copies, n_samples, time_bins, n_inputs) of spikes (sample, t_us,
    unit); copies = stride with channel_reduction "stride", else 1."""
    copy_of, input_of, copies = reduction_maps(n_inputs, channel_reduction, stride)
    bins = time_bins_of(t_us, time_bins, duration)
    keep = (t_us >= 0) & (bins < time_bins)
    unit = units[keep]
    row = copy_of[unit] * n_samples + sample[keep]
    flat = (row * time_bins + bins[keep]) * n_inputs + input_of[unit]
    counts = np.bincount(flat, minlength=copies * n_samples * time_bins * n_inputs)
    counts = np.minimum(counts, 1 if binary else 255).astype(np.uint8)
    return counts.reshape(copies, n_samples, time_bins, n_inputs)


def bin_events_reference(events: np.ndarray, time_bins: int, duration: float, n_inputs: int,
                         binary: bool, channel_reduction: str = "sum",
                         stride: int = 6) -> np.ndarray:
    """Reference for one tonic sample (structured `t` us, `x` channel): uint8 (copies, T,
    n_inputs), written from the rules in the module docstring, one spike at a time."""
    copies = stride if channel_reduction == "stride" else 1
    counts = np.zeros((copies, time_bins, n_inputs), dtype=np.int64)
    for t, x in zip(events["t"].tolist(), events["x"].tolist(), strict=True):
        b = t * time_bins // round(duration * 1e6)
        if 0 <= t and b < time_bins:
            if channel_reduction == "stride":
                counts[x % stride, b, x // stride] += 1
            else:
                counts[0, b, x * n_inputs // N_CHANNELS] += 1
    return np.minimum(counts, 1 if binary else 255).astype(np.uint8)


def copy_major(x: np.ndarray, y: np.ndarray, idx: np.ndarray,
               copies: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples `idx` of x (copies', n, T, C) in its first `copies` copies, copy-major:
    (x uint8 (copies * len(idx), T, C), y int64 (copies * len(idx),))."""
    rows = x[:copies, idx]
    return rows.reshape(-1, *x.shape[2:]), np.tile(y[idx], copies)
