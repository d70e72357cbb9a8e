"""Rules of enrollments.csv (``clever-csv.md`` §2, §4), built for millions of rows.

The costly part — hashing every enrollment's three ids and finding the repeated (section, student) pairs —
is :func:`find_positions`, which works on the files *as read* so that it can run on a second thread while the
other files are checked. :func:`place` maps the sections and schools onto the valid records as soon as those
are known (the students may still be checked meanwhile); :func:`check_enrollments` maps the students and
makes the findings: blanks, unknown or dropped references, repeated pairs, school mismatches, and sections
left without enrollments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sync.findings import Finding, Severity
from sync.roster.checks import (
    LINE,
    ROW,
    as_int64,
    as_mask,
    has_any,
    positions,
    required_values,
    row_findings,
    unknown_references,
)
from sync.roster.columns import ENROLLMENTS
from sync.roster.columnwise import map_columns

#: Enrollments compared with their neighbours at a time.
_BLOCK = 1 << 18


@dataclass(frozen=True)
class Positions:
    """Where each enrollment's ids are in the files as read (``-1``: absent), and which enrollments repeat an
    earlier (Section_id, Student_id) pair."""

    section: npt.NDArray[np.int32]
    student: npt.NDArray[np.int32]
    school: npt.NDArray[np.int32]
    repeat: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Targets:
    """The valid records enrollments refer to (tables with ``_row``), and every id each file had."""

    schools: pa.Table
    students: pa.Table
    sections: pa.Table
    #: ``{kind: file name}`` and ``{kind: ids as read}`` for ``schools``, ``students``, ``sections``.
    names: Mapping[str, str]
    seen: Mapping[str, pa.ChunkedArray]


def find_positions(
    enrollments: pa.Table, sections: pa.ChunkedArray, students: pa.ChunkedArray, schools: pa.ChunkedArray
) -> Positions:
    """Positions of the enrollments' ids among the ids as read, and the repeated pairs."""
    # On two cores: the student ids (no runs, the most hashing) on one, sections then schools on the other.
    student, section, school = map_columns(
        lambda job: positions(enrollments[job[0]], job[1]),
        [("Student_id", students), ("Section_id", sections), ("School_id", schools)],
        rows=enrollments.num_rows,
    )
    return Positions(section, student, school, _repeated_pairs(section, student, len(students)))


def _repeated_pairs(
    section: npt.NDArray[np.int32], student: npt.NDArray[np.int32], students: int
) -> npt.NDArray[np.bool_]:
    """Which enrollments repeat the (section, student) pair of an earlier one (rows with an unknown id are
    never repeats)."""
    repeat = np.zeros(len(section), dtype=bool)
    both = (section >= 0) & (student >= 0)
    kept = None if both.all() else np.flatnonzero(both)
    sec, stu = (section, student) if kept is None else (section[kept], student[kept])
    if len(sec) < 2:
        return repeat
    repeated = _repeats_in_runs(sec, stu, students)
    if repeated is None:  # a section's rows are not all together: compare every pair
        repeated = _later_copies(_pair_keys(sec, stu, students))
    repeat[repeated if kept is None else kept[repeated]] = True
    return repeat


