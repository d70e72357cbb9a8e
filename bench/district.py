"""A synthetic Clever-format district: deterministic, fast and memory-lean.

``generate_district(out_dir, "M", seed=1)`` writes the five files of a district of the given size (and
``staff.csv`` when the size has staff, e.g. ``dataclasses.replace(SIZES["S"], staff=40)``); the same
size and seed always give byte-identical files. Columns are built with numpy and Arrow compute kernels,
students and enrollments chunk by chunk, so even ``XL`` (1M students, 8M enrollments) needs little memory.

The district is realistic where the sync cares: schools are elementary, middle or high and students' grades
fit their school; some students have two or three guardian contact rows (same ``Student_id``, different
``Contact_*`` columns); some teachers work at two schools (one row per school); some sections have
co-teachers; usernames and emails are unique; sections carry courses, periods and terms; every section has
enrollments, every enrollment is of a student of the section's school, and no pair repeats.

``defects={"invalid_email": 3, ...}`` then injects defects keyed by finding code (see :mod:`bench.defects`)
and the call returns the manifest of what was injected. ``apply_churn`` (:mod:`bench.churn`) makes the
next night's set from a district.

CLI: ``python -m bench.district OUT --size M [--seed N] [--defect CODE=N ...]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench import pools
from bench.churn import apply_churn
from bench.csvio import CsvWriter
from bench.defects import Injected, inject_defects
from sync.roster.columns import ENROLLMENTS, SCHOOLS, STUDENTS

STUDENTS_PER_CHUNK = 200_000
SECTIONS_PER_CHUNK = 50_000

STUDENT_DOMAIN = "students.contoso.edu"
TEACHER_DOMAIN = "contoso.edu"

#: Columns written, in the order of the file contract; the generator writes no passwords or GPAs.
SCHOOL_COLUMNS = SCHOOLS.names
STUDENT_COLUMNS = tuple(
    name for name in STUDENTS.names if name not in ("Password", "Unweighted_gpa", "Weighted_gpa")
)
TEACHER_COLUMNS = (
    "School_id",
    "Teacher_id",
    "Teacher_number",
    "State_teacher_id",
    "Last_name",
    "Middle_name",
    "First_name",
    "Teacher_email",
    "Title",
    "Username",
)
SECTION_COLUMNS = (
    "School_id",
    "Section_id",
    "Teacher_id",
    "Teacher_2_id",
    "Teacher_3_id",
    "Name",
    "Section_number",
    "Grade",
    "Course_name",
    "Course_number",
    "Course_description",
    "Subject",
    "Period",
    "Term_name",
    "Term_start",
    "Term_end",
)
ENROLLMENT_COLUMNS = ENROLLMENTS.names
STAFF_COLUMNS = (
    "School_id",
    "Staff_id",
    "Staff_email",
    "First_name",
    "Last_name",
    "Department",
    "Title",
    "Username",
    "Role",
)
FILES = ("schools", "students", "teachers", "sections", "enrollments")


@dataclass(frozen=True)
class DistrictSize:
    """How big a district is. Every school gets at least one student and one teacher."""

    schools: int
    students: int
    teachers: int
    sections: int
    enrollments: int
    #: Share of students with more than one guardian contact row (a fifth of them have three).
    guardian_share: float = 0.35
    #: Share of teachers who also teach at a second school (needs two schools or more).
    multi_school_teacher_share: float = 0.04
    #: Share of sections with a co-teacher (a quarter of them have two).
    co_teacher_share: float = 0.12
    #: Staff members (counsellors, librarians, office staff …); 0 writes no ``staff.csv`` (it is optional).
    staff: int = 0
    #: Share of staff who also work at a second school (needs two schools or more).
    multi_school_staff_share: float = 0.1

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be at least 1"
            for name in ("schools", "students", "teachers", "sections")
            if getattr(self, name) < 1
        ]
        if self.staff < 0:
            problems.append("staff must be 0 or more")
        if self.students < self.schools or self.teachers < self.schools:
            problems.append("every school needs a student and a teacher: students and teachers >= schools")
        if self.enrollments < self.sections:
            problems.append("every section needs an enrollment: enrollments >= sections")
        elif self.schools >= 1 and self.sections >= 1:
            per_section = -(-self.enrollments // self.sections)
            smallest_school = self.students // self.schools
            if per_section > smallest_school:
                problems.append(
                    f"{per_section} enrollments per section but only {smallest_school} students "
                    "in the smallest school: add students or sections"
                )
        for name in (
            "guardian_share",
            "multi_school_teacher_share",
            "co_teacher_share",
            "multi_school_staff_share",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be between 0 and 1")
        if problems:
            raise ValueError("invalid district size: " + "; ".join(problems))


SIZES: Mapping[str, DistrictSize] = {
    "S": DistrictSize(schools=10, students=5_000, teachers=300, sections=1_600, enrollments=40_000),
    "M": DistrictSize(schools=60, students=50_000, teachers=3_000, sections=16_000, enrollments=400_000),
    "XL": DistrictSize(
        schools=1_000, students=1_000_000, teachers=60_000, sections=300_000, enrollments=8_000_000
    ),
}


def size_of(size: DistrictSize | str) -> DistrictSize:
    """A preset by name (``S``, ``M``, ``XL``, any case) or the size itself."""
    if isinstance(size, DistrictSize):
        return size
    try:
        return SIZES[size.upper()]
    except KeyError:
        raise ValueError(f"unknown district size {size!r}: use one of {', '.join(SIZES)}") from None


# --------------------------------------------------------------------------------------------------- helpers


def _pool(values: Sequence[str]) -> pa.Array:
    return pa.array(list(values), pa.string())


def _take(pool: pa.Array, index: np.ndarray) -> pa.Array:
    return pool.take(pa.array(np.asarray(index, dtype=np.int64)))


def _text(values: np.ndarray) -> pa.Array:
    return pa.array(values).cast(pa.string())


def _padded(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(_text(values), width=width, padding="0")


def _join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of arrays and literal strings."""
    return pc.binary_join_element_wise(*[pa.scalar(p) if isinstance(p, str) else p for p in parts], "")


