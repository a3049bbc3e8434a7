"""The trained-network file (`train --save-network FILE.npz`), readable with numpy alone.

Arrays: w_in float32 (n_inputs, N) and w_rec float32 (N, N) effective (masked) weights, links
bool (N, T), hop_profile float64 (realised p_d by hop distance), chip int64
(rows, cols, neurons_per_tile), every other MosaicSpec field under its own name (capacities
cap_nt / cap_r0 / cap_r1 int64 (8,), hop_energy_pj float64, bits_per_cell int64), config: the
resolved TOML text (a 0-d unicode array), and how the weights are simulated (`Neuron`, 0-d
arrays n_classes, dt seconds, tau seconds, threshold, reset; files written before they were
saved lack them). Read it with `np.load(path)`; `mosaic-dse map --network FILE.npz` routes it
on its chip; a search saves one per trained trial (`search.artefacts.trial_networks`).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any

import numpy as np

from hardware.errors import LinksError
from hardware.spec import CAPACITIES, MosaicSpec

CHIP = ("rows", "cols", "neurons_per_tile")  # stored together as `chip`
SPEC_KEYS = tuple(f.name for f in fields(MosaicSpec) if f.name not in CHIP)
CAPACITY_KEYS = tuple(kind.key for kind in CAPACITIES)
# required; the other spec fields are optional (files written before they were saved)
KEYS = ("w_in", "w_rec", "links", "hop_profile", "chip", *CAPACITY_KEYS, "config")
NEURON_KEYS = ("n_classes", "dt", "tau", "threshold", "reset")  # optional, all or none


@dataclass(frozen=True)
class Neuron:
    """How a saved network is simulated, beyond its weights: what a NIR export needs without
    the dataset. n_classes: the readout is the last n_classes neurons; dt: seconds per time
    step (one bin); tau: seconds (decay per step exp(-dt / tau)); reset: "detached" |
    "original" (`search.artefacts.nir_file`)."""

    n_classes: int
    dt: float
    tau: float
    threshold: float
    reset: str


@dataclass(frozen=True)
class NetworkFile:
    """A saved network: its chip, links and weights, and the config it was trained with."""

    spec: MosaicSpec
    links: np.ndarray = field(compare=False)
    w_in: np.ndarray = field(compare=False)
    w_rec: np.ndarray = field(compare=False)
    config: str = ""
    neuron: Neuron | None = None  # None in files written before it was saved


def trial_neuron(train_cfg: Any, data: Any, data_cfg: Any) -> Neuron:
    """The Neuron of a run (a `model.config.TrainConfig`, its `model.data.BinnedDataset` and
    `model.config.DataConfig`): one step per time bin of duration / time_bins seconds."""
    return Neuron(int(data.n_classes), float(data_cfg.duration) / int(data.time_bins),
                  float(train_cfg.tau), float(train_cfg.threshold), str(train_cfg.reset))


def check_writable(path: Path, option: str = "--save-network") -> None:
    """LinksError (exit 2) unless `path` ends in .npz (or .nir: a NIR graph,
    `search.artefacts.nir_file`) and can be written (`check_output_path`), checked before
    training so a long run never ends with nowhere to save. option: the CLI's word for it."""
    if path.suffix not in (".npz", ".nir"):
        raise LinksError(f"{option} must name a .npz or .nir file, got {path} (e.g. "
                         "net.npz, or net.nir for other simulators)")
    check_output_path(path, option, "net.npz")


def check_output_path(path: Path, flag: str, example: str) -> None:
    """LinksError (exit 2) unless `path` can be written: not a directory, in an existing,
    writable directory (checked before training, so a run never ends with nowhere to save)."""
    import os

    if path.expanduser().is_dir():
        raise LinksError(f"{flag} {path} is a directory (name a file in it, e.g. "
                         f"{path / example})")
    parent = path.expanduser().resolve().parent
    if not parent.is_dir():
        raise LinksError(f"{flag} directory {parent} does not exist (create it first)")
    if not os.access(parent, os.W_OK):
        raise LinksError(f"{flag} directory {parent} is not writable")


def network_bytes(spec: MosaicSpec, links: np.ndarray, w_in: np.ndarray, w_rec: np.ndarray,
                  hop_profile: tuple[float, ...], config: str,
                  neuron: Neuron | None = None) -> bytes:
    """The network file's content (a compressed .npz)."""
    extra = {} if neuron is None else {name: np.array(getattr(neuron, name))
                                       for name in NEURON_KEYS}
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, w_in=np.asarray(w_in, np.float32), w_rec=np.asarray(w_rec, np.float32),
        links=np.asarray(links, bool), hop_profile=np.asarray(hop_profile, np.float64),
        chip=np.array([getattr(spec, name) for name in CHIP], np.int64),
        **{name: np.asarray(getattr(spec, name)) for name in SPEC_KEYS}, config=np.array(config),
        **extra)
    return buffer.getvalue()


def save_network(path: Path, spec: MosaicSpec, links: np.ndarray, w_in: np.ndarray,
                 w_rec: np.ndarray, hop_profile: tuple[float, ...], config: str,
                 neuron: Neuron | None = None) -> None:
    """Write the network file atomically."""
    from analysis.io import atomic_write_bytes

    atomic_write_bytes(path.expanduser(), network_bytes(spec, links, w_in, w_rec, hop_profile,
                                                        config, neuron))


def _spec_value(name: str, array: np.ndarray) -> Any:
    """A MosaicSpec field's value from its stored array: capacities as int tuples, else scalars."""
    if name in CAPACITY_KEYS:
        return tuple(int(v) for v in np.broadcast_to(array, (8,)))
    return array.item()


