"""The roster: what reading and validation hand to the rest of the sync.

Two stages share these types:

1. *Reading* turns each source file into a :class:`RawFile`: an Arrow table whose columns are all strings,
   with the headers as written, plus the first line of every row. The CSV reader and the Clever API source
   both produce ``RawFile`` objects, so validation is shared.
2. *Validation* turns the raw files into a :class:`Roster` of valid, normalised records plus findings
   (:class:`ValidationResult`).

Roster tables use the canonical column names of ``clever-csv.md`` §2 (``School_id``, ``Student_id`` …), hold
only valid records, one row per entity, every value a string (``null`` where blank or dropped), and carry a
``_line`` column (int64, the record's first line in its file; null for API-sourced records). Normalisation:
values trimmed; emails lower-cased; dates ``YYYY-MM-DD``; grades in the canonical spelling of §3
(``Kindergarten``, ``1``…``13``, ``PreKindergarten`` …); Y/N columns ``Y``/``N``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa

from sync.findings import Finding, RunStatus, status_of

#: The kinds of file in a set, in the order they are processed.
FILE_KINDS = ("schools", "students", "teachers", "sections", "enrollments", "staff")
REQUIRED_KINDS = ("schools", "students", "teachers", "sections", "enrollments")


@dataclass(frozen=True)
class RawFile:
    """One source file as read: every column a string, headers as written (BOM stripped)."""

    kind: str
    #: Name used in findings: the file name as found (``Students.csv``), or ``clever:students`` for the API.
    name: str
    table: pa.Table
    #: First line (header = 1) of each row; ``None`` means row ``i`` is on line ``i + 2``.
    lines: pa.Array | None = None

    def line_of(self, row: int) -> int:
        if self.lines is None:
            return row + 2
        return int(self.lines[row].as_py())


@dataclass(frozen=True)
class Roster:
    """Valid records of a set. See the module docstring for the conventions.

    - ``schools``: schools.csv columns, one row per ``School_id``.
    - ``students``: students.csv columns except ``Contact_*``, one row per ``Student_id``.
    - ``student_contacts``: ``Student_id`` + ``Contact_*`` columns, one row per distinct contact.
    - ``teachers``: teachers.csv columns except ``School_id``, one row per ``Teacher_id``.
    - ``teacher_schools``: ``Teacher_id``, ``School_id`` (a teacher at several schools has several rows).
    - ``sections``: sections.csv columns except ``Teacher_id``/``Teacher_N_id``; ``Name`` always filled
      (generated when blank). One row per ``Section_id``.
    - ``section_teachers``: ``Section_id``, ``Teacher_id``, ``Position`` (int8, 1 = primary teacher).
    - ``enrollments``: ``Section_id``, ``Student_id``, ``School_id``; unique pairs, both ends valid.
    - ``staff`` / ``staff_schools``: like teachers, empty tables when staff.csv is absent.
    """

    schools: pa.Table
    students: pa.Table
    student_contacts: pa.Table
    teachers: pa.Table
    teacher_schools: pa.Table
    sections: pa.Table
    section_teachers: pa.Table
    enrollments: pa.Table
    staff: pa.Table
    staff_schools: pa.Table


@dataclass(frozen=True)
class ValidationResult:
    """Outcome of validating a set. ``roster`` is ``None`` when a file-level error stopped the run."""

    roster: Roster | None
    findings: list[Finding]
    #: ``{file name: {"rows": n, "valid": n}}`` (file name as found, e.g. ``students.csv``).
    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @property
    def status(self) -> RunStatus:
        return status_of(self.findings)
