"""Applying Events API deltas to a pulled district (``sds-behaviour.md`` §6).

An event is ``{"id", "type": "<collection>.<created|updated|deleted>", "created", "data": {"object": …}}``
and carries the whole record. Created and updated events put the record in place (by Clever id), deleted
events remove it, so applying an event twice changes nothing (Clever asks for idempotent processing) and
events are applied in the order Clever lists them (oldest first).

A user or section created with a new Clever id but the ``sis_id`` of a record already held (a user gone
300+ days comes back with a new id) replaces that record, so the roster never holds the same SIS id twice.
Events of other collections (``districts``, ``resources`` …) are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sync.clever.records import COLLECTIONS, PulledDistrict, Record

_ACTIONS = ("created", "updated", "deleted")


@dataclass(frozen=True)
class DeltaOutcome:
    district: PulledDistrict
    #: Id of the last event seen (``None`` when there was none).
    last_event_id: str | None
    #: ``{"users.updated": 3, …}`` for the events applied; ``ignored`` counts the others.
    counts: Mapping[str, int]


def apply_events(district: PulledDistrict, events: Iterable[Mapping[str, Any]]) -> DeltaOutcome:
    """``district`` with ``events`` applied in order."""
    collections: dict[str, dict[str, Record]] = {
        name: dict(district.collection(name)) for name in COLLECTIONS
    }
    counts: dict[str, int] = {}
    last: str | None = None
    for event in events:
        last = str(event.get("id")) if event.get("id") is not None else last
        kind = str(event.get("type") or "")
        collection, _, action = kind.partition(".")
        record = (event.get("data") or {}).get("object") if isinstance(event.get("data"), Mapping) else None
        if collection not in COLLECTIONS or action not in _ACTIONS or not isinstance(record, Mapping):
            counts["ignored"] = counts.get("ignored", 0) + 1
            continue
        record_id = str(record.get("id") or "")
        if not record_id:
            counts["ignored"] = counts.get("ignored", 0) + 1
            continue
        records = collections[collection]
        if action == "deleted":
            records.pop(record_id, None)
        else:
            if action == "created" and record_id not in records:
                for other in _same_sis_id(records, record_id, record):
                    del records[other]
            records[record_id] = record
        counts[kind] = counts.get(kind, 0) + 1
    outcome = PulledDistrict(**collections)
    return DeltaOutcome(outcome, last, counts)


def _same_sis_id(records: Mapping[str, Record], record_id: str, record: Record) -> list[str]:
    """Other records with the same SIS id in the same role (users) or collection (others)."""
    keys = _sis_keys(record)
    if not keys:
        return []
    return [other for other, held in records.items() if other != record_id and keys & _sis_keys(held)]


def _sis_keys(record: Record) -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    sis = record.get("sis_id")
    if isinstance(sis, str) and sis.strip():
        keys.add(("", sis.strip()))
    roles = record.get("roles")
    if isinstance(roles, Mapping):
        for role, details in roles.items():
            value = details.get("sis_id") if isinstance(details, Mapping) else None
            if isinstance(value, str) and value.strip():
                keys.add((str(role), value.strip()))
    return keys