# key -> (dtype kinds, what they are, shape or number of dimensions) of a network file's arrays
ARRAY_RULES: dict[str, tuple[str, str, tuple[int, ...] | int]] = {
    "w_in": ("iuf", "real numbers", 2), "w_rec": ("iuf", "real numbers", 2),
    "links": ("b", "booleans", 2), "hop_profile": ("iuf", "real numbers", 1),
    "chip": ("iu", "integers", (3,)), **{key: ("iu", "integers", (8,)) for key in CAPACITY_KEYS},
    "hop_energy_pj": ("iuf", "a real number", ()), "bits_per_cell": ("iu", "an integer", ()),
    "config": ("U", "text", ()), "n_classes": ("iu", "an integer", ()),
    "dt": ("iuf", "a real number", ()), "tau": ("iuf", "a real number", ()),
    "threshold": ("iuf", "a real number", ()), "reset": ("U", "text", ())}
# the spec fields beyond KEYS and the Neuron's are optional (older files)
NPY_MAGIC, ZIP_MAGIC = b"\x93NUMPY", b"PK"


def check_numpy_file(path: Path, what: str, fix: str) -> None:
    """LinksError unless `path` is a .npy or .npz file whose arrays numpy reads without
    unpickling (no object arrays); numpy's own message would suggest allow_pickle=True.

    what: "links file" or "network file"; fix: the parenthesised advice ending the message.
    Unreadable headers are left to np.load, whose message the caller reports.
    """
    try:
        f = open(path, "rb")  # an OSError (permissions) is left to np.load to report
    except OSError:
        return
    with f:
        start = f.read(len(NPY_MAGIC))
        if start and not (start.startswith(ZIP_MAGIC) or start == NPY_MAGIC):
            raise LinksError(f"cannot read {what} {path}: it is neither a .npy nor a .npz file "
                             f"({fix})")
        try:
            if start.startswith(ZIP_MAGIC):
                with zipfile.ZipFile(f) as archive:
                    held = {name.removesuffix(".npy"): _header_dtype(archive.open(name))
                            for name in archive.namelist() if name.endswith(".npy")}
            else:
                f.seek(0)
                held = {"the array": _header_dtype(f)} if start else {}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile):
            return
    objects = [name for name, dtype in held.items() if dtype.hasobject]
    if objects:
        raise LinksError(f"cannot read {what} {path}: {', '.join(objects)} holds Python objects "
                         f"(dtype object), which mosaic-dse never unpickles ({fix})")


def _header_dtype(f: IO[bytes]) -> np.dtype:
    """The dtype in the header of the .npy stream `f` (the data is not read)."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)[2]
    return np.lib.format.read_array_header_2_0(f)[2]


def check_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """LinksError naming the first array of a network file with the wrong kind or shape, or
    whose shape does not match its chip (links (N, T), w_rec (N, N), w_in (n_inputs, N))."""
    for key, (kinds, words, shape) in ARRAY_RULES.items():
        if key not in arrays:
            continue
        value = arrays[key]
        fits = value.ndim == shape if isinstance(shape, int) else value.shape == shape
        if value.dtype.kind not in kinds or not fits:
            wanted = f"{shape} dimensions" if isinstance(shape, int) else f"shape {shape}"
            raise LinksError(f"{path} is not a network file: {key} must hold {words} with "
                             f"{wanted}, got dtype {value.dtype} shape {value.shape} (save one "
                             "with train --save-network)")
    rows, cols, k = (int(v) for v in arrays["chip"])
    n, tiles = rows * cols * k, rows * cols
    for key, shape in (("links", (n, tiles)), ("w_rec", (n, n)),
                       ("w_in", (arrays["w_in"].shape[0], n))):
        if arrays[key].shape != shape:
            raise LinksError(f"{path} is not a network file: {key} must have shape {shape} on "
                             f"its {rows}x{cols}x{k} chip, got {arrays[key].shape} (save one "
                             "with train --save-network)")


def load_network(path: Path) -> NetworkFile:
    """Read a network file; LinksError naming the file and what is wrong."""
    if not path.is_file():
        raise LinksError(f"network file not found: {path} (save one with train --save-network)")
    check_numpy_file(path, "network file", "save one with train --save-network")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in KEYS if k not in data.files]
            if missing:
                raise LinksError(f"{path} is not a network file: it lacks {', '.join(missing)} "
                                 "(save one with train --save-network)")
            arrays = {k: data[k] for k in (*KEYS, *SPEC_KEYS, *NEURON_KEYS)
                      if k in data.files}
    except LinksError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise LinksError(f"cannot read network file {path}: {exc} (save one with train "
                         "--save-network)") from None
    check_arrays(path, arrays)
    chip = dict(zip(CHIP, (int(v) for v in arrays["chip"]), strict=True))
    spec = MosaicSpec(**chip, **{name: _spec_value(name, arrays[name])
                                 for name in SPEC_KEYS if name in arrays})
    return NetworkFile(spec, arrays["links"], arrays["w_in"], arrays["w_rec"],
                       str(arrays["config"]), _neuron(arrays))


def _neuron(arrays: dict[str, np.ndarray]) -> Neuron | None:
    """The file's Neuron, or None when it lacks any of its arrays (written before they were)."""
    if not all(name in arrays for name in NEURON_KEYS):
        return None
    return Neuron(int(arrays["n_classes"]), float(arrays["dt"]), float(arrays["tau"]),
                  float(arrays["threshold"]), str(arrays["reset"]))
