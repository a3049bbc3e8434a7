"""Results storage on a pyarrow filesystem URI (s3://, gs://, hdfs://, file://...).

The search works in a local mirror of `<uri>/<name>/` and uploads its small result files after
every trial (upload to a hidden name, then move, so readers never see a partial file); Ray
writes its experiment state to the URI directly.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from hardware.errors import ResultsError
from search.store.layout import ROW_LOG, SYNCED_FILES

T = TypeVar("T")


def is_uri(storage: str) -> bool:
    """True for `scheme://...` storage locations (a plain path otherwise)."""
    return "://" in storage


@dataclass(frozen=True)
class RemoteResults:
    """The URI directory of a search and the local mirror it is worked on in."""

    uri: str  # <storage-uri>/<name>
    mirror: Path

    @classmethod
    def for_search(cls, storage: str, name: str, cache_root: str) -> RemoteResults:
        """Mirror under `<cache_root>/remote/<hash of the URI>/<name>`."""
        uri = storage.rstrip("/") + "/" + name
        digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
        mirror = Path(os.path.expanduser(cache_root)) / "remote" / digest / name
        return cls(uri, mirror)

    def _fs(self):  # noqa: ANN202 - (pyarrow FileSystem, path inside it)
        return _filesystem(self.uri)

    def download(self) -> None:
        """Copy the remote result files (those that exist) into the mirror, replacing it."""
        _guarded(self.uri, "read", self._download)

    def upload(self) -> None:
        """Copy the mirror's result files to the URI (hidden name, then move), in
        SYNCED_FILES order: the journal before trials.parquet."""
        _guarded(self.uri, "write", self._upload)

    def _download(self) -> None:
        from pyarrow import fs

        filesystem, root = self._fs()
        self.mirror.mkdir(parents=True, exist_ok=True)
        for name in SYNCED_FILES:
            info = filesystem.get_file_info(f"{root}/{name}")
            local = self.mirror / name
            if info.type == fs.FileType.File:
                tmp = local.with_name(f".{name}.download")
                fs.copy_files(f"{root}/{name}", str(tmp), source_filesystem=filesystem)
                os.replace(tmp, local)
            elif local.exists():
                local.unlink()

    def _upload(self) -> None:
        from pyarrow import fs

        filesystem, root = self._fs()
        filesystem.create_dir(root, recursive=True)
        for name in SYNCED_FILES:
            local = self.mirror / name
            if local.exists():
                tmp = f"{root}/.{name}.upload"
                fs.copy_files(str(local), tmp, destination_filesystem=filesystem)
                filesystem.move(tmp, f"{root}/{name}")
            elif name == ROW_LOG:  # flushed into trials.parquet: a stale copy must not replay
                if filesystem.get_file_info(f"{root}/{name}").type == fs.FileType.File:
                    filesystem.delete_file(f"{root}/{name}")


def read_remote_file(uri: str, name: str) -> bytes | None:
    """The bytes of `<uri>/<name>`, or None when there is no such file."""
    def read() -> bytes | None:
        from pyarrow import fs

        filesystem, root = _filesystem(uri)
        if filesystem.get_file_info(f"{root}/{name}").type != fs.FileType.File:
            return None
        with filesystem.open_input_stream(f"{root}/{name}") as stream:
            return stream.read()

    return _guarded(uri, "read", read)


def _filesystem(uri: str):  # noqa: ANN202 - (pyarrow FileSystem, path inside it)
    from pyarrow import fs

    try:
        return fs.FileSystem.from_uri(uri)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for bad URIs
        raise ResultsError(f"storage URI {uri!r} is not usable by pyarrow: {exc} "
                           "(give a local path or a pyarrow filesystem URI)") from None


def _guarded(uri: str, verb: str, action: Callable[[], T]) -> T:
    """Run `action`, turning storage failures into one-line ResultsErrors."""
    import pyarrow as pa

    try:
        return action()
    except (OSError, pa.ArrowException) as exc:
        raise ResultsError(f"cannot {verb} results at {uri}: {exc} (check the storage URI and "
                           "its credentials)") from None
