"""Set detection for the upload container's blob trigger.

A *set* is a folder holding the five required Clever files. The trigger fires once per blob, in any order
and concurrently, so :func:`on_upload` decides from the folder's current listing:

- the set is complete → start the sync orchestration whose instance id is derived from the folder and the
  five files' ETags (:func:`set_run_id`). A create-once *claim* blob makes exactly one of the concurrent
  triggers the starter; a later change to any of the five files gives a new id, hence a new run;
- the set is partial → start (once per folder) a *set deadline* orchestration that sleeps
  ``SET_WAIT_MINUTES`` and then reports ``missing_file`` if the set is still incomplete;
- the blob is not a roster file (e.g. the ``findings.csv`` written back beside the upload) → nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync.roster.model import REQUIRED_KINDS
from sync.storage.blob_store import BlobInfo, BlobStore

REQUIRED_FILES = tuple(f"{kind}.csv" for kind in REQUIRED_KINDS)
#: Files that belong to a set (required, optional, rejected): an upload of any of them is looked at.
SET_FILES = frozenset({*REQUIRED_FILES, "staff.csv", "admins.csv"})
#: What the app writes beside an upload; never part of the set.
OUTPUT_FILES = frozenset({"findings.csv", "summary.json"})
CLAIMS_PREFIX = "claims/"


@dataclass(frozen=True, slots=True)
class SetRef:
    """Reference to one version of a file set: the folder and the ETags of its five required files."""

    container: str
    folder: str
    #: File name as found (``Students.csv``) → ETag, for the five required files.
    etags: Mapping[str, str] = field(default_factory=dict)

    @property
    def location(self) -> str:
        return f"{self.container}/{self.folder}" if self.folder else self.container

    def path_of(self, file_name: str) -> str:
        return f"{self.folder}/{file_name}" if self.folder else file_name

    def to_json(self) -> dict[str, Any]:
        return {"container": self.container, "folder": self.folder, "etags": dict(sorted(self.etags.items()))}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SetRef:
        return cls(
            str(data["container"]), str(data["folder"]), {str(k): str(v) for k, v in data["etags"].items()}
        )


@dataclass(frozen=True, slots=True)
class StartRun:
    """Start the sync orchestration ``instance_id`` for ``set_ref``."""

    instance_id: str
    set_ref: SetRef


@dataclass(frozen=True, slots=True)
class StartSetDeadline:
    """Start the deadline orchestration that reports a set still incomplete after the wait."""

    instance_id: str
    set_ref: SetRef
    first_seen: datetime


@dataclass(frozen=True, slots=True)
class NothingToDo:
    reason: str


UploadDecision = StartRun | StartSetDeadline | NothingToDo


def split_blob_name(name: str) -> tuple[str, str]:
    """``"district/2026-09-01/students.csv"`` → ``("district/2026-09-01", "students.csv")``."""
    folder, _, file_name = name.rpartition("/")
    return folder, file_name


def required_files(listing: Mapping[str, BlobInfo]) -> dict[str, BlobInfo]:
    """The required files present, keyed by their lowercase name (``students.csv``). A name that differs
    only in case is accepted; when both spellings exist the lowercase one wins."""
    found: dict[str, BlobInfo] = {}
    for file_name in sorted(listing, key=lambda n: (n.lower(), n != n.lower())):
        key = file_name.lower()
        if key in REQUIRED_FILES and key not in found:
            found[key] = listing[file_name]
    return found


def missing_files(listing: Mapping[str, BlobInfo]) -> list[str]:
    present = required_files(listing)
    return [name for name in REQUIRED_FILES if name not in present]


def set_ref_of(container: str, folder: str, listing: Mapping[str, BlobInfo]) -> SetRef:
    prefix = f"{folder}/" if folder else ""
    return SetRef(
        container,
        folder,
        {info.name[len(prefix) :]: info.etag for info in required_files(listing).values()},
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def set_run_id(set_ref: SetRef) -> str:
    """Orchestration instance id of a set version: the same folder and ETags always give the same id."""
    lines = [set_ref.location, *(f"{name}={etag}" for name, etag in sorted(set_ref.etags.items()))]
    return f"upload-{_digest(chr(10).join(lines))}"


def set_deadline_id(container: str, folder: str) -> str:
    return f"setwait-{_digest(f'{container}/{folder}')}"


def on_upload(
    blobs: BlobStore, *, upload_container: str, reports_container: str, blob_name: str, now: datetime
) -> UploadDecision:
    """Decide what the upload of ``blob_name`` (path inside the upload container) starts, if anything."""
    folder, file_name = split_blob_name(blob_name)
    if file_name.lower() not in SET_FILES:
        return NothingToDo(f"{file_name or blob_name} is not a file of a Clever set")
    listing = blobs.list_folder(upload_container, folder)
    set_ref = set_ref_of(upload_container, folder, listing)
    if not missing_files(listing):
        run_id = set_run_id(set_ref)
        if blobs.create_once(reports_container, f"{CLAIMS_PREFIX}{run_id}", set_ref.location.encode()):
            return StartRun(run_id, set_ref)
        return NothingToDo(f"run {run_id} was already started for this version of the set")
    deadline_id = set_deadline_id(upload_container, folder)
    if blobs.create_once(reports_container, f"{CLAIMS_PREFIX}{deadline_id}", set_ref.location.encode()):
        return StartSetDeadline(deadline_id, set_ref, now)
    return NothingToDo("the set is incomplete; its deadline is already being watched")


def release_claim(blobs: BlobStore, *, reports_container: str, instance_id: str) -> None:
    """Undo a claim whose orchestration could not be started, so that the trigger's retry may start it."""
    blobs.delete(reports_container, f"{CLAIMS_PREFIX}{instance_id}")
