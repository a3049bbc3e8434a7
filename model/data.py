"""SHD loading through tonic, an on-disk cache and the validation split.

Spikes are binned by `model.binning` (time bins, channel reduction "sum" or "stride", copies
stored copy-major). The train/val split picks samples before copying: no utterance is in both.
Val and test hold every copy; train holds every copy with `augment`, else copy 0.
The binned arrays are built once per parameter set and cached under `<root>/cache/<key>/` (or
`[data].cache_dir/<key>/`) as .npy files loaded memory-mapped; the key covers every binning and
split parameter and the size and mtime of the source files, so a change of either builds a new
entry. Old entries are never deleted automatically.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import h5py
import numpy as np

from hardware.errors import ConfigError, DataError
from hardware.keys import check_fields
from model.binning import bin_spikes, copy_major, first_copy
from model.config import DataConfig
from model.synthetic import (
    GENERATOR_VERSION,
    N_CHANNELS,
    SHDFiles,
    durable_replace,
    shd_files,
    write_synthetic_shd,
)

CACHE_VERSION = 2  # 2: copies (channel_reduction "stride"), copy-major rows
CHUNK_ROWS = 256  # sample copies binned per step: bounds memory on the full SHD (8156 samples)
_ARRAYS = ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")


@dataclass(frozen=True)
class BinnedDataset:
    """Dense binned splits: *_x uint8 (rows, time_bins, n_inputs) (memory-mapped), *_y int64
    (rows,). rows = copies * n for val and test, train_copies * n for train, copy-major.

    copies: copies per sample in val and test (`stride` for channel_reduction "stride", else 1).
    train_copies: copies per sample in train (`copies` with augment, else 1).
    """

    train_x: np.ndarray = field(compare=False, repr=False)
    train_y: np.ndarray = field(compare=False, repr=False)
    val_x: np.ndarray = field(compare=False, repr=False)
    val_y: np.ndarray = field(compare=False, repr=False)
    test_x: np.ndarray = field(compare=False, repr=False)
    test_y: np.ndarray = field(compare=False, repr=False)
    n_classes: int
    cache_key: str
    class_names: tuple[str, ...] = ()
    from_cache: bool = field(default=False, compare=False)
    copies: int = 1
    train_copies: int = 1

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            first_copy(getattr(self, f"{split}_x"), self.copies_of(split))
            first_copy(getattr(self, f"{split}_y"), self.copies_of(split))

    def copies_of(self, split: str) -> int:
        """Copies per sample held by split "train", "val" or "test"."""
        return self.train_copies if split == "train" else self.copies

    def n_per_copy(self, split: str) -> int:
        """Samples in split "train", "val" or "test" (rows of one copy)."""
        return len(getattr(self, f"{split}_y")) // self.copies_of(split)

    def first_copy(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of copy 0 of split "train", "val" or "test" (views, n_per_copy rows)."""
        copies = self.copies_of(split)
        return (first_copy(getattr(self, f"{split}_x"), copies),
                first_copy(getattr(self, f"{split}_y"), copies))

    @property
    def time_bins(self) -> int:
        """Number of time bins T."""
        return int(self.train_x.shape[1])

    @property
    def n_inputs(self) -> int:
        """Number of input channels after reduction."""
        return int(self.train_x.shape[2])


