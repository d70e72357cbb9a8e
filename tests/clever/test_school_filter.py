"""The profile's school filter: allow- or deny-list by Clever id or SIS id, and what it drops."""

from __future__ import annotations

from typing import Any

from sync.clever.mapping import to_raw_files
from sync.clever.records import PulledDistrict
from sync.clever.school_filter import SchoolFilter
from sync.profile import CleverApiSettings
from sync.roster.validate import validate_raw
from tests.clever.builders import school, section, student, teacher


def two_school_district() -> PulledDistrict:
    records: dict[str, list[dict[str, Any]]] = {
        "schools": [school("c-north", "100"), school("c-south", "200")],
        "users": [
            student("c-st1", "S1", "c-north"),
            student("c-st2", "S2", "c-south"),
            student("c-st3", "S3", "c-south", schools=["c-south", "c-north"]),
            teacher("c-t1", "T1", ["c-north"]),
            teacher("c-t2", "T2", ["c-south", "c-north"]),
            teacher("c-t3", "T3", ["c-south"]),
        ],
        "sections": [
            section("c-n1", "N1", "c-north", ["c-t1", "c-t3"], ["c-st1", "c-st2", "c-st3"]),
            section("c-s1", "S-1", "c-south", ["c-t2"], ["c-st2"]),
        ],
    }
    return PulledDistrict(**{name: {r["id"]: r for r in rs} for name, rs in records.items()})


def column(files: dict[str, Any], kind: str, name: str) -> list[str]:
    return files[kind].table.column(name).to_pylist()


def test_an_allow_list_by_sis_id_keeps_only_that_school_its_sections_and_its_users() -> None:
    files = to_raw_files(two_school_district(), SchoolFilter("allow", frozenset({"100"})))

    assert column(files, "schools", "School_id") == ["100"]
    assert column(files, "sections", "Section_id") == ["N1"]
    assert column(files, "students", "Student_id") == ["S1", "S3"]
    assert column(files, "teachers", "Teacher_id") == ["T1", "T2"]


def test_a_user_with_a_kept_school_stays_and_is_listed_only_at_the_kept_schools() -> None:
    files = to_raw_files(two_school_district(), SchoolFilter("allow", frozenset({"100"})))

    assert dict(
        zip(column(files, "students", "Student_id"), column(files, "students", "School_id"), strict=True)
    ) == {
        "S1": "100",
        "S3": "100",
    }
    assert column(files, "teachers", "School_id") == ["100", "100"]


def test_links_of_a_kept_section_to_users_the_filter_dropped_are_removed_silently() -> None:
    files = to_raw_files(two_school_district(), SchoolFilter("allow", frozenset({"100"})))

    assert column(files, "enrollments", "Student_id") == ["S1", "S3"]
    assert column(files, "sections", "Teacher_2_id") == [None]
    result = validate_raw(files, [])
    assert [f.code for f in result.findings] == []


def test_a_deny_list_by_clever_id_drops_that_school_and_everything_only_it_holds() -> None:
    files = to_raw_files(two_school_district(), SchoolFilter("deny", frozenset({"c-north"})))

    assert column(files, "schools", "School_id") == ["200"]
    assert column(files, "sections", "Section_id") == ["S-1"]
    assert column(files, "students", "Student_id") == ["S2", "S3"]
    assert column(files, "teachers", "Teacher_id") == ["T2", "T3"]


def test_no_filter_keeps_every_school() -> None:
    files = to_raw_files(two_school_district(), SchoolFilter.from_settings(CleverApiSettings()))
    assert column(files, "schools", "School_id") == ["100", "200"]


def test_filter_names_matching_no_school_are_listed_so_a_typo_can_be_reported() -> None:
    schools = two_school_district().schools.values()
    assert SchoolFilter("allow", frozenset({"100", "c-south", "999"})).unknown_names(schools) == ["999"]