def _repeats_in_runs(
    sec: npt.NDArray[np.int32], stu: npt.NDArray[np.int32], students: int
) -> npt.NDArray[np.int64] | None:
    """The later copies of repeated pairs when each section's rows are together (exports are grouped by
    section, their students mostly in order): a repeat is in its section's run, and only runs whose students
    do not strictly ascend need sorting. ``None`` when some section has rows in two places."""
    rows = len(sec)
    starts: list[npt.NDArray[np.int64]] = [np.zeros(1, dtype=np.int64)]
    unordered: list[npt.NDArray[np.int64]] = []
    # A block at a time, so that the temporaries stay small.
    for first in range(1, rows, _BLOCK):
        stop = min(first + _BLOCK, rows)
        new_section = sec[first:stop] != sec[first - 1 : stop - 1]
        starts.append(np.flatnonzero(new_section) + first)
        not_above = stu[first:stop] <= stu[first - 1 : stop - 1]
        unordered.append(np.flatnonzero(~new_section & not_above) + first)
    run_start = np.concatenate(starts)
    if int(np.bincount(sec[run_start]).max()) > 1:
        return None
    out_of_order = np.concatenate(unordered)
    if not len(out_of_order):
        return np.zeros(0, dtype=np.int64)
    # The runs (sections) holding a row not above the one before it, sorted by section then student.
    run_of_row = np.searchsorted(run_start, out_of_order, side="right") - 1  # ascending, as the rows are
    runs = run_of_row[np.append(True, run_of_row[1:] != run_of_row[:-1])]
    run_end = np.append(run_start[1:], rows)
    lengths = run_end[runs] - run_start[runs]
    if 2 * int(lengths.sum()) > rows:
        # Most sections need sorting (students listed by name, say): sort every row. When the sections come
        # in the order of sections.csv the keys ascend from run to run, which a stable sort exploits.
        return _later_copies(_pair_keys(sec, stu, students), presorted_runs=True)
    within = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    rows_of_runs = np.repeat(run_start[runs], lengths) + within
    key = _pair_keys(sec[rows_of_runs], stu[rows_of_runs], students)
    later: npt.NDArray[np.int64] = rows_of_runs[_later_copies(key, presorted_runs=True)]
    return later


def _pair_keys(
    sec: npt.NDArray[np.int32], stu: npt.NDArray[np.int32], students: int
) -> npt.NDArray[np.int64]:
    """One integer per (section, student) position pair, ordered by section then student."""
    keys: npt.NDArray[np.int64] = sec.astype(np.int64) * max(students, 1) + stu
    return keys


def _later_copies(key: npt.NDArray[np.int64], *, presorted_runs: bool = False) -> npt.NDArray[np.int64]:
    """Positions in ``key`` of every value an earlier position already holds. ``presorted_runs``: the keys
    come in ascending blocks, each unordered inside (a stable sort merges them far faster than quicksort)."""
    ordered = np.sort(key, kind="stable" if presorted_runs else None)
    if not (ordered[1:] == ordered[:-1]).any():
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(key, kind="stable")
    return np.asarray(order[1:][key[order[1:]] == key[order[:-1]]], dtype=np.int64)


@dataclass(frozen=True)
class Placed:
    """Enrollments whose sections and schools are mapped onto the valid records (:func:`place`), while their
    students are still positions among the students as read."""

    table: pa.Table
    found: Positions
    #: Position of each enrollment's section and school among the valid ones (``-1``: absent or dropped).
    section: npt.NDArray[np.int32]
    school: npt.NDArray[np.int32]
    #: Whether the enrollment's School_id differs from its section's (meaningful where ``section >= 0``).
    mismatch: npt.NDArray[np.bool_]


def place(table: pa.Table, found: Positions, schools: pa.Table, sections: pa.Table) -> Placed:
    """The part of :func:`check_enrollments` that needs only the valid schools and sections, so that it can
    run while the students are still being checked."""
    section, school = map_columns(
        lambda job: _remap(job[0], table[job[1]], job[2], job[1]),
        [(found.section, "Section_id", sections), (found.school, "School_id", schools)],
        rows=table.num_rows,
    )
    section_school = positions(sections["School_id"], schools["School_id"])
    if len(section_school):
        # A row without a valid section is dropped before its mismatch is read: any slot will do.
        mismatch = school != np.take(section_school, section, mode="clip")
    else:
        mismatch = np.zeros(len(section), dtype=bool)
    return Placed(table, found, section, school, mismatch)


