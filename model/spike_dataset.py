"""Recordings to spikes in SHD's exact files: `<root>/SHD/shd_{train,test}.h5` (+ `.h5.zip`).

Each recording goes through `model.cochlea` in a process pool (results kept in input order, so
the same input gives the same files byte for byte) and the splits are written with the synthetic
SHD's writer. Everything is written into a hidden temp directory beside `<root>/SHD` and renamed
into place at the end, so an error leaves nothing partial. `<root>/SHD/conversion.json` records
the cochlea settings, the classes, the speakers and every file's split. With fewer than 700
channels, channel c is written as unit c * 700 // n_channels: the loader's channel reductions
assume SHD's 700-wide axis, so the frequency axis keeps its extent.
Speed perturbation (Ko et al. 2015) adds, for each factor f, a copy of every training recording
played f times faster (tempo, pitch and formants scaled by f), after the originals, copy by copy.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from hardware.errors import ConfigError, DataError
from model.cochlea import Cochlea, CochleaParams
from model.recordings import Recording, SpeakerSplit
from model.synthetic import N_CHANNELS, durable_replace, shd_files, write_shd_h5, write_zip

FORMAT_VERSION = 1
MAX_PROCESSING_RATE = 16000  # Hz: speech above 8 kHz adds cost, not information


@dataclass(frozen=True)
class SpikeDatasetSummary:
    """What was written: the SHD directory, sample and spike counts, the longest recording."""

    shd_dir: Path
    n_train: int
    n_test: int
    mean_spikes: float
    longest_s: float
    params: CochleaParams
    split: SpeakerSplit = field(repr=False)


def audio_info(item: Recording) -> tuple[int, float]:
    """(sample rate Hz, duration s) of a recording from its header."""
    import soundfile

    try:
        info = soundfile.info(str(item.path))
    except (RuntimeError, OSError) as exc:  # soundfile.LibsndfileError is a RuntimeError
        raise DataError(f"{item.path}: unreadable audio ({_reason(exc)}); convert it to WAV, "
                        "FLAC or OGG or remove it") from None
    return int(info.samplerate), float(info.duration)


def _reason(exc: Exception) -> str:
    """The first line of an exception's message."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def processing_rate(rates: Iterable[int]) -> int:
    """Cochlea sample rate for a set of recordings: the highest rate, at most 16 kHz."""
    return min(max(rates), MAX_PROCESSING_RATE)


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    """(samples float64 (n,), full scale 1, channels averaged; sample rate Hz) of a file."""
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    except (RuntimeError, OSError) as exc:
        raise DataError(f"{path}: unreadable audio ({_reason(exc)}); convert it to WAV, FLAC "
                        "or OGG or remove it") from None
    return data.mean(axis=1), int(rate)


class _Converter:
    """Picklable per-process worker: one Cochlea, spikes of one recording per call."""

    def __init__(self, params: CochleaParams) -> None:
        self.params = params
        self.cochlea: Cochlea | None = None

    def __call__(self, job: tuple[Path, float]) -> tuple[np.ndarray, np.ndarray]:
        path, speed = job
        if self.cochlea is None:
            self.cochlea = Cochlea(self.params)
        signal, rate = read_mono(path)
        # f times faster = the same samples read as if recorded at f * rate, then resampled
        times, channels = self.cochlea.spikes(signal, round(rate * speed))
        units = channels * N_CHANNELS // self.params.n_channels
        return times.astype(np.float32), units.astype(np.uint16)


