"""Findings: what validation and sync found wrong, each with its location and a stable code.

A finding has one of three *severities* (``clever-csv.md`` §4 "Levels"):

- ``file_error``: a file-level error. The run stops before anything is written (status ``failed``).
- ``record_error``: the record (and what depends on it) is dropped; the run goes on.
- ``warning``: only a bad optional value is dropped.

Reports show ``level`` = ``error`` for the first two and ``warning`` for the third. Codes are stable and are
listed in :data:`CODES`. Messages never contain names, emails or passwords; ``record_id`` holds the record's
SIS id and is written to reports only (never to logs above DEBUG).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    FILE_ERROR = "file_error"
    RECORD_ERROR = "record_error"
    WARNING = "warning"


class RunStatus(StrEnum):
    COMPLETED = "completed"
    COMPLETED_WITH_WARNINGS = "completed_with_warnings"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"
    HELD = "held"


#: Every finding code of ``clever-csv.md`` §7 (plus Graph failures found at sync time, prefixed ``graph_``).
CODES: frozenset[str] = frozenset(
    {
        # file-level errors
        "missing_file",
        "unsupported_file",
        "missing_header",
        "invalid_encoding",
        "missing_column",
        "duplicate_column",
        "empty_file",
        # record errors
        "malformed_row",
        "missing_value",
        "conflicting_duplicate",
        "unknown_reference",
        "invalid_characters",
        "invalid_email",
        # warnings
        "file_name_case",
        "ignored_file",
        "header_normalized",
        "unknown_column",
        "line_break_in_value",
        "duplicate_row",
        "duplicate_enrollment",
        "invalid_date",
        "invalid_grade",
        "invalid_value",
        "invalid_term",
        "school_mismatch",
        "empty_section",
        "generated_name",
        "unknown_school_filter",
        # found at sync time
        "unmatched_entry",
        "duplicate_target_entries",
        "duplicate_source_entries",
        "invalid_username",
        "directory_error",
    }
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding. ``line`` is the record's first line in its file (header = 1); ``None`` for a whole file.
    ``column`` is ``None`` for a finding about a whole record or file."""

    file: str
    line: int | None
    column: str | None
    record_id: str | None
    severity: Severity
    code: str
    message: str

    @property
    def level(self) -> str:
        return "warning" if self.severity is Severity.WARNING else "error"

    def to_dict(self) -> dict[str, Any]:
        """The report row: ``file, line, column, record_id, level, code, message``."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "record_id": self.record_id,
            "level": self.level,
            "code": self.code,
            "message": self.message,
        }

    def to_json(self) -> dict[str, Any]:
        """Full form (with severity) for passing findings between processes."""
        data = asdict(self)
        data["severity"] = self.severity.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(**{**data, "severity": Severity(data["severity"])})


def sort_key(finding: Finding) -> tuple[str, int, str, str, str]:
    """Deterministic report order: by file, line, column, code, record."""
    return (
        finding.file,
        finding.line if finding.line is not None else -1,
        finding.column or "",
        finding.code,
        finding.record_id or "",
    )


def status_of(findings: Iterable[Finding]) -> RunStatus:
    """The run status that a list of findings implies (``held`` is decided by the guard, not here)."""
    worst = RunStatus.COMPLETED
    for finding in findings:
        if finding.severity is Severity.FILE_ERROR:
            return RunStatus.FAILED
        if finding.severity is Severity.RECORD_ERROR:
            worst = RunStatus.COMPLETED_WITH_ERRORS
        elif worst is RunStatus.COMPLETED:
            worst = RunStatus.COMPLETED_WITH_WARNINGS
    return worst
