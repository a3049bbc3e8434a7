"""Data layer: hand-worked binning (sum and stride copies), tonic agreement, copies layout,
cache reuse/invalidation, split, errors."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from hardware.errors import ConfigError, DataError
from model.binning import bin_events_reference, bin_spikes, channel_map, first_copy, stride_map
from model.config import DataConfig
from model.data import BinnedDataset, load_dataset, read_and_bin, split_indices, synthetic_root
from model.synthetic import shd_files, write_synthetic_shd

TINY = {"synthetic_train": 40, "synthetic_test": 10}


def write_shd(root: Path, split: str, times: list[list[float]], units: list[list[int]],
              labels: list[int], keys: int = 20, zip_file: bool = True) -> Path:
    """A hand-written SHD-format file `<root>/SHD/shd_<split>.h5` (+ an empty .h5.zip)."""
    path = root / "SHD" / f"shd_{split}.h5"
    path.parent.mkdir(parents=True, exist_ok=True)
    ragged_t, ragged_u = np.empty(len(times), object), np.empty(len(units), object)
    for i, (t, u) in enumerate(zip(times, units, strict=True)):
        ragged_t[i], ragged_u[i] = np.array(t, np.float32), np.array(u, np.uint16)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("spikes/times", data=ragged_t, dtype=h5py.vlen_dtype(np.float32))
        h5.create_dataset("spikes/units", data=ragged_u, dtype=h5py.vlen_dtype(np.uint16))
        h5.create_dataset("labels", data=np.array(labels, np.uint16))
        h5.create_dataset("extra/keys", data=np.array([f"k{i}".encode() for i in range(keys)]))
        h5.create_dataset("extra/speaker", data=np.zeros(len(labels), np.uint16))
    if zip_file:
        path.with_name(path.name + ".zip").write_bytes(b"")  # tonic checks presence only
    return path


# Hand-worked sample: duration 1.0 s, 4 bins of 250 ms, n_inputs 7 (channel c -> c // 100).
HAND_TIMES = [[0.10, 0.20, 0.25, 0.30, 0.30, 0.99, 1.20], [0.5] * 300]
HAND_UNITS = [[5, 50, 699, 150, 160, 699, 10], [400] * 300]
HAND_CFG = DataConfig(dataset="shd", time_bins=4, duration=1.0, n_inputs=7, val_fraction=0.0)


def _hand_root(tmp_path: Path) -> Path:
    write_shd(tmp_path, "train", HAND_TIMES, HAND_UNITS, [3, 19])
    write_shd(tmp_path, "test", HAND_TIMES, HAND_UNITS, [3, 19])
    return tmp_path


def test_channel_map_sums_adjacent_groups():
    assert channel_map(7).tolist() == [c // 100 for c in range(700)]
    np.testing.assert_array_equal(channel_map(700), np.arange(700))
    sizes = np.bincount(channel_map(128))
    assert len(sizes) == 128 and set(sizes.tolist()) == {5, 6}  # 700 / 128 = 5.47


def test_hand_worked_binning(tmp_path):
    data = load_dataset(replace(HAND_CFG, root=str(_hand_root(tmp_path))))
    expected = np.zeros((2, 4, 7), np.uint8)
    expected[0, 0, 0] = 2  # 0.10 s ch 5, 0.20 s ch 50 -> bin 0, input 0
    expected[0, 1, 6] = 1  # 0.25 s is the start of bin 1 (bins are [start, end)); ch 699 -> 6
    expected[0, 1, 1] = 2  # 0.30 s ch 150 and ch 160 -> bin 1, input 1
    expected[0, 3, 6] = 1  # 0.99 s -> bin 3; the spike at 1.20 s >= duration is dropped
    expected[1, 2, 4] = 255  # 300 spikes at 0.5 s ch 400 -> bin 2, input 4, clipped to uint8
    np.testing.assert_array_equal(data.test_x, expected)
    np.testing.assert_array_equal(data.test_y, [3, 19])
    assert data.test_y.dtype == np.int64 and data.n_classes == 20
    np.testing.assert_array_equal(data.train_x, expected)  # val_fraction 0: all of train


def test_hand_worked_binning_binary(tmp_path):
    cfg = replace(HAND_CFG, root=str(_hand_root(tmp_path)), binary=True)
    x = load_dataset(cfg).test_x
    assert x[0, 0, 0] == 1 and x[1, 2, 4] == 1 and x.sum() == 5


@pytest.mark.parametrize("reduction", [{}, {"channel_reduction": "stride", "stride": 6,
                                             "n_inputs": 128, "binary": True}])
def test_vectorised_binning_matches_tonic_events_reference(tmp_path, reduction):
    import tonic

    write_synthetic_shd(tmp_path, n_train=6, n_test=6, seed=4)
    cfg = replace(DataConfig(dataset="shd", root=str(tmp_path), time_bins=50, duration=1.0,
                             n_inputs=48), **reduction)
    x, y, n_classes = read_and_bin(shd_files(tmp_path).test_h5, cfg)
    assert x.shape == (cfg.stride if reduction else 1, 6, 50, cfg.n_inputs)
    dataset = tonic.datasets.SHD(save_to=str(tmp_path), train=False)
    for i in range(len(dataset)):
        events, target = dataset[i]
        reference = bin_events_reference(events, cfg.time_bins, cfg.duration, cfg.n_inputs,
                                         cfg.binary, cfg.channel_reduction, cfg.stride)
        np.testing.assert_array_equal(x[:, i], reference)
        assert y[i] == target
    assert n_classes == 20 and x.sum() > 0


def test_bin_spikes_random_cases_match_reference():
    rng = np.random.default_rng(0)
    for _ in range(5):
        n, t_bins, n_inputs = (int(rng.integers(1, hi)) for hi in (4, 9, 30))
        m = int(rng.integers(0, 400))
        sample = np.sort(rng.integers(0, n, m))
        t_us, units = rng.integers(0, 1_600_000, m), rng.integers(0, 700, m)
        stride = int(rng.integers(1, 12))
        x = bin_spikes(sample, t_us, units, n, t_bins, 1.4, n_inputs, binary=False)
        strided = bin_spikes(sample, t_us, units, n, t_bins, 1.4, 700, False, "stride", stride)
        assert x.shape == (1, n, t_bins, n_inputs)
        assert strided.shape == (stride, n, t_bins, 700)
        for i in range(n):
            events = np.zeros(int((sample == i).sum()), dtype=[("t", int), ("x", int)])
            events["t"], events["x"] = t_us[sample == i], units[sample == i]
            np.testing.assert_array_equal(x[:, i], bin_events_reference(events, t_bins, 1.4,
                                                                        n_inputs, False))
            np.testing.assert_array_equal(strided[:, i], bin_events_reference(
                events, t_bins, 1.4, 700, False, "stride", stride))


def test_synthetic_load_shapes_split_and_cache_reuse(tmp_path):
    cfg = DataConfig(root=str(tmp_path), time_bins=20, n_inputs=16, **TINY)
    first = load_dataset(cfg)
    assert not first.from_cache
    assert first.train_x.shape == (36, 20, 16) and first.val_x.shape == (4, 20, 16)
    assert first.test_x.shape == (10, 20, 16) and first.train_x.dtype == np.uint8
    assert first.train_y.dtype == np.int64 and first.n_classes == 20
    entry = tmp_path / "cache" / first.cache_key
    stamps = {p.name: p.stat().st_mtime_ns for p in entry.iterdir()}
    source_stamp = shd_files(synthetic_root(cfg)).train_h5.stat().st_mtime_ns
    second = load_dataset(cfg)
    assert second.from_cache and second.cache_key == first.cache_key and second == first
    assert isinstance(second.train_x, np.memmap)
    assert {p.name: p.stat().st_mtime_ns for p in entry.iterdir()} == stamps
    assert shd_files(synthetic_root(cfg)).train_h5.stat().st_mtime_ns == source_stamp
    for name in ("train_x", "val_x", "test_x", "train_y", "val_y", "test_y"):
        np.testing.assert_array_equal(getattr(second, name), getattr(first, name))
    assert sorted(os.listdir(tmp_path / "cache")) == [first.cache_key]  # no temp leftovers


@pytest.mark.parametrize("change", [{"time_bins": 10}, {"n_inputs": 130}, {"duration": 1.0},
                                    {"binary": True}, {"val_fraction": 0.2},
                                    {"split_seed": 1}, {"channel_reduction": "sum"},
                                    {"stride": 5}, {"augment": False}])
def test_cache_invalidated_by_each_parameter(tmp_path, change):
    # stride 6 needs n_inputs >= 117; stride 5 needs 140
    cfg = DataConfig(root=str(tmp_path), time_bins=20, n_inputs=140, **TINY,
                     channel_reduction="stride", stride=6)
    base = load_dataset(cfg)
    changed = load_dataset(replace(cfg, **change))
    assert not changed.from_cache and changed.cache_key != base.cache_key
    assert load_dataset(cfg).from_cache  # the old entry stays valid


def test_cache_invalidated_when_source_file_changes(tmp_path):
    cfg = replace(HAND_CFG, root=str(_hand_root(tmp_path)))
    base = load_dataset(cfg)
    train_h5 = shd_files(tmp_path).train_h5
    stat = train_h5.stat()
    os.utime(train_h5, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    changed = load_dataset(cfg)
    assert not changed.from_cache and changed.cache_key != base.cache_key
    write_shd(tmp_path, "test", [[0.6]], [[0]], [5])  # new content: rebuilt with it
    rebuilt = load_dataset(cfg)
    assert not rebuilt.from_cache and rebuilt.test_x[0, 2, 0] == 1 and rebuilt.test_x.sum() == 1


def test_cache_dir_setting(tmp_path):
    cfg = DataConfig(root=str(tmp_path / "data"), cache_dir=str(tmp_path / "c"), **TINY)
    data = load_dataset(cfg)
    assert (tmp_path / "c" / data.cache_key / "meta.json").is_file()
    assert not (tmp_path / "data" / "cache").exists()


def test_synthetic_directory_keyed_by_sizes_and_generated_once(tmp_path):
    cfg = DataConfig(root=str(tmp_path), **TINY)
    load_dataset(cfg)
    other = replace(cfg, synthetic_train=30)
    load_dataset(other)
    assert synthetic_root(cfg) != synthetic_root(other)
    assert len(h5py.File(shd_files(synthetic_root(other)).train_h5)["labels"]) == 30
    stamp = shd_files(synthetic_root(cfg)).train_h5.stat().st_mtime_ns
    load_dataset(replace(cfg, time_bins=7))  # new binning: cache rebuilt, data not regenerated
    assert shd_files(synthetic_root(cfg)).train_h5.stat().st_mtime_ns == stamp


def test_root_expands_user(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    data = load_dataset(DataConfig(root="~/mdse", time_bins=5, n_inputs=4, **TINY))
    assert (tmp_path / "mdse" / "cache" / data.cache_key).is_dir()
    assert shd_files(tmp_path / "mdse" / synthetic_root(DataConfig(**TINY)).name).missing() == []


def test_split_sizes_disjoint_stratified_deterministic():
    labels = np.repeat(np.arange(20), 10)[np.random.default_rng(1).permutation(200)]
    train, val = split_indices(labels, 0.1, seed=0)
    assert len(val) == 20 and len(train) == 180
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(200))
    assert np.bincount(labels[val], minlength=20).tolist() == [1] * 20  # stratified
    again = split_indices(labels, 0.1, seed=0)
    np.testing.assert_array_equal(again[1], val)
    assert not np.array_equal(split_indices(labels, 0.1, seed=1)[1], val)


def test_split_edge_cases():
    labels = np.array([0, 0, 1, 1, 1])
    assert [len(a) for a in split_indices(labels, 0.0, seed=0)] == [5, 0]
    assert [len(a) for a in split_indices(labels, 0.01, seed=0)] == [4, 1]  # at least one
    assert [len(a) for a in split_indices(labels[:1], 0.5, seed=0)] == [1, 0]


def test_missing_shd_error_says_where_and_what_to_do(tmp_path):
    with pytest.raises(DataError) as exc:
        load_dataset(DataConfig(dataset="shd", root=str(tmp_path)))
    message = str(exc.value)
    assert "\n" not in message
    assert str(tmp_path / "SHD" / "shd_train.h5") in message
    assert f"tonic.datasets.SHD(save_to='{tmp_path}')" in message
    assert '[data].dataset = "synthetic"' in message and "make-synthetic-shd" in message


def test_missing_zip_is_reported(tmp_path):
    write_shd(tmp_path, "train", [[0.1]], [[1]], [0], zip_file=False)
    write_shd(tmp_path, "test", [[0.1]], [[1]], [0])
    with pytest.raises(DataError, match=r"missing .*shd_train\.h5\.zip"):
        load_dataset(DataConfig(dataset="shd", root=str(tmp_path)))


def test_malformed_file_missing_key(tmp_path):
    _hand_root(tmp_path)
    with h5py.File(shd_files(tmp_path).test_h5, "a") as h5:
        del h5["labels"]
    with pytest.raises(DataError, match=r"shd_test\.h5 is not an SHD file: dataset 'labels'"):
        load_dataset(replace(HAND_CFG, root=str(tmp_path)))


def test_malformed_file_unit_out_of_range(tmp_path):
    write_shd(tmp_path, "train", [[0.1, 0.2]], [[3, 700]], [0])
    write_shd(tmp_path, "test", [[0.1]], [[1]], [0])
    with pytest.raises(DataError, match=r"shd_train\.h5: spike units must be in \[0, 700\), "
                                        r"got 3\.\.700"):
        load_dataset(DataConfig(dataset="shd", root=str(tmp_path)))


def test_malformed_file_label_out_of_range_and_not_hdf5(tmp_path):
    write_shd(tmp_path, "train", [[0.1]], [[3]], [20])
    write_shd(tmp_path, "test", [[0.1]], [[1]], [0])
    with pytest.raises(DataError, match=r"shd_train\.h5: labels must be in \[0, 20\)"):
        load_dataset(DataConfig(dataset="shd", root=str(tmp_path)))
    shd_files(tmp_path).train_h5.write_bytes(b"not hdf5")
    with pytest.raises(DataError, match=r"shd_train\.h5 is not a readable HDF5 file"):
        load_dataset(DataConfig(dataset="shd", root=str(tmp_path)))


@pytest.mark.parametrize(("change", "message"), [
    ({"time_bins": 0}, r"time_bins must be >= 1, got 0 \(set \[data\]\.time_bins\)"),
    ({"n_inputs": 701}, r"n_inputs must be in \[1, 700\], got 701"),
    ({"val_fraction": 1.0}, r"val_fraction must be in \[0, 1\), got 1\.0"),
    ({"dataset": "mnist"}, r"dataset must be one of synthetic, shd, auto, got 'mnist'"),
    ({"duration": 0.0}, r"duration must be >= 1e-06, got 0\.0"),
])
def test_bad_config_raises_config_error(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        load_dataset(replace(DataConfig(root=str(tmp_path)), **change))


def test_auto_dataset_uses_shd_when_present_else_synthetic(tmp_path):
    from model.data import resolve_dataset

    auto = DataConfig(dataset="auto", root=str(tmp_path))
    assert resolve_dataset(auto).dataset == "synthetic"
    _hand_root(tmp_path)  # SHD-format files under root
    assert resolve_dataset(auto).dataset == "shd"
    assert resolve_dataset(replace(auto, dataset="synthetic")).dataset == "synthetic"


# Stride reduction (the original study's input): copy o takes channels o, o + 6, o + 12, ...
STRIDE_CFG = replace(HAND_CFG, n_inputs=128, channel_reduction="stride", stride=6)


def test_stride_map_by_hand():
    copy, inputs = stride_map(6)
    assert (copy[[0, 6, 12]].tolist(), inputs[[0, 6, 12]].tolist()) == ([0, 0, 0], [0, 1, 2])
    assert (copy[7], inputs[7]) == (1, 1) and (copy[699], inputs[699]) == (3, 116)
    assert np.bincount(copy).tolist() == [117, 117, 117, 117, 116, 116]  # 4*117 + 2*116 = 700


def test_hand_worked_stride_binning(tmp_path):
    times = [[0.10, 0.10, 0.10, 0.30, 0.99, 1.20], [0.5] * 3]
    units = [[0, 6, 12, 7, 699, 1], [5] * 3]
    write_shd(tmp_path, "train", times, units, [3, 19])
    write_shd(tmp_path, "test", times, units, [3, 19])
    data = load_dataset(replace(STRIDE_CFG, root=str(tmp_path)))
    expected = np.zeros((6, 2, 4, 128), np.uint8)  # (copy, sample, bin, input)
    expected[0, 0, 0, [0, 1, 2]] = 1  # channels 0, 6, 12 at 0.10 s -> copy 0, inputs 0, 1, 2
    expected[1, 0, 1, 1] = 1  # channel 7 at 0.30 s -> copy 1 (7 % 6), input 1 (7 // 6), bin 1
    expected[3, 0, 3, 116] = 1  # channel 699 at 0.99 s -> copy 3, input 116; 1.20 s dropped
    expected[5, 1, 2, 0] = 3  # 3 spikes of channel 5 at 0.5 s -> copy 5, input 0, bin 2
    assert data.copies == 6 and data.train_copies == 6
    assert data.test_x.shape == (12, 4, 128)  # copy-major: rows [2c, 2c + 2) are copy c
    np.testing.assert_array_equal(data.test_x, expected.reshape(12, 4, 128))
    np.testing.assert_array_equal(data.test_y, [3, 19] * 6)
    np.testing.assert_array_equal(data.train_x, data.test_x)  # val_fraction 0, augment
    assert data.n_per_copy("test") == 2 and data.n_per_copy("train") == 2
    x0, y0 = data.first_copy("test")
    np.testing.assert_array_equal(x0, expected[0])
    np.testing.assert_array_equal(y0, [3, 19])
    binary = load_dataset(replace(STRIDE_CFG, root=str(tmp_path), binary=True))
    assert binary.test_x[5 * 2 + 1, 2, 0] == 1 and binary.test_x.sum() == 6


def test_stride_copies_zero_padded_to_n_inputs(tmp_path):
    write_shd(tmp_path, "train", [[0.1] * 700], [list(range(700))], [0])
    write_shd(tmp_path, "test", [[0.1] * 700], [list(range(700))], [0])
    x = load_dataset(replace(STRIDE_CFG, root=str(tmp_path))).test_x
    assert x.shape == (6, 4, 128) and x.sum() == 700 and x[:, 1:].sum() == 0
    for copy, width in enumerate([117, 117, 117, 117, 116, 116]):  # ceil((700 - copy) / 6)
        assert x[copy, 0, :width].tolist() == [1] * width
        assert x[copy, 0, width:].tolist() == [0] * (128 - width)  # padding stays zero


def test_stride_copies_are_the_raw_channels_copy_major(tmp_path):
    base = DataConfig(root=str(tmp_path), time_bins=20, **TINY)
    raw = load_dataset(replace(base, n_inputs=700))  # "sum" to 700 inputs: channel c -> input c
    data = load_dataset(replace(base, n_inputs=128, channel_reduction="stride"))
    for split, n in (("train", 36), ("val", 4), ("test", 10)):  # split on samples: as raw
        x, y = getattr(data, f"{split}_x"), getattr(data, f"{split}_y")
        raw_x, raw_y = getattr(raw, f"{split}_x"), getattr(raw, f"{split}_y")
        assert x.shape == (6 * n, 20, 128) and data.n_per_copy(split) == n
        for copy in range(6):
            width = len(range(copy, 700, 6))
            np.testing.assert_array_equal(x[copy * n:(copy + 1) * n, :, :width],
                                          raw_x[:, :, copy::6])
            assert not x[copy * n:(copy + 1) * n, :, width:].any()
            np.testing.assert_array_equal(y[copy * n:(copy + 1) * n], raw_y)
    assert raw.copies == 1 and raw.n_per_copy("train") == 36 and data.test_x.sum() > 0


def test_stride_without_augment_trains_on_copy_zero(tmp_path):
    cfg = DataConfig(root=str(tmp_path), time_bins=20, n_inputs=128, **TINY,
                     channel_reduction="stride")
    full, plain = load_dataset(cfg), load_dataset(replace(cfg, augment=False))
    assert (plain.copies, plain.train_copies) == (6, 1)
    np.testing.assert_array_equal(plain.train_x, full.first_copy("train")[0])
    np.testing.assert_array_equal(plain.train_y, full.first_copy("train")[1])
    assert plain.train_x.shape == (36, 20, 128) and plain.val_x.shape == (24, 20, 128)
    np.testing.assert_array_equal(plain.test_x, full.test_x)  # test keeps every copy
    assert (plain.n_per_copy("train"), plain.n_per_copy("test")) == (36, 10)


def test_stride_split_on_samples_before_copying(tmp_path):
    # 30 samples, each its own class and one spike on channel = label: label names the sample
    labels = list(range(30))
    for split in ("train", "test"):
        write_shd(tmp_path, split, [[0.1]] * 30, [[u] for u in labels], labels, keys=30)
    data = load_dataset(replace(STRIDE_CFG, root=str(tmp_path), val_fraction=0.2))
    train = data.first_copy("train")[1]
    val = data.first_copy("val")[1]
    assert (len(train), len(val)) == (24, 6)
    assert not set(train.tolist()) & set(val.tolist())  # no utterance in both
    assert sorted(train.tolist() + val.tolist()) == labels
    np.testing.assert_array_equal(data.train_y, np.tile(train, 6))
    np.testing.assert_array_equal(data.val_y, np.tile(val, 6))
    for split in ("train", "val"):  # the row of copy c of sample L spikes iff L % 6 == c
        x, y = getattr(data, f"{split}_x"), getattr(data, f"{split}_y")
        copy = np.repeat(np.arange(6), data.n_per_copy(split))
        assert (x[:, 0].sum(axis=1) == (y % 6 == copy)).all()
        spiking = y % 6 == copy
        assert (x[spiking, 0, y[spiking] // 6] == 1).all()


def test_first_copy_helper_and_layout_check():
    x = np.arange(12).reshape(6, 2)
    np.testing.assert_array_equal(first_copy(x, 3), [[0, 1], [2, 3]])
    assert first_copy(np.arange(0), 6).size == 0  # an empty val split
    with pytest.raises(DataError, match=r"5 rows do not hold 3 equal copies"):
        first_copy(np.arange(5), 3)
    empty = np.zeros((6, 1, 1), np.uint8)
    with pytest.raises(DataError, match=r"6 rows do not hold 4 equal copies"):
        BinnedDataset(empty, np.zeros(6, np.int64), empty, np.zeros(6, np.int64), empty,
                      np.zeros(6, np.int64), n_classes=2, cache_key="k", copies=4)


@pytest.mark.parametrize(("change", "message"), [
    ({"n_inputs": 116}, r"^\[data\]\.n_inputs = 116 is too small for \[data\]\.stride = 6: each "
                        r"copy has ceil\(700 / 6\) = 117 channels \(set n_inputs >= 117 or a "
                        r"larger stride\)$"),
    ({"n_inputs": 99, "stride": 7}, r"n_inputs = 99 is too small for \[data\]\.stride = 7: "
                                    r"each copy has ceil\(700 / 7\) = 100 channels"),
    ({"stride": 0}, r"stride must be in \[1, 700\], got 0 \(set \[data\]\.stride\)"),
    ({"channel_reduction": "mean"},
     r"channel_reduction must be one of sum, stride, got 'mean'"),
])
def test_stride_config_errors(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        load_dataset(replace(STRIDE_CFG, root=str(tmp_path), **change))


def test_stride_fits_exactly_and_sum_ignores_stride(tmp_path):
    from model.data import validate_data_config

    validate_data_config(replace(STRIDE_CFG, n_inputs=117))  # ceil(700 / 6) = 117 fits
    validate_data_config(replace(STRIDE_CFG, n_inputs=100, stride=7))
    validate_data_config(replace(STRIDE_CFG, n_inputs=16, channel_reduction="sum"))


def test_data_keys_in_config_schema():
    from search.config.schema import key_rule

    assert key_rule("data", "channel_reduction").check("stride") == "stride"
    with pytest.raises(ConfigError, match=r"must be one of sum, stride \(did you mean stride"):
        key_rule("data", "channel_reduction").check("strid")
    with pytest.raises(ConfigError, match=r"must be in \[1, 700\], got 0"):
        key_rule("data", "stride").check(0)
    for key, default in (("binary", False), ("augment", True), ("stride", 6)):
        assert key_rule("data", key).default == default
