"""The profile loader: every option parsed, every kind of mistake reported with its dotted key."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from sync.errors import UsageError
from sync.profile import (
    SCHOOL_PROPERTY_COLUMNS,
    SECTION_PROPERTY_COLUMNS,
    CleverApiSettings,
    IdentityMatching,
    ProfileError,
    load_profile,
    parse_profile,
)

REPO = Path(__file__).resolve().parent.parent
STUDENT_SKU = "314c4481-f395-4525-be8b-2ec4bb1e9d91"
FACULTY_SKU = "94763226-9b3c-4e75-a931-5c89701abe66"

FULL = f"""
name = "Contoso Unified School District"
source = "clever_api"
user_mode = "create"
section_domain = "Contoso.edu"
school_properties = ["School_number", "Principal", "school phone"]
section_properties = ["Section_number", "Grade", "Course_name", "Term_start"]
lock_section_display_name = true
usage_location = "us"
student_enrollment_start_date = 2026-08-17
intune_groups = true
license_assignment = "group"
replace_special_characters = true
sync_staff = true
stop_date = "2027-07-31"
[students]
match_source = "Student_number"
match_target = "employeeId"
user_domain = "students.contoso.edu"
licenses = ["{STUDENT_SKU.upper()}"]
[teachers]
match_source = "Teacher_email"
match_target = "mail"
match_domain = "contoso.edu"
user_domain = "contoso.edu"
licenses = ["{FACULTY_SKU}"]
[deletion]
sections = "delete"
users = "disable"
guard_threshold = 0.25
[clever]
base_url = "https://api.clever.example/"
api_version = "v3.1"
token_setting = "DISTRICT_TOKEN"
school_filter_mode = "deny"
school_filter = ["58da8a43cc70ab00017a1a87"]
use_events = false
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(data: dict[str, Any]) -> dict[str, str]:
    """Parse ``data`` expecting a ProfileError; map each key to its messages (joined by " | ")."""
    with pytest.raises(ProfileError) as caught:
        parse_profile(data, source_name="test.toml")
    problems: dict[str, str] = {}
    for key, message in caught.value.problems:
        problems[key] = f"{problems[key]} | {message}" if key in problems else message
    return problems


def minimal(**overrides: Any) -> dict[str, Any]:
    return {"name": "District", **overrides}


def test_every_option_of_a_full_profile_is_parsed(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, FULL))

    assert profile.name == "Contoso Unified School District"
    assert profile.source == "clever_api"
    assert profile.user_mode == "create"
    assert profile.section_domain == "contoso.edu"
    assert profile.school_properties == {"School_number", "Principal", "School_phone"}
    assert profile.section_properties == {"Section_number", "Grade", "Course_name", "Term_start"}
    assert profile.lock_section_display_name is True
    assert profile.usage_location == "US"
    assert profile.student_enrollment_start_date == date(2026, 8, 17)
    assert profile.intune_groups is True
    assert profile.license_assignment == "group"
    assert profile.licenses_by_group
    assert profile.replace_special_characters is True
    assert profile.sync_staff is True
    assert profile.stop_date == date(2027, 7, 31)
    assert profile.students.matching == IdentityMatching("Student_number", "employeeId", None)
    assert profile.students.user_domain == "students.contoso.edu"
    assert profile.students.licenses == (STUDENT_SKU,)
    assert profile.teachers.matching == IdentityMatching("Teacher_email", "mail", "contoso.edu")
    assert profile.teachers.licenses == (FACULTY_SKU,)
    assert profile.assigns_licenses
    assert (profile.deletion.sections, profile.deletion.users) == ("delete", "disable")
    assert profile.deletion.guard_threshold == 0.25
    assert profile.clever == CleverApiSettings(
        base_url="https://api.clever.example",
        api_version="v3.1",
        token_setting="DISTRICT_TOKEN",
        school_filter_mode="deny",
        school_filter=("58da8a43cc70ab00017a1a87",),
        use_events=False,
    )


