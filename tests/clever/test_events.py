"""Events deltas: created, updated and deleted records, in order, idempotently."""

from __future__ import annotations

from typing import Any

from sync.clever.events import apply_events
from sync.clever.mapping import to_raw_files
from sync.clever.records import PulledDistrict
from tests.clever.builders import event, school, section, staff, student, teacher


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


def test_a_staff_member_back_with_a_new_clever_id_replaces_the_record_with_the_same_staff_id() -> None:
    """Staff carry their SIS id in ``staff_id`` (the Staff role has no ``sis_id``)."""
    district = base()
    district.users["c-sf1"] = staff("c-sf1", "SF1", ["c-s1"], title="Librarian")
    back = staff("c-sf9", "SF1", ["c-s1"], title="School Counselor")
    outcome = apply_events(district, [event("e1", "users.created", back)])
    assert "c-sf1" not in outcome.district.users
    rows = to_raw_files(outcome.district)["staff"].table.to_pylist()
    assert [(row["Staff_id"], row["Title"]) for row in rows] == [("SF1", "School Counselor")]


def test_events_of_collections_the_sync_does_not_use_are_ignored_and_counted() -> None:
    outcome = apply_events(
        base(), [event("e1", "districts.updated", {"id": "d1"}), {"id": "e2", "type": "x"}]
    )
    assert outcome.district == base()
    assert outcome.counts == {"ignored": 2}
    assert outcome.last_event_id == "e2"


def district_admin(clever_id: str) -> dict[str, Any]:
    return {
        "id": clever_id,
        "email": f"{clever_id}@example.edu",
        "name": {"first": "Grace", "last": "Hopper"},
        "roles": {"district_admin": {"title": "Superintendent"}},
    }


def test_a_district_admin_created_through_an_event_is_not_kept() -> None:
    """District admins are not synced (SDS rejects admins.csv), so their records are not held either."""
    outcome = apply_events(base(), [event("e1", "users.created", district_admin("c-da1"))])
    assert outcome.district == base()
    assert outcome.counts == {"ignored": 1}


def test_a_teacher_updated_to_hold_only_the_district_admin_role_is_removed() -> None:
    outcome = apply_events(base(), [event("e1", "users.updated", district_admin("c-t1"))])
    assert "c-t1" not in outcome.district.users
    assert outcome.counts == {"users.updated": 1}


def test_a_teacher_who_is_also_district_admin_is_kept_whole() -> None:
    both = teacher("c-t2", "T2", ["c-s1"])
    both["roles"]["district_admin"] = {"title": "Curriculum lead"}
    outcome = apply_events(base(), [event("e1", "users.created", both)])
    assert outcome.district.users["c-t2"] == both


def test_a_staff_member_is_kept_only_when_staff_is_among_the_roles_pulled() -> None:
    staff = {"id": "c-sf1", "roles": {"staff": {"staff_id": "SF1", "schools": ["c-s1"]}}}
    created = [event("e1", "users.created", staff)]
    assert "c-sf1" not in apply_events(base(), created, roles=("student", "teacher")).district.users
    assert "c-sf1" in apply_events(base(), created, roles=("student", "teacher", "staff")).district.users
