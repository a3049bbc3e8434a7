"""Recordings made here -> spikes in SHD's files: names, manifest, speaker split, the SHD loader,
determinism, nothing partial on error."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile

from hardware.errors import ConfigError, DataError
from model.cochlea import CochleaParams
from model.config import DataConfig
from model.data import load_dataset
from model.recordings import (
    natural_key,
    pattern_regex,
    recordings_from_manifest,
    recordings_from_names,
    split_by_speaker,
)
from model.spike_dataset import make_spike_dataset

PARAMS = CochleaParams(n_channels=24)
TONES = {"low": 300.0, "high": 2000.0}


def write_recordings(folder: Path, speakers=("anna", "bob", "cleo"), per_label: int = 2,
                     rate: int = 8000) -> Path:
    """Short tones named {label}_{speaker}_{index}.wav: 'low' = 300 Hz, 'high' = 2 kHz."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(0.25 * rate)) / rate
    for s, speaker in enumerate(speakers):
        for label, freq in TONES.items():
            for i in range(per_label):
                tone = 0.1 * (1 + 0.2 * s) * np.sin(2 * np.pi * freq * (1 + 0.01 * i) * t)
                soundfile.write(folder / f"{label}_{speaker}_{i}.wav", tone, rate)
    return folder


def _read(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        return {k: h5[k][()] for k in ("spikes/times", "spikes/units", "labels",
                                       "extra/keys", "extra/speaker")}


def test_pattern_fields_and_natural_order():
    match = pattern_regex("{label}_{speaker}_{index}").fullmatch("7_nicolas_42")
    assert (match["label"], match["speaker"], match["index"]) == ("7", "nicolas", "42")
    assert pattern_regex("{speaker}-{label}").fullmatch("bob-yes")["label"] == "yes"
    assert sorted(["10", "2", "b", "a"], key=natural_key) == ["2", "10", "a", "b"]
    with pytest.raises(ConfigError, match="--pattern must use"):
        pattern_regex("{label}_{index}")


def test_names_and_manifest_give_the_same_recordings(tmp_path):
    folder = write_recordings(tmp_path / "audio")
    by_name = recordings_from_names(folder)
    rows = ["path,label,speaker"] + [f"{r.name},{r.label},{r.speaker}" for r in by_name[::-1]]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    assert recordings_from_manifest(folder, tmp_path / "m.csv") == by_name
    assert len(by_name) == 12 and by_name[0].name == "high_anna_0.wav"


def test_speaker_split_is_exact(tmp_path):
    items = recordings_from_names(write_recordings(tmp_path))
    split = split_by_speaker(items, ("anna", "cleo"))
    assert {r.speaker for r in split.test} == {"anna", "cleo"}
    assert {r.speaker for r in split.train} == {"bob"}
    assert len(split.train) + len(split.test) == len(items)
    assert split.classes == ("high", "low") and split.speakers == ("anna", "bob", "cleo")
    assert split_by_speaker(items).test_speakers == ("cleo",)  # default: the last speaker


def test_files_read_back_through_the_shd_loader_with_the_split(tmp_path):
    folder = write_recordings(tmp_path / "audio")
    split = split_by_speaker(recordings_from_names(folder), ("bob",))
    summary = make_spike_dataset(tmp_path / "root", split, PARAMS, workers=1)
    assert summary.params.sample_rate == 8000 and summary.n_train == 8 and summary.n_test == 4
    test = _read(tmp_path / "root" / "SHD" / "shd_test.h5")
    assert set(test["extra/speaker"].tolist()) == {1}  # speakers in order: anna, bob, cleo
    train = _read(tmp_path / "root" / "SHD" / "shd_train.h5")
    assert set(train["extra/speaker"].tolist()) == {0, 2}
    meta = json.loads((tmp_path / "root" / "SHD" / "conversion.json").read_text())
    assert [r["speaker"] for r in meta["test"]] == ["bob"] * 4
    data = load_dataset(DataConfig(dataset="shd", root=str(tmp_path / "root"), time_bins=10,
                                   duration=0.4, n_inputs=24, val_fraction=0.25))
    assert data.class_names == ("high", "low") and data.n_classes == 2
    np.testing.assert_array_equal(data.test_y, test["labels"])
    # 24 channels are spread over SHD's 700 units (c -> c * 700 // 24), so the loader's 24
    # inputs see one channel each, and a 2 kHz tone drives higher inputs than a 300 Hz one
    units = np.concatenate(list(train["spikes/units"]))
    assert set(units.tolist()) <= {c * 700 // 24 for c in range(24)} and units.max() > 600
    channel = np.arange(24)
    mean_channel = (data.test_x.sum(axis=1) * channel).sum(axis=1) / data.test_x.sum(axis=(1, 2))
    assert np.all(mean_channel[data.test_y == 0] > mean_channel[data.test_y == 1] + 5)


def test_same_input_same_bytes_with_one_or_two_workers(tmp_path):
    folder = write_recordings(tmp_path / "audio", per_label=1)
    split = split_by_speaker(recordings_from_names(folder), ("cleo",))
    make_spike_dataset(tmp_path / "a", split, PARAMS, workers=1)
    make_spike_dataset(tmp_path / "b", split, PARAMS, workers=2)
    names = ["shd_train.h5", "shd_test.h5", "shd_train.h5.zip", "shd_test.h5.zip",
             "conversion.json"]
    for name in names:
        a, b = (tmp_path / d / "SHD" / name for d in ("a", "b"))
        assert a.read_bytes() == b.read_bytes(), name
    assert sorted(p.name for p in (tmp_path / "a" / "SHD").iterdir()) == sorted(names)


def test_other_sample_rates_are_converted_at_the_highest_rate(tmp_path):
    write_recordings(tmp_path / "audio", speakers=("anna",), rate=16000)
    write_recordings(tmp_path / "audio", speakers=("bob",), rate=11025)
    split = split_by_speaker(recordings_from_names(tmp_path / "audio"), ("bob",))
    summary = make_spike_dataset(tmp_path / "root", split, PARAMS, workers=1)
    assert summary.params.sample_rate == 16000
    assert summary.mean_spikes > 0


def test_unreadable_audio_leaves_nothing_behind(tmp_path):
    folder = write_recordings(tmp_path / "audio", per_label=1)
    (folder / "low_bob_9.wav").write_bytes(b"not audio")
    split = split_by_speaker(recordings_from_names(folder), ("bob",))
    with pytest.raises(DataError, match="low_bob_9.wav: unreadable audio"):
        make_spike_dataset(tmp_path / "root", split, PARAMS, workers=1)
    assert not (tmp_path / "root").exists()


def test_existing_shd_is_kept_unless_overwrite(tmp_path):
    folder = write_recordings(tmp_path / "audio", per_label=1)
    split = split_by_speaker(recordings_from_names(folder), ("bob",))
    make_spike_dataset(tmp_path / "root", split, PARAMS, workers=1)
    with pytest.raises(DataError, match="already exists"):
        make_spike_dataset(tmp_path / "root", split, PARAMS, workers=1)
    make_spike_dataset(tmp_path / "root", split, PARAMS, workers=1, overwrite=True)
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == ["SHD"]


def test_speed_perturbation_adds_faster_and_slower_train_copies_only(tmp_path):
    folder = write_recordings(tmp_path / "audio", per_label=1)
    split = split_by_speaker(recordings_from_names(folder), ("bob",))
    make_spike_dataset(tmp_path / "root", split, PARAMS, workers=1, speeds=(0.8, 1.25))
    train = _read(tmp_path / "root" / "SHD" / "shd_train.h5")
    test = _read(tmp_path / "root" / "SHD" / "shd_test.h5")
    assert len(train["labels"]) == 3 * len(split.train) and len(test["labels"]) == 2
    n = len(split.train)
    np.testing.assert_array_equal(train["labels"][n:2 * n], train["labels"][:n])
    last = [t.astype(np.float64).max() for t in train["spikes/times"]]
    for i in range(n):  # 0.25 s tones: 0.8x lasts longer, 1.25x shorter, by about the factor
        assert last[n + i] > last[i] + 0.03 and last[2 * n + i] < last[i] - 0.02
    low = train["labels"] == split.classes.index("low")  # 300 Hz: pitch scales with speed too
    mean_unit = np.array([u.astype(np.float64).mean() for u in train["spikes/units"]])
    assert np.all(mean_unit[n:2 * n][low[:n]] < mean_unit[:n][low[:n]])
    with pytest.raises(ConfigError, match="speed factors must be distinct, in"):
        make_spike_dataset(tmp_path / "x", split, PARAMS, workers=1, speeds=(1.0,))