def test_a_profile_with_only_a_name_gets_the_documented_defaults() -> None:
    profile = parse_profile({"name": "District"}, source_name="x")

    assert profile.source == "csv"
    assert profile.user_mode == "existing"
    assert profile.students.matching == IdentityMatching("Username", "userPrincipalName", None)
    assert profile.teachers.licenses == ()
    assert profile.deletion.sections == "expire"
    assert profile.deletion.users == "keep"
    assert profile.deletion.guard_threshold == 0.10
    assert profile.clever is None
    assert profile.stop_date is None
    assert not profile.assigns_licenses
    assert profile.license_assignment == "user"
    assert not profile.licenses_by_group


def test_the_example_profile_loads_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sync.profile"):
        profile = load_profile(REPO / "examples" / "profile.toml")

    assert caplog.records == []

    assert profile.name
    assert profile.usage_location == "US"
    assert profile.license_assignment == "user"  # group-based licensing needs Entra ID P1: opt in


def test_a_section_domain_loads_with_a_warning_that_it_is_not_applied(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="sync.profile"):
        profile = parse_profile(minimal(section_domain="Contoso.edu"), source_name="district.toml")

    assert profile.section_domain == "contoso.edu"
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "district.toml" in record.getMessage()
    assert "section_domain = 'contoso.edu' is not applied" in record.getMessage()
    assert "address policy" in record.getMessage()


def test_clever_table_defaults_apply_when_only_the_source_is_set() -> None:
    profile = parse_profile(minimal(source="clever_api", clever={}), source_name="x")

    assert profile.clever == CleverApiSettings()


def test_a_missing_name_is_reported() -> None:
    assert "required" in problems_of({})["name"]


def test_an_empty_name_is_reported() -> None:
    assert "empty" in problems_of({"name": "  "})["name"]


def test_unknown_keys_are_reported_with_a_suggestion() -> None:
    problems = problems_of(minimal(user_mod="create", students={"match_sorce": "Username"}, colour=1))

    assert 'did you mean "user_mode"' in problems["user_mod"]
    assert 'did you mean "match_source"' in problems["students.match_sorce"]
    assert "unknown key" in problems["colour"]
    assert "did you mean" not in problems["colour"]


def test_wrong_types_are_reported_with_what_is_expected() -> None:
    problems = problems_of(
        minimal(
            intune_groups="yes",
            school_properties="Principal",
            usage_location=1,
            deletion={"guard_threshold": "10%"},
            students=["Username"],
            license_assignment=True,
        )
    )

    assert problems["intune_groups"] == "must be true or false, not a string"
    assert "list of strings" in problems["school_properties"]
    assert problems["usage_location"] == "must be a string, not an integer"
    assert "must be a number" in problems["deletion.guard_threshold"]
    assert "must be a table" in problems["students"]
    assert problems["license_assignment"] == "must be a string, not a boolean"


@pytest.mark.parametrize(
    ("data", "key", "allowed"),
    [
        (minimal(source="sftp"), "source", '"csv", "clever_api"'),
        (minimal(user_mode="Create"), "user_mode", '"existing", "create"'),
        (minimal(license_assignment="groups"), "license_assignment", '"user", "group"'),
        (minimal(students={"match_source": "Teacher_id"}), "students.match_source", '"Student_id"'),
        (minimal(teachers={"match_source": "Student_id"}), "teachers.match_source", '"Teacher_id"'),
        (minimal(teachers={"match_target": "upn"}), "teachers.match_target", '"userPrincipalName"'),
        (minimal(deletion={"sections": "archive"}), "deletion.sections", '"keep", "expire", "delete"'),
        (minimal(deletion={"users": "expire"}), "deletion.users", '"keep", "disable", "delete"'),
        (minimal(source="clever_api", clever={"api_version": "v2"}), "clever.api_version", '"v3.0"'),
        (
            minimal(source="clever_api", clever={"school_filter_mode": "only", "school_filter": ["1"]}),
            "clever.school_filter_mode",
            '"allow", "deny"',
        ),
    ],
)
def test_a_value_outside_its_choices_is_reported_with_the_allowed_ones(
    data: dict[str, Any], key: str, allowed: str
) -> None:
    assert allowed in problems_of(data)[key]


