"""Applying Events API deltas to a pulled district (``sds-behaviour.md`` §6).

An event is ``{"id", "type": "<collection>.<created|updated|deleted>", "created", "data": {"object": …}}``
and carries the whole record. Created and updated events put the record in place (by Clever id), deleted
events remove it, so applying an event twice changes nothing (Clever asks for idempotent processing) and
events are applied in the order Clever lists them (oldest first).

A user or section created with a new Clever id but the ``sis_id`` of a record already held (a user gone
300+ days comes back with a new id) replaces that record, so the roster never holds the same SIS id twice.
Events of other collections (``districts``, ``resources`` …) are ignored, and so are users that hold none of
the roles pulled (district admins, contacts, staff when staff is not synced): the state keeps what a full pull
of those roles would hold, so no personal data the sync does not use is kept. A user updated out of every
pulled role is removed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sync.clever.records import COLLECTIONS, USER_ROLES, PulledDistrict, Record, holds_role

_ACTIONS = ("created", "updated", "deleted")


@dataclass(frozen=True)
class DeltaOutcome:
    district: PulledDistrict
    #: Id of the last event seen (``None`` when there was none).
    last_event_id: str | None
    #: ``{"users.updated": 3, …}`` for the events applied; ``ignored`` counts the others.
    counts: Mapping[str, int]


def apply_events(
    district: PulledDistrict, events: Iterable[Mapping[str, Any]], *, roles: Collection[str] = USER_ROLES
) -> DeltaOutcome:
    """``district`` with ``events`` applied in order; users that hold none of ``roles`` are not kept."""
    collections = {name: _Collection(dict(district.collection(name))) for name in COLLECTIONS}
    counts: dict[str, int] = {}
    last: str | None = None
    for event in events:
        last = str(event.get("id")) if event.get("id") is not None else last
        kind = str(event.get("type") or "")
        collection, _, action = kind.partition(".")
        data = event.get("data")
        record = data.get("object") if isinstance(data, Mapping) else None
        if collection not in COLLECTIONS or action not in _ACTIONS or not isinstance(record, Mapping):
            counts["ignored"] = counts.get("ignored", 0) + 1
            continue
        record_id = str(record.get("id") or "")
        if not record_id:
            counts["ignored"] = counts.get("ignored", 0) + 1
            continue
        if action == "deleted":
            collections[collection].remove(record_id)
        elif collection == "users" and not _holds_any(record, roles):
            if record_id not in collections[collection].records:
                counts["ignored"] = counts.get("ignored", 0) + 1
                continue
            collections[collection].remove(record_id)
        else:
            collections[collection].put(record_id, record, replace_same_sis_id=action == "created")
        counts[kind] = counts.get(kind, 0) + 1
    outcome = PulledDistrict(**{name: held.records for name, held in collections.items()})
    return DeltaOutcome(outcome, last, counts)


class _Collection:
    """Records by Clever id, with an index by SIS id built the first time a new record needs it."""

    def __init__(self, records: dict[str, Record]) -> None:
        self.records = records
        self._by_sis: dict[tuple[str, str], set[str]] | None = None

    def put(self, record_id: str, record: Record, *, replace_same_sis_id: bool) -> None:
        if replace_same_sis_id and record_id not in self.records:
            index = self._index()
            for key in sis_keys(record):
                for other in list(index.get(key, ())):
                    self.remove(other)
        self.remove(record_id)
        self.records[record_id] = record
        if self._by_sis is not None:
            for key in sis_keys(record):
                self._by_sis.setdefault(key, set()).add(record_id)

    def remove(self, record_id: str) -> None:
        record = self.records.pop(record_id, None)
        if record is not None and self._by_sis is not None:
            for key in sis_keys(record):
                self._by_sis.get(key, set()).discard(record_id)

    def _index(self) -> dict[tuple[str, str], set[str]]:
        if self._by_sis is None:
            self._by_sis = {}
            for record_id, record in self.records.items():
                for key in sis_keys(record):
                    self._by_sis.setdefault(key, set()).add(record_id)
        return self._by_sis


def sis_keys(record: Record) -> set[tuple[str, str]]:
    """SIS ids of a record: ``("", sis_id)`` for schools and sections, ``(role, sis_id)`` for users — for
    staff ``(staff, staff_id)``: Clever's Staff role has no ``sis_id``."""
    keys: set[tuple[str, str]] = set()
    sis = record.get("sis_id")
    if isinstance(sis, str) and sis.strip():
        keys.add(("", sis.strip()))
    roles = record.get("roles")
    if isinstance(roles, Mapping):
        for role, details in roles.items():
            field = "staff_id" if role == "staff" else "sis_id"
            value = details.get(field) if isinstance(details, Mapping) else None
            if isinstance(value, str) and value.strip():
                keys.add((str(role), value.strip()))
    return keys


def _holds_any(user: Record, roles: Collection[str]) -> bool:
    return any(holds_role(user, role) for role in roles)
