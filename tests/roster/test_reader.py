"""Reading CSV files: strings only, exact line numbers, and one-line errors for bad paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.errors import UsageError
from sync.roster.lines import scan_records, scan_records_slowly
from sync.roster.reader import CsvFolderSource, parse_csv_bytes
from tests.roster.csvset import write_set


def lines_of(data: bytes) -> list[int]:
    raw, findings = parse_csv_bytes(data, "schools", "schools.csv")
    assert raw is not None, findings
    return [raw.line_of(row) for row in range(raw.table.num_rows)]


def test_every_value_is_read_as_a_string_so_leading_zeros_stay() -> None:
    raw, _ = parse_csv_bytes(b"School_id,School_name\n007,1.50\n", "schools", "schools.csv")
    assert raw is not None
    assert raw.table.to_pylist() == [{"School_id": "007", "School_name": "1.50"}]


def test_a_byte_order_mark_is_not_part_of_the_first_header() -> None:
    raw, _ = parse_csv_bytes(b"\xef\xbb\xbfSchool_id,School_name\r\nS1,North\r\n", "schools", "schools.csv")
    assert raw is not None
    assert raw.table.column_names == ["School_id", "School_name"]
    assert raw.lines is None


def test_blank_values_are_read_as_nulls() -> None:
    raw, _ = parse_csv_bytes(b'School_id,School_name\nS1,""\nS2,\n', "schools", "schools.csv")
    assert raw is not None
    assert raw.table.column("School_name").to_pylist() == [None, None]


def test_a_plain_file_takes_the_fast_path_with_one_row_per_line() -> None:
    raw, _ = parse_csv_bytes(b"School_id,School_name\nS1,North\nS2,South", "schools", "schools.csv")
    assert raw is not None
    assert raw.lines is None
    assert [raw.line_of(i) for i in range(2)] == [2, 3]


def test_blank_lines_are_skipped_and_counted() -> None:
    assert lines_of(b"School_id,School_name\n\nS1,North\n\n\nS2,South\n\n") == [3, 6]


def test_values_spanning_lines_give_each_record_its_first_line() -> None:
    data = b'School_id,School_name\nS1,"North\r\nHigh"\nS2,"South ""Mid""\n\nSchool"\nS3,East\n'
    assert lines_of(data) == [2, 4, 7]


def test_a_quoted_header_spanning_lines_moves_every_line_down() -> None:
    assert lines_of(b'School_id,"School\nname"\nS1,North\nS2,South\n') == [3, 4]


def test_old_mac_line_endings_are_lines_too() -> None:
    assert lines_of(b"School_id,School_name\rS1,North\r\rS2,South\r") == [2, 4]


def test_a_quote_inside_an_unquoted_value_does_not_shift_later_lines() -> None:
    assert lines_of(b'School_id,School_name\nS1,North "A"\nS2,"So\nuth"\nS3,East\n') == [2, 3, 5]


def test_a_header_line_that_is_blank_is_a_missing_header() -> None:
    raw, findings = parse_csv_bytes(b"\nSchool_id,School_name\nS1,North\n", "schools", "schools.csv")
    assert raw is None
    assert [(f.code, f.file) for f in findings] == [("missing_header", "schools.csv")]


def test_bad_bytes_in_the_header_are_an_encoding_error_on_line_one() -> None:
    raw, findings = parse_csv_bytes(b"School_id,School_n\xe4me\nS1,North\n", "schools", "schools.csv")
    assert raw is None
    assert [(f.code, f.line) for f in findings] == [("invalid_encoding", 1)]
    assert "byte 18 " in findings[0].message


def test_an_unterminated_quote_at_the_end_is_a_malformed_row() -> None:
    raw, findings = parse_csv_bytes(b'School_id,School_name\nS1,North\nS2,"South\n', "schools", "schools.csv")
    assert raw is not None
    assert raw.table.num_rows == 1
    assert [(f.code, f.line, f.record_id) for f in findings] == [("malformed_row", 3, "S2")]


def test_a_quote_never_closed_skips_the_rest_of_the_file_as_one_malformed_row() -> None:
    data = b'School_id,School_name\nS1,North\nS2,"South\nS3,East\nS4,West\n'
    raw, findings = parse_csv_bytes(data, "schools", "schools.csv")
    assert raw is not None
    assert raw.table.column("School_id").to_pylist() == ["S1"]
    assert [(f.code, f.line, f.record_id) for f in findings] == [("malformed_row", 3, "S2")]
    assert "never closed" in findings[0].message


def test_malformed_rows_keep_the_lines_of_the_rows_after_them() -> None:
    data = b"School_id,School_name\nS1\nS2,South\nS3,East,extra\n\nS4,West\n"
    raw, findings = parse_csv_bytes(data, "schools", "schools.csv")
    assert raw is not None
    assert [(f.code, f.line) for f in findings] == [("malformed_row", 2), ("malformed_row", 4)]
    assert [raw.line_of(i) for i in range(raw.table.num_rows)] == [3, 6]


def test_the_fast_record_scan_agrees_with_pythons_csv_module() -> None:
    data = b'h1,h2\r\na,"b\r\nc"\r\n\r\n"d""",e\r\n"x\ny",z'
    start = data.index(b"\n") + 1
    fast = scan_records(data, start, 2)
    slow = scan_records_slowly(data, start, 2)
    assert fast.lines.tolist() == slow.lines.tolist() == [2, 5, 6]
    assert fast.quoted_line_breaks and slow.quoted_line_breaks


def test_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        CsvFolderSource(tmp_path / "nowhere").read_raw()


def test_a_file_given_as_the_folder_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "schools.csv").write_text("School_id\n")
    with pytest.raises(UsageError, match="is not a folder"):
        CsvFolderSource(tmp_path / "schools.csv").read_raw()


def test_a_roster_file_that_is_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    write_set(tmp_path, {"students.csv": None})
    (tmp_path / "students.csv").mkdir()
    with pytest.raises(UsageError, match=r"students\.csv is a folder"):
        CsvFolderSource(tmp_path).read_raw()


def test_progress_reports_bytes_read_up_to_the_total(tmp_path: Path) -> None:
    folder = write_set(tmp_path)
    total = sum(p.stat().st_size for p in folder.iterdir())
    calls: list[tuple[int, int]] = []
    CsvFolderSource(folder).read_raw(progress=lambda done, all_: calls.append((done, all_)))
    assert len(calls) == 5
    assert calls[-1] == (total, total)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
