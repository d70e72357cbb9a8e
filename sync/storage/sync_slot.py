"""The tenant's *sync slot*: at most one run plans and applies at a time.

A run holds the slot from before it snapshots the directory until it has finished (including while the guard
holds it for an approval), so no plan is ever applied on a snapshot another run is changing.

:class:`BlobSyncSlot` keeps the slot as one small JSON blob (``{"run_id", "taken_at"}``). Storage decides
every change, so runs on different instances agree on a single holder:

- taking a free slot is a create with ``If-None-Match: *``;
- a run asking again for a slot it holds gets it again (activities are retried and replayed);
- a holder whose run has finished (its record says so), or that took the slot longer ago than the stale limit
  (its instance crashed and its orchestration is gone), is taken over with a replace conditional on the ETag
  read (``If-Match``), so of two runs taking over the same holder exactly one wins;
- only the holder releases the slot (a delete conditional on the ETag of the version naming it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sync.storage.blob_store import BlobStore

#: Where the slot lives inside the state container (``REPORTS_CONTAINER``).
SLOT_PATH = "locks/sync-slot.json"
#: How often a claim re-reads the slot when other claimers keep changing it under it.
_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class SlotHolder:
    run_id: str
    taken_at: datetime

    def to_bytes(self) -> bytes:
        return json.dumps({"run_id": self.run_id, "taken_at": self.taken_at.isoformat()}).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> SlotHolder | None:
        """The holder a slot blob names; ``None`` for a blob that is not a slot (hand-written, cut short)."""
        try:
            raw = json.loads(data)
            taken_at = datetime.fromisoformat(raw["taken_at"])
            run_id = raw["run_id"]
        except (ValueError, KeyError, TypeError):
            return None
        if taken_at.tzinfo is None or not isinstance(run_id, str) or not run_id:
            return None
        return cls(run_id, taken_at)


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to a claim: ``granted`` with ``holder`` = the caller, or refused with the run holding it."""

    granted: bool
    holder: SlotHolder
    #: The holder this claim took the slot over from (finished or stale), if any.
    took_over: SlotHolder | None = None


#: ``run id -> True`` when that run has finished (so its slot may be taken over).
FinishedCheck = Callable[[str], bool]


class SyncSlot(Protocol):
    def claim(self, run_id: str, *, now: datetime, is_finished: FinishedCheck) -> Claim:
        """Take the slot for ``run_id``, or say who holds it."""
        ...

    def release(self, run_id: str) -> bool:
        """Free the slot if ``run_id`` holds it: ``True`` when this call freed it."""
        ...

    def holder(self) -> SlotHolder | None:
        """Who holds the slot now (``None`` when it is free)."""
        ...


class SlotContention(Exception):
    """The slot kept changing under a claim (should not happen with a handful of runs): retry the claim."""


class BlobSyncSlot:
    def __init__(
        self, blobs: BlobStore, container: str, *, stale_after: timedelta, path: str = SLOT_PATH
    ) -> None:
        self._blobs = blobs
        self._container = container
        self._path = path
        self.stale_after = stale_after

    def claim(self, run_id: str, *, now: datetime, is_finished: FinishedCheck) -> Claim:
        mine = SlotHolder(run_id, now)
        for _ in range(_ATTEMPTS):
            if self._blobs.create_once(self._container, self._path, mine.to_bytes()):
                return Claim(True, mine)
            current = self._blobs.read_versioned(self._container, self._path)
            if current is None:
                continue  # released between the create and the read: try to create again
            holder = SlotHolder.from_bytes(current.data)
            if holder is not None and holder.run_id == run_id:
                return Claim(True, holder)  # a retried or replayed claim by the holder
            if holder is not None and not self._abandoned(holder, now, is_finished):
                return Claim(False, holder)
            if self._blobs.replace_if(self._container, self._path, mine.to_bytes(), etag=current.etag):
                return Claim(True, mine, took_over=holder)
        raise SlotContention(
            f"the sync slot {self._container}/{self._path} kept changing during {_ATTEMPTS} attempts to "
            "claim it; the claim is retried"
        )

    def _abandoned(self, holder: SlotHolder, now: datetime, is_finished: FinishedCheck) -> bool:
        return now - holder.taken_at > self.stale_after or is_finished(holder.run_id)

    def release(self, run_id: str) -> bool:
        current = self._blobs.read_versioned(self._container, self._path)
        if current is None:
            return False
        holder = SlotHolder.from_bytes(current.data)
        if holder is None or holder.run_id != run_id:
            return False
        return self._blobs.delete_if(self._container, self._path, etag=current.etag)

    def holder(self) -> SlotHolder | None:
        current = self._blobs.read_versioned(self._container, self._path)
        return SlotHolder.from_bytes(current.data) if current is not None else None
