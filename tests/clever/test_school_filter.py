"""The profile's school filter: allow- or deny-list by Clever id or SIS id, and what it drops."""

from __future__ import annotations

from typing import Any

import pytest

from sync.clever.mapping import to_raw_files
from sync.clever.records import PulledDistrict
from sync.clever.school_filter import SchoolFilter
from sync.findings import Severity
from sync.profile import CleverApiSettings, ProfileError
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


def test_filter_names_matching_no_school_are_warnings_naming_the_profile_key_and_the_name() -> None:
    schools = two_school_district().schools.values()
    findings = SchoolFilter("allow", frozenset({"100", "999", "c-nowhere"})).check(schools, profile_name="P")

    assert [(f.code, f.severity, f.file, f.column, f.record_id) for f in findings] == [
        ("unknown_school_filter", Severity.WARNING, "profile", "clever.school_filter", "999"),
        ("unknown_school_filter", Severity.WARNING, "profile", "clever.school_filter", "c-nowhere"),
    ]
    assert "'999'" in findings[0].message


def test_a_filter_whose_names_all_match_gives_no_findings_and_no_filter_is_not_checked() -> None:
    schools = list(two_school_district().schools.values())
    assert SchoolFilter("allow", frozenset({"100", "c-south"})).check(schools, profile_name="P") == []
    assert SchoolFilter("deny", frozenset({"100"})).check(schools, profile_name="P") == []
    assert SchoolFilter().check(schools, profile_name="P") == []


def test_an_allow_list_that_keeps_no_school_fails_naming_the_profile_and_its_key() -> None:
    schools = two_school_district().schools.values()
    with pytest.raises(ProfileError) as caught:
        SchoolFilter("allow", frozenset({"10O"})).check(schools, profile_name="Contoso")

    assert caught.value.problems[0][0] == "clever.school_filter"
    assert "profile Contoso" in str(caught.value)
    assert "allow-list keeps none of the 2 schools" in str(caught.value)


def test_a_deny_list_that_names_every_school_fails_too() -> None:
    schools = two_school_district().schools.values()
    with pytest.raises(ProfileError, match=r"clever\.school_filter: the deny-list keeps none"):
        SchoolFilter("deny", frozenset({"100", "c-south"})).check(schools, profile_name="Contoso")


def test_a_district_with_no_schools_is_left_to_the_validator() -> None:
    """No school pulled at all is not the filter's doing: the empty schools file is a file-level error."""
    findings = SchoolFilter("allow", frozenset({"100"})).check([], profile_name="P")
    assert [(f.code, f.record_id) for f in findings] == [("unknown_school_filter", "100")]
