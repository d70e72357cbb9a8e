"""The delta state of one profile on disk: the last processed event id and the cached pulled district.

Layout of the state directory (default ``.sync/clever/<profile>/``)::

    state.json            {"version", "base_url", "api_version", "last_event_id", "saved_at", "pull", "roles"}
    pull-<n>/<collection>.parquet   columns ``id`` and ``record`` (the Clever record as JSON)

A save writes a new ``pull-<n>`` folder, then replaces ``state.json`` atomically, then removes older
folders: a crash at any point leaves the previous state whole. A state that cannot be read is reported in
the log (no personal data) and treated as absent, which means a full pull.

The Functions app points the directory at a local temp folder and copies it to and from blob storage
around a run (it is a few Parquet files); the CLI keeps it under ``.sync/``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sync.clever.records import COLLECTIONS, PulledDistrict, Record

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
VERSION = 1


@dataclass(frozen=True)
class DeltaState:
    base_url: str
    api_version: str
    #: Id of the last event applied; ``None`` when Clever had no events at the last pull.
    last_event_id: str | None
    #: Unix time when the state was saved (the events window is 30 days from then).
    saved_at: float
    district: PulledDistrict
    #: User roles the cached pull holds (``student``, ``teacher`` …).
    roles: tuple[str, ...] = ("student", "teacher")


def default_state_dir(profile_name: str) -> Path:
    """``.sync/clever/<profile name made file-safe>``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", profile_name).strip("._") or "profile"
    return Path(".sync") / "clever" / safe


class StateStore:
    """Reads and writes the :class:`DeltaState` of one profile in ``directory``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def load(self) -> DeltaState | None:
        meta_path = self.directory / STATE_FILE
        if not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("version") != VERSION:
                log.warning("clever: delta state %s has another version; doing a full pull", meta_path)
                return None
            folder = self.directory / str(meta["pull"])
            collections = {name: _read_collection(folder / f"{name}.parquet") for name in COLLECTIONS}
            last = meta.get("last_event_id")
            return DeltaState(
                base_url=str(meta["base_url"]),
                api_version=str(meta["api_version"]),
                last_event_id=None if last is None else str(last),
                saved_at=float(meta["saved_at"]),
                district=PulledDistrict(**collections),
                roles=tuple(str(role) for role in meta["roles"]),
            )
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as err:
            log.warning(
                "clever: delta state in %s cannot be read (%s); doing a full pull", self.directory, err
            )
            return None

    def save(self, state: DeltaState) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = sorted(self.directory.glob("pull-*"))
        number = 1 + max((_number(path.name) for path in existing), default=0)
        folder = self.directory / f"pull-{number}"
        folder.mkdir()
        for name in COLLECTIONS:
            _write_collection(folder / f"{name}.parquet", state.district.collection(name))
        meta = {
            "version": VERSION,
            "base_url": state.base_url,
            "api_version": state.api_version,
            "last_event_id": state.last_event_id,
            "saved_at": state.saved_at,
            "pull": folder.name,
            "roles": list(state.roles),
        }
        temporary = self.directory / f"{STATE_FILE}.tmp"
        temporary.write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(temporary, self.directory / STATE_FILE)
        for old in existing:
            shutil.rmtree(old, ignore_errors=True)


def _number(name: str) -> int:
    try:
        return int(name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return 0


def _write_collection(path: Path, records: Mapping[str, Record]) -> None:
    items = sorted(records.items())
    table = pa.table(
        {
            "id": pa.array([key for key, _ in items], pa.string()),
            "record": pa.array([json.dumps(value, separators=(",", ":")) for _, value in items], pa.string()),
        }
    )
    pq.write_table(table, path)


def _read_collection(path: Path) -> dict[str, Record]:
    table = pq.read_table(path)
    ids = table.column("id").to_pylist()
    records = table.column("record").to_pylist()
    result: dict[str, Record] = {}
    for key, text in zip(ids, records, strict=True):
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError(f"{path.name}: record {key} is not an object")
        result[str(key)] = value
    return result
