"""Keeping a profile's delta state in blob storage between runs of the Functions app.

A Functions instance has only a temporary local disk, so the app downloads the state into a temporary
folder before the pull and uploads it afterwards. The state folder travels as one zip blob (its Parquet
files are compressed already), so the upload replaces the old state in one write and a run that dies
half-way leaves the previous state whole::

    with tempfile.TemporaryDirectory() as folder:
        download_state(rt.blobs, container, blob_path, folder)
        source = CleverApiSource.from_profile(profile, rt.environ, state_dir=folder)
        files, findings = source.read_raw()
        upload_state(rt.blobs, container, blob_path, folder)
"""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path, PurePosixPath
from typing import Protocol

log = logging.getLogger(__name__)


class StateBlobs(Protocol):
    """The part of :class:`sync.storage.blob_store.BlobStore` used here."""

    def exists(self, container: str, path: str) -> bool: ...

    def read_bytes(self, container: str, path: str, *, etag: str | None = None) -> bytes: ...

    def write_bytes(self, container: str, path: str, data: bytes, *, content_type: str) -> str: ...


def state_blob_path(profile_name: str) -> str:
    """Where a profile's state is kept: ``clever-state/<profile name made file-safe>.zip``."""
    from sync.clever.state import default_state_dir

    return f"clever-state/{default_state_dir(profile_name).name}.zip"


def download_state(blobs: StateBlobs, container: str, path: str, directory: str | Path) -> bool:
    """Unpack the state blob into ``directory``; ``False`` (and nothing written) when there is none or it is
    not a valid state archive — the pull is then a full one."""
    if not blobs.exists(container, path):
        return False
    data = blobs.read_bytes(container, path)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if not all(_safe(name) for name in names):
                log.warning("clever: state blob %s/%s holds unexpected paths; ignoring it", container, path)
                return False
            archive.extractall(directory)
    except zipfile.BadZipFile:
        log.warning("clever: state blob %s/%s is not a zip archive; ignoring it", container, path)
        return False
    return True


def upload_state(blobs: StateBlobs, container: str, path: str, directory: str | Path) -> bool:
    """Pack ``directory`` into the state blob; ``False`` when there is no state to upload."""
    root = Path(directory)
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".tmp"))
    if not (root / "state.json").is_file():
        return False
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for file in files:
            archive.write(file, file.relative_to(root).as_posix())
    blobs.write_bytes(container, path, buffer.getvalue(), content_type="application/zip")
    return True


def _safe(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return bool(parts) and not name.startswith("/") and ".." not in parts and "\\" not in name
