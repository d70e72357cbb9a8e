"""Column work on two threads must give exactly what it gives on one."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from sync.roster import columnwise
from sync.roster.columnwise import map_columns
from sync.roster.validate import validate_folder
from tests.roster.csvset import with_rows, write_set


def test_small_tables_stay_on_the_calling_thread() -> None:
    names = map_columns(lambda _: threading.current_thread().name, range(4), rows=10)
    assert names == [threading.current_thread().name] * 4


def test_large_tables_go_to_the_column_threads_in_order() -> None:
    results = map_columns(
        lambda item: (item, threading.current_thread().name), range(6), rows=columnwise.MIN_ROWS
    )
    assert [item for item, _ in results] == list(range(6))
    assert all(name.startswith("roster-columns") for _, name in results)


def test_threaded_validation_finds_and_keeps_the_same_as_serial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes = {
        **with_rows(
            "students.csv",
            "S1,102,Cy,Do,cy,not-an-email,9,2010-01-02,Mom",
            "S1,102,Cy,Do,cy,not-an-email,9,2010-01-02,Mom",
            "S2,103,Di,Ek,di,di@school.org,7,2012-03-04,",
            "S2,103,Di,Ex,di,di@school.org,7,2012-03-04,",
        ),
    }
    folder = write_set(tmp_path, changes)
    serial = validate_folder(folder)
    monkeypatch.setattr(columnwise, "MIN_ROWS", 0)
    threaded = validate_folder(folder)
    assert {f.code for f in serial.findings} >= {"invalid_email", "duplicate_row", "conflicting_duplicate"}
    assert threaded.findings == serial.findings
    assert threaded.counts == serial.counts
    assert threaded.roster is not None and serial.roster is not None
    assert threaded.roster.students.equals(serial.roster.students)
    assert threaded.roster.student_contacts.equals(serial.roster.student_contacts)
