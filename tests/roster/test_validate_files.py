"""File-level rules of a Clever-format set (clever-csv.md §1–§2): which files, headers, encodings."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.findings import RunStatus
from sync.roster.validate import validate_folder
from tests.roster.csvset import CLEAN, findings_of, only, where, write_set


def test_a_clean_set_has_no_findings_and_counts_every_row(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path))
    assert result.findings == []
    assert result.status is RunStatus.COMPLETED
    assert result.counts == {
        "schools.csv": {"rows": 2, "valid": 2},
        "students.csv": {"rows": 3, "valid": 3},
        "teachers.csv": {"rows": 3, "valid": 3},
        "sections.csv": {"rows": 2, "valid": 2},
        "enrollments.csv": {"rows": 2, "valid": 2},
    }


def test_a_missing_required_file_fails_the_set(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path, {"enrollments.csv": None}))
    assert where(only(result, "missing_file")) == ("enrollments.csv", None, None, None, "file_error")
    assert result.roster is None
    assert result.status is RunStatus.FAILED


def test_an_admins_file_is_rejected_and_named(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path, {"admins.csv": "School_id,Staff_id\nS1,A1\n"}))
    finding = only(result, "unsupported_file")
    assert where(finding) == ("admins.csv", None, None, None, "file_error")
    assert "remove" in finding.message
    assert result.roster is None


def test_an_unknown_file_is_ignored_with_a_warning(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path, {"notes.txt": "hello"}))
    assert where(only(result, "ignored_file")) == ("notes.txt", None, None, None, "warning")
    assert result.roster is not None


def test_a_file_name_in_other_case_is_read_with_a_warning(tmp_path: Path) -> None:
    result = validate_folder(
        write_set(tmp_path, {"students.csv": None, "Students.csv": CLEAN["students.csv"]})
    )
    assert where(only(result, "file_name_case")) == ("Students.csv", None, None, None, "warning")
    assert result.roster is not None
    assert result.roster.students.num_rows == 2
    assert result.counts["Students.csv"] == {"rows": 3, "valid": 3}


def test_an_empty_file_has_no_header(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path, {"teachers.csv": b""}))
    assert where(only(result, "missing_header")) == ("teachers.csv", None, None, None, "file_error")
    assert result.roster is None


def test_bytes_that_are_not_utf8_are_reported_with_line_and_byte_offset(tmp_path: Path) -> None:
    text = CLEAN["students.csv"].replace("Bob", "Bj\u00f6rn")
    data = text.encode("latin-1")
    result = validate_folder(write_set(tmp_path, {"students.csv": data}))
    finding = only(result, "invalid_encoding")
    assert where(finding) == ("students.csv", 4, None, None, "file_error")
    offset = data.index("\u00f6".encode("latin-1"))
    assert f"byte {offset} " in finding.message
    assert "UTF-8" in finding.message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_utf16_or_utf32_file_is_an_encoding_error_on_line_one_that_names_it(
    tmp_path: Path, encoding: str
) -> None:
    data = CLEAN["schools.csv"].encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    result = validate_folder(write_set(tmp_path, {"schools.csv": data}))
    finding = only(result, "invalid_encoding")
    assert where(finding) == ("schools.csv", 1, None, None, "file_error")
    label = encoding[:6].upper()
    assert f"the file is {label} (it starts with a {label} byte-order mark)" in finding.message
    assert "save the file as UTF-8" in finding.message


@pytest.mark.parametrize("separator", [";", "\t"])
def test_a_header_separated_by_semicolons_or_tabs_says_so(tmp_path: Path, separator: str) -> None:
    teachers = CLEAN["teachers.csv"].replace(",", separator)
    result = validate_folder(write_set(tmp_path, {"teachers.csv": teachers}))
    missing = findings_of(result, "missing_column")
    assert missing and all(f.file == "teachers.csv" and f.line == 1 for f in missing)
    shown = "tabs" if separator == "\t" else f"'{separator}'"
    for finding in missing:
        assert f"the header looks separated by {shown}, not commas" in finding.message
        assert "save the file as comma-separated CSV" in finding.message
    [glued] = findings_of(result, "unknown_column")
    assert f"several columns separated by {shown}" in glued.message
    assert result.roster is None


def test_a_missing_required_column_is_a_file_level_error(tmp_path: Path) -> None:
    teachers = "School_id,First_name\nS1,Tom\n"
    result = validate_folder(write_set(tmp_path, {"teachers.csv": teachers}))
    assert where(only(result, "missing_column")) == ("teachers.csv", 1, "Teacher_id", None, "file_error")
    assert result.roster is None


def test_two_headers_that_mean_the_same_column_are_an_error(tmp_path: Path) -> None:
    schools = "School_id,School_name,school name\nS1,North,Other\nS2,South,Other\n"
    result = validate_folder(write_set(tmp_path, {"schools.csv": schools}))
    assert where(only(result, "duplicate_column")) == ("schools.csv", 1, "school name", None, "file_error")


def test_headers_match_ignoring_case_and_spaces_with_a_warning(tmp_path: Path) -> None:
    schools = "school id,SCHOOL_NAME\nS1,North\nS2,South\n"
    result = validate_folder(write_set(tmp_path, {"schools.csv": schools}))
    normalized = findings_of(result, "header_normalized")
    assert [where(f) for f in normalized] == [
        ("schools.csv", 1, "School_id", None, "warning"),
        ("schools.csv", 1, "School_name", None, "warning"),
    ]
    assert result.roster is not None
    assert result.roster.schools.column("School_name").to_pylist() == ["North", "South"]


def test_dob_is_an_accepted_spelling_of_DOB(tmp_path: Path) -> None:
    students = CLEAN["students.csv"].replace(",DOB,", ",Dob,")
    result = validate_folder(write_set(tmp_path, {"students.csv": students}))
    assert result.findings == []
    assert result.roster is not None
    assert result.roster.students.column("DOB").to_pylist() == ["2010-01-02", "2012-03-04"]


def test_an_unknown_column_is_ignored_with_a_warning(tmp_path: Path) -> None:
    schools = "School_id,School_name,Mascot\nS1,North,Owl\nS2,South,Fox\n"
    result = validate_folder(write_set(tmp_path, {"schools.csv": schools}))
    assert where(only(result, "unknown_column")) == ("schools.csv", 1, "Mascot", None, "warning")
    assert result.roster is not None
    assert "Mascot" not in result.roster.schools.column_names


def test_schools_with_a_header_and_no_rows_fail_the_set(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path, {"schools.csv": "School_id,School_name\n"}))
    assert where(only(result, "empty_file")) == ("schools.csv", None, None, None, "file_error")
    assert result.roster is None


def test_other_files_with_a_header_and_no_rows_are_a_warning(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path, {"enrollments.csv": "School_id,Section_id,Student_id\n"}))
    assert where(only(result, "empty_file")) == ("enrollments.csv", None, None, None, "warning")
    assert result.roster is not None
    assert result.roster.enrollments.num_rows == 0
    assert {f.record_id for f in findings_of(result, "empty_section")} == {"SEC1", "SEC2"}


def test_a_row_with_too_many_fields_is_skipped_as_malformed(tmp_path: Path) -> None:
    students = CLEAN["students.csv"] + "S2,102,Cy,Do,cy,cy@school.org,7,2012-03-04,,extra\n"
    result = validate_folder(write_set(tmp_path, {"students.csv": students}))
    finding = only(result, "malformed_row")
    assert where(finding) == ("students.csv", 5, None, "102", "record_error")
    assert "10 fields" in finding.message and "has 9" in finding.message
    assert result.counts["students.csv"] == {"rows": 4, "valid": 3}


def test_a_quoted_line_break_becomes_a_space_and_later_lines_stay_right(tmp_path: Path) -> None:
    students = (
        "School_id,Student_id,First_name,Last_name,Username,Grade\n"
        'S1,100,Ann,"Lee\nJones",ann,9\n'
        "\n"
        "S2,101,Bob,Ray,bob,banana\n"
    )
    result = validate_folder(write_set(tmp_path, {"students.csv": students}))
    assert where(only(result, "line_break_in_value")) == ("students.csv", 2, "Last_name", "100", "warning")
    assert where(only(result, "invalid_grade")) == ("students.csv", 5, "Grade", "101", "warning")
    assert result.roster is not None
    assert result.roster.students.column("Last_name").to_pylist() == ["Lee Jones", "Ray"]
    assert result.roster.students.column("_line").to_pylist() == [2, 5]


def test_staff_is_optional_and_validated_when_present(tmp_path: Path) -> None:
    without = validate_folder(write_set(tmp_path / "a"))
    assert without.roster is not None
    assert without.roster.staff.num_rows == 0
    assert "Staff_id" in without.roster.staff.column_names
    staff = "School_id,Staff_id,Staff_email\nS1,X1,x1@school.org\nS2,X1,x1@school.org\nS9,X2,x2@school.org\n"
    found = validate_folder(write_set(tmp_path / "b", {"staff.csv": staff}))
    assert where(only(found, "unknown_reference")) == ("staff.csv", 4, "School_id", "X2", "record_error")
    assert found.roster is not None
    assert found.roster.staff.column("Staff_id").to_pylist() == ["X1"]
    assert found.roster.staff_schools.column("School_id").to_pylist() == ["S1", "S2"]
