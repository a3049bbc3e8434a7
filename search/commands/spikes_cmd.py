"""`mosaic-dse make-spike-dataset AUDIO_DIR ROOT`: recordings to spikes in SHD's files."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from search.commands.common import positive_int

NORMALISE_DB = -25.0  # the RMS level of a typical FSDD recording (-21 to -27 dB per speaker)


def _names(text: str) -> tuple[str, ...]:
    """argparse type: a comma-separated list of distinct, non-empty names."""
    names = tuple(part.strip() for part in text.split(","))
    if not all(names) or len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(f"must be distinct non-empty names separated by "
                                         f"commas, got {text!r}")
    return names


def _factors(text: str) -> tuple[float, ...]:
    """argparse type: comma-separated speed factors."""
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be numbers separated by commas, got "
                                         f"{text!r}") from None


def register(subparsers: Any) -> None:
    """Add the `make-spike-dataset` parser."""
    from model.recordings import DEFAULT_PATTERN

    parser = subparsers.add_parser(
        "make-spike-dataset",
        help="convert a folder of recordings into spikes in SHD's files (cochlea model)",
        description="Convert recordings (WAV/FLAC/OGG, any sample rate) through a cochlea model "
        "(gammatone filterbank on the ERB scale, hair cells, integrate-and-fire) into "
        "ROOT/SHD/shd_{train,test}.h5 (+ .h5.zip), split by speaker. Train on it with "
        '--set data.dataset="shd" --set data.root="ROOT".',
    )
    parser.add_argument("audio_dir", metavar="AUDIO_DIR", type=Path,
                        help="folder of recordings (searched recursively)")
    parser.add_argument("root", metavar="ROOT", type=Path,
                        help="dataset root; the files go to ROOT/SHD/")
    parser.add_argument("--test-speakers", type=_names, metavar="A,B",
                        help="speakers held out for the test set (default: the last speaker "
                             "in sorted order)")
    parser.add_argument("--pattern", default=DEFAULT_PATTERN,
                        help=f"file-name pattern without extension, fields {{label}}, "
                             f"{{speaker}}, {{index}} (default: {DEFAULT_PATTERN})")
    parser.add_argument("--manifest", type=Path, metavar="FILE.csv",
                        help="CSV with columns path,label,speaker (paths relative to "
                             "AUDIO_DIR) instead of --pattern")
    parser.add_argument("--classes", type=_names, metavar="A,B,...",
                        help="class names in label order (default: the training speakers' "
                             "labels, sorted)")
    parser.add_argument("--channels", type=positive_int, default=700, metavar="N",
                        help="cochlea channels, at most 700 as SHD (default 700)")
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1,
                        metavar="N", help="processes (default: all cores)")
    parser.add_argument("--speed-perturb", type=_factors, default=(), metavar="F,G",
                        help="also convert every training recording played F, G, ... times "
                             "faster (speed perturbation, e.g. 0.9,1.1); the test set is never "
                             "perturbed")
    parser.add_argument("--normalise", type=float, nargs="?", const=NORMALISE_DB, default=None,
                        metavar="DB", help=f"scale every recording to an RMS level of DB dB re "
                        f"full scale before the cochlea (default {NORMALISE_DB:g} when given "
                        "without a value): loudness differences between speakers and "
                        "microphones leave the spikes")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing ROOT/SHD")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Find and label the recordings, convert them, print what was written."""
    from dataclasses import replace

    from hardware.errors import DataError
    from model.cochlea import CochleaParams
    from model.recordings import (
        recordings_from_manifest,
        recordings_from_names,
        split_by_speaker,
    )
    from model.spike_dataset import make_spike_dataset

    if args.manifest is not None:
        items = recordings_from_manifest(args.audio_dir, args.manifest)
    else:
        items = recordings_from_names(args.audio_dir, args.pattern)
    split = split_by_speaker(items, args.test_speakers, args.classes)
    params = replace(CochleaParams(), n_channels=args.channels, level_db=args.normalise)
    try:
        summary = _convert(args, split, params, make_spike_dataset)
    except OSError as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"cannot write into {args.root}: {exc} (choose a writable ROOT)") from exc
    _print_summary(summary)
    return 0


def _convert(args: argparse.Namespace, split: Any, params: Any, make: Any) -> Any:
    """Run the conversion under a progress bar on stderr (none with --quiet)."""
    from tqdm import tqdm

    total = len(split.train) * (1 + len(args.speed_perturb)) + len(split.test)
    with tqdm(total=total, unit="rec", disable=args.quiet, file=sys.stderr,
              desc="cochlea") as bar:
        return make(args.root, split, params, args.workers, args.overwrite, bar.update,
                    args.speed_perturb)


def _print_summary(summary: Any) -> None:
    """What was written and how to train on it."""
    split = summary.split
    print(f"wrote {summary.n_train} train and {summary.n_test} test recordings "
          f"({len(split.classes)} classes; test speakers: {', '.join(split.test_speakers)}; "
          f"{summary.params.n_channels} channels at {summary.params.sample_rate} Hz; "
          f"{summary.mean_spikes:.0f} spikes per recording) into {summary.shd_dir}")
    root = summary.shd_dir.parent
    print(f'train on it with --set data.dataset="shd" --set data.root="{root}" (the longest '
          f"recording lasts {summary.longest_s:.2f} s: keep [data].duration above it)")
