"""Input that used to hang, crash or mislead: a quote never closed, a huge value, a FIFO, control
characters in a header, and what the parser's threads may call back."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from sync.errors import UsageError
from sync.findings import Severity
from sync.report import write_report
from sync.roster import reader
from sync.roster.reader import CsvFolderSource, parse_csv_bytes
from sync.roster.validate import validate_folder
from tests.roster.csvset import CLEAN, findings_of, only, write_set

STUDENT = "S1,{id},Ann,{last},ann{id},ann{id}@school.org,9,2010-01-02,Mom"


def students(*rows: str) -> str:
    return CLEAN["students.csv"].splitlines()[0] + "\n" + "".join(row + "\n" for row in rows)


def test_a_quote_never_closed_says_where_it_opened_and_how_many_lines_are_lost(tmp_path: Path) -> None:
    rows = [STUDENT.format(id=100 + n, last="Lee") for n in range(5)]
    rows[1] += ',"unterminated'
    result = validate_folder(write_set(tmp_path, {"students.csv": students(*rows)}))
    finding = only(result, "malformed_row")
    assert (finding.file, finding.line, finding.record_id) == ("students.csv", 3, "101")
    assert finding.severity is Severity.FILE_ERROR
    assert f"line 3, character {len(rows[1]) - len('unterminated')}" in finding.message
    assert "4 lines, from line 3 to the end" in finding.message
    assert "close the quote, or remove it" in finding.message
    assert result.counts["students.csv"]["rows"] == 2  # the record before it, and the one it opens
    assert findings_of(result, "empty_file") == []


def test_a_quote_never_closed_at_the_start_of_a_value_names_its_column() -> None:
    data = b'School_id,School_name\nS1,North\nS2,"South\nS3,East\n'
    raw, findings = parse_csv_bytes(data, "schools", "schools.csv")
    assert raw is not None and raw.table.column("School_id").to_pylist() == ["S1"]
    assert [(f.line, f.column, f.record_id) for f in findings] == [(3, "School_name", "S2")]
    assert "character 4" in findings[0].message


def test_a_value_larger_than_a_parser_block_is_read_whole(tmp_path: Path) -> None:
    street = "x" * (9 << 20)  # over twice the first block size (4 MiB): more than Arrow copes with
    rows = [STUDENT.format(id=100, last="Lee"), STUDENT.format(id=101, last=street)]
    raw, findings = parse_csv_bytes(students(*rows).encode(), "students", "students.csv")
    assert findings == []
    assert raw is not None and raw.table.column("Last_name").to_pylist() == ["Lee", street]


def test_a_value_larger_than_the_largest_block_is_a_file_error_naming_line_and_column(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reader, "BLOCK_SIZES", (1 << 16, 1 << 17))
    rows = [STUDENT.format(id=100, last="Lee"), STUDENT.format(id=101, last="y" * 300_000)]
    raw, findings = parse_csv_bytes(students(*rows).encode(), "students", "students.csv")
    assert raw is None
    assert [(f.code, f.severity, f.line, f.column) for f in findings] == [
        ("malformed_row", Severity.FILE_ERROR, 3, "Last_name")
    ]
    assert "300,000 bytes" in findings[0].message and "0.125 MiB" in findings[0].message
    assert "remove the oversized value" in findings[0].message


def test_a_fifo_in_place_of_a_file_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    write_set(tmp_path, {"students.csv": None})
    fifo = tmp_path / "students.csv"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            CsvFolderSource(tmp_path).read_raw()
        except BaseException as err:  # handed to the test's thread
            outcome.append(err)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # blocked opening the FIFO: release it, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(timeout=10)
        pytest.fail("reading a FIFO waited for a writer")
    assert len(outcome) == 1 and isinstance(outcome[0], UsageError)
    assert str(outcome[0]).endswith("students.csv is not a regular file; put the CSV file itself in the set")


def test_control_characters_in_a_header_are_escaped_in_findings_and_the_report(tmp_path: Path) -> None:
    header = "School_id,School_name,Low_grade,High_grade,Nick\x00name\x1b[2J"
    schools = header + "\nS1,North High,9,12,n\nS2,South Middle,6,8,s\n"
    result = validate_folder(write_set(tmp_path / "set", {"schools.csv": schools}))
    finding = only(result, "unknown_column")
    assert finding.column == "Nick\\x00name\\x1b[2J"
    assert "'Nick\\x00name\\x1b[2J'" in finding.message
    report = write_report(tmp_path / "report", result.findings, {})
    cells = (report / "findings.csv").read_text(encoding="utf-8")
    assert "Nick\\x00name\\x1b[2J" in cells and "\x00" not in cells and "\x1b" not in cells


def test_the_parser_threads_are_given_no_python_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bool, bool]] = []
    real = pacsv.read_csv

    def recording(source: Any, *, read_options: Any, parse_options: Any, convert_options: Any) -> Any:
        calls.append((read_options.use_threads, parse_options.invalid_row_handler is not None))
        return real(
            source, read_options=read_options, parse_options=parse_options, convert_options=convert_options
        )

    monkeypatch.setattr(reader.pacsv, "read_csv", recording)
    data = b"School_id,School_name\nS1,North\nS2\nS3,East,extra\nS4,West\n"
    raw, findings = parse_csv_bytes(data, "schools", "schools.csv")
    assert raw is not None and raw.table.column("School_id").to_pylist() == ["S1", "S4"]
    assert [(f.code, f.line) for f in findings] == [("malformed_row", 3), ("malformed_row", 4)]
    assert (True, True) not in calls  # a callback only ever runs on the calling thread
    assert (False, True) in calls


def test_the_unraisable_hook_is_restored_when_two_threads_read_at_once() -> None:
    original = sys.unraisablehook
    first, second = reader._quiet_undecodable_rows(), reader._quiet_undecodable_rows()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    second.__exit__(None, None, None)
    assert sys.unraisablehook is original


def test_control_characters_in_a_file_name_are_escaped_in_its_finding(tmp_path: Path) -> None:
    folder = write_set(tmp_path)
    (folder / "notes\x1b[31m.txt").write_text("hello\n")
    finding = only(validate_folder(folder), "ignored_file")
    assert finding.file == "notes\\x1b[31m.txt"
    assert "\x1b" not in finding.message and "notes\\x1b[31m.txt is not a file" in finding.message


def test_the_parser_reads_memory_arrow_owns_not_the_callers_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A buffer wrapping a Python object needs the GIL when Arrow's threads let go of it, which may be
    while the interpreter exits: the parser must be given Arrow's own memory."""
    addresses: list[int] = []
    real = pacsv.read_csv

    def recording(source: Any, **options: Any) -> Any:
        addresses.append(source.read_buffer().address)
        source.seek(0)
        return real(source, **options)

    monkeypatch.setattr(reader.pacsv, "read_csv", recording)
    data = b"School_id,School_name\nS1,North\nS2,South\n"
    raw, _ = parse_csv_bytes(data, "schools", "schools.csv")
    assert raw is not None and raw.table.num_rows == 2
    caller = pa.py_buffer(data).address
    assert addresses and all(not caller <= address < caller + len(data) for address in addresses)
