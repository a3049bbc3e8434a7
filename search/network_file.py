"""The trained-network file (`train --save-network FILE.npz`), readable with numpy alone.

Arrays: w_in float32 (n_inputs, N) and w_rec float32 (N, N) effective (masked) weights, links
bool (N, T), hop_profile float64 (realised p_d by hop distance), chip int64
(rows, cols, neurons_per_tile), every other MosaicSpec field under its own name (capacities
cap_nt / cap_r0 / cap_r1 int64 (8,), hop_energy_pj float64, bits_per_cell int64), and config: the
resolved TOML text (a 0-d unicode array). Read it with
`np.load(path)`; `mosaic-dse map --network FILE.npz` routes it on its chip.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from hardware.errors import LinksError
from hardware.spec import CAPACITIES, MosaicSpec

CHIP = ("rows", "cols", "neurons_per_tile")  # stored together as `chip`
SPEC_KEYS = tuple(f.name for f in fields(MosaicSpec) if f.name not in CHIP)
CAPACITY_KEYS = tuple(kind.key for kind in CAPACITIES)
# required; the other spec fields are optional (files written before they were saved)
KEYS = ("w_in", "w_rec", "links", "hop_profile", "chip", *CAPACITY_KEYS, "config")


@dataclass(frozen=True)
class NetworkFile:
    """A saved network: its chip, links and weights, and the config it was trained with."""

    spec: MosaicSpec
    links: np.ndarray = field(compare=False)
    w_in: np.ndarray = field(compare=False)
    w_rec: np.ndarray = field(compare=False)
    config: str = ""


def check_writable(path: Path) -> None:
    """LinksError (exit 2) unless `path` ends in .npz and its directory exists and is writable:
    checked before training, so a long run never ends with nowhere to save."""
    import os

    if path.suffix != ".npz":
        raise LinksError(f"--save-network must name a .npz file, got {path} (e.g. net.npz)")
    parent = path.expanduser().resolve().parent
    if not parent.is_dir():
        raise LinksError(f"--save-network directory {parent} does not exist (create it first)")
    if not os.access(parent, os.W_OK):
        raise LinksError(f"--save-network directory {parent} is not writable")


def save_network(path: Path, spec: MosaicSpec, links: np.ndarray, w_in: np.ndarray,
                 w_rec: np.ndarray, hop_profile: tuple[float, ...], config: str) -> None:
    """Write the network file atomically."""
    from analysis.io import atomic_write_bytes

    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, w_in=np.asarray(w_in, np.float32), w_rec=np.asarray(w_rec, np.float32),
        links=np.asarray(links, bool), hop_profile=np.asarray(hop_profile, np.float64),
        chip=np.array([getattr(spec, name) for name in CHIP], np.int64),
        **{name: np.asarray(getattr(spec, name)) for name in SPEC_KEYS}, config=np.array(config))
    atomic_write_bytes(path.expanduser(), buffer.getvalue())


def _spec_value(name: str, array: np.ndarray) -> Any:
    """A MosaicSpec field's value from its stored array: capacities as int tuples, else scalars."""
    if name in CAPACITY_KEYS:
        return tuple(int(v) for v in np.broadcast_to(array, (8,)))
    return array.item()


def load_network(path: Path) -> NetworkFile:
    """Read a network file; LinksError naming the file and what is wrong."""
    if not path.is_file():
        raise LinksError(f"network file not found: {path} (save one with train --save-network)")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in KEYS if k not in data.files]
            if missing:
                raise LinksError(f"{path} is not a network file: it lacks {', '.join(missing)} "
                                 "(save one with train --save-network)")
            arrays = {k: data[k] for k in (*KEYS, *SPEC_KEYS) if k in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise LinksError(f"cannot read network file {path}: {exc} (save one with train "
                         "--save-network)") from None
    chip = dict(zip(CHIP, (int(v) for v in arrays["chip"]), strict=True))
    spec = MosaicSpec(**chip, **{name: _spec_value(name, arrays[name])
                                 for name in SPEC_KEYS if name in arrays})
    return NetworkFile(spec, arrays["links"], arrays["w_in"], arrays["w_rec"],
                       str(arrays["config"]))
