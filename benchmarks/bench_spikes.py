"""Audio to spikes: `make-spike-dataset`'s cochlea on a folder of recordings (all cores) beside a
crude single-threaded STFT cochleagram (700 ERB-spaced bands of an STFT, integrate-and-fire on
the log envelope), measured in the same run (the reference on a subset, extrapolated).

Needs real recordings, e.g. the spoken digits of ../shared/fsdd (2,000 at 8 kHz); skips with a
note when the folder is absent.
Run: python benchmarks/bench_spikes.py [--audio DIR] [--workers N] [--reference-subset M]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.signal

from model.cochlea import CochleaParams, erb_space
from model.recordings import audio_files, recordings_from_names, split_by_speaker
from model.spike_dataset import make_spike_dataset, read_mono

DEFAULT_AUDIO = Path(__file__).resolve().parents[1] / ".." / "shared" / "fsdd" / "recordings"


def stft_reference(signal: np.ndarray, rate: int, bands: np.ndarray,
                   threshold: float = 2.0) -> int:
    """Crude cochleagram: |STFT|^2 (32 ms windows, 1 ms hop) summed into ERB bands, log, then a
    per-frame integrate-and-fire loop; returns the spike count."""
    _, _, spec = scipy.signal.stft(signal, rate, nperseg=256, noverlap=256 - rate // 1000)
    envelope = np.log1p(1e4 * (bands @ np.abs(spec) ** 2))  # (700, frames)
    v = np.zeros(len(bands))
    spikes = 0
    for frame in envelope.T:  # one step at a time, as a first version would
        v += frame * 0.1
        fired = v >= threshold
        spikes += int(fired.sum())
        v[fired] -= threshold
    return spikes


def triangular_bands(rate: int, n_bins: int, n_bands: int = 700) -> np.ndarray:
    """Weights (n_bands, n_bins): triangles on ERB-spaced centres over the STFT bins."""
    centres = erb_space(80.0, 0.975 * rate / 2, n_bands + 2)
    freqs = np.linspace(0, rate / 2, n_bins)
    lo, mid, hi = centres[:-2, None], centres[1:-1, None], centres[2:, None]
    return np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))


def time_reference(paths: list[Path]) -> float:
    """Seconds per recording of the STFT reference, single-threaded."""
    signals = [read_mono(p) for p in paths]
    rate = signals[0][1]
    bands = triangular_bands(rate, 129)
    start = time.perf_counter()
    for signal, _ in signals:
        stft_reference(signal, rate, bands)
    return (time.perf_counter() - start) / len(paths)


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its finished children (the pool)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--audio", type=Path, default=DEFAULT_AUDIO)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--reference-subset", type=int, default=200, metavar="M")
    args = parser.parse_args()
    if not args.audio.is_dir():
        print(f"skipped: no recordings at {args.audio} (pass --audio DIR)")
        return 0
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, workers {args.workers}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"numpy {np.__version__}, scipy {scipy.__version__}")
    items = recordings_from_names(args.audio)
    split = split_by_speaker(items)
    with tempfile.TemporaryDirectory() as tmp:
        start, cpu = time.perf_counter(), _cpu_seconds()
        summary = make_spike_dataset(Path(tmp), split, CochleaParams(), args.workers)
        wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    n = len(items)
    subset = audio_files(args.audio)[:: max(1, n // args.reference_subset)]
    per_rec = time_reference(subset)
    print(f"cochlea (700 channels at {summary.params.sample_rate} Hz): {n} recordings in "
          f"{wall:.1f} s on {args.workers} workers = {n / wall:.1f} recordings/s "
          f"({summary.mean_spikes:.0f} spikes each); CPU {cpu:.1f} s in all = {cpu / n * 1e3:.1f} "
          f"ms per recording (load average at the end: {os.getloadavg()[0]:.1f})")
    print(f"STFT reference, single-threaded, {len(subset)} recordings: {per_rec * 1e3:.1f} ms "
          f"each = {1 / per_rec:.1f} recordings/s, {per_rec * n:.1f} s for {n}")
    print(f"ratio (reference time / cochlea time, {n} recordings): {per_rec * n / wall:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
