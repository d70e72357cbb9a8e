"""Events deltas: created, updated and deleted records, in order, idempotently."""

from __future__ import annotations

from sync.clever.events import apply_events
from sync.clever.mapping import to_raw_files
from sync.clever.records import PulledDistrict
from tests.clever.builders import event, school, section, student, teacher


def base() -> PulledDistrict:
    return PulledDistrict(
        schools={"c-s1": school("c-s1", "100")},
        users={
            "c-st1": student("c-st1", "S1", "c-s1", grade="9"),
            "c-st2": student("c-st2", "S2", "c-s1"),
            "c-t1": teacher("c-t1", "T1", ["c-s1"]),
        },
        sections={"c-sec1": section("c-sec1", "SEC1", "c-s1", ["c-t1"], ["c-st1", "c-st2"])},
    )


def delta() -> list[dict]:
    return [
        event("e1", "users.created", student("c-st3", "S3", "c-s1")),
        event("e2", "users.updated", student("c-st1", "S1", "c-s1", grade="10")),
        event("e3", "users.deleted", student("c-st2", "S2", "c-s1")),
        event("e4", "sections.updated", section("c-sec1", "SEC1", "c-s1", ["c-t1"], ["c-st1", "c-st3"])),
    ]


def test_an_events_delta_creates_updates_and_deletes_records() -> None:
    outcome = apply_events(base(), delta())
    files = to_raw_files(outcome.district)

    students = {row["Student_id"]: row["Grade"] for row in files["students"].table.to_pylist()}
    assert students == {"S1": "10", "S3": None}
    assert files["enrollments"].table.column("Student_id").to_pylist() == ["S1", "S3"]
    assert outcome.last_event_id == "e4"
    assert outcome.counts == {
        "users.created": 1,
        "users.updated": 1,
        "users.deleted": 1,
        "sections.updated": 1,
    }


def test_applying_the_same_events_twice_gives_the_same_district() -> None:
    once = apply_events(base(), delta()).district
    twice = apply_events(once, delta()).district
    assert twice == once


def test_the_input_district_is_left_unchanged() -> None:
    original = base()
    apply_events(original, delta())
    assert set(original.users) == {"c-st1", "c-st2", "c-t1"}


def test_a_user_back_with_a_new_clever_id_replaces_the_record_with_the_same_sis_id() -> None:
    outcome = apply_events(base(), [event("e1", "users.created", student("c-new", "S2", "c-s1", grade="11"))])
    assert "c-st2" not in outcome.district.users
    rows = to_raw_files(outcome.district)["students"].table.to_pylist()
    assert sorted((row["Student_id"], row["Grade"]) for row in rows) == [("S1", "9"), ("S2", "11")]


def test_events_of_collections_the_sync_does_not_use_are_ignored_and_counted() -> None:
    outcome = apply_events(
        base(), [event("e1", "districts.updated", {"id": "d1"}), {"id": "e2", "type": "x"}]
    )
    assert outcome.district == base()
    assert outcome.counts == {"ignored": 2}
    assert outcome.last_event_id == "e2"
