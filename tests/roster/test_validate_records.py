"""Record rules (clever-csv.md §2–§4): blanks, repeated ids, references, and what a dropped record drops."""

from __future__ import annotations

from pathlib import Path

from sync.findings import RunStatus
from sync.roster.validate import validate_folder
from tests.roster.csvset import CLEAN, findings_of, only, where, with_rows, write_set


def test_a_blank_required_value_drops_the_record(tmp_path: Path) -> None:
    changes = with_rows("students.csv", ",102,Cy,Do,cy,cy@school.org,7,2012-03-04,")
    result = validate_folder(write_set(tmp_path, changes))
    assert where(only(result, "missing_value")) == ("students.csv", 5, "School_id", "102", "record_error")
    assert result.status is RunStatus.COMPLETED_WITH_ERRORS
    assert result.roster is not None
    assert "102" not in result.roster.students.column("Student_id").to_pylist()
    assert result.counts["students.csv"] == {"rows": 4, "valid": 3}


def test_repeated_identical_rows_are_counted_once(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path, with_rows("schools.csv", "S2,South Middle,6,8")))
    assert where(only(result, "duplicate_row")) == ("schools.csv", 4, None, "S2", "warning")
    assert result.roster is not None
    assert result.roster.schools.column("School_id").to_pylist() == ["S1", "S2"]
    assert result.counts["schools.csv"] == {"rows": 3, "valid": 2}


def test_student_rows_that_disagree_outside_contacts_are_a_conflict_on_every_row(tmp_path: Path) -> None:
    changes = with_rows("students.csv", "S2,101,Bob,Ray,bob,bob@school.org,8,2012-03-04,Aunt")
    result = validate_folder(write_set(tmp_path, changes))
    conflicts = findings_of(result, "conflicting_duplicate")
    assert [where(f) for f in conflicts] == [
        ("students.csv", 4, None, "101", "record_error"),
        ("students.csv", 5, None, "101", "record_error"),
    ]
    assert "Grade" in conflicts[0].message
    assert result.roster is not None
    assert result.roster.students.column("Student_id").to_pylist() == ["100"]
    dropped = only(result, "unknown_reference")
    assert where(dropped) == ("enrollments.csv", 3, "Student_id", "SEC2", "record_error")
    assert "dropped because of its own errors" in dropped.message


def test_student_rows_for_each_contact_make_one_student_with_contacts(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path))
    assert result.roster is not None
    contacts = result.roster.student_contacts
    assert contacts.column("Student_id").to_pylist() == ["100", "100"]
    assert contacts.column("Contact_name").to_pylist() == ["Mom", "Dad"]
    assert "Contact_name" not in result.roster.students.column_names


def test_the_same_contact_twice_is_a_duplicate_row(tmp_path: Path) -> None:
    changes = with_rows("students.csv", "S1,100,Ann,Lee,ann,ann@school.org,9,2010-01-02,Dad")
    result = validate_folder(write_set(tmp_path, changes))
    assert where(only(result, "duplicate_row")) == ("students.csv", 5, None, "100", "warning")
    assert result.roster is not None
    assert result.roster.student_contacts.num_rows == 2


def test_a_teacher_at_two_schools_is_one_teacher_with_two_school_links(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path))
    assert result.roster is not None
    assert result.roster.teachers.column("Teacher_id").to_pylist() == ["T1", "T2"]
    assert "School_id" not in result.roster.teachers.column_names
    links = result.roster.teacher_schools
    assert [(row["Teacher_id"], row["School_id"]) for row in links.to_pylist()] == [
        ("T1", "S1"),
        ("T1", "S2"),
        ("T2", "S2"),
    ]


def test_teacher_rows_that_differ_beyond_the_school_are_a_conflict(tmp_path: Path) -> None:
    teachers = CLEAN["teachers.csv"].replace("S2,T1,Tom,Smith,tsmith,", "S2,T1,Tom,Smyth,tsmith,")
    result = validate_folder(write_set(tmp_path, {"teachers.csv": teachers}))
    assert [where(f) for f in findings_of(result, "conflicting_duplicate")] == [
        ("teachers.csv", 2, None, "T1", "record_error"),
        ("teachers.csv", 3, None, "T1", "record_error"),
    ]
    assert result.roster is not None
    assert "SEC1" not in result.roster.sections.column("Section_id").to_pylist()


def test_a_student_at_an_unknown_school_is_dropped(tmp_path: Path) -> None:
    changes = with_rows("students.csv", "S9,102,Cy,Do,cy,cy@school.org,7,2012-03-04,")
    result = validate_folder(write_set(tmp_path, changes))
    finding = only(result, "unknown_reference")
    assert where(finding) == ("students.csv", 5, "School_id", "102", "record_error")
    assert "not in schools.csv" in finding.message