def convert(jobs: list[tuple[Path, float]], params: CochleaParams, workers: int,
            progress: Callable[[int], None] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Spikes (times s, units) of every (path, speed factor), in input order; `workers`
    processes (1: here)."""
    converter = _Converter(params)
    results: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(jobs)
    order = _longest_last(jobs)  # similar FFT sizes in a row: the transfer cache hits
    for index, result in _map(converter, [jobs[i] for i in order], workers):
        results[order[index]] = result
        if progress is not None:
            progress(1)
    return results  # type: ignore[return-value]


def _longest_last(jobs: list[tuple[Path, float]]) -> list[int]:
    """Indices of jobs by increasing file size over speed (~ length played; ties by index)."""
    return sorted(range(len(jobs)), key=lambda i: (jobs[i][0].stat().st_size / jobs[i][1], i))


def _map(converter: _Converter, jobs: list[tuple[Path, float]],
         workers: int) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """(index, converter(job)) for every job, in order."""
    if workers <= 1 or len(jobs) <= 1:
        yield from enumerate(map(converter, jobs))
        return
    # contiguous chunks of similar sizes: each worker's Cochlea computes few transfer functions
    chunk = max(1, len(jobs) // (16 * workers))
    context = multiprocessing.get_context("spawn")  # no fork of a threaded parent (tqdm, torch)
    with context.Pool(min(workers, len(jobs))) as pool:
        yield from enumerate(pool.imap(converter, jobs, chunksize=chunk))


def _split_arrays(items: tuple[Recording, ...], spikes: list[tuple[np.ndarray, np.ndarray]],
                  split: SpeakerSplit) -> tuple[np.ndarray, ...]:
    """(sample, times, units, labels, speaker ids) of one split for `write_shd_h5`."""
    counts = np.array([len(t) for t, _ in spikes], dtype=np.int64)
    sample = np.repeat(np.arange(len(items), dtype=np.int64), counts)
    times = np.concatenate([t for t, _ in spikes] or [np.empty(0, np.float32)])
    units = np.concatenate([u for _, u in spikes] or [np.empty(0, np.uint16)])
    labels = np.array([split.classes.index(r.label) for r in items], dtype=np.int64)
    speakers = np.array([split.speakers.index(r.speaker) for r in items], dtype=np.int64)
    return sample, times, units, labels, speakers


def _manifest(split: SpeakerSplit, params: CochleaParams, speeds: tuple[float, ...]) -> dict:
    """conversion.json's content: settings, classes, speakers, each file's split."""
    def rows(items: tuple[Recording, ...]) -> list[dict[str, str]]:
        return [{"path": r.name, "label": r.label, "speaker": r.speaker} for r in items]

    return {"format_version": FORMAT_VERSION, "cochlea": asdict(params),
            "classes": list(split.classes), "speakers": list(split.speakers),
            "test_speakers": list(split.test_speakers), "train_speed_copies": list(speeds),
            "train": rows(split.train), "test": rows(split.test)}


def write_split_files(folder: Path, split: SpeakerSplit, params: CochleaParams,
                      spikes: list[tuple[np.ndarray, np.ndarray]],
                      speeds: tuple[float, ...] = ()) -> None:
    """Write shd_{train,test}.h5, their .h5.zip and conversion.json into `folder`; spikes are
    train, test, then the train copies of each speed factor."""
    n_train, n_test = len(split.train), len(split.test)
    train = spikes[:n_train] + spikes[n_train + n_test:]
    train_items = split.train * (1 + len(speeds))
    for name, items, part in (("train", train_items, train),
                              ("test", split.test, spikes[n_train:n_train + n_test])):
        h5 = folder / f"shd_{name}.h5"
        write_shd_h5(h5, *_split_arrays(items, part, split), split.classes)
        write_zip(folder / f"shd_{name}.h5.zip", h5)
    text = json.dumps(_manifest(split, params, speeds), indent=1, sort_keys=True) + "\n"
    (folder / "conversion.json").write_text(text, encoding="utf-8")


def make_spike_dataset(root: Path, split: SpeakerSplit, params: CochleaParams, workers: int,
                       overwrite: bool = False,
                       progress: Callable[[int], None] | None = None,
                       speeds: tuple[float, ...] = ()) -> SpikeDatasetSummary:
    """Convert a speaker split into `<root>/SHD/`, with a train copy per speed factor in
    `speeds`; nothing is left behind on error."""
    if any(not 0.5 <= f <= 2.0 or f == 1.0 for f in speeds) or len(set(speeds)) < len(speeds):
        raise ConfigError(f"speed factors must be distinct, in [0.5, 2] and not 1, got "
                          f"{', '.join(map(str, speeds))} (set --speed-perturb)")
    if params.n_channels > N_CHANNELS:
        raise DataError(f"SHD files hold at most {N_CHANNELS} channels, got n_channels "
                        f"{params.n_channels} (use --channels <= {N_CHANNELS})")
    items = (*split.train, *split.test)
    infos = [audio_info(r) for r in items]
    params = replace(params, sample_rate=processing_rate(rate for rate, _ in infos))
    final = shd_files(root).train_h5.parent
    if final.exists() and not overwrite:
        raise DataError(f"{final} already exists (pass --overwrite to replace it, or choose "
                        "another ROOT)")
    created_root = not root.exists()
    tmp = root / f".SHD.tmp-{os.getpid()}"
    try:
        jobs = [(r.path, 1.0) for r in items]
        jobs += [(r.path, f) for f in speeds for r in split.train]
        spikes = convert(jobs, params, workers, progress)
        tmp.mkdir(parents=True)
        write_split_files(tmp, split, params, spikes, speeds)
        _swap_in(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created_root:
            shutil.rmtree(root, ignore_errors=True)
        raise
    return SpikeDatasetSummary(final, len(split.train) * (1 + len(speeds)), len(split.test),
                               float(np.mean([len(t) for t, _ in spikes[:len(items)]])),
                               max(d for _, d in infos), params, split)


def _swap_in(tmp: Path, final: Path) -> None:
    """Rename the finished temp directory to `final`, replacing an existing one."""
    if final.exists():
        old = final.with_name(f".SHD.old-{os.getpid()}")
        os.replace(final, old)
        durable_replace(tmp, final)
        shutil.rmtree(old)
    else:
        durable_replace(tmp, final)
