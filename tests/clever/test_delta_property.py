"""Property: whatever the district changes in Clever between nights (records created, updated, deleted,
deleted and created again under a new Clever id; ids, names, schools, rosters, terms and courses pointed
anywhere, dangling references included), the roster a run builds from the saved state and the Events API is
the roster a fresh full pull of the changed district gives — the same tables, row for row, and the same
findings — night after night.

Updates may give a record the SIS id of another (duplicates the validator reports), but a record comes back
under a new Clever id only while no other live record has its SIS id: Clever keeps SIS ids unique when it
creates a record, and a created event whose SIS id the state holds replaces that record (a user back after
300+ days, whose deletion the state missed)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.clever.events import sis_keys
from sync.clever.records import COLLECTIONS
from sync.cleverserver import CleverServer
from tests.clever.conftest import EXAMPLE_DISTRICT
from tests.clever.test_source import source

#: Values a changed field may take: missing, blank, short text, or another record's id.
_VALUES = st.one_of(
    st.none(), st.text(max_size=8), st.sampled_from(["", " ", "x", "S01001", "T001", "100", "Y26-101"])
)
#: Clever ids no record has: references left dangling.
_NOWHERE = {"schools": "0" * 24, "users": "1" * 24, "terms": "3" * 24, "courses": "4" * 24}


def _ids(server: CleverServer, collection: str, role: str | None = None) -> list[str]:
    records = server.district.collection(collection)
    return sorted(key for key, record in records.items() if role is None or role in record["roles"])


def _changed_user(data: Any, server: CleverServer, user: dict[str, Any]) -> None:
    role = next(iter(user["roles"]))
    facet = user["roles"][role]
    schools = [*_ids(server, "schools"), _NOWHERE["schools"]]
    field = data.draw(
        st.sampled_from(["first name", "email", "sis_id", "school", "schools", "grade", "username", "role"])
    )
    if field == "first name":
        user["name"]["first"] = data.draw(_VALUES)
    elif field == "email":
        user["email"] = data.draw(_VALUES)
    elif field == "username":
        facet["credentials"] = {"district_username": data.draw(_VALUES)}
    elif field == "school":
        facet["school"] = data.draw(st.sampled_from(schools))
    elif field == "schools":
        facet["schools"] = data.draw(st.lists(st.sampled_from(schools), max_size=3, unique=True))
    elif field == "role":  # a second role, as Clever has teachers who are also district admins
        user["roles"][data.draw(st.sampled_from(["student", "teacher", "district_admin"]))] = copy.deepcopy(
            facet
        )
    elif field in facet:
        facet[field] = data.draw(_VALUES)


def _changed_section(data: Any, server: CleverServer, section: dict[str, Any]) -> None:
    field = data.draw(
        st.sampled_from(["students", "teachers", "teacher", "name", "sis_id", "school", "term_id", "course"])
    )
    if field == "students":
        pupils = [*_ids(server, "users", "student"), _NOWHERE["users"]]
        section["students"] = data.draw(st.lists(st.sampled_from(pupils), max_size=6))
    elif field == "teachers":
        staff = [*_ids(server, "users", "teacher"), _NOWHERE["users"]]
        section["teachers"] = data.draw(st.lists(st.sampled_from(staff), max_size=4))
    elif field in ("school", "term_id", "course"):
        collection = {"school": "schools", "term_id": "terms", "course": "courses"}[field]
        choices = [*_ids(server, collection), _NOWHERE[collection], None]
        section[field] = data.draw(st.sampled_from(choices))
    else:
        section[field] = data.draw(_VALUES)


def _changed_other(data: Any, record: dict[str, Any]) -> None:
    field = data.draw(st.sampled_from(sorted(key for key in record if key not in ("id", "district"))))
    if isinstance(record[field], dict):
        record[field][data.draw(st.sampled_from(sorted(record[field])))] = data.draw(_VALUES)
    else:
        record[field] = data.draw(_VALUES)


def _change(data: Any, server: CleverServer, serial: int) -> None:
    """One change in Clever, with the event Clever would record for it."""
    collection = data.draw(st.sampled_from(COLLECTIONS))
    ids = _ids(server, collection)
    if not ids:
        return
    record = server.get(collection, data.draw(st.sampled_from(ids)))
    how = data.draw(st.sampled_from(["update", "delete", "create", "new Clever id"]))
    if how == "delete":
        server.delete(collection, record["id"])
        return
    if how in ("create", "new Clever id"):
        if how == "create":  # a new record: fresh SIS ids
            for role, facet in record.get("roles", {}).items():
                facet["staff_id" if role == "staff" else "sis_id"] = f"N{serial}"
            if "sis_id" in record:
                record["sis_id"] = f"N{serial}"
        if _shares_a_sis_id(server, collection, record, besides=record["id"] if how != "create" else None):
            return  # Clever's sync refuses to create a record whose SIS id a live record has (see above)
        if how == "new Clever id":  # the same SIS record, deleted and back under another Clever id
            server.delete(collection, record["id"])
        record["id"] = f"{0xABC00000 + serial:08x}{0:016x}"
    elif collection == "users":
        _changed_user(data, server, record)
    elif collection == "sections":
        _changed_section(data, server, record)
    else:
        _changed_other(data, record)
    server.upsert(collection, record)


def _shares_a_sis_id(
    server: CleverServer, collection: str, record: dict[str, Any], *, besides: str | None
) -> bool:
    """Whether a live record other than ``besides`` has one of ``record``'s SIS ids."""
    keys = sis_keys(record)
    held = server.district.collection(collection)
    return any(keys & sis_keys(other) for key, other in held.items() if key != besides)


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(name, "ascending") for name in table.column_names])


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_the_roster_from_the_events_is_the_roster_of_a_full_pull(tmp_path_factory: Any, data: Any) -> None:
    folder: Path = tmp_path_factory.mktemp("delta")
    serial = 0
    with CleverServer(EXAMPLE_DISTRICT) as server:
        source(server, folder / "state").read_raw()
        for night in range(data.draw(st.integers(1, 3))):
            for _ in range(data.draw(st.integers(1, 8))):
                serial += 1
                _change(data, server, serial)
            nightly = source(server, folder / "state")
            from_events, events_findings = nightly.read_raw()
            assert nightly.last_pull is not None and nightly.last_pull.mode == "delta"
            from_scratch, full_findings = source(server, folder / f"full-{night}").read_raw()
            assert sorted(from_events) == sorted(from_scratch)
            for kind, raw in from_scratch.items():
                assert from_events[kind].table.column_names == raw.table.column_names, kind
                assert _sorted(from_events[kind].table).equals(_sorted(raw.table)), kind
            assert sorted(map(repr, events_findings)) == sorted(map(repr, full_findings))
