"""The district copy ordered by name: the same records, in the order SIS exports usually list them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench.by_name import reorder_by_name
from bench.csvio import read_strings
from bench.district import DistrictSize, generate_district
from sync.roster.validate import validate_folder

SMALL = DistrictSize(schools=3, students=120, teachers=9, sections=12, enrollments=300)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("by_name")
    generate_district(root / "id", SMALL)
    reorder_by_name(root / "id", root / "name")
    return root / "id", root / "name"


def _rows(folder: Path, kind: str) -> list[tuple[str, ...]]:
    table = read_strings(folder / f"{kind}.csv")
    return list(zip(*(table[name].to_pylist() for name in table.column_names), strict=True))


@pytest.mark.parametrize("kind", ["schools", "students", "teachers", "sections", "enrollments"])
def test_every_file_keeps_exactly_its_rows(both: tuple[Path, Path], kind: str) -> None:
    by_id, by_name = both
    assert Counter(_rows(by_id, kind)) == Counter(_rows(by_name, kind))


def test_students_come_by_school_then_name_with_a_students_rows_together(both: tuple[Path, Path]) -> None:
    students = read_strings(both[1] / "students.csv")
    keys = list(
        zip(*(students[c].to_pylist() for c in ("School_id", "Last_name", "First_name")), strict=True)
    )
    assert keys == sorted(keys)
    ids = students["Student_id"].to_pylist()
    runs = [i for i in range(len(ids)) if i == 0 or ids[i] != ids[i - 1]]
    assert len(runs) == len(set(ids))  # each id in one run: contact rows stay together
    assert students.num_rows > len(set(ids))  # the set has contact rows to keep together


def test_enrollments_keep_sections_in_file_order_with_students_by_name(both: tuple[Path, Path]) -> None:
    by_id, by_name = both
    sections = read_strings(by_name / "sections.csv")["Section_id"].to_pylist()
    students = read_strings(by_name / "students.csv")
    name = dict(
        zip(
            students["Student_id"].to_pylist(),
            zip(students["Last_name"].to_pylist(), students["First_name"].to_pylist(), strict=True),
            strict=True,
        )
    )
    rows = _rows(by_name, "enrollments")
    header = read_strings(by_name / "enrollments.csv").column_names
    section, student = header.index("Section_id"), header.index("Student_id")
    keys = [(sections.index(r[section]), name[r[student]], r[student]) for r in rows]
    assert keys == sorted(keys)
    assert rows != _rows(by_id, "enrollments")  # the order did change


def test_both_orders_validate_to_the_same_roster(both: tuple[Path, Path]) -> None:
    by_id, by_name = (validate_folder(folder) for folder in both)
    assert by_id.findings == by_name.findings == []
    assert by_id.counts == by_name.counts
