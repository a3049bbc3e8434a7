"""The trained-network file (`train --save-network FILE.npz`), readable with numpy alone.

Arrays: w_in float32 (n_inputs, N) and w_rec float32 (N, N) effective (masked) weights, links
bool (N, T), hop_profile float64 (realised p_d by hop distance), chip int64
(rows, cols, neurons_per_tile), cap_nt / cap_r0 / cap_r1 int64 (8,) port capacities,
hop_energy_pj float64, and config: the resolved TOML text (a 0-d unicode array). Read it with
`np.load(path)`; `mosaic-dse map --network FILE.npz` routes it on its chip.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hardware.errors import LinksError
from hardware.spec import MosaicSpec

KEYS = ("w_in", "w_rec", "links", "hop_profile", "chip", "cap_nt", "cap_r0", "cap_r1",
        "hop_energy_pj", "config")


@dataclass(frozen=True)
class NetworkFile:
    """A saved network: its chip, links and weights, and the config it was trained with."""

    spec: MosaicSpec
    links: np.ndarray = field(compare=False)
    w_in: np.ndarray = field(compare=False)
    w_rec: np.ndarray = field(compare=False)
    config: str = ""


def check_writable(path: Path) -> None:
    """LinksError (exit 2) unless `path` ends in .npz (or .nir: a NIR graph, `search.nir_file`)
    and its directory exists and is writable: checked before training, so a long run never
    ends with nowhere to save."""
    import os

    if path.suffix not in (".npz", ".nir"):
        raise LinksError(f"--save-network must name a .npz or .nir file, got {path} (e.g. "
                         "net.npz, or net.nir for other simulators)")
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
        chip=np.array([spec.rows, spec.cols, spec.neurons_per_tile], np.int64),
        cap_nt=_ports(spec.cap_nt), cap_r0=_ports(spec.cap_r0), cap_r1=_ports(spec.cap_r1),
        hop_energy_pj=np.array(spec.hop_energy_pj, np.float64), config=np.array(config))
    atomic_write_bytes(path.expanduser(), buffer.getvalue())


def _ports(cap: int | tuple[int, ...]) -> np.ndarray:
    """int64 (8,) capacities of one port kind (an int means all 8 ports)."""
    return np.broadcast_to(np.asarray(cap, np.int64), (8,)).copy()


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
            arrays = {k: data[k] for k in KEYS}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise LinksError(f"cannot read network file {path}: {exc} (save one with train "
                         "--save-network)") from None
    rows, cols, k = (int(v) for v in arrays["chip"])
    spec = MosaicSpec(rows, cols, k, tuple(int(v) for v in arrays["cap_nt"]),
                      tuple(int(v) for v in arrays["cap_r0"]),
                      tuple(int(v) for v in arrays["cap_r1"]),
                      float(arrays["hop_energy_pj"]))
    return NetworkFile(spec, arrays["links"], arrays["w_in"], arrays["w_rec"],
                       str(arrays["config"]))
