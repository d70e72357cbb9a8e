"""Enrollment ids: trimmed, blanks are missing values, repeated pairs found in sorted and unsorted files."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from sync.roster.validate import validate_folder
from tests.roster.csvset import CLEAN, only, where, write_set


def test_roster_enrollments_are_plain_trimmed_strings(tmp_path: Path) -> None:
    enrollments = "School_id,Section_id,Student_id\n S1 ,SEC1 , 100\nS2,SEC2,101\n"
    result = validate_folder(write_set(tmp_path, {"enrollments.csv": enrollments}))
    assert result.roster is not None
    table = result.roster.enrollments
    assert [field.type for field in table.schema][:3] == [pa.string()] * 3
    assert table.column("Section_id").to_pylist() == ["SEC1", "SEC2"]
    assert table.column("Student_id").to_pylist() == ["100", "101"]
    assert table.column("School_id").to_pylist() == ["S1", "S2"]


def test_an_enrollment_id_of_only_spaces_is_a_missing_value(tmp_path: Path) -> None:
    enrollments = CLEAN["enrollments.csv"] + "S1,SEC1,   \n"
    result = validate_folder(write_set(tmp_path, {"enrollments.csv": enrollments}))
    expected = ("enrollments.csv", 4, "Student_id", "SEC1", "record_error")
    assert where(only(result, "missing_value")) == expected
    assert result.roster is not None
    assert result.roster.enrollments.num_rows == 2


def test_unsorted_enrollments_still_find_a_repeated_pair(tmp_path: Path) -> None:
    enrollments = "School_id,Section_id,Student_id\nS2,SEC2,101\nS1,SEC1,100\nS2,SEC2,101\n"
    result = validate_folder(write_set(tmp_path, {"enrollments.csv": enrollments}))
    assert where(only(result, "duplicate_enrollment")) == ("enrollments.csv", 4, None, "SEC2", "warning")


def test_sorted_enrollments_find_a_repeated_pair_next_to_its_original(tmp_path: Path) -> None:
    enrollments = "School_id,Section_id,Student_id\nS1,SEC1,100\nS1,SEC1,100\nS2,SEC2,101\n"
    result = validate_folder(write_set(tmp_path, {"enrollments.csv": enrollments}))
    assert where(only(result, "duplicate_enrollment")) == ("enrollments.csv", 3, None, "SEC1", "warning")
    assert result.roster is not None
    assert result.roster.enrollments.num_rows == 2
