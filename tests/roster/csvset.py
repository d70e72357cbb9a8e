"""A small, clean Clever-format set written by tests, with any file replaced, removed or added."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sync.findings import Finding
from sync.roster.model import ValidationResult

CLEAN: dict[str, str] = {
    "schools.csv": "School_id,School_name,Low_grade,High_grade\nS1,North High,9,12\nS2,South Middle,6,8\n",
    "students.csv": (
        "School_id,Student_id,First_name,Last_name,Username,Student_email,Grade,DOB,Contact_name\n"
        "S1,100,Ann,Lee,ann,ann@school.org,9,2010-01-02,Mom\n"
        "S1,100,Ann,Lee,ann,ann@school.org,9,2010-01-02,Dad\n"
        "S2,101,Bob,Ray,bob,bob@school.org,7,2012-03-04,\n"
    ),
    "teachers.csv": (
        "School_id,Teacher_id,First_name,Last_name,Username,Teacher_email\n"
        "S1,T1,Tom,Smith,tsmith,tom@school.org\n"
        "S2,T1,Tom,Smith,tsmith,tom@school.org\n"
        "S2,T2,Tia,Wong,twong,tia@school.org\n"
    ),
    "sections.csv": (
        "School_id,Section_id,Teacher_id,Teacher_2_id,Name,Course_name,Period,Term_start,Term_end\n"
        "S1,SEC1,T1,T2,Algebra,Algebra I,3,2025-08-01,2026-06-01\n"
        "S2,SEC2,T2,,Science 7,Science,2,2025-08-01,2026-06-01\n"
    ),
    "enrollments.csv": "School_id,Section_id,Student_id\nS1,SEC1,100\nS2,SEC2,101\n",
}


def write_set(folder: Path, changes: Mapping[str, str | bytes | None] | None = None) -> Path:
    """Write the clean set into ``folder`` with ``changes`` applied: a file name maps to its new content
    (text or bytes), or to ``None`` to leave the file out."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str | bytes | None] = {**CLEAN, **(changes or {})}
    for name, content in files.items():
        if content is None:
            continue
        data = content.encode("utf-8") if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return folder


def with_rows(name: str, *rows: str) -> dict[str, str]:
    """The clean file ``name`` with ``rows`` appended."""
    return {name: CLEAN[name] + "".join(row + "\n" for row in rows)}


def findings_of(result: ValidationResult, code: str) -> list[Finding]:
    return [finding for finding in result.findings if finding.code == code]


def only(result: ValidationResult, code: str) -> Finding:
    """The one finding of ``code`` (fails when there is none or several)."""
    found = findings_of(result, code)
    assert len(found) == 1, f"expected one {code}, got {found!r} among {result.findings!r}"
    return found[0]


def where(finding: Finding) -> tuple[str, int | None, str | None, str | None, str]:
    """``(file, line, column, record_id, severity)`` of a finding, for one-line assertions."""
    return (finding.file, finding.line, finding.column, finding.record_id, finding.severity.value)
