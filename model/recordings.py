"""A folder of recordings as labelled, speaker-tagged items, and their train/test split by speaker.

Labels and speakers come from file names through a pattern such as `{label}_{speaker}_{index}`
(fields in braces, matched against the name without its extension) or from a CSV manifest with
columns path, label, speaker (paths relative to the audio folder). Every order here is sorted,
so the same folder gives the same items in the same order.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from hardware.errors import ConfigError, DataError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
DEFAULT_PATTERN = "{label}_{speaker}_{index}"
PATTERN_FIELDS = ("label", "speaker", "index")
MANIFEST_COLUMNS = ("path", "label", "speaker")


@dataclass(frozen=True)
class Recording:
    """One audio file: `name` is its path relative to the audio folder (POSIX form)."""

    path: Path
    name: str
    label: str
    speaker: str


@dataclass(frozen=True)
class SpeakerSplit:
    """Recordings split by speaker: classes (index = SHD label) and speakers (index = SHD
    speaker id), both in natural order."""

    train: tuple[Recording, ...]
    test: tuple[Recording, ...]
    classes: tuple[str, ...]
    speakers: tuple[str, ...]
    test_speakers: tuple[str, ...]


def natural_key(text: str) -> tuple[int, int, str]:
    """Sort key: integers in numeric order first ('2' before '10'), then other text."""
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Compile a file-name pattern: each {field} matches a non-empty shortest run."""
    parts = re.split(r"\{([^{}]*)\}", pattern)
    names = parts[1::2]
    unknown = sorted(set(names) - set(PATTERN_FIELDS))
    if unknown or "label" not in names or "speaker" not in names or len(set(names)) < len(names):
        raise ConfigError(f"--pattern must use {{label}} and {{speaker}} once each (and "
                          f"optionally {{index}}), got {pattern!r}")
    regex = "".join(re.escape(text) if i % 2 == 0 else f"(?P<{text}>.+?)"
                    for i, text in enumerate(parts))
    return re.compile(regex)


def audio_files(audio_dir: Path) -> list[Path]:
    """Audio files (by suffix, any case) under audio_dir, recursively, sorted by relative path."""
    if not audio_dir.is_dir():
        raise DataError(f"audio folder {audio_dir} does not exist (give a folder of recordings)")
    found = [p for p in audio_dir.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES
             and p.is_file()]
    if not found:
        raise DataError(f"no recordings ({', '.join(AUDIO_SUFFIXES)}) in {audio_dir} "
                        "(give the folder that holds them)")
    return sorted(found, key=lambda p: p.relative_to(audio_dir).as_posix())


def recordings_from_names(audio_dir: Path, pattern: str = DEFAULT_PATTERN) -> list[Recording]:
    """Every recording under audio_dir, labelled by matching its name to `pattern`."""
    regex = pattern_regex(pattern)
    items = []
    for path in audio_files(audio_dir):
        match = regex.fullmatch(path.stem)
        if match is None:
            raise DataError(f"{path}: file name {path.stem!r} does not match --pattern "
                            f"{pattern!r} (rename it, change --pattern, or use --manifest)")
        items.append(Recording(path, path.relative_to(audio_dir).as_posix(),
                               match["label"], match["speaker"]))
    return items


def recordings_from_manifest(audio_dir: Path, manifest: Path) -> list[Recording]:
    """The recordings listed in a CSV manifest (columns path, label, speaker), sorted by path."""
    try:
        with open(manifest, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
            header = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read manifest {manifest}: {exc}") from exc
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        raise DataError(f"manifest {manifest} must have columns {', '.join(MANIFEST_COLUMNS)} "
                        f"and at least one row; missing {', '.join(missing)}")
    items = []
    for line, row in enumerate(rows, start=2):
        values = [(row[c] or "").strip() for c in MANIFEST_COLUMNS]
        if not all(values):
            raise DataError(f"manifest {manifest} line {line}: path, label and speaker must "
                            "be non-empty")
        path = audio_dir / values[0]
        if not path.is_file():
            raise DataError(f"manifest {manifest} line {line}: {path} is not a file")
        items.append(Recording(path, Path(values[0]).as_posix(), values[1], values[2]))
    return sorted(items, key=lambda r: r.name)


def split_by_speaker(items: list[Recording], test_speakers: tuple[str, ...] | None = None,
                     classes: tuple[str, ...] | None = None) -> SpeakerSplit:
    """Test set = every recording of `test_speakers` (default: the last speaker in natural
    order), train = the others. classes default to the training labels."""
    speakers = tuple(sorted({r.speaker for r in items}, key=natural_key))
    if test_speakers is None:
        test_speakers = speakers[-1:]
    unknown = [s for s in test_speakers if s not in speakers]
    if unknown:
        raise ConfigError(f"--test-speakers {','.join(unknown)} not among the speakers "
                          f"({', '.join(speakers)})")
    if set(test_speakers) >= set(speakers):
        raise ConfigError(f"--test-speakers leaves no training speaker (speakers: "
                          f"{', '.join(speakers)}); hold out fewer")
    train = tuple(r for r in items if r.speaker not in test_speakers)
    test = tuple(r for r in items if r.speaker in test_speakers)
    if classes is None:
        classes = tuple(sorted({r.label for r in train}, key=natural_key))
        where = "the training speakers' labels"
    else:
        where = "--classes"
    for r in (*train, *test):
        if r.label not in classes:
            raise DataError(f"{r.path}: label {r.label!r} is not one of the classes "
                            f"({', '.join(classes)}; from {where})")
    return SpeakerSplit(train, test, tuple(classes), speakers, tuple(test_speakers))