def test_property_columns_that_are_not_optional_columns_are_reported() -> None:
    problems = problems_of(
        minimal(school_properties=["School_name", "Principle"], section_properties=["Teacher_2_id"])
    )

    assert '"School_name" is not an optional schools.csv column' in problems["school_properties"]
    assert (
        '"Principle" is not an optional schools.csv column (did you mean "Principal"?)'
        in problems["school_properties"]
    )
    assert "co-teachers always sync" in problems["section_properties"]


def test_a_misspelt_property_column_gets_a_suggestion() -> None:
    problems = problems_of(minimal(section_properties=["Course_nmae"]))

    assert 'did you mean "Course_name"' in problems["section_properties"]


def test_every_optional_column_is_accepted_as_a_property() -> None:
    profile = parse_profile(
        minimal(
            school_properties=list(SCHOOL_PROPERTY_COLUMNS), section_properties=list(SECTION_PROPERTY_COLUMNS)
        ),
        source_name="x",
    )

    assert profile.school_properties == set(SCHOOL_PROPERTY_COLUMNS)
    assert profile.section_properties == set(SECTION_PROPERTY_COLUMNS)


@pytest.mark.parametrize(
    "domain", ["contoso", "@contoso.edu", "https://contoso.edu", "conto so.edu", "-a.edu"]
)
def test_values_that_are_not_domain_names_are_reported(domain: str) -> None:
    problems = problems_of(minimal(section_domain=domain, teachers={"match_domain": domain}))

    assert "is not a domain name" in problems["section_domain"]
    assert "is not a domain name" in problems["teachers.match_domain"]


def test_sku_ids_that_are_not_guids_are_reported() -> None:
    problems = problems_of(minimal(usage_location="US", students={"licenses": ["STANDARDWOFFPACK_STUDENT"]}))

    assert "is not a SKU id" in problems["students.licenses"]


def test_licences_without_a_usage_location_are_reported() -> None:
    problems = problems_of(minimal(teachers={"licenses": [FACULTY_SKU]}))

    assert "required when licences are assigned" in problems["usage_location"]


@pytest.mark.parametrize("code", ["USA", "U", "1A"])
def test_a_usage_location_that_is_not_a_two_letter_code_is_reported(code: str) -> None:
    assert "two-letter country code" in problems_of(minimal(usage_location=code))["usage_location"]


def test_create_mode_needs_a_user_domain_for_each_role() -> None:
    problems = problems_of(minimal(user_mode="create", teachers={"user_domain": "contoso.edu"}))

    assert 'user_mode = "create"' in problems["students.user_domain"]
    assert "teachers.user_domain" not in problems


def test_matching_an_id_column_on_an_address_needs_a_domain() -> None:
    problems = problems_of(
        minimal(
            students={"match_source": "Student_id", "match_target": "mail"},
            teachers={"match_source": "Teacher_id"},
        )
    )

    assert "match_domain" in problems["students.match_domain"]
    assert "Teacher_id against userPrincipalName" in problems["teachers.match_domain"]


@pytest.mark.parametrize(
    "role",
    [
        {"match_source": "Student_email", "match_target": "mail"},
        {"match_source": "Username", "match_target": "userPrincipalName"},
        {"match_source": "Student_id", "match_target": "userPrincipalName", "match_domain": "x.edu"},
        {"match_source": "Student_id", "match_target": "employeeId"},
    ],
)
def test_matching_rules_that_can_find_an_address_are_accepted(role: dict[str, str]) -> None:
    profile = parse_profile(minimal(students=role), source_name="x")

    assert profile.students.matching.source == role["match_source"]