def test_an_id_that_lost_its_leading_zeros_is_reported_as_such(tmp_path: Path) -> None:
    # A spreadsheet turned enrollments' student 0101 into 101; student 0102 is simply unknown.
    students = CLEAN["students.csv"].replace("S2,101,", "S2,0101,")
    enrollments = CLEAN["enrollments.csv"] + "S1,SEC1,0102\n"
    result = validate_folder(write_set(tmp_path, {"students.csv": students, "enrollments.csv": enrollments}))
    lost, unknown = findings_of(result, "unknown_reference")
    assert where(lost) == ("enrollments.csv", 3, "Student_id", "SEC2", "record_error")
    assert "the same with leading zeros" in lost.message
    assert "keep ids as text" in lost.message
    assert where(unknown) == ("enrollments.csv", 4, "Student_id", "SEC1", "record_error")
    assert "add it there or correct the id" in unknown.message


def test_a_reference_in_other_letter_case_is_reported_as_such(tmp_path: Path) -> None:
    enrollments = CLEAN["enrollments.csv"].replace("S2,SEC2,101", "S2,sec2,101")
    result = validate_folder(write_set(tmp_path, {"enrollments.csv": enrollments}))
    finding = only(result, "unknown_reference")
    assert where(finding) == ("enrollments.csv", 3, "Section_id", "sec2", "record_error")
    assert "differs from it only in upper and lower case" in finding.message


def test_a_section_with_an_unknown_teacher_is_dropped_with_its_enrollments(tmp_path: Path) -> None:
    sections = CLEAN["sections.csv"].replace("S2,SEC2,T2,", "S2,SEC2,T7,")
    result = validate_folder(write_set(tmp_path, {"sections.csv": sections}))
    references = findings_of(result, "unknown_reference")
    assert [where(f) for f in references] == [
        ("enrollments.csv", 3, "Section_id", "SEC2", "record_error"),
        ("sections.csv", 3, "Teacher_id", "SEC2", "record_error"),
    ]
    assert result.roster is not None
    assert result.roster.enrollments.column("Section_id").to_pylist() == ["SEC1"]


def test_an_unknown_co_teacher_is_a_warning_and_only_that_link_is_dropped(tmp_path: Path) -> None:
    sections = CLEAN["sections.csv"].replace("S1,SEC1,T1,T2,", "S1,SEC1,T1,T8,")
    result = validate_folder(write_set(tmp_path, {"sections.csv": sections}))
    assert where(only(result, "unknown_reference")) == ("sections.csv", 2, "Teacher_2_id", "SEC1", "warning")
    assert result.roster is not None
    links = result.roster.section_teachers.filter(
        result.roster.section_teachers.column("Section_id").to_numpy(zero_copy_only=False) == "SEC1"
    )
    assert links.column("Teacher_id").to_pylist() == ["T1"]


def test_co_teachers_get_their_column_position(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path))
    assert result.roster is not None
    rows = result.roster.section_teachers.to_pylist()
    assert [(r["Section_id"], r["Teacher_id"], r["Position"]) for r in rows] == [
        ("SEC1", "T1", 1),
        ("SEC1", "T2", 2),
        ("SEC2", "T2", 1),
    ]


def test_a_dropped_school_drops_its_students_teachers_and_sections(tmp_path: Path) -> None:
    schools = "School_id,School_name\nS1,North High\nS2,\n"
    result = validate_folder(write_set(tmp_path, {"schools.csv": schools}))
    assert where(only(result, "missing_value")) == ("schools.csv", 3, "School_name", "S2", "record_error")
    references = findings_of(result, "unknown_reference")
    assert [where(f) for f in references] == [
        ("enrollments.csv", 3, "Section_id", "SEC2", "record_error"),
        ("enrollments.csv", 3, "Student_id", "SEC2", "record_error"),
        ("sections.csv", 2, "Teacher_2_id", "SEC1", "warning"),
        ("sections.csv", 3, "School_id", "SEC2", "record_error"),
        ("students.csv", 4, "School_id", "101", "record_error"),
        ("teachers.csv", 3, "School_id", "T1", "record_error"),
        ("teachers.csv", 4, "School_id", "T2", "record_error"),
    ]
    assert all("dropped because of its own errors" in f.message for f in references)
    roster = result.roster
    assert roster is not None
    assert roster.teacher_schools.column("School_id").to_pylist() == ["S1"]
    assert roster.sections.column("Section_id").to_pylist() == ["SEC1"]
    assert roster.enrollments.num_rows == 1