def _repeat(value: str, n: int) -> pa.Array:
    return pa.array(np.full(n, value, dtype=object), pa.string())


_FIRST = _pool(pools.FIRST_NAMES)
_FIRST_LOGIN = _pool([pools.login(n) for n in pools.FIRST_NAMES])
_LAST = _pool(pools.LAST_NAMES)
_LAST_LOGIN = _pool([pools.login(n) for n in pools.LAST_NAMES])
_MIDDLE = _pool(pools.MIDDLE_NAMES)
_ADULT = _pool(pools.ADULT_FIRST_NAMES)
_ADULT_LOGIN = _pool([pools.login(n) for n in pools.ADULT_FIRST_NAMES])
_GRADES = _pool(pools.GRADES)
_TWO_DIGITS = _pool([f"{i:02d}" for i in range(100)])


# ---------------------------------------------------------------------------------------------------- layout


class Layout:
    """Who is where: the integer skeleton of a district, shared by the file writers.

    Entities are numbered from 0 and kept in contiguous blocks per school, so "the students of school s"
    is a range. Everything here is O(schools + teachers + sections); students and enrollments are derived
    per chunk.
    """

    def __init__(self, size: DistrictSize, seed: int) -> None:
        self.size = size
        self.seed = seed
        n = size.schools
        self.level = np.arange(n) % 4 // 2 + (
            np.arange(n) % 4 == 3
        )  # 0,0,1,2: two elementary per middle/high
        self.student_start = self._starts(size.students)
        self.teacher_start = self._starts(size.teachers)
        self.section_start = self._starts(size.sections)
        rng = self.rng(0)
        self.teacher_first = rng.integers(0, len(pools.FIRST_NAMES), size.teachers)
        self.teacher_last = rng.integers(0, len(pools.LAST_NAMES), size.teachers)
        multi = rng.random(size.teachers) < size.multi_school_teacher_share
        self.teacher_multi = multi if n > 1 else np.zeros(size.teachers, dtype=bool)
        self.section_school = np.repeat(np.arange(n), np.diff(self.section_start))
        counts = np.full(size.sections, size.enrollments // size.sections, dtype=np.int64)
        counts[: size.enrollments % size.sections] += 1
        self.section_count = counts
        pupils = np.diff(self.student_start)[self.section_school]
        self.section_offset = (rng.random(size.sections) * pupils).astype(np.int64)
        staff = np.diff(self.teacher_start)[self.section_school]
        local = (rng.random(size.sections) * staff).astype(np.int64)
        base = self.teacher_start[self.section_school]
        self.section_teacher = base + local
        co = rng.random(size.sections)
        has_second = (co < size.co_teacher_share) & (staff >= 2)
        has_third = (co < size.co_teacher_share / 4) & (staff >= 3)
        self.section_teacher_2 = np.where(has_second, base + (local + 1) % np.maximum(staff, 1), -1)
        self.section_teacher_3 = np.where(has_third, base + (local + 2) % np.maximum(staff, 1), -1)

    def _starts(self, total: int) -> np.ndarray:
        """First index of each school's block (and ``total`` at the end), blocks as equal as possible."""
        return (np.arange(self.size.schools + 1, dtype=np.int64) * total) // self.size.schools

    def rng(self, stream: int, chunk: int = 0) -> np.random.Generator:
        """An independent random stream per (file, chunk): chunks never change what another chunk draws."""
        return np.random.default_rng([self.seed, stream, chunk])

    def school_of(self, start: np.ndarray, index: np.ndarray) -> np.ndarray:
        return np.searchsorted(start, index, side="right") - 1

    def student_grade(self, index: np.ndarray) -> np.ndarray:
        """Grade index (0 = Kindergarten) of each student: a school's block is sorted by grade."""
        school = self.school_of(self.student_start, index)
        low = np.array([pools.LEVELS[lv][1][0] for lv in range(3)])[self.level[school]]
        high = np.array([pools.LEVELS[lv][1][1] for lv in range(3)])[self.level[school]]
        first = self.student_start[school]
        pupils = self.student_start[school + 1] - first
        grade: np.ndarray = low + ((index - first) * (high - low + 1)) // pupils
        return grade

    @cached_property
    def school_ids(self) -> pa.Array:
        return _padded(np.arange(1, self.size.schools + 1), 4)


def student_ids(index: np.ndarray) -> pa.Array:
    return _text(index + 1_000_001)


def teacher_ids(index: np.ndarray) -> pa.Array:
    return _join("T", _text(index + 100_001))


def section_ids(layout: Layout, index: np.ndarray) -> pa.Array:
    return _join(_take(layout.school_ids, layout.section_school[index]), "-", _padded(index + 1, 7))


# ---------------------------------------------------------------------------------------------------- writers


def _write_schools(path: Path, layout: Layout) -> None:
    n = layout.size.schools
    rng = layout.rng(1)
    rows: list[list[str]] = []
    for s in range(n):
        level_name, (low, high) = pools.LEVELS[layout.level[s]]
        place = pools.PLACES[s % len(pools.PLACES)]
        suffix = f" {s // len(pools.PLACES) + 1}" if s >= len(pools.PLACES) else ""
        first = pools.ADULT_FIRST_NAMES[rng.integers(len(pools.ADULT_FIRST_NAMES))]
        last = pools.LAST_NAMES[rng.integers(len(pools.LAST_NAMES))]
        city, state, zip_code = pools.CITIES[s % len(pools.CITIES)]
        rows.append(
            [
                f"{s + 1:04d}",
                f"{place}{suffix} {level_name}",
                f"{(s + 1) * 10:05d}",
                f"WA-{s + 1:05d}",
                pools.GRADES[low],
                pools.GRADES[high],
                f"{first} {last}",
                f"{pools.login(first)}.{pools.login(last)}.{s + 1}@{TEACHER_DOMAIN}",
                f"{100 + s * 7} {pools.STREETS[s % len(pools.STREETS)]}"
                + (", Building A" if s % 5 == 4 else ""),
                city,
                state,
                zip_code,
                f"(425) 555-{s % 10_000:04d}",
            ]
        )
    with CsvWriter(path, SCHOOL_COLUMNS) as writer:
        writer.write([pa.array(list(col), pa.string()) for col in zip(*rows, strict=True)])


def _write_students(path: Path, layout: Layout) -> None:
    total = layout.size.students
    with CsvWriter(path, STUDENT_COLUMNS) as writer:
        for chunk, begin in enumerate(range(0, total, STUDENTS_PER_CHUNK)):
            index = np.arange(begin, min(begin + STUDENTS_PER_CHUNK, total), dtype=np.int64)
            writer.write(_student_columns(layout, index, layout.rng(2, chunk)))


def _student_columns(layout: Layout, index: np.ndarray, rng: np.random.Generator) -> list[pa.Array]:
    n = len(index)
    share = layout.size.guardian_share
    draw = rng.random(n)
    contacts = 1 + (draw < share) + (draw < share / 5)
    row = np.repeat(np.arange(n), contacts)  # row -> student (chunk-local)
    k = np.arange(len(row)) - np.repeat(np.cumsum(contacts) - contacts, contacts)  # contact number 0, 1, 2
    student = index[row]
    school = layout.school_of(layout.student_start, student)
    grade = layout.student_grade(student)

    def per_student(values: np.ndarray) -> np.ndarray:
        return values[row]

    first = per_student(rng.integers(0, len(pools.FIRST_NAMES), n))
    last = per_student(rng.integers(0, len(pools.LAST_NAMES), n))
    last_names = _take(_LAST, last)
    username = _join(_take(_FIRST_LOGIN, first), ".", _take(_LAST_LOGIN, last), _text(student + 1))
    yes_no = _pool(("N", "Y"))
    city = per_student(rng.integers(0, len(pools.CITIES), n))
    adult = (per_student(rng.integers(0, len(pools.ADULT_FIRST_NAMES), n)) + 7 * k) % len(
        pools.ADULT_FIRST_NAMES
    )
    relation = (per_student(rng.integers(0, len(pools.RELATIONSHIPS), n)) + k) % len(pools.RELATIONSHIPS)
    contact_id = student * 5 + k
    dob = _join(
        _take(_TWO_DIGITS, per_student(rng.integers(1, 13, n))),
        "/",
        _take(_TWO_DIGITS, per_student(rng.integers(1, 29, n))),
        "/",
        _text(2021 - grade),
    )
    columns = {
        "School_id": _take(layout.school_ids, school),
        "Student_id": student_ids(student),
        "Student_number": _padded(student + 1, 8),
        "State_id": _join("WA", _text(7_340_000_000 + student * 13)),
        "Last_name": last_names,
        "Middle_name": _take(_MIDDLE, per_student(rng.integers(0, len(pools.MIDDLE_NAMES), n))),
        "First_name": _take(_FIRST, first),
        "Grade": _take(_GRADES, grade),
        "Gender": _take(_pool(("F", "M", "X")), per_student(np.searchsorted([0.49, 0.98], rng.random(n)))),
        "Graduation_year": _text(2039 - grade),
        "DOB": dob,
        "Race": _take(_pool(pools.RACES), per_student(rng.integers(0, len(pools.RACES), n))),
        "Hispanic_Latino": _take(yes_no, per_student(rng.random(n) < 0.25)),
        "Ell_status": _take(yes_no, per_student(rng.random(n) < 0.1)),
        "Frl_status": _take(_pool(pools.FRL), per_student(rng.integers(0, len(pools.FRL), n))),
        "IEP_status": _take(yes_no, per_student(rng.random(n) < 0.12)),
        "Home_language": _take(_pool(pools.HOME_LANGUAGES), per_student(rng.integers(0, 8, n))),
        "Student_street": _join(
            _text(per_student(rng.integers(100, 20_000, n))),
            " ",
            _take(_pool(pools.STREETS), per_student(rng.integers(0, len(pools.STREETS), n))),
        ),
        "Student_city": _take(_pool([c[0] for c in pools.CITIES]), city),
        "Student_state": _take(_pool([c[1] for c in pools.CITIES]), city),
        "Student_zip": _take(_pool([c[2] for c in pools.CITIES]), city),
        "Student_email": _join(username, "@" + STUDENT_DOMAIN),
        "Contact_relationship": _take(_pool(pools.RELATIONSHIPS), relation),
        "Contact_type": _repeat("guardian", len(row)),
        "Contact_name": _join(_take(_ADULT, adult), " ", last_names),
        "Contact_phone": _join("(425) 555-", _padded(rng.integers(0, 10_000, len(row)), 4)),
        "Contact_phone_type": _take(_pool(pools.PHONE_TYPES), rng.integers(0, 3, len(row))),
        "Contact_email": _join(
            _take(_ADULT_LOGIN, adult), ".", _take(_LAST_LOGIN, last), _text(contact_id), "@example.com"
        ),
        "Contact_sis_id": _join("C", _text(contact_id)),
        "Username": username,
    }
    return [columns[name] for name in STUDENT_COLUMNS]


def _write_teachers(path: Path, layout: Layout) -> None:
    total = layout.size.teachers
    index = np.arange(total, dtype=np.int64)
    rows = np.repeat(index, 1 + layout.teacher_multi)  # a multi-school teacher has a row per school
    second = np.zeros(len(rows), dtype=bool)
    second[1:] = rows[1:] == rows[:-1]
    school = layout.school_of(layout.teacher_start, rows)
    school = np.where(second, (school + 1) % layout.size.schools, school)
    rng = layout.rng(3)
    first, last = layout.teacher_first[rows], layout.teacher_last[rows]
    username = _join(_take(_FIRST_LOGIN, first), ".", _take(_LAST_LOGIN, last), _text(rows + 1))
    columns = {
        "School_id": _take(layout.school_ids, school),
        "Teacher_id": teacher_ids(rows),
        "Teacher_number": _padded(rows + 1, 6),
        "State_teacher_id": _join("WAT-", _text(rows + 550_001)),
        "Last_name": _take(_LAST, last),
        "Middle_name": _take(_MIDDLE, rng.integers(0, len(pools.MIDDLE_NAMES), total)[rows]),
        "First_name": _take(_FIRST, first),
        "Teacher_email": _join(username, "@" + TEACHER_DOMAIN),
        "Title": _take(_pool(pools.TITLES), rng.integers(0, len(pools.TITLES), total)[rows]),
        "Username": username,
    }
    with CsvWriter(path, TEACHER_COLUMNS) as writer:
        writer.write([columns[name] for name in TEACHER_COLUMNS])


def _write_staff(path: Path, layout: Layout) -> None:
    """Staff spread evenly over the schools; a few also work at the next school (one row per school, like
    teachers). Ids, usernames and emails cannot meet a teacher's: ``ST…`` ids, ``first.last.s<n>`` logins."""
    total = layout.size.staff
    rng = layout.rng(5)
    first = rng.integers(0, len(pools.ADULT_FIRST_NAMES), total)
    last = rng.integers(0, len(pools.LAST_NAMES), total)
    job = rng.integers(0, len(pools.STAFF_JOBS), total)
    multi = rng.random(total) < layout.size.multi_school_staff_share
    if layout.size.schools < 2:
        multi[:] = False
    index = np.arange(total, dtype=np.int64)
    rows = np.repeat(index, 1 + multi)
    second = np.zeros(len(rows), dtype=bool)
    second[1:] = rows[1:] == rows[:-1]
    school = layout.school_of(layout._starts(total), rows)
    school = np.where(second, (school + 1) % layout.size.schools, school)
    first, last, job = first[rows], last[rows], job[rows]
    username = _join(_take(_ADULT_LOGIN, first), ".", _take(_LAST_LOGIN, last), ".s", _text(rows + 1))
    columns = {
        "School_id": _take(layout.school_ids, school),
        "Staff_id": _join("ST", _text(rows + 200_001)),
        "Staff_email": _join(username, "@" + TEACHER_DOMAIN),
        "First_name": _take(_ADULT, first),
        "Last_name": _take(_LAST, last),
        "Department": _take(_pool([j[0] for j in pools.STAFF_JOBS]), job),
        "Title": _take(_pool([j[1] for j in pools.STAFF_JOBS]), job),
        "Username": username,
        "Role": _take(_pool([j[2] for j in pools.STAFF_JOBS]), job),
    }
    with CsvWriter(path, STAFF_COLUMNS) as writer:
        writer.write([columns[name] for name in STAFF_COLUMNS])


def _write_sections(path: Path, layout: Layout) -> None:
    total = layout.size.sections
    courses = [course for level in pools.COURSES for course in level]
    first_course = np.cumsum([0] + [len(level) for level in pools.COURSES])
    per_level = np.diff(first_course)
    with CsvWriter(path, SECTION_COLUMNS) as writer:
        for chunk, begin in enumerate(range(0, total, SECTIONS_PER_CHUNK)):
            index = np.arange(begin, min(begin + SECTIONS_PER_CHUNK, total), dtype=np.int64)
            rng = layout.rng(4, chunk)
            n = len(index)
            school = layout.section_school[index]
            level = layout.level[school]
            course = first_course[level] + (rng.random(n) * per_level[level]).astype(np.int64)
            first_pupil = layout.student_start[school] + layout.section_offset[index]
            grade = layout.student_grade(first_pupil)
            period = rng.integers(1, 9, n)
            term = rng.choice(3, size=n, p=[0.35, 0.25, 0.4])
            teacher, t2, t3 = (
                layout.section_teacher[index],
                layout.section_teacher_2[index],
                layout.section_teacher_3[index],
            )
            course_name = _take(_pool([c[0] for c in courses]), course)
            course_number = _join(_take(_pool([c[2] for c in courses]), course), _take(_TWO_DIGITS, grade))
            columns = {
                "School_id": _take(layout.school_ids, school),
                "Section_id": section_ids(layout, index),
                "Teacher_id": teacher_ids(teacher),
                "Teacher_2_id": pc.if_else(pa.array(t2 >= 0), teacher_ids(np.maximum(t2, 0)), ""),
                "Teacher_3_id": pc.if_else(pa.array(t3 >= 0), teacher_ids(np.maximum(t3, 0)), ""),
                "Name": _join(
                    course_name, " - ", _take(_LAST, layout.teacher_last[teacher]), " - ", _text(period)
                ),
                "Section_number": _join(course_number, "-", _take(_TWO_DIGITS, index % 100)),
                "Grade": _take(_GRADES, grade),
                "Course_name": course_name,
                "Course_number": course_number,
                "Course_description": _take(_pool([c[3] for c in courses]), course),
                "Subject": _take(_pool([c[1] for c in courses]), course),
                "Period": _text(period),
                "Term_name": _take(_pool([t[0] for t in pools.TERMS]), term),
                "Term_start": _take(_pool([t[1] for t in pools.TERMS]), term),
                "Term_end": _take(_pool([t[2] for t in pools.TERMS]), term),
            }
            writer.write([columns[name] for name in SECTION_COLUMNS])


def _write_enrollments(path: Path, layout: Layout) -> None:
    total = layout.size.sections
    with CsvWriter(path, ENROLLMENT_COLUMNS) as writer:
        for begin in range(0, total, SECTIONS_PER_CHUNK):
            index = np.arange(begin, min(begin + SECTIONS_PER_CHUNK, total), dtype=np.int64)
            counts = layout.section_count[index]
            section = np.repeat(index, counts)
            seat = np.arange(len(section)) - np.repeat(np.cumsum(counts) - counts, counts)
            school = layout.section_school[section]
            first = layout.student_start[school]
            pupils = layout.student_start[school + 1] - first
            # A window of consecutive students (same grade band) starting at the section's offset: no repeats.
            student = first + (layout.section_offset[section] + seat) % pupils
            writer.write(
                [_take(layout.school_ids, school), section_ids(layout, section), student_ids(student)]
            )


# ---------------------------------------------------------------------------------------------------- entry


def generate_district(
    out_dir: str | Path,
    size: DistrictSize | str,
    *,
    seed: int = 1,
    defects: Mapping[str, int] | None = None,
) -> list[Injected]:
    """Write ``schools.csv`` … ``enrollments.csv`` of a district into ``out_dir`` (created if needed), and
    ``staff.csv`` when the size has staff.

    Returns the manifest of injected defects (empty without ``defects``). Files of an earlier run in
    ``out_dir`` with other names are left alone; write into an empty folder.
    """
    layout = Layout(size_of(size), seed)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    _write_schools(folder / "schools.csv", layout)
    _write_students(folder / "students.csv", layout)
    _write_teachers(folder / "teachers.csv", layout)
    _write_sections(folder / "sections.csv", layout)
    _write_enrollments(folder / "enrollments.csv", layout)
    if layout.size.staff:
        _write_staff(folder / "staff.csv", layout)
    if not defects:
        return []
    return inject_defects(folder, defects, seed=seed)


def _parse_defects(items: Sequence[str]) -> dict[str, int]:
    result: dict[str, int] = {}
    for item in items:
        code, sep, count = item.partition("=")
        if not count.isdigit():
            raise argparse.ArgumentTypeError(
                f"--defect {item!r}: write CODE=N, e.g. invalid_email=3"
            ) from None
        result[code] = int(count) if sep else 1
    return result


def _seed(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 0 or more")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.district", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the five CSV files into")
    parser.add_argument("--size", default="S", help="S, M or XL (default S)")
    parser.add_argument("--seed", type=_seed, default=1, help="a whole number, 0 or more (default 1)")
    parser.add_argument(
        "--defect",
        action="append",
        default=[],
        metavar="CODE=N",
        help="inject N defects of finding code CODE (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        manifest = generate_district(args.out, args.size, seed=args.seed, defects=_parse_defects(args.defect))
    except (ValueError, argparse.ArgumentTypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(
            f"error: cannot write the district into {args.out}: {err.strerror or err}; "
            "give a folder that can be created or written",
            file=sys.stderr,
        )
        return 2
    for entry in manifest:
        print(entry.describe())
    return 0


__all__ = [
    "SIZES",
    "DistrictSize",
    "Injected",
    "apply_churn",
    "generate_district",
    "inject_defects",
    "size_of",
]

if __name__ == "__main__":
    raise SystemExit(main())
