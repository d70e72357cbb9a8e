"""Value rules (clever-csv.md §3), section names and nicknames (§2, §4), and profile rules (§5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.profile import IdentityMatching, Profile, ProfileError, RoleSettings
from sync.roster.validate import validate_folder
from tests.roster.csvset import CLEAN, findings_of, only, where, with_rows, write_set

STUDENT_HEADER = "School_id,Student_id,Grade,DOB,Hispanic_Latino,Gender,Student_email,Graduation_year\n"


def students(*rows: str) -> dict[str, str]:
    return {
        "students.csv": STUDENT_HEADER + "".join(row + "\n" for row in rows),
        "enrollments.csv": "School_id,Section_id,Student_id\nS1,SEC1,100\nS2,SEC2,100\n",
    }


def test_values_are_trimmed_normalised_and_leading_zeros_kept(tmp_path: Path) -> None:
    changes = students(" S1 ,  007 ,k,1/2/2010,Yes,f,Ann@School.ORG,2030")
    changes["enrollments.csv"] = "School_id,Section_id,Student_id\nS1,SEC1,007\nS2,SEC2,007\n"
    result = validate_folder(write_set(tmp_path, changes))
    assert result.findings == [], result.findings
    assert result.roster is not None
    row = result.roster.students.to_pylist()[0]
    assert {k: row[k] for k in ("School_id", "Student_id", "Grade", "DOB", "Hispanic_Latino", "Gender")} == {
        "School_id": "S1",
        "Student_id": "007",
        "Grade": "Kindergarten",
        "DOB": "2010-01-02",
        "Hispanic_Latino": "Y",
        "Gender": "F",
    }
    assert row["Student_email"] == "ann@school.org"
    assert row["_line"] == 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2010-01-02", "2010-01-02"),
        ("20100102", "2010-01-02"),
        ("1/2/2010", "2010-01-02"),
        ("01/02/2010", "2010-01-02"),
    ],
)
def test_each_accepted_date_form_becomes_iso(tmp_path: Path, value: str, expected: str) -> None:
    result = validate_folder(write_set(tmp_path, students(f"S1,100,9,{value},,,,")))
    assert result.roster is not None
    assert result.roster.students.column("DOB").to_pylist() == [expected]


@pytest.mark.parametrize("value", ["2010-02-30", "2010-13-01", "02-01-2010", "yesterday"])
def test_an_invalid_date_is_a_warning_and_dropped(tmp_path: Path, value: str) -> None:
    result = validate_folder(write_set(tmp_path, students(f"S1,100,9,{value},,,,")))
    assert where(only(result, "invalid_date")) == ("students.csv", 2, "DOB", "100", "warning")
    assert result.roster is not None
    assert result.roster.students.column("DOB").to_pylist() == [None]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PK", "PreKindergarten"),
        ("tk", "TransitionalKindergarten"),
        ("KG", "Kindergarten"),
        ("05", "5"),
        ("13", "13"),
        ("postgraduate", "PostGraduate"),
        ("Ungraded", "Ungraded"),
    ],
)
def test_grades_take_their_canonical_spelling(tmp_path: Path, value: str, expected: str) -> None:
    result = validate_folder(write_set(tmp_path, students(f"S1,100,{value},,,,,")))
    assert result.findings == []
    assert result.roster is not None
    assert result.roster.students.column("Grade").to_pylist() == [expected]


def test_an_invalid_grade_is_a_warning_and_dropped(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path, students("S1,100,14,,,,,")))
    assert where(only(result, "invalid_grade")) == ("students.csv", 2, "Grade", "100", "warning")
    assert result.roster is not None
    assert result.roster.students.column("Grade").to_pylist() == [None]


def test_an_invalid_flag_gender_or_year_is_an_invalid_value_warning(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path, students("S1,100,9,,maybe,Q,,20x0")))
    assert [where(f) for f in findings_of(result, "invalid_value")] == [
        ("students.csv", 2, "Gender", "100", "warning"),
        ("students.csv", 2, "Graduation_year", "100", "warning"),
        ("students.csv", 2, "Hispanic_Latino", "100", "warning"),
    ]


def test_an_invalid_email_is_a_warning_and_the_value_is_dropped(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path, students("S1,100,9,,,,ann.school.org,")))
    finding = only(result, "invalid_email")
    assert where(finding) == ("students.csv", 2, "Student_email", "100", "warning")
    assert "ann.school.org" not in finding.message
    assert result.roster is not None
    assert result.roster.students.column("Student_email").to_pylist() == [None]


def test_a_term_that_ends_before_it_starts_loses_both_dates(tmp_path: Path) -> None:
    sections = CLEAN["sections.csv"].replace(
        "Science,2,2025-08-01,2026-06-01", "Science,2,2026-08-01,2026-06-01"
    )
    result = validate_folder(write_set(tmp_path, {"sections.csv": sections}))
    assert where(only(result, "invalid_term")) == ("sections.csv", 3, "Term_end", "SEC2", "warning")
    assert result.roster is not None
    assert result.roster.sections.column("Term_start").to_pylist() == ["2025-08-01", None]
    assert result.roster.sections.column("Term_end").to_pylist() == ["2026-06-01", None]


def test_a_blank_section_name_is_built_from_course_teacher_and_period(tmp_path: Path) -> None:
    sections = CLEAN["sections.csv"].replace("Science 7,", ",")
    result = validate_folder(write_set(tmp_path, {"sections.csv": sections}))
    assert where(only(result, "generated_name")) == ("sections.csv", 3, "Name", "SEC2", "warning")
    assert result.roster is not None
    assert result.roster.sections.column("Name").to_pylist() == ["Algebra", "Science - Wong - 2"]


def test_a_section_id_that_cannot_be_a_mail_nickname_drops_the_section(tmp_path: Path) -> None:
    changes = {
        **with_rows("sections.csv", "S1,SEC/3,T1,,Art,Art,1,,"),
        **with_rows("enrollments.csv", "S1,SEC/3,100"),
    }
    result = validate_folder(write_set(tmp_path, changes))
    finding = only(result, "invalid_characters")
    assert where(finding) == ("sections.csv", 4, "Section_id", "SEC/3", "record_error")
    assert "replace_special_characters" in finding.message
    assert where(only(result, "unknown_reference")) == (
        "enrollments.csv",
        4,
        "Section_id",
        "SEC/3",
        "record_error",
    )


def test_with_replacement_a_bad_character_is_a_warning_and_the_section_is_kept(tmp_path: Path) -> None:
    changes = {
        **with_rows("sections.csv", "S1,SEC/3,T1,,Art,Art,1,,"),
        **with_rows("enrollments.csv", "S1,SEC/3,100"),
    }
    profile = Profile(name="p", replace_special_characters=True)
    result = validate_folder(write_set(tmp_path, changes), profile)
    finding = only(result, "invalid_characters")
    assert where(finding) == ("sections.csv", 4, "Section_id", "SEC/3", "warning")
    assert "Section_SEC_3" in finding.message
    assert result.roster is not None
    assert "SEC/3" in result.roster.sections.column("Section_id").to_pylist()


def test_a_section_id_too_long_for_a_nickname_is_an_error_even_with_replacement(tmp_path: Path) -> None:
    long_id = "S" * 57
    changes = {
        **with_rows("sections.csv", f"S1,{long_id},T1,,Art,Art,1,,"),
        **with_rows("enrollments.csv", f"S1,{long_id},100"),
    }
    result = validate_folder(write_set(tmp_path, changes), Profile(name="p", replace_special_characters=True))
    assert where(only(result, "invalid_characters")) == (
        "sections.csv",
        4,
        "Section_id",
        long_id,
        "record_error",
    )


def _create_profile(source: str = "Username") -> Profile:
    role = RoleSettings(IdentityMatching(source, "userPrincipalName"), user_domain="school.org")
    return Profile(name="p", user_mode="create", students=role, teachers=role)


def test_create_mode_needs_a_username_for_every_user(tmp_path: Path) -> None:
    teachers = CLEAN["teachers.csv"].replace("S2,T2,Tia,Wong,twong,", "S2,T2,Tia,Wong,,")
    result = validate_folder(write_set(tmp_path, {"teachers.csv": teachers}), _create_profile())
    assert where(only(result, "missing_value")) == ("teachers.csv", 4, "Username", "T2", "record_error")
    assert result.roster is not None
    assert result.roster.teachers.column("Teacher_id").to_pylist() == ["T1"]


def test_create_mode_without_a_name_column_fails_the_set(tmp_path: Path) -> None:
    teachers = "School_id,Teacher_id,Username\nS1,T1,tsmith\nS2,T2,twong\n"
    result = validate_folder(write_set(tmp_path, {"teachers.csv": teachers}), _create_profile())
    assert [where(f) for f in findings_of(result, "missing_column")] == [
        ("teachers.csv", 1, "First_name", None, "file_error"),
        ("teachers.csv", 1, "Last_name", None, "file_error"),
    ]
    assert result.roster is None


def test_without_a_profile_names_and_usernames_are_optional(tmp_path: Path) -> None:
    teachers = "School_id,Teacher_id\nS1,T1\nS2,T2\n"
    result = validate_folder(write_set(tmp_path, {"teachers.csv": teachers}))
    assert result.findings == []


def test_the_matching_column_must_exist(tmp_path: Path) -> None:
    profile = Profile(name="p", students=RoleSettings(IdentityMatching("Student_number", "employeeId")))
    result = validate_folder(write_set(tmp_path), profile)
    assert where(only(result, "missing_column")) == ("students.csv", 1, "Student_number", None, "file_error")


def test_a_bad_email_in_the_matching_column_drops_the_record(tmp_path: Path) -> None:
    changes = {"students.csv": CLEAN["students.csv"].replace("bob@school.org", "bob-at-school")}
    result = validate_folder(write_set(tmp_path, changes), _create_profile("Student_email"))
    assert where(only(result, "invalid_email")) == ("students.csv", 4, "Student_email", "101", "record_error")
    assert result.roster is not None
    assert result.roster.students.column("Student_id").to_pylist() == ["100"]


def test_a_blank_matching_value_drops_the_record(tmp_path: Path) -> None:
    changes = {"students.csv": CLEAN["students.csv"].replace("bob,bob@school.org", "bob,")}
    result = validate_folder(write_set(tmp_path, changes), _create_profile("Student_email"))
    assert where(only(result, "missing_value")) == ("students.csv", 4, "Student_email", "101", "record_error")


def test_licences_without_a_usage_location_are_a_profile_error(tmp_path: Path) -> None:
    role = RoleSettings(IdentityMatching("Username", "userPrincipalName"), licenses=("sku",))
    with pytest.raises(ProfileError, match="usage_location"):
        validate_folder(write_set(tmp_path), Profile(name="p", students=role))