def test_a_repeated_enrollment_is_counted_once(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path, with_rows("enrollments.csv", "S1,SEC1,100")))
    assert where(only(result, "duplicate_enrollment")) == ("enrollments.csv", 4, None, "SEC1", "warning")
    assert result.roster is not None
    assert result.roster.enrollments.num_rows == 2
    assert result.counts["enrollments.csv"] == {"rows": 3, "valid": 2}


def test_an_enrollment_for_an_unknown_student_is_dropped(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path, with_rows("enrollments.csv", "S1,SEC1,999")))
    finding = only(result, "unknown_reference")
    assert where(finding) == ("enrollments.csv", 4, "Student_id", "SEC1", "record_error")
    assert "not in students.csv" in finding.message


def test_an_enrollment_at_another_school_than_its_section_is_a_warning(tmp_path: Path) -> None:
    enrollments = CLEAN["enrollments.csv"].replace("S1,SEC1,100", "S2,SEC1,100")
    result = validate_folder(write_set(tmp_path, {"enrollments.csv": enrollments}))
    assert where(only(result, "school_mismatch")) == ("enrollments.csv", 2, "School_id", "SEC1", "warning")
    assert result.roster is not None
    assert result.roster.enrollments.num_rows == 2


def test_a_section_without_enrollments_is_a_warning(tmp_path: Path) -> None:
    changes = with_rows("sections.csv", "S1,SEC3,T1,,Chess,Chess,7,2025-08-01,2026-06-01")
    result = validate_folder(write_set(tmp_path, changes))
    assert where(only(result, "empty_section")) == ("sections.csv", 4, None, "SEC3", "warning")
    assert result.roster is not None
    assert "SEC3" in result.roster.sections.column("Section_id").to_pylist()


def test_the_records_id_is_in_the_finding_and_no_name_or_email_is_in_any_message(tmp_path: Path) -> None:
    students = CLEAN["students.csv"].replace("ann@school.org,9,", "ann@school,9,")
    changes = {"students.csv": students, **with_rows("enrollments.csv", "S1,SEC1,999", "S1,SEC1,100")}
    result = validate_folder(write_set(tmp_path, changes))
    assert {f.code for f in result.findings} == {"invalid_email", "unknown_reference", "duplicate_enrollment"}
    for finding in result.findings:
        for personal in ("Ann", "Lee", "ann@school", "Smith", "Tom"):
            assert personal not in finding.message


def test_findings_come_sorted_by_file_line_column_and_code(tmp_path: Path) -> None:
    changes = {
        **with_rows("enrollments.csv", "S1,SEC1,999", "S1,SEC1,100"),
        **with_rows("schools.csv", "S2,South Middle,6,8"),
    }
    result = validate_folder(write_set(tmp_path, changes))
    keys = [(f.file, f.line or -1, f.column or "", f.code) for f in result.findings]
    assert keys == sorted(keys)
    assert [f.file for f in result.findings] == ["enrollments.csv", "enrollments.csv", "schools.csv"]


def test_rows_of_one_id_far_apart_are_still_compared(tmp_path: Path) -> None:
    students = (
        "School_id,Student_id,Grade,Contact_name\n"
        "S1,100,9,Mom\nS2,101,7,\nS1,100,9,Dad\nS1,100,9,Mom\nS2,101,8,\n"
    )
    result = validate_folder(write_set(tmp_path, {"students.csv": students}))
    assert where(only(result, "duplicate_row")) == ("students.csv", 5, None, "100", "warning")
    assert [where(f) for f in findings_of(result, "conflicting_duplicate")] == [
        ("students.csv", 3, None, "101", "record_error"),
        ("students.csv", 6, None, "101", "record_error"),
    ]
    assert result.roster is not None
    assert result.roster.student_contacts.column("Contact_name").to_pylist() == ["Mom", "Dad"]


def test_an_id_with_very_many_rows_finds_its_copies(tmp_path: Path) -> None:
    rows = [f"S{1 + n % 2},T1,Tom,Smith,tsmith,tom@school.org" for n in range(30)]
    teachers = CLEAN["teachers.csv"].splitlines()[0] + "\n" + "\n".join(rows) + "\nS2,T2,Tia,Wong,twong,\n"
    result = validate_folder(write_set(tmp_path, {"teachers.csv": teachers}))
    copies = findings_of(result, "duplicate_row")
    assert [f.line for f in copies] == list(range(4, 32))
    assert result.roster is not None
    assert result.roster.teacher_schools.num_rows == 3
    assert result.counts["teachers.csv"] == {"rows": 31, "valid": 3}
