"""enrollments.csv is read while the other files are checked; its file-level errors still stop the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.errors import UsageError
from sync.profile import IdentityMatching, Profile, RoleSettings
from sync.roster.validate import validate_folder
from tests.roster.csvset import CLEAN, only, write_set


def test_bad_bytes_in_enrollments_stop_the_run_after_the_other_files_were_checked(tmp_path: Path) -> None:
    bad = b"School_id,Section_id,Student_id\nS1,SEC1,1\xff0\n"
    result = validate_folder(write_set(tmp_path, {"enrollments.csv": bad}))
    assert result.roster is None
    assert only(result, "invalid_encoding").file == "enrollments.csv"
    assert all(finding.severity.value == "file_error" for finding in result.findings)
    assert list(result.counts) == ["schools.csv", "students.csv", "teachers.csv", "sections.csv"]
    assert all(count["valid"] == 0 for count in result.counts.values())


def test_enrollments_without_a_required_column_stop_the_run(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path, {"enrollments.csv": "School_id,Section_id\nS1,SEC1\n"}))
    assert result.roster is None
    assert only(result, "missing_column").file == "enrollments.csv"


def test_a_late_file_and_an_early_one_both_report_their_errors(tmp_path: Path) -> None:
    changes = {
        "enrollments.csv": b"School_id,Section_id,Student_id\nS1,SEC1,1\xff0\n",
        "students.csv": b"School_id,Student_id\n\xff\n",
    }
    result = validate_folder(write_set(tmp_path, changes))
    assert result.roster is None
    assert sorted(f.file for f in result.findings if f.code == "invalid_encoding") == [
        "enrollments.csv",
        "students.csv",
    ]


def test_an_unreadable_enrollments_file_is_reported_before_a_bad_profile(tmp_path: Path) -> None:
    folder = write_set(tmp_path, {"enrollments.csv": None})
    (folder / "enrollments.csv").mkdir()
    role = RoleSettings(IdentityMatching("Username", "userPrincipalName"), licenses=("sku",))
    profile = Profile(name="p", students=role)
    with pytest.raises(UsageError, match=r"enrollments\.csv"):
        validate_folder(folder, profile)


def test_a_clean_set_read_in_two_parts_is_complete(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path))
    assert result.roster is not None
    assert result.roster.enrollments.num_rows == CLEAN["enrollments.csv"].count("\n") - 1
    assert result.findings == []
