"""A Clever-format CSV folder → the records the Clever Data API would serve for it.

This is Clever's own ingestion in miniature: each school, student, teacher, staff member and section
becomes one record with a stable Clever id (a hash of its kind and SIS id, 24 hex digits like Clever's
ObjectIDs); a teacher listed at several schools is one user with ``schools[]``; courses and terms are
synthesised from the sections' course and term columns; enrollments become each section's
``students[]``. Values are converted where Clever normalises them (``subject`` to Clever's lower-case
values, ``dob`` to ``M/D/YYYY``, term dates to date-times) and passed through otherwise.

Fields that only API v3.1 has (``frl_status``, ``iep_status``, ``home_language``) are marked so that the
server leaves them out of v3.0 answers. Contacts, passwords and ``Course_description`` have no place in the
records (the Clever Data API does not carry them).
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sync.errors import UsageError

#: Fields of the Student role that API v3.0 does not have.
V31_STUDENT_FIELDS = ("frl_status", "iep_status", "home_language")
SUBJECTS = {
    "english/language arts": "english/language arts",
    "math": "math",
    "science": "science",
    "social studies": "social studies",
    "language": "language",
    "homeroom/advisory": "homeroom/advisory",
    "interventions/online learning": "interventions/online learning",
    "technology and engineering": "technology and engineering",
    "pe and health": "PE and health",
    "arts and music": "arts and music",
    "other": "other",
}
_SLASH_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")

Record = dict[str, Any]


def clever_id(kind: str, key: str) -> str:
    """A stable 24-hex-digit id for the record of ``kind`` with SIS id ``key``."""
    return hashlib.sha1(f"{kind}:{key}".encode()).hexdigest()[:24]


DISTRICT_ID = clever_id("district", "local")


@dataclass
class ServedDistrict:
    """``{collection: {clever id: record}}``; mutable (events change it)."""

    schools: dict[str, Record] = field(default_factory=dict)
    users: dict[str, Record] = field(default_factory=dict)
    sections: dict[str, Record] = field(default_factory=dict)
    terms: dict[str, Record] = field(default_factory=dict)
    courses: dict[str, Record] = field(default_factory=dict)

    def collection(self, name: str) -> dict[str, Record]:
        value: dict[str, Record] = getattr(self, name)
        return value


def load_district(folder: str | Path) -> ServedDistrict:
    """Read the Clever CSV files in ``folder`` (``staff.csv`` optional)."""
    path = Path(folder)
    district = ServedDistrict()
    for row in _rows(path / "schools.csv"):
        district.schools[clever_id("school", row["school_id"])] = _school(row)
    for user in _students(path / "students.csv"):
        district.users[user["id"]] = user
    for user in _people(path / "teachers.csv", "teacher_id", "teacher", _teacher):
        district.users[user["id"]] = user
    if (path / "staff.csv").exists():
        for user in _people(path / "staff.csv", "staff_id", "staff", _staff):
            district.users[user["id"]] = user
    _sections(path, district)
    return district


# -- reading ---------------------------------------------------------------------------------------------
def _rows(path: Path) -> Iterator[dict[str, str]]:
    """The rows of one CSV file; a file that cannot be read is a :class:`UsageError` naming it."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.reader(file)
            header = [name.strip().replace(" ", "_").lower() for name in next(reader, [])]
            for values in reader:
                if values:
                    yield {name: value.strip() for name, value in zip(header, values, strict=False)}
    except UnicodeDecodeError as err:
        raise UsageError(
            f"{path}: not UTF-8 text (byte {err.start} cannot be decoded); save the file as UTF-8 CSV"
        ) from err
    except csv.Error as err:
        raise UsageError(f"{path}: not a CSV file ({err}); save the file as UTF-8 CSV") from err
    except IsADirectoryError as err:
        raise UsageError(f"{path} is a folder, not a CSV file") from err
    except OSError as err:
        raise UsageError(f"{path} cannot be read: {err.strerror or err}") from err


def _value(row: dict[str, str], column: str) -> str | None:
    return row.get(column) or None


def _school_ref(row: dict[str, str]) -> str:
    return clever_id("school", row.get("school_id", ""))


# -- records ---------------------------------------------------------------------------------------------
def _school(row: dict[str, str]) -> Record:
    return {
        "id": clever_id("school", row["school_id"]),
        "district": DISTRICT_ID,
        "sis_id": row["school_id"],
        "name": _value(row, "school_name"),
        "school_number": _value(row, "school_number"),
        "state_id": _value(row, "state_id"),
        "low_grade": _value(row, "low_grade"),
        "high_grade": _value(row, "high_grade"),
        "principal": {"name": _value(row, "principal"), "email": _value(row, "principal_email")},
        "location": {
            "address": _value(row, "school_address"),
            "city": _value(row, "school_city"),
            "state": _value(row, "school_state"),
            "zip": _value(row, "school_zip"),
        },
        "phone": _value(row, "school_phone"),
    }


def _name(row: dict[str, str]) -> dict[str, str | None]:
    return {
        "first": _value(row, "first_name"),
        "middle": _value(row, "middle_name"),
        "last": _value(row, "last_name"),
    }


