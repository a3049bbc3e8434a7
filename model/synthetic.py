"""Synthetic SHD: cochleagram-like spike patterns written in SHD's exact files and HDF5 format.

Each class is an ordered sequence of 2-3 "segments" (a vowel-like pair of formant bands, some with
a fricative noise band, sweeping linearly over the segment). Classes come in groups that share
the same segments in a different order (`CLASS_SEQUENCES`), so a per-channel spike-count readout
cannot tell group members apart (at most 40% accuracy): a network has to integrate over time.
Speakers differ in formant scale, speaking rate and loudness; each sample adds onset, duration,
channel and spike-time jitter, random spike dropout and background spikes. Like SHD, the test
set holds two speakers never seen in training.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from model.config import N_CHANNELS

GENERATOR_VERSION = 1
N_SPEAKERS = 12
TRAIN_SPEAKERS = 10  # speakers 10 and 11 appear only in the test set, as in SHD
BAND_RATE_HZ = 1000.0  # spikes per second per formant band
BACKGROUND_SPIKES = 150.0  # mean background spikes per sample, uniform over channels
BACKGROUND_SECONDS = 1.2
SPIKE_JITTER_S = 0.002
ONSET_S = (0.02, 0.4)  # uniform range of the first segment's start
RATE_RANGE = (0.75, 1.3)  # speakers' speaking-rate factors (segment lengths divide by it)
WARP_SIGMA = 0.15  # per-sample log-normal tempo jitter
SEGMENT_SIGMA = 0.25  # per-segment log-normal length jitter
GAP_S = 0.04  # max silence between segments

# Segment type -> bands (start channel, end channel, channel std); letters a..h in class names.
SEGMENT_BANDS: tuple[tuple[tuple[float, float, float], ...], ...] = (
    ((90, 90, 8), (330, 330, 10)),  # a: steady vowel
    ((140, 60, 8), (420, 560, 10)),  # b: diverging glide
    ((60, 150, 8), (520, 380, 10)),  # c: converging glide
    ((200, 200, 8), (260, 260, 8), (620, 620, 35)),  # d: close formants + fricative
    ((40, 40, 6), (600, 600, 12)),  # e: wide steady vowel
    ((110, 170, 8), (250, 450, 10)),  # f: rising
    ((170, 100, 8), (480, 300, 10)),  # g: falling
    ((70, 120, 8), (380, 380, 10), (640, 640, 30)),  # h: glide + fricative
)
SEGMENT_SECONDS = (0.18, 0.16, 0.20, 0.15, 0.18, 0.16, 0.18, 0.16)

# Four groups of three orders of one segment set, four pairs of two orders.
CLASS_SEQUENCES: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (2, 0, 1), (1, 2, 0),
    (3, 4, 5), (5, 3, 4), (4, 5, 3),
    (0, 4, 6), (6, 0, 4), (4, 6, 0),
    (1, 5, 7), (7, 1, 5), (5, 7, 1),
    (2, 3), (3, 2),
    (6, 7), (7, 6),
    (0, 3, 7), (7, 3, 0),
    (2, 5, 6), (6, 5, 2),
)  # fmt: skip


@dataclass(frozen=True)
class SHDFiles:
    """The four files of tonic's offline SHD layout under `<root>/SHD/`."""

    train_h5: Path
    test_h5: Path
    train_zip: Path
    test_zip: Path

    def missing(self) -> list[Path]:
        """Files of the layout that do not exist."""
        return [p for p in (self.train_h5, self.train_zip, self.test_h5, self.test_zip)
                if not p.is_file()]


@dataclass(frozen=True)
class Speakers:
    """Per-speaker variation: freq_scale (channel scale), rate (speaking rate), gain (loudness)."""

    freq_scale: np.ndarray
    rate: np.ndarray
    gain: np.ndarray


def shd_files(root: str | Path) -> SHDFiles:
    """Paths where tonic.datasets.SHD(save_to=root) looks for its files."""
    folder = Path(root).expanduser() / "SHD"
    return SHDFiles(folder / "shd_train.h5", folder / "shd_test.h5",
                    folder / "shd_train.h5.zip", folder / "shd_test.h5.zip")


def class_names() -> tuple[str, ...]:
    """Class names spelling each class's segment order, e.g. 'seq-a-b-c'."""
    return tuple("seq-" + "-".join("abcdefgh"[s] for s in seq) for seq in CLASS_SEQUENCES)


