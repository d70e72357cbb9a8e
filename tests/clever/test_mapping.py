"""Mapping a pulled Clever district to Clever-CSV raw tables, and on through the shared validator."""

from __future__ import annotations

from typing import Any

from sync.clever.mapping import map_district, to_raw_files
from sync.clever.records import PulledDistrict
from sync.roster.model import RawFile
from sync.roster.validate import validate_raw
from tests.clever.builders import school, section, staff, student, teacher


def district(**collections: list[dict[str, Any]]) -> PulledDistrict:
    return PulledDistrict(**{name: {r["id"]: r for r in records} for name, records in collections.items()})


def rows(raw: RawFile) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if v is not None} for row in raw.table.to_pylist()]


def small_district() -> PulledDistrict:
    return district(
        schools=[school("c-s1", "100"), school("c-s2", "200")],
        users=[
            student("c-st1", "S1", "c-s1", grade="9"),
            student("c-st2", "S2", "c-s1"),
            teacher("c-t1", "T1", ["c-s1", "c-s2"]),
            teacher("c-t2", "T2", ["c-s1"]),
        ],
        sections=[section("c-sec1", "SEC1", "c-s1", ["c-t1", "c-t2"], ["c-st1", "c-st2"])],
    )


def test_ids_are_sis_ids_and_a_blank_sis_id_falls_back_to_the_clever_id() -> None:
    files = to_raw_files(
        district(
            schools=[school("c-s1", "100")],
            users=[student("c-st1", "S1", "c-s1"), student("c-st2", "", "c-s1")],
        )
    )
    assert [row["Student_id"] for row in rows(files["students"])] == ["S1", "c-st2"]
    assert {row["School_id"] for row in rows(files["students"])} == {"100"}
    assert files["students"].name == "clever:students"


def test_a_teacher_at_two_schools_gets_one_row_per_school_like_the_csv_convention() -> None:
    teachers = rows(to_raw_files(small_district())["teachers"])
    assert [(row["Teacher_id"], row["School_id"]) for row in teachers] == [
        ("T1", "100"),
        ("T1", "200"),
        ("T2", "100"),
    ]


def test_a_user_who_is_teacher_and_staff_appears_in_both_tables() -> None:
    user = teacher("c-t1", "T1", ["c-s1"])
    user["roles"]["staff"] = {"staff_id": "ST1", "schools": ["c-s1"], "roles": ["Counselor"], "title": "Dr."}
    files = to_raw_files(district(schools=[school("c-s1", "100")], users=[user]), include_staff=True)

    assert [row["Teacher_id"] for row in rows(files["teachers"])] == ["T1"]
    assert rows(files["staff"]) == [
        {
            "School_id": "100",
            "Staff_id": "ST1",
            "Staff_email": "c-t1@example.edu",
            "First_name": "Alan",
            "Last_name": "Turing",
            "Title": "Dr.",
            "Role": "Counselor",
        }
    ]


def test_no_staff_table_is_made_when_the_district_has_no_staff_or_staff_is_not_synced() -> None:
    assert "staff" not in to_raw_files(small_district(), include_staff=True)
    user = teacher("c-t1", "T1", ["c-s1"])
    user["roles"]["staff"] = {"staff_id": "ST1", "schools": ["c-s1"]}
    assert "staff" not in to_raw_files(
        district(schools=[school("c-s1", "100")], users=[user]), include_staff=False
    )


def test_a_section_lists_its_primary_teacher_then_co_teachers_and_its_students_become_enrollments() -> None:
    files = to_raw_files(small_district())
    (row,) = rows(files["sections"])
    assert (row["Section_id"], row["School_id"], row["Teacher_id"], row["Teacher_2_id"]) == (
        "SEC1",
        "100",
        "T1",
        "T2",
    )
    assert rows(files["enrollments"]) == [
        {"School_id": "100", "Section_id": "SEC1", "Student_id": "S1"},
        {"School_id": "100", "Section_id": "SEC1", "Student_id": "S2"},
    ]


def test_courses_and_terms_are_looked_up_term_dates_keep_their_date_and_subjects_get_the_csv_spelling() -> (
    None
):
    base = small_district()
    sec = dict(
        base.sections["c-sec1"], course="c-course", term_id="c-term", subject="PE and health", period="3"
    )
    pulled = PulledDistrict(
        schools=base.schools,
        users=base.users,
        sections={"c-sec1": sec},
        courses={"c-course": {"id": "c-course", "name": "Health", "number": "HLT09"}},
        terms={
            "c-term": {
                "id": "c-term",
                "name": "Fall 2026",
                "start_date": "2026-08-17T00:00:00.000Z",
                "end_date": "2027-01-22T00:00:00.000Z",
            }
        },
    )
    (row,) = rows(to_raw_files(pulled)["sections"])
    assert {k: row[k] for k in ("Course_name", "Course_number", "Subject", "Period")} == {
        "Course_name": "Health",
        "Course_number": "HLT09",
        "Subject": "PE and Health",
        "Period": "3",
    }
    assert (row["Term_name"], row["Term_start"], row["Term_end"]) == ("Fall 2026", "2026-08-17", "2027-01-22")


