"""Report files: findings.csv and summary.json, deterministic, spreadsheet-safe, written atomically."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sync.errors import UsageError
from sync.findings import Finding, Severity
from sync.report import escape_cell, validation_summary, write_report
from sync.roster.model import ValidationResult

WARNING = Finding("students.csv", 4, "Grade", "101", Severity.WARNING, "invalid_grade", "Grade is not valid")
ERROR = Finding("schools.csv", 3, None, "S2", Severity.RECORD_ERROR, "missing_value", "School_name is blank")
FILE = Finding(
    "teachers.csv", None, None, None, Severity.FILE_ERROR, "missing_file", "teachers.csv is missing"
)


def read_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "findings.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("a=b", "a=b"),
    ],
)
def test_a_value_a_spreadsheet_would_run_gets_a_leading_quote(value: str, written: str) -> None:
    assert escape_cell(value) == written


def test_findings_csv_has_the_report_columns_in_report_order(tmp_path: Path) -> None:
    write_report(tmp_path, [WARNING, FILE, ERROR], {"status": "failed"})
    rows = read_rows(tmp_path)
    assert list(rows[0]) == ["file", "line", "column", "record_id", "level", "code", "message"]
    assert [(r["file"], r["line"], r["level"], r["code"]) for r in rows] == [
        ("schools.csv", "3", "error", "missing_value"),
        ("students.csv", "4", "warning", "invalid_grade"),
        ("teachers.csv", "", "error", "missing_file"),
    ]


def test_a_record_id_that_looks_like_a_formula_is_escaped_in_the_file(tmp_path: Path) -> None:
    finding = Finding("students.csv", 2, None, "=HYPERLINK(1)", Severity.WARNING, "duplicate_row", "repeat")
    write_report(tmp_path, [finding], {})
    assert read_rows(tmp_path)[0]["record_id"] == "'=HYPERLINK(1)"


def test_the_same_findings_give_byte_identical_files(tmp_path: Path) -> None:
    summary = {"status": "completed_with_errors", "counts": {"b.csv": {"rows": 1}, "a.csv": {"rows": 2}}}
    write_report(tmp_path / "one", [WARNING, ERROR, FILE], summary)
    write_report(tmp_path / "two", [FILE, ERROR, WARNING], dict(reversed(summary.items())))
    for name in ("findings.csv", "summary.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_the_summary_is_written_as_given(tmp_path: Path) -> None:
    summary = {"status": "completed", "changes": {"users_created": 3}, "note": "émoji-free"}
    write_report(tmp_path, [], summary)
    assert json.loads((tmp_path / "summary.json").read_text(encoding="utf-8")) == summary


def test_the_report_folder_is_created_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "first"
    write_report(folder, [ERROR], {"status": "completed_with_errors"})
    assert sorted(p.name for p in folder.iterdir()) == ["findings.csv", "summary.json"]


def test_rewriting_a_report_replaces_it_whole(tmp_path: Path) -> None:
    write_report(tmp_path, [ERROR, WARNING], {"status": "completed_with_errors"})
    write_report(tmp_path, [], {"status": "completed"})
    assert read_rows(tmp_path) == []
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "completed"


def test_a_report_folder_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("x")
    with pytest.raises(UsageError, match="report folder"):
        write_report(tmp_path / "taken", [], {})


def test_the_validation_summary_holds_status_counts_and_report_rows() -> None:
    result = ValidationResult(None, [FILE, WARNING], {"students.csv": {"rows": 3, "valid": 3}})
    assert validation_summary(result) == {
        "status": "failed",
        "counts": {"students.csv": {"rows": 3, "valid": 3}},
        "findings": [WARNING.to_dict(), FILE.to_dict()],
    }