@pytest.mark.parametrize("value", [0, -0.1, 1.5, 0.0])
def test_a_guard_threshold_outside_zero_to_one_is_reported(value: float) -> None:
    assert (
        "out of range"
        in problems_of(minimal(deletion={"guard_threshold": value}))["deletion.guard_threshold"]
    )


def test_a_guard_threshold_of_one_is_accepted() -> None:
    profile = parse_profile(minimal(deletion={"guard_threshold": 1}), source_name="x")

    assert profile.deletion.guard_threshold == 1.0


def test_a_stop_date_in_the_past_is_accepted() -> None:
    profile = parse_profile(minimal(stop_date=date(2001, 1, 1)), source_name="x")

    assert profile.stop_date == date(2001, 1, 1)


@pytest.mark.parametrize("value", ["2026-13-01", "17/08/2026", "2026-8-17", 20260817])
def test_a_bad_date_is_reported(value: object) -> None:
    assert (
        "date" in problems_of(minimal(student_enrollment_start_date=value))["student_enrollment_start_date"]
    )


def test_a_date_with_a_time_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path, 'name = "x"\nstop_date = 2027-07-31T00:00:00\n'))

    assert dict(caught.value.problems)["stop_date"] == "must be a date without a time, e.g. 2026-08-17"


def test_the_clever_api_source_needs_a_clever_table() -> None:
    assert '"clever_api"' in problems_of(minimal(source="clever_api"))["clever"]


def test_a_clever_table_without_the_clever_api_source_is_reported() -> None:
    assert "remove [clever] or change source" in problems_of(minimal(clever={}))["clever"]


def test_clever_settings_are_validated() -> None:
    problems = problems_of(
        minimal(
            source="clever_api",
            clever={
                "base_url": "http://api.clever.com",
                "token_setting": "Bearer abc.def",
                "school_filter_mode": "allow",
                "use_events": 1,
            },
        )
    )

    assert "https URL" in problems["clever.base_url"]
    assert "never the token" in problems["clever.token_setting"]
    assert "is empty" in problems["clever.school_filter"]
    assert "true or false" in problems["clever.use_events"]


def test_a_school_filter_without_a_mode_is_reported() -> None:
    problems = problems_of(minimal(source="clever_api", clever={"school_filter": ["a"]}))

    assert '"allow" or "deny"' in problems["clever.school_filter_mode"]


def test_a_local_http_clever_url_is_accepted_for_test_servers() -> None:
    profile = parse_profile(
        minimal(source="clever_api", clever={"base_url": "http://127.0.0.1:8123"}), source_name="x"
    )

    assert profile.clever is not None
    assert profile.clever.base_url == "http://127.0.0.1:8123"


def test_many_mistakes_are_reported_at_once(tmp_path: Path) -> None:
    text = """
    source = "sftp"
    user_mode = "create"
    usage_location = "USA"
    intune_groups = "true"
    [students]
    match_source = "Student_id"
    licenses = ["not-a-guid"]
    [deletion]
    guard_threshold = 2
    """
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path, text))

    keys = {key for key, _ in caught.value.problems}
    assert keys == {
        "name",
        "source",
        "usage_location",
        "intune_groups",
        "students.match_domain",
        "students.user_domain",
        "students.licenses",
        "teachers.user_domain",
        "deletion.guard_threshold",
    }
    assert str(tmp_path / "profile.toml") in str(caught.value)


def test_a_toml_syntax_error_names_its_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path, 'name = "x"\nsource = \n'))

    [(key, message)] = caught.value.problems
    assert key == "toml"
    assert "line 2, column 10" in message


def test_a_file_that_is_not_utf8_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "profile.toml"
    path.write_bytes(b'name = "x"\nsection_domain = "caf\xe9.edu"\n')

    with pytest.raises(ProfileError) as caught:
        load_profile(path)

    assert "line 2" in dict(caught.value.problems)["toml"]


def test_a_missing_profile_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_profile(tmp_path / "nope.toml")


def test_a_directory_given_as_profile_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a file"):
        load_profile(tmp_path)
