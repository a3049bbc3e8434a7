"""The trained network of each trial of a search: `<results>/networks/<trial_id>.npz`.

The worker that trained a trial writes its network file (`search.artefacts.network_file`)
before it reports, so a trial's row never precedes its network. Where the results live on a
storage URI, the worker writes to `<uri>/networks/` directly (a hidden name, then a move), as
Ray writes its own files there; the driver's local mirror never holds them, so a resume does
not download them. `mosaic-dse export` reads them from a directory or a URI.
"""

from __future__ import annotations

import os
from pathlib import Path

from search.store.layout import NETWORKS_DIR
from search.store.remote import is_uri


def networks_location(results: str) -> str:
    """The networks directory (path or URI) of the results directory (path or URI) `results`."""
    return f"{results.rstrip('/')}/{NETWORKS_DIR}"


def network_name(trial_id: str) -> str:
    """The file name of a trial's network inside the networks directory."""
    return f"{trial_id}.npz"


def write_trial_network(location: str, trial_id: str, content: bytes) -> None:
    """Store `content` (a network file) as the network of `trial_id` in `location`, atomically
    (OSError or ResultsError when it cannot be written)."""
    name = network_name(trial_id)
    if not is_uri(location):
        from analysis.io import atomic_write_bytes

        os.makedirs(location, exist_ok=True)
        atomic_write_bytes(Path(location) / name, content)
        return
    from search.store.remote import _filesystem, _guarded

    def upload() -> None:
        filesystem, root = _filesystem(location)
        filesystem.create_dir(root, recursive=True)
        with filesystem.open_output_stream(f"{root}/.{name}.upload") as stream:
            stream.write(content)
        filesystem.move(f"{root}/.{name}.upload", f"{root}/{name}")

    _guarded(location, "write", upload)


def read_trial_network(location: str, trial_id: str) -> bytes | None:
    """The network file of `trial_id` in `location`, or None when it holds none."""
    name = network_name(trial_id)
    if is_uri(location):
        from search.store.remote import read_remote_file

        return read_remote_file(location, name)
    path = Path(location) / name
    return path.read_bytes() if path.is_file() else None


def holds_networks(location: str) -> bool:
    """True when the networks directory exists (a search of an older version, or one with
    [search].save_networks = false, has none)."""
    if not is_uri(location):
        return Path(location).is_dir()
    from pyarrow import fs

    from search.store.remote import _filesystem, _guarded

    def exists() -> bool:
        filesystem, root = _filesystem(location)
        return filesystem.get_file_info(root).type == fs.FileType.Directory

    return _guarded(location, "read", exists)
