"""Repeated ids in a file sorted by id are found without hashing, and a copy two rows back still counts."""

from __future__ import annotations

from pathlib import Path

from sync.roster.validate import validate_folder
from tests.roster.csvset import findings_of, only, where, write_set

_HEADER = "School_id,Student_id,Grade,Contact_name\n"


def test_a_contact_repeated_two_rows_later_in_a_sorted_file_is_a_duplicate_row(tmp_path: Path) -> None:
    students = _HEADER + "S1,100,9,Mom\nS1,100,9,Dad\nS1,100,9,Mom\nS2,101,7,\n"
    result = validate_folder(write_set(tmp_path, {"students.csv": students}))
    assert where(only(result, "duplicate_row")) == ("students.csv", 4, None, "100", "warning")
    assert result.roster is not None
    assert result.roster.student_contacts.column("Contact_name").to_pylist() == ["Mom", "Dad"]


def test_sorted_rows_that_disagree_are_a_conflict(tmp_path: Path) -> None:
    students = _HEADER + "S1,100,9,Mom\nS2,101,7,\nS2,101,8,\n"
    result = validate_folder(write_set(tmp_path, {"students.csv": students}))
    assert [where(f) for f in findings_of(result, "conflicting_duplicate")] == [
        ("students.csv", 3, None, "101", "record_error"),
        ("students.csv", 4, None, "101", "record_error"),
    ]


def test_the_same_id_on_rows_apart_in_an_unsorted_file_is_still_found(tmp_path: Path) -> None:
    students = _HEADER + "S2,101,7,\nS1,100,9,Mom\nS2,101,7,\n"
    result = validate_folder(write_set(tmp_path, {"students.csv": students}))
    assert where(only(result, "duplicate_row")) == ("students.csv", 4, None, "101", "warning")
