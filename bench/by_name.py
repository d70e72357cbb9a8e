"""A generated district re-ordered the way SIS exports usually list people: by school, then by name.

The generator writes every file in id order, which the validator's fast paths like best. Real exports rarely
are: students and teachers come by school and name (a student's contact rows still together), and each
section's enrollments come with its students by name. :func:`reorder_by_name` writes such a copy of a
district, row for row the same records, so that a benchmark can show both orders.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench.csvio import read_strings, write_table

_NAME_ORDER = ("School_id", "Last_name", "First_name")


def _by_name(table: pa.Table, id_column: str) -> pa.Table:
    """``table`` sorted by school, last and first name, then id; rows of one id keep their order."""
    keys = [*_NAME_ORDER, id_column, "_row"]
    numbered = table.append_column("_row", pa.array(np.arange(table.num_rows)))
    return numbered.sort_by([(key, "ascending") for key in keys]).drop_columns(["_row"])


def _enrollments_by_name(enrollments: pa.Table, students: pa.Table, sections: pa.Table) -> pa.Table:
    """Each section's enrollments together, in the order of sections.csv, its students by name."""
    section = pc.index_in(enrollments["Section_id"], value_set=sections["Section_id"])
    student = pc.index_in(enrollments["Student_id"], value_set=students["Student_id"])  # first row of the id
    keyed = pa.table(
        {
            "_section": pc.fill_null(section, -1),
            "_last": pc.take(students["Last_name"], student),
            "_first": pc.take(students["First_name"], student),
            "_student": enrollments["Student_id"],
            "_row": pa.array(np.arange(enrollments.num_rows)),
        }
    )
    order = pc.sort_indices(keyed, sort_keys=[(name, "ascending") for name in keyed.column_names])
    return enrollments.take(order)


def reorder_by_name(source: Path, target: Path) -> None:
    """Write into ``target`` the district in ``source`` with students, teachers and enrollments by name."""
    target.mkdir(parents=True, exist_ok=True)
    for kind in ("schools", "sections"):
        shutil.copyfile(source / f"{kind}.csv", target / f"{kind}.csv")
    students = _by_name(read_strings(source / "students.csv"), "Student_id")
    write_table(target / "students.csv", students)
    write_table(target / "teachers.csv", _by_name(read_strings(source / "teachers.csv"), "Teacher_id"))
    sections = read_strings(source / "sections.csv")
    enrollments = read_strings(source / "enrollments.csv")
    write_table(target / "enrollments.csv", _enrollments_by_name(enrollments, students, sections))