def _students(path: Path) -> Iterator[Record]:
    seen: set[str] = set()
    for row in _rows(path):
        key = row.get("student_id", "")
        if not key or key in seen:  # further rows of a student only add guardian contacts
            continue
        seen.add(key)
        school = _school_ref(row)
        yield {
            "id": clever_id("student", key),
            "district": DISTRICT_ID,
            "email": _value(row, "student_email"),
            "name": _name(row),
            "roles": {
                "student": {
                    "sis_id": key,
                    "school": school,
                    "schools": [school],
                    "student_number": _value(row, "student_number"),
                    "state_id": _value(row, "state_id"),
                    "grade": _value(row, "grade"),
                    "gender": _value(row, "gender"),
                    "graduation_year": _value(row, "graduation_year"),
                    "dob": _slash_date(_value(row, "dob")),
                    "race": _value(row, "race"),
                    "hispanic_ethnicity": _value(row, "hispanic_latino"),
                    "ell_status": _value(row, "ell_status"),
                    "frl_status": _value(row, "frl_status"),
                    "iep_status": _value(row, "iep_status"),
                    "home_language": _value(row, "home_language"),
                    "location": {
                        "address": _value(row, "student_street"),
                        "city": _value(row, "student_city"),
                        "state": _value(row, "student_state"),
                        "zip": _value(row, "student_zip"),
                    },
                    "credentials": {"district_username": _value(row, "username")},
                }
            },
        }


def _people(path: Path, id_column: str, role: str, build: Any) -> Iterator[Record]:
    """Teachers or staff: one user per id, with every school it is listed at."""
    users: dict[str, Record] = {}
    for row in _rows(path):
        key = row.get(id_column, "")
        if not key:
            continue
        school = _school_ref(row)
        user = users.get(key)
        if user is None:
            users[key] = user = build(row, key, school)
        elif school not in user["roles"][role]["schools"]:
            user["roles"][role]["schools"].append(school)
    yield from users.values()


def _teacher(row: dict[str, str], key: str, school: str) -> Record:
    return {
        "id": clever_id("teacher", key),
        "district": DISTRICT_ID,
        "email": _value(row, "teacher_email"),
        "name": _name(row),
        "roles": {
            "teacher": {
                "sis_id": key,
                "school": school,
                "schools": [school],
                "teacher_number": _value(row, "teacher_number"),
                "state_id": _value(row, "state_teacher_id"),
                "title": _value(row, "title"),
                "credentials": {"district_username": _value(row, "username")},
            }
        },
    }


def _staff(row: dict[str, str], key: str, school: str) -> Record:
    return {
        "id": clever_id("staff", key),
        "district": DISTRICT_ID,
        "email": _value(row, "staff_email"),
        "name": _name(row),
        "roles": {
            "staff": {
                "staff_id": key,
                "schools": [school],
                "department": _value(row, "department"),
                "title": _value(row, "title"),
                "roles": [row["role"]] if row.get("role") else [],
                "credentials": {"district_username": _value(row, "username")},
            }
        },
    }


def _sections(path: Path, district: ServedDistrict) -> None:
    for row in _rows(path / "sections.csv"):
        key = row.get("section_id", "")
        if not key:
            continue
        teachers = [row.get("teacher_id", "")] + [row.get(f"teacher_{n}_id", "") for n in range(2, 11)]
        teacher_ids = list(dict.fromkeys(clever_id("teacher", t) for t in teachers if t))
        course = _course(row, district)
        term = _term(row, district)
        subject = _value(row, "subject")
        district.sections[clever_id("section", key)] = {
            "id": clever_id("section", key),
            "district": DISTRICT_ID,
            "sis_id": key,
            "school": _school_ref(row),
            "name": _value(row, "name"),
            "section_number": _value(row, "section_number"),
            "grade": _value(row, "grade"),
            "period": _value(row, "period"),
            "subject": SUBJECTS.get(subject.lower(), "other") if subject else None,
            "course": course,
            "term_id": term,
            "teacher": teacher_ids[0] if teacher_ids else None,
            "teachers": teacher_ids,
            "students": [],
        }
    for row in _rows(path / "enrollments.csv"):
        section = district.sections.get(clever_id("section", row.get("section_id", "")))
        student = clever_id("student", row.get("student_id", ""))
        if section is not None and student not in section["students"]:
            section["students"].append(student)


def _course(row: dict[str, str], district: ServedDistrict) -> str | None:
    name, number = _value(row, "course_name"), _value(row, "course_number")
    if name is None and number is None:
        return None
    course_id = clever_id("course", f"{name}\x1f{number}")
    district.courses.setdefault(
        course_id, {"id": course_id, "district": DISTRICT_ID, "name": name, "number": number}
    )
    return course_id


def _term(row: dict[str, str], district: ServedDistrict) -> str | None:
    name = _value(row, "term_name")
    start, end = _datetime(_value(row, "term_start")), _datetime(_value(row, "term_end"))
    if name is None and start is None and end is None:
        return None
    term_id = clever_id("term", f"{name}\x1f{start}\x1f{end}")
    district.terms.setdefault(
        term_id, {"id": term_id, "district": DISTRICT_ID, "name": name, "start_date": start, "end_date": end}
    )
    return term_id


# -- values ----------------------------------------------------------------------------------------------
def _parse_date(value: str) -> date | None:
    try:
        if match := _ISO_DATE.match(value):
            return date(int(match[1]), int(match[2]), int(match[3]))
        if match := _SLASH_DATE.match(value):
            return date(int(match[3]), int(match[1]), int(match[2]))
    except ValueError:
        return None
    return None


def _slash_date(value: str | None) -> str | None:
    """Clever's ``dob`` spelling ``M/D/YYYY``; a value that is not a date is passed through."""
    if value is None:
        return None
    parsed = _parse_date(value)
    return f"{parsed.month}/{parsed.day}/{parsed.year}" if parsed else value


def _datetime(value: str | None) -> str | None:
    """Clever's term date spelling ``YYYY-MM-DDT00:00:00.000Z``; a non-date is passed through."""
    if value is None:
        return None
    parsed = _parse_date(value)
    return f"{parsed.isoformat()}T00:00:00.000Z" if parsed else value
