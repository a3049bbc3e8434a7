"""Synthetic SHD: exact SHD layout and HDF5 format, class structure, determinism, CLI."""

from __future__ import annotations

import zipfile
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest

from model.synthetic import (
    CLASS_SEQUENCES,
    N_CHANNELS,
    SEGMENT_BANDS,
    class_names,
    write_synthetic_shd,
)
from search.cli import main


def _read(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of an SHD file, read with h5py."""
    with h5py.File(path, "r") as h5:
        return {key: h5[key][()] for key in ("spikes/times", "spikes/units", "labels",
                                             "extra/keys", "extra/speaker")}


def test_files_have_shd_layout_keys_and_dtypes(tmp_path):
    files = write_synthetic_shd(tmp_path, n_train=40, n_test=10, seed=0)
    assert files.train_h5 == tmp_path / "SHD" / "shd_train.h5"
    assert files.missing() == []
    with h5py.File(files.train_h5, "r") as h5:
        assert sorted(h5.keys()) == ["extra", "labels", "spikes"]
        assert sorted(h5["spikes"].keys()) == ["times", "units"]
        assert sorted(h5["extra"].keys()) == ["keys", "speaker"]
        assert h5py.check_vlen_dtype(h5["spikes/times"].dtype) == np.float16
        assert h5py.check_vlen_dtype(h5["spikes/units"].dtype) == np.uint16
        assert h5["spikes/times"].shape == h5["spikes/units"].shape == (40,)
        assert h5["labels"].dtype == np.uint16 and h5["labels"].shape == (40,)
        assert h5["extra/speaker"].dtype == np.uint16 and h5["extra/speaker"].shape == (40,)
        assert h5["extra/keys"].shape == (20,) and h5["extra/keys"].dtype.kind == "S"
        assert [k.decode() for k in h5["extra/keys"][()]] == list(class_names())


def test_zip_files_are_real_zips_holding_the_h5(tmp_path):
    files = write_synthetic_shd(tmp_path, n_train=5, n_test=5, seed=0)
    for archive, h5 in ((files.train_zip, files.train_h5), (files.test_zip, files.test_h5)):
        with zipfile.ZipFile(archive) as zf:
            assert zf.namelist() == [h5.name]
            assert zf.read(h5.name) == h5.read_bytes()


def test_labels_balanced_over_20_classes_and_spikes_in_range(tmp_path):
    files = write_synthetic_shd(tmp_path, n_train=60, n_test=20, seed=1)
    train, test = _read(files.train_h5), _read(files.test_h5)
    assert sorted(Counter(train["labels"].tolist()).items()) == [(k, 3) for k in range(20)]
    assert sorted(set(test["labels"].tolist())) == list(range(20))
    for times, units in zip(train["spikes/times"], train["spikes/units"], strict=True):
        assert len(times) == len(units) > 0
        assert np.all(np.diff(times.astype(np.float64)) >= 0)  # sorted by time, as in SHD
        assert times.min() >= 0 and times.max() < 2.0
        assert units.max() < N_CHANNELS
    mean_spikes = np.mean([len(t) for t in train["spikes/times"]])
    assert 300 < mean_spikes < 5000
    assert set(train["extra/speaker"].tolist()) <= set(range(10))  # 10, 11: test-only


def test_same_seed_same_data_other_seed_differs(tmp_path):
    a = _read(write_synthetic_shd(tmp_path / "a", 20, 5, seed=7).train_h5)
    b = _read(write_synthetic_shd(tmp_path / "b", 20, 5, seed=7).train_h5)
    c = _read(write_synthetic_shd(tmp_path / "c", 20, 5, seed=8).train_h5)
    assert all(np.array_equal(x, y) for x, y in zip(a["spikes/times"], b["spikes/times"],
                                                    strict=True))
    np.testing.assert_array_equal(a["labels"], b["labels"])
    assert not all(len(x) == len(y) and np.array_equal(x, y)
                   for x, y in zip(a["spikes/times"], c["spikes/times"], strict=True))


def test_train_split_does_not_depend_on_test_size(tmp_path):
    a = _read(write_synthetic_shd(tmp_path / "a", 20, 5, seed=3).train_h5)
    b = _read(write_synthetic_shd(tmp_path / "b", 20, 9, seed=3).train_h5)
    np.testing.assert_array_equal(a["labels"], b["labels"])
    np.testing.assert_array_equal(np.concatenate(a["spikes/units"]),
                                  np.concatenate(b["spikes/units"]))


def test_every_class_shares_its_segments_with_another_class():
    # Per-channel spike counts depend only on the multiset of segments, so each class must have
    # a partner with the same multiset in another order: counts alone cannot separate them.
    multisets = Counter(tuple(sorted(seq)) for seq in CLASS_SEQUENCES)
    assert len(CLASS_SEQUENCES) == len(set(CLASS_SEQUENCES)) == 20
    assert min(multisets.values()) >= 2
    assert all(0 <= s < len(SEGMENT_BANDS) for seq in CLASS_SEQUENCES for s in seq)
    # best count-only accuracy: one class per multiset group = 8 groups / 20 classes
    assert len(multisets) / len(CLASS_SEQUENCES) == pytest.approx(0.4)


def test_tonic_opens_generated_files(tmp_path):
    import tonic

    write_synthetic_shd(tmp_path, n_train=12, n_test=4, seed=0)
    train = tonic.datasets.SHD(save_to=str(tmp_path), train=True)
    test = tonic.datasets.SHD(save_to=str(tmp_path), train=False)
    assert (len(train), len(test)) == (12, 4)
    events, target = train[3]
    assert events.dtype.names == ("t", "x", "p")
    assert 0 <= int(target) < 20
    assert events["x"].max() < N_CHANNELS and 0 <= events["t"].min()
    assert events["t"].max() < 2_000_000  # microseconds
    assert [k.decode() for k in train.classes] == list(class_names())


def test_cli_writes_files_and_prints_where(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["make-synthetic-shd", str(out), "--train", "8", "--test", "3", "--seed", "2"])
    assert code == 0
    printed = capsys.readouterr().out
    assert str(out / "SHD" / "shd_train.h5") in printed
    assert len(_read(out / "SHD" / "shd_train.h5")["labels"]) == 8
    assert len(_read(out / "SHD" / "shd_test.h5")["labels"]) == 3


@pytest.mark.parametrize("bad", [["--train", "0"], ["--test", "x"], []])
def test_cli_bad_arguments_exit_2(tmp_path, capsys, bad):
    argv = ["make-synthetic-shd", *([str(tmp_path)] if bad else []), *bad]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_cli_unwritable_directory_exits_2_with_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["make-synthetic-shd", str(blocker / "x"), "--train", "2", "--test", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "choose a writable DIR" in err