def draw_speakers(rng: np.random.Generator, n_speakers: int = N_SPEAKERS) -> Speakers:
    """Draw per-speaker formant scale, speaking rate and loudness."""
    return Speakers(freq_scale=rng.uniform(0.9, 1.1, n_speakers),
                    rate=rng.uniform(*RATE_RANGE, n_speakers),
                    gain=rng.uniform(0.75, 1.25, n_speakers))


def _segments(labels: np.ndarray, speaker_ids: np.ndarray, speakers: Speakers,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Segment instances: (sample int (m,), segment type int (m,), start s (m,), length s (m,))."""
    n, width = len(labels), max(map(len, CLASS_SEQUENCES))
    table = np.full((len(CLASS_SEQUENCES), width), -1, dtype=np.int64)
    for k, seq in enumerate(CLASS_SEQUENCES):
        table[k, : len(seq)] = seq
    types = table[labels]  # (n, width), -1 where a class has fewer segments
    seconds = np.asarray(SEGMENT_SECONDS)[np.maximum(types, 0)]
    warp = rng.lognormal(0.0, WARP_SIGMA, (n, 1)) / speakers.rate[speaker_ids][:, None]
    jitter = rng.lognormal(0.0, SEGMENT_SIGMA, (n, width))
    lengths = np.where(types >= 0, seconds * warp * jitter, 0.0)
    gaps = np.where(types >= 0, rng.uniform(0.0, GAP_S, (n, width)), 0.0)
    starts = rng.uniform(*ONSET_S, (n, 1)) + np.cumsum(lengths + gaps, axis=1) - lengths
    valid = types >= 0
    sample = np.broadcast_to(np.arange(n)[:, None], types.shape)
    return sample[valid], types[valid], starts[valid], lengths[valid]


def _band_spikes(labels: np.ndarray, speaker_ids: np.ndarray, speakers: Speakers,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Formant-band spikes: (sample int (m,), time s (m,), channel float (m,))."""
    n = len(labels)
    sample, types, starts, lengths = _segments(labels, speaker_ids, speakers, rng)
    bands = [(i, *band) for i, seg in enumerate(SEGMENT_BANDS) for band in seg]
    band_type, f0, f1, sigma = (np.asarray(col) for col in zip(*bands, strict=True))
    seg_idx, band_idx = np.nonzero(types[:, None] == band_type[None, :])
    owner = sample[seg_idx]
    loudness = speakers.gain[speaker_ids] * rng.lognormal(0.0, 0.15, n)
    dropout = rng.uniform(0.0, 0.2, n)  # fraction of each sample's band spikes deleted
    mean = BAND_RATE_HZ * lengths[seg_idx] * (loudness * (1.0 - dropout))[owner]
    counts = rng.poisson(mean)
    spike_seg, spike_band = np.repeat(seg_idx, counts), np.repeat(band_idx, counts)
    spike_sample = sample[spike_seg]
    u = rng.beta(2.0, 2.0, len(spike_seg))  # position in the segment: smooth on/offset envelope
    times = starts[spike_seg] + u * lengths[spike_seg]
    times = times + rng.normal(0.0, SPIKE_JITTER_S, len(times))
    shift = rng.normal(0.0, 4.0, n)
    centre = f0[spike_band] + u * (f1[spike_band] - f0[spike_band])
    channel = (centre * speakers.freq_scale[speaker_ids[spike_sample]] + shift[spike_sample]
               + sigma[spike_band] * rng.standard_normal(len(u)))
    return spike_sample, times, channel


def generate_spikes(labels: np.ndarray, speaker_ids: np.ndarray, speakers: Speakers,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All spikes sorted by (sample, time): sample int64 (m,), times s float64, units int64."""
    n = len(labels)
    sample, times, channel = _band_spikes(labels, speaker_ids, speakers, rng)
    n_bg = rng.poisson(BACKGROUND_SPIKES, n)
    bg_sample = np.repeat(np.arange(n), n_bg)
    bg_times = rng.uniform(0.0, BACKGROUND_SECONDS, len(bg_sample))
    bg_units = rng.integers(0, N_CHANNELS, len(bg_sample)).astype(np.float64)
    sample = np.concatenate([sample, bg_sample])
    times = np.abs(np.concatenate([times, bg_times]))  # jitter may cross 0: reflect
    units = np.rint(np.concatenate([channel, bg_units]))
    keep = (units >= 0) & (units < N_CHANNELS)
    sample, times, units = sample[keep], times[keep], units[keep].astype(np.int64)
    order = np.argsort(sample * (times.max(initial=0.0) + 1.0) + times)  # by sample, then time
    return sample[order], times[order], units[order]


def _ragged(sample: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Split values sorted by sample into an object array (n,) of per-sample arrays."""
    parts = np.split(values, np.cumsum(np.bincount(sample, minlength=n))[:-1])
    ragged = np.empty(n, dtype=object)
    for i, part in enumerate(parts):
        ragged[i] = part
    return ragged


def durable_replace(tmp: Path, final: Path) -> None:
    """Move a written temp file (or directory) onto `final` atomically and fsync the parent."""
    _fsync_path(tmp)
    os.replace(tmp, final)
    _fsync_path(final.parent)


def _fsync_path(path: Path) -> None:
    """fsync a file or a directory (its entries) by path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_path(final: Path) -> Path:
    """A hidden temp name beside `final` (same filesystem, so os.replace is atomic)."""
    return final.with_name(f".{final.name}.tmp-{os.getpid()}")


def write_shd_h5(path: Path, sample: np.ndarray, times: np.ndarray, units: np.ndarray,
                 labels: np.ndarray, speaker_ids: np.ndarray, names: tuple[str, ...]) -> None:
    """Write one split in SHD's HDF5 format (times: seconds, float16 as in SHD; units uint16)."""
    n = len(labels)
    tmp = _temp_path(path)
    with h5py.File(tmp, "w") as h5:
        h5.create_dataset("spikes/times", data=_ragged(sample, times.astype(np.float16), n),
                          dtype=h5py.vlen_dtype(np.float16))
        h5.create_dataset("spikes/units", data=_ragged(sample, units.astype(np.uint16), n),
                          dtype=h5py.vlen_dtype(np.uint16))
        h5.create_dataset("labels", data=labels.astype(np.uint16))
        h5.create_dataset("extra/keys", data=np.array([s.encode() for s in names]))
        h5.create_dataset("extra/speaker", data=speaker_ids.astype(np.uint16))
    durable_replace(tmp, path)


def write_zip(path: Path, member: Path) -> None:
    """Write the `.h5.zip` tonic checks for offline: a real zip holding the extracted file,
    dated 1980-01-01 so the same member gives the same bytes."""
    tmp = _temp_path(path)
    info = zipfile.ZipInfo(member.name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with open(member, "rb") as source, archive.open(info, "w", force_zip64=True) as target:
            shutil.copyfileobj(source, target, 1 << 20)
    durable_replace(tmp, path)


def generate_split(n: int, speaker_pool: int, speakers: Speakers, rng: np.random.Generator,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One split: (sample, times s, units, labels uint (n,), speaker ids (n,)), classes balanced."""
    labels = rng.permutation(np.arange(n) % len(CLASS_SEQUENCES))
    speaker_ids = rng.integers(0, speaker_pool, n)
    sample, times, units = generate_spikes(labels, speaker_ids, speakers, rng)
    return sample, times, units, labels, speaker_ids


def write_synthetic_shd(directory: str | Path, n_train: int, n_test: int,
                        seed: int = 0) -> SHDFiles:
    """Write `<directory>/SHD/shd_{train,test}.h5` (+ `.h5.zip`); same seed, same files' content.

    The train set of a seed does not depend on n_test (separate random streams per split).
    """
    if n_train < 1 or n_test < 1:
        raise ValueError(f"n_train and n_test must be >= 1, got {n_train}, {n_test}")
    files = shd_files(directory)
    files.train_h5.parent.mkdir(parents=True, exist_ok=True)
    speakers = draw_speakers(np.random.default_rng([seed, 0]))
    names = class_names()
    for n, pool, stream, h5, archive in (
        (n_train, TRAIN_SPEAKERS, 1, files.train_h5, files.train_zip),
        (n_test, N_SPEAKERS, 2, files.test_h5, files.test_zip),
    ):
        split = generate_split(n, pool, speakers, np.random.default_rng([seed, stream]))
        write_shd_h5(h5, *split, names)
        write_zip(archive, h5)
    return files