def test_a_clean_pulled_district_validates_with_no_findings() -> None:
    result = validate_raw(to_raw_files(small_district()), [])
    assert result.findings == []
    assert result.roster is not None
    assert result.roster.students.num_rows == 2
    assert result.roster.section_teachers.column("Teacher_id").to_pylist() == ["T1", "T2"]


def test_an_email_without_an_at_sign_is_reported_by_the_validator_as_invalid_email_on_that_student() -> None:
    pulled = district(
        schools=[school("c-s1", "100")], users=[student("c-st1", "S1", "c-s1", email="ada.lovelace")]
    )
    result = validate_raw(to_raw_files(pulled), [])
    assert [
        (f.code, f.file, f.record_id, f.column) for f in result.findings if f.code == "invalid_email"
    ] == [("invalid_email", "clever:students", "S1", "Student_email")]


def test_an_enrollment_of_a_student_clever_did_not_share_is_reported_as_an_unknown_reference() -> None:
    base = small_district()
    sec = dict(base.sections["c-sec1"], students=["c-st1", "c-gone"])
    pulled = PulledDistrict(schools=base.schools, users=base.users, sections={"c-sec1": sec})
    result = validate_raw(to_raw_files(pulled), [])
    assert [(f.code, f.record_id) for f in result.findings if f.code == "unknown_reference"] == [
        ("unknown_reference", "SEC1")
    ]
    assert result.roster is not None
    assert result.roster.enrollments.column("Student_id").to_pylist() == ["S1"]


def test_a_section_whose_term_and_course_were_not_pulled_is_kept_with_empty_values_and_a_warning_each() -> (
    None
):
    base = small_district()
    sec = dict(base.sections["c-sec1"], term_id="c-term-gone", course="c-course-gone")
    known = dict(base.sections["c-sec1"], id="c-sec2", sis_id="SEC2", term_id="c-term", course=None)
    pulled = PulledDistrict(
        schools=base.schools,
        users=base.users,
        sections={"c-sec1": sec, "c-sec2": known},
        terms={"c-term": {"id": "c-term", "name": "Fall 2026"}},
    )

    files, findings = map_district(pulled)

    assert [(f.code, f.level, f.file, f.column, f.record_id) for f in findings] == [
        ("unknown_reference", "warning", "clever:sections", "Course_name", "SEC1"),
        ("unknown_reference", "warning", "clever:sections", "Term_name", "SEC1"),
    ]
    by_id = {row["Section_id"]: row for row in files["sections"].table.to_pylist()}
    assert [by_id["SEC1"][c] for c in ("Term_name", "Term_start", "Term_end", "Course_name")] == [None] * 4
    assert by_id["SEC2"]["Term_name"] == "Fall 2026"
    result = validate_raw(files, findings)
    assert result.roster is not None and result.roster.sections.num_rows == 2
    assert result.status.value == "completed_with_warnings"


def test_list_fields_of_another_type_count_as_absent_instead_of_failing_the_pull() -> None:
    """Clever sends ``schools``, ``teachers``, ``students`` and staff ``roles`` as arrays. Anything else (a
    boolean, a number, an object, a string) is taken as absent, as every other field of an odd type is: a
    string is not read as a list of one-character ids."""
    odd_student = student("c-st1", "S1", "c-s1")
    odd_student["roles"]["student"]["schools"] = True
    odd_teacher = teacher("c-t1", "T1", ["c-s1"])
    odd_teacher["roles"]["teacher"]["schools"] = {"c-s2": 1}
    odd_staff = staff("c-f1", "F1", ["c-s1"], roles="Counselor")
    sections = [
        {**section("c-sec1", "SEC1", "c-s1", ["c-t1"], []), "students": "c-st1"},
        {**section("c-sec2", "SEC2", "c-s1", ["c-t1"], ["c-st1"]), "teachers": 7},
    ]
    pulled = district(
        schools=[school("c-s1", "100"), school("c-s2", "200")],
        users=[odd_student, odd_teacher, odd_staff],
        sections=sections,
    )
    files, findings = map_district(pulled, include_staff=True)
    assert findings == []
    # The primary ``school`` still counts: only the odd list is left out.
    assert [(r["Student_id"], r["School_id"]) for r in rows(files["students"])] == [("S1", "100")]
    assert [(r["Teacher_id"], r["School_id"]) for r in rows(files["teachers"])] == [("T1", "100")]
    assert [("Role" in r, r["Staff_id"]) for r in rows(files["staff"])] == [(False, "F1")]
    # A section's ``teacher`` still counts; its ``students`` string gives no enrollment.
    assert [(r["Section_id"], r["Teacher_id"]) for r in rows(files["sections"])] == [
        ("SEC1", "T1"),
        ("SEC2", "T1"),
    ]
    assert rows(files["enrollments"]) == [{"School_id": "100", "Section_id": "SEC2", "Student_id": "S1"}]
    result = validate_raw(files, findings)
    assert result.roster is not None


def test_a_user_whose_roles_is_not_an_object_holds_no_role() -> None:
    odd = student("c-st2", "S2", "c-s1")
    odd["roles"] = 3.0
    listed = district(schools=[school("c-s1", "100")], users=[student("c-st1", "S1", "c-s1"), odd])
    assert [user["id"] for user in listed.users_with_role("student")] == ["c-st1"]
    assert [r["Student_id"] for r in rows(to_raw_files(listed)["students"])] == ["S1"]