def validate_data_config(cfg: DataConfig) -> None:
    """Raise ConfigError for a DataConfig that cannot be loaded."""
    check_fields(cfg, "data")  # the schema's own bounds, for configs built in code
    per_copy = -(-N_CHANNELS // cfg.stride)
    if cfg.channel_reduction == "stride" and per_copy > cfg.n_inputs:
        raise ConfigError(f"[data].n_inputs = {cfg.n_inputs} is too small for [data].stride = "
                          f"{cfg.stride}: each copy has ceil({N_CHANNELS} / {cfg.stride}) = "
                          f"{per_copy} channels (set n_inputs >= {per_copy} or a larger stride)")


def copies_of(cfg: DataConfig) -> tuple[int, int]:
    """(copies in val/test, copies in train) for `cfg`: (stride, stride or 1) with "stride"."""
    if cfg.channel_reduction != "stride":
        return 1, 1
    return cfg.stride, cfg.stride if cfg.augment else 1


def split_indices(labels: np.ndarray, val_fraction: float,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified seeded split: sorted (train_idx, val_idx) int64 with round(f*n) val samples.

    Samples are ranked within their class in a seeded random order; the val set takes the
    lowest rank fractions, so every class gives close to `val_fraction` of its samples.
    """
    n = len(labels)
    n_val = min(n - 1, max(1, round(val_fraction * n))) if val_fraction > 0 and n > 1 else 0
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    by_class = perm[np.argsort(labels[perm], kind="stable")]
    sorted_labels = labels[by_class]
    first = np.searchsorted(sorted_labels, sorted_labels, side="left")
    size = np.searchsorted(sorted_labels, sorted_labels, side="right") - first
    rank_fraction = (np.arange(n) - first + rng.random(n)) / size
    order = by_class[np.argsort(rank_fraction, kind="stable")]
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def synthetic_root(cfg: DataConfig) -> Path:
    """Directory holding the generated synthetic SHD, keyed by its sizes, seed and version."""
    name = (f"synthetic-shd-v{GENERATOR_VERSION}-{cfg.synthetic_train}-{cfg.synthetic_test}"
            f"-{cfg.synthetic_seed}")
    return Path(cfg.root).expanduser() / name


def source_files(cfg: DataConfig) -> SHDFiles:
    """The SHD files to load; generates the synthetic dataset once when it is missing."""
    if cfg.dataset == "synthetic":
        root = synthetic_root(cfg)
        if shd_files(root).missing():
            try:
                write_synthetic_shd(root, cfg.synthetic_train, cfg.synthetic_test,
                                    cfg.synthetic_seed)
            except OSError as exc:
                raise DataError(f"cannot write the synthetic SHD into {root}: {exc} (set "
                                "[data].root to a writable directory)") from exc
        return shd_files(root)
    files = shd_files(cfg.root)
    missing = files.missing()
    if missing:
        raise DataError(
            f"SHD not found: missing {', '.join(map(str, missing))} (online, "
            f"tonic.datasets.SHD(save_to={str(Path(cfg.root).expanduser())!r}) downloads it; "
            "offline, put the extracted .h5 files and a .h5.zip beside each there; or use the "
            'synthetic dataset: [data].dataset = "synthetic", or `mosaic-dse make-synthetic-shd '
            'DIR` then [data].root = "DIR")')
    return files


def _check_h5(h5: h5py.File, path: Path) -> int:
    """Validate SHD's keys and lengths in an open file; return n_classes (len of extra/keys)."""
    for key in ("spikes/times", "spikes/units", "labels", "extra/keys", "extra/speaker"):
        if key not in h5:
            raise DataError(f"{path} is not an SHD file: dataset {key!r} missing "
                            "(re-download SHD or regenerate with make-synthetic-shd)")
    n = len(h5["labels"])
    if len(h5["spikes/times"]) != n or len(h5["spikes/units"]) != n:
        raise DataError(f"{path}: spikes/times, spikes/units and labels must have equal "
                        f"lengths, got {len(h5['spikes/times'])}, {len(h5['spikes/units'])}, "
                        f"{n} (re-download or regenerate the file)")
    return len(h5["extra/keys"])


def _read_chunk(h5: h5py.File, path: Path, start: int,
                stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spikes of samples [start, stop): (sample - start, t in integer us as tonic, unit) int64."""
    times, units = h5["spikes/times"][start:stop], h5["spikes/units"][start:stop]
    lengths = np.array([len(t) for t in times], dtype=np.int64)
    if not np.array_equal(lengths, [len(u) for u in units]):
        raise DataError(f"{path}: a sample has different numbers of spike times and units "
                        "(re-download or regenerate the file)")
    flat_t = np.concatenate([np.asarray(t, dtype=np.float64) for t in times] or [np.empty(0)])
    flat_u = np.concatenate([np.asarray(u, dtype=np.int64) for u in units] or [np.empty(0, int)])
    if len(flat_u) and (flat_u.min() < 0 or flat_u.max() >= N_CHANNELS):
        raise DataError(f"{path}: spike units must be in [0, {N_CHANNELS}), got "
                        f"{flat_u.min()}..{flat_u.max()} (re-download or regenerate the file)")
    if not np.all(np.isfinite(flat_t)):
        raise DataError(f"{path}: spike times must be finite seconds, found NaN/inf "
                        "(re-download or regenerate the file)")
    sample = np.repeat(np.arange(stop - start, dtype=np.int64), lengths)
    return sample, (flat_t * 1e6).astype(np.int64), flat_u  # truncation as tonic's int `t`


def read_and_bin(path: Path, cfg: DataConfig) -> tuple[np.ndarray, np.ndarray, int]:
    """Bin one SHD file chunk by chunk: (x uint8 (copies, n, T, n_inputs), y int64 (n,),
    n_classes); copies as `copies_of(cfg)[0]`."""
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path} is not a readable HDF5 file ({exc}); re-download SHD or "
                        "regenerate it with make-synthetic-shd") from exc
    with h5:
        n_classes = _check_h5(h5, path)
        y = h5["labels"][()].astype(np.int64)
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise DataError(f"{path}: labels must be in [0, {n_classes}) (len of extra/keys), "
                            f"got {y.min()}..{y.max()} (re-download or regenerate the file)")
        copies = copies_of(cfg)[0]
        x = np.empty((copies, len(y), cfg.time_bins, cfg.n_inputs), dtype=np.uint8)
        chunk = max(1, CHUNK_ROWS // copies)
        for start in range(0, len(y), chunk):
            stop = min(start + chunk, len(y))
            spikes = _read_chunk(h5, path, start, stop)
            x[:, start:stop] = bin_spikes(*spikes, stop - start, cfg.time_bins, cfg.duration,
                                          cfg.n_inputs, cfg.binary, cfg.channel_reduction,
                                          cfg.stride)
    return x, y, n_classes


def open_with_tonic(files: SHDFiles, train: bool) -> tuple[int, tuple[str, ...]]:
    """Open one split with tonic.datasets.SHD (its layout checks and reads): (len, class names)."""
    import tonic  # heavy (imports torch): only when a cache entry is built

    path = files.train_h5 if train else files.test_h5
    try:
        dataset = tonic.datasets.SHD(save_to=str(path.parent.parent), train=train)
        n_samples = len(dataset)
    except (OSError, KeyError) as exc:
        raise DataError(f"tonic could not open {path}: {exc} (re-download SHD or regenerate "
                        "it with make-synthetic-shd)") from exc
    names = tuple(k.decode() if isinstance(k, bytes) else str(k) for k in dataset.classes)
    return n_samples, names


def cache_root(cfg: DataConfig) -> Path:
    """Directory of the cache entries: `cache_dir`, else `<root>/cache`."""
    return Path(cfg.cache_dir or Path(cfg.root) / "cache").expanduser()


def cache_key(cfg: DataConfig, files: SHDFiles) -> str:
    """Cache entry name: every binning/split parameter plus the source files' size and mtime."""
    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns)
             for p in (files.train_h5, files.test_h5)]
    params = {"version": CACHE_VERSION, "time_bins": cfg.time_bins, "duration": cfg.duration,
              "n_inputs": cfg.n_inputs, "binary": cfg.binary, "val_fraction": cfg.val_fraction,
              "split_seed": cfg.split_seed, "channel_reduction": cfg.channel_reduction,
              "stride": cfg.stride, "augment": cfg.augment, "files": stats}
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    strided = f"-S{cfg.stride}" if cfg.channel_reduction == "stride" else ""
    return f"{cfg.dataset}-T{cfg.time_bins}-C{cfg.n_inputs}{strided}-{digest}"


def build_arrays(cfg: DataConfig, files: SHDFiles) -> tuple[dict[str, np.ndarray], dict]:
    """Bin both splits once and split train: ({name: array} for `_ARRAYS`, metadata)."""
    train_x, train_y, n_classes = read_and_bin(files.train_h5, cfg)
    test_x, test_y, n_test_classes = read_and_bin(files.test_h5, cfg)
    if n_test_classes != n_classes:
        raise DataError(f"{files.test_h5} has {n_test_classes} classes, {files.train_h5} has "
                        f"{n_classes}: train and test must share extra/keys (regenerate them)")
    for train, y, path in ((True, train_y, files.train_h5), (False, test_y, files.test_h5)):
        n_tonic, names = open_with_tonic(files, train)
        if n_tonic != len(y):
            raise DataError(f"tonic reads {n_tonic} samples from {path}, h5py {len(y)} "
                            "(re-download or regenerate the file)")
    train_idx, val_idx = split_indices(train_y, cfg.val_fraction, cfg.split_seed)
    copies, train_copies = copies_of(cfg)
    arrays = {}
    arrays["train_x"], arrays["train_y"] = copy_major(train_x, train_y, train_idx, train_copies)
    arrays["val_x"], arrays["val_y"] = copy_major(train_x, train_y, val_idx, copies)
    arrays["test_x"] = test_x.reshape(-1, *test_x.shape[2:])  # all copies, already in order
    arrays["test_y"] = np.tile(test_y, copies)
    return arrays, {"n_classes": n_classes, "class_names": list(names), "config": asdict(cfg),
                    "copies": copies, "train_copies": train_copies}


def write_cache_entry(entry: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write .npy files + meta.json into a temp directory, then rename it to `entry` atomically."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.with_name(f".{entry.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        for name, array in arrays.items():
            with open(tmp / f"{name}.npy", "wb") as handle:
                np.save(handle, array)
                handle.flush()
                os.fsync(handle.fileno())
        with open(tmp / "meta.json", "w") as handle:
            json.dump(meta, handle)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            durable_replace(tmp, entry)
        except OSError:
            if not (entry / "meta.json").is_file():
                raise
            # another process wrote the same entry first: its content is identical, keep it
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def read_cache_entry(entry: Path, key: str, from_cache: bool) -> BinnedDataset:
    """Load a cache entry; the x arrays are memory-mapped read-only."""
    try:
        meta = json.loads((entry / "meta.json").read_text())
        arrays = {name: np.load(entry / f"{name}.npy", mmap_mode="r" if name.endswith("_x")
                                else None) for name in _ARRAYS}
    except (OSError, ValueError) as exc:
        raise DataError(f"cache entry {entry} is damaged ({exc}); delete that directory to "
                        "rebuild it") from exc
    try:
        return BinnedDataset(**arrays, n_classes=int(meta["n_classes"]), cache_key=key,
                             class_names=tuple(meta["class_names"]), from_cache=from_cache,
                             copies=int(meta["copies"]),
                             train_copies=int(meta["train_copies"]))
    except (KeyError, DataError) as exc:
        raise DataError(f"cache entry {entry} is damaged ({exc}); delete that directory to "
                        "rebuild it") from exc


def resolve_dataset(cfg: DataConfig) -> DataConfig:
    """`cfg` with dataset "auto" made concrete: "shd" if its files are under root, else
    "synthetic"."""
    if cfg.dataset != "auto":
        return cfg
    found = not shd_files(Path(cfg.root).expanduser()).missing()
    return replace(cfg, dataset="shd" if found else "synthetic")


def load_dataset(cfg: DataConfig) -> BinnedDataset:
    """Binned train/val/test splits of SHD or synthetic SHD, built once and cached on disk."""
    validate_data_config(cfg)
    cfg = resolve_dataset(cfg)
    files = source_files(cfg)
    key = cache_key(cfg, files)
    entry = cache_root(cfg) / key
    cached = (entry / "meta.json").is_file()
    if not cached:
        arrays, meta = build_arrays(cfg, files)
        try:
            write_cache_entry(entry, arrays, meta)
        except OSError as exc:
            raise DataError(f"cannot write the data cache {entry}: {exc} (set [data].cache_dir "
                            "to a writable directory)") from exc
    return read_cache_entry(entry, key, from_cache=cached)