def check_enrollments(placed: Placed, targets: Targets, file: str) -> tuple[pa.Table, list[Finding]]:
    """The valid enrollments (``Section_id, Student_id, School_id, _line``) and the findings."""
    findings: list[Finding] = []
    table = placed.table
    section, school, mismatch = placed.section, placed.school, placed.mismatch
    student = _remap(placed.found.student, table["Student_id"], targets.students, "Student_id")
    repeat = placed.found.repeat
    blank = pc.is_null(table["Section_id"])
    for name in ("Student_id", "School_id"):
        blank = pc.or_(blank, pc.is_null(table[name]))
    if has_any(blank):
        table, missing = required_values(
            table, ENROLLMENTS, file, ENROLLMENTS.required, id_column="Section_id"
        )
        findings += missing
        keep = ~as_mask(blank)
        section, student, school = section[keep], student[keep], school[keep]
        repeat, mismatch = repeat[keep], mismatch[keep]
    unknown = (section < 0) | (student < 0)
    if unknown.any():
        for column, index, kind in (("Section_id", section, "sections"), ("Student_id", student, "students")):
            if (index < 0).any():
                findings += unknown_references(
                    table.filter(pa.array(index < 0)),
                    column=column,
                    seen=targets.seen[kind],
                    file=file,
                    target_file=targets.names[kind],
                    id_column="Section_id",
                    consequence="the enrollment is dropped",
                )
        keep = ~unknown
        table, section, repeat, mismatch = (
            table.filter(pa.array(keep)),
            section[keep],
            repeat[keep],
            mismatch[keep],
        )
    if repeat.any():
        findings += row_findings(
            table.filter(pa.array(repeat)),
            file=file,
            id_column="Section_id",
            column=None,
            severity=Severity.WARNING,
            code="duplicate_enrollment",
            message=lambda row: (
                f"this enrollment repeats an earlier one of the same student in section "
                f"{row['Section_id']}; it is counted once — remove the copy"
            ),
        )
        keep = ~repeat
        table, section, mismatch = table.filter(pa.array(keep)), section[keep], mismatch[keep]
    findings += _school_mismatch(table, section, mismatch, targets, file)
    findings += _empty_sections(section, targets)
    return table.select(["Section_id", "Student_id", "School_id", LINE]), findings


def _school_mismatch(
    table: pa.Table, section: np.ndarray, mismatch: np.ndarray, targets: Targets, file: str
) -> list[Finding]:
    """Warning ``school_mismatch`` for an enrollment whose School_id is not its section's."""
    if not mismatch.any():
        return []
    expected = pc.take(targets.sections["School_id"], pa.array(section[mismatch]))
    bad = table.filter(pa.array(mismatch)).append_column("_expected", expected)
    return row_findings(
        bad,
        file=file,
        id_column="Section_id",
        column="School_id",
        severity=Severity.WARNING,
        code="school_mismatch",
        message=lambda row: (
            f"School_id differs from the section's School_id {row['_expected']!r}; "
            "the section's school is used — correct the enrollment"
        ),
    )


def _empty_sections(section: np.ndarray, targets: Targets) -> list[Finding]:
    """Warning ``empty_section`` for a valid section no valid enrollment refers to."""
    sections = targets.sections
    used = np.bincount(section, minlength=sections.num_rows) if len(section) else None
    empty = np.ones(sections.num_rows, dtype=bool) if used is None else used == 0
    if not empty.any():
        return []
    return row_findings(
        sections.filter(pa.array(empty)),
        file=targets.names["sections"],
        id_column="Section_id",
        column=None,
        severity=Severity.WARNING,
        code="empty_section",
        message=lambda _row: "the section has no enrollments; its class will have no students",
    )


def _remap(raw: np.ndarray, values: pa.ChunkedArray, valid: pa.Table, column: str) -> np.ndarray:
    """Positions among the ids as read (``raw``) → positions in the valid table ``valid`` (``-1`` where the
    record was dropped). A value whose first row was dropped while a later row of the same id was kept is
    looked up again."""
    if len(raw) == 0:
        return raw
    rows = as_int64(valid[ROW])
    largest = int(raw.max())
    if largest < len(rows) and _is_every_row(rows):
        # Nothing was dropped up to the last row referred to: the positions are the same.
        return raw
    # One slot past the largest position, so that ``-1`` (not found) maps to ``-1``.
    remap = np.full(max(largest, int(rows.max(initial=-1))) + 2, -1, dtype=np.int32)
    remap[rows] = np.arange(len(rows), dtype=np.int32)
    mapped: np.ndarray = np.take(remap, raw)
    missing = (mapped < 0) & (raw >= 0)
    if missing.any():
        mapped[missing] = positions(values.filter(pa.array(missing)), valid[column])
    return mapped


def _is_every_row(rows: np.ndarray) -> bool:
    """Whether ``rows`` is ``0, 1, 2 …`` (no row dropped)."""
    if not len(rows) or rows[0] != 0 or rows[-1] != len(rows) - 1:
        return False
    return bool(np.array_equal(rows, np.arange(len(rows), dtype=rows.dtype)))
