"""A pulled Clever district → the raw tables of a Clever CSV set, for the shared validator.

The output is exactly what ``CsvFolderSource`` would read from the CSV files Clever exports for the same
district: one :class:`~sync.roster.model.RawFile` per kind (``name="clever:<kind>"``), columns named as in
``clever-csv.md`` §2, every value a string or null. Validation, matching, planning and reports are then
shared with the CSV path.

Decisions:

- **Ids.** The CSV id columns (``School_id``, ``Student_id``, ``Teacher_id``, ``Section_id``) hold the
  record's ``sis_id`` — as Clever's own CSV export does, and as anchors written by earlier CSV runs expect —
  and fall back to the Clever id when ``sis_id`` is blank. Staff use ``staff_id``. A record whose Clever id
  changes (a user gone 300+ days comes back with a new one) keeps its ``sis_id`` and so its roster identity.
- **Lines.** API records have no file lines: their ``_line`` (and the line of their findings) is null;
  findings name the record by its id. Rows come in Clever id order.
- **Multi-role users** appear once per role (a teacher who is also staff is in both tables); teachers and
  staff get one row per (kept) school, the CSV convention.
- **Students** belong to their primary ``school``; when it is filtered out, to their first kept school.
- **Sections:** ``teacher`` is the primary teacher (``Teacher_id``), the other ``teachers[]`` become
  ``Teacher_2_id`` … ``Teacher_10_id`` in order; ``course`` and ``term_id`` are looked up in the pulled
  courses and terms (their ids are unstable, so they are never used as keys); term dates keep their date
  part; Clever's lower-case ``subject`` values get the CSV spelling (``math`` → ``Math``).
- **Enrollments** come from each section's ``students[]``.
- **References** to records that were not pulled (not shared with the app) are kept, so the validator
  reports them as ``unknown_reference`` like a broken CSV reference; references to records dropped by the
  school filter are dropped silently (see :mod:`sync.clever.school_filter`). A section's ``term_id`` or
  ``course`` naming a term or course that was not pulled (not shared, or deleted with no event yet for the
  section) has no CSV column to carry it, so the mapping itself reports it: warning ``unknown_reference`` on
  the section (column ``Term_name`` / ``Course_name``), whose ``Term_*`` / ``Course_*`` values stay empty —
  the section itself is synced, as with an unknown co-teacher.
- **Quirks left to the validator:** an email without ``@`` is passed through and reported as
  ``invalid_email`` with the record's id, exactly as in a CSV file.
- **Not carried by the Clever API** (so always null): ``Course_description``, ``Password``, the
  ``Contact_*`` columns (contacts are not pulled); with ``api_version = "v3.0"`` also ``Frl_status``,
  ``IEP_status`` and ``Home_language`` (added in v3.1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from sync.clever.records import PulledDistrict, Record
from sync.clever.school_filter import SchoolFilter
from sync.findings import Finding, Severity
from sync.roster.columns import (
    CO_TEACHER_COLUMNS,
    CONTACT_COLUMNS,
    ENROLLMENTS,
    SCHOOLS,
    SECTIONS,
    STAFF,
    STUDENTS,
    TEACHERS,
    FileSpec,
)
from sync.roster.model import RawFile

#: The Clever-CSV columns each pulled table carries: the file contract (``sync.roster.columns``) less what
#: the Clever API has no field for (passwords, GPAs, course descriptions) and the guardian contacts, which
#: the sync never writes.
_NOT_IN_THE_API = frozenset(
    {"Password", "Unweighted_gpa", "Weighted_gpa", "Course_description", *CONTACT_COLUMNS}
)


def _api_columns(spec: FileSpec) -> tuple[str, ...]:
    return tuple(name for name in spec.names if name not in _NOT_IN_THE_API)


SCHOOL_COLUMNS = _api_columns(SCHOOLS)
STUDENT_COLUMNS = _api_columns(STUDENTS)
TEACHER_COLUMNS = _api_columns(TEACHERS)
STAFF_COLUMNS = _api_columns(STAFF)
SECTION_COLUMNS = _api_columns(SECTIONS)
ENROLLMENT_COLUMNS = _api_columns(ENROLLMENTS)

#: Clever's ``subject`` values → the spelling of Clever's CSV spec.
SUBJECTS = {
    "english/language arts": "English/Language Arts",
    "math": "Math",
    "science": "Science",
    "social studies": "Social Studies",
    "language": "Language",
    "homeroom/advisory": "Homeroom/Advisory",
    "interventions/online learning": "Interventions/Online Learning",
    "technology and engineering": "Technology and Engineering",
    "pe and health": "PE and Health",
    "arts and music": "Arts and Music",
    "other": "Other",
}

Row = dict[str, str | None]

#: A section's links to a course or term: ``collection: (section field, kind, finding column, emptied)``.
_SECTION_LINKS = {
    "courses": ("course", "course", "Course_name", "Course_name and Course_number"),
    "terms": ("term_id", "term", "Term_name", "Term_name, Term_start and Term_end"),
}


def map_district(
    district: PulledDistrict, school_filter: SchoolFilter | None = None, *, include_staff: bool = True
) -> tuple[dict[str, RawFile], list[Finding]]:
    """The raw files of ``district`` — schools, students, teachers, sections and enrollments always; staff
    when ``include_staff`` and the district has staff (an empty staff table would be an ``empty_file``
    warning the CSV path never gives) — and the findings only the mapping can make (a section's unknown
    term or course)."""
    mapper = _Mapper(district, school_filter or SchoolFilter())
    return mapper.raw_files(include_staff=include_staff), mapper.findings


def to_raw_files(
    district: PulledDistrict, school_filter: SchoolFilter | None = None, *, include_staff: bool = True
) -> dict[str, RawFile]:
    """The raw files of :func:`map_district` alone."""
    return map_district(district, school_filter, include_staff=include_staff)[0]


class _Mapper:
    def __init__(self, district: PulledDistrict, school_filter: SchoolFilter) -> None:
        self.district = district
        schools = [district.schools[key] for key in sorted(district.schools)]
        self.schools = [school for school in schools if school_filter.keeps(school)]
        kept = {str(school["id"]) for school in self.schools}
        self.filtered_schools = {str(school["id"]) for school in schools} - kept
        self.school_key = {str(school["id"]): _key(school, school) for school in schools}
        self.user_key: dict[str, str] = {}
        #: Clever ids of users of each role dropped by the school filter.
        self.filtered_users: dict[str, set[str]] = {"student": set(), "teacher": set(), "staff": set()}
        self.findings: list[Finding] = []

    def raw_files(self, *, include_staff: bool) -> dict[str, RawFile]:
        files = {
            "schools": _raw("schools", SCHOOL_COLUMNS, [self._school(school) for school in self.schools]),
            "students": _raw("students", STUDENT_COLUMNS, self._people("student", self._student)),
            "teachers": _raw("teachers", TEACHER_COLUMNS, self._people("teacher", self._teacher)),
        }
        staff = self._people("staff", self._staff)
        if include_staff and staff:
            files["staff"] = _raw("staff", STAFF_COLUMNS, staff)
        sections, enrollments = self._sections()
        files["sections"] = _raw("sections", SECTION_COLUMNS, sections)
        files["enrollments"] = _raw_columns("enrollments", enrollments)
        return files

    # -- schools ----------------------------------------------------------------------------------------
    def _school(self, school: Record) -> Row:
        principal = _object(school.get("principal"))
        location = _object(school.get("location"))
        return {
            "School_id": self.school_key[str(school["id"])],
            "School_name": _text(school.get("name")),
            "School_number": _text(school.get("school_number")),
            "State_id": _text(school.get("state_id")),
            "Low_grade": _text(school.get("low_grade")),
            "High_grade": _text(school.get("high_grade")),
            "Principal": _text(principal.get("name")),
            "Principal_email": _text(principal.get("email")),
            "School_address": _text(location.get("address")),
            "School_city": _text(location.get("city")),
            "School_state": _text(location.get("state")),
            "School_zip": _text(location.get("zip")),
            "School_phone": _text(school.get("phone")),
        }

    # -- users ------------------------------------------------------------------------------------------
    def _people(self, role: str, build: Callable[[Record, Record, list[str]], list[Row]]) -> list[Row]:
        rows: list[Row] = []
        for user in self.district.users_with_role(role):
            details = _object(_object(user.get("roles")).get(role))
            schools = self._user_schools(details)
            user_id = str(user["id"])
            if schools is None:
                self.filtered_users[role].add(user_id)
                continue
            rows.extend(build(user, details, schools))
        return rows

    def _user_schools(self, details: Record) -> list[str] | None:
        """School keys of a user's kept schools, primary first; ``None`` when all were filtered out."""
        listed = [details.get("school"), *_list(details.get("schools"))]
        ids = list(dict.fromkeys(str(s) for s in listed if isinstance(s, str) and s))
        kept = [school for school in ids if school not in self.filtered_schools]
        if ids and not kept:
            return None
        return [self.school_key.get(school, school) for school in kept] or [""]

    def _student(self, user: Record, student: Record, schools: list[str]) -> list[Row]:
        key = _key(student, user)
        self.user_key[str(user["id"])] = key
        name = _object(user.get("name"))
        location = _object(student.get("location"))
        return [
            {
                "School_id": schools[0] or None,
                "Student_id": key,
                "Student_number": _text(student.get("student_number")),
                "State_id": _text(student.get("state_id")),
                "Last_name": _text(name.get("last")),
                "Middle_name": _text(name.get("middle")),
                "First_name": _text(name.get("first")),
                "Grade": _text(student.get("grade")),
                "Gender": _text(student.get("gender")),
                "Graduation_year": _text(student.get("graduation_year")),
                "DOB": _text(student.get("dob")),
                "Race": _text(student.get("race")),
                "Hispanic_Latino": _text(student.get("hispanic_ethnicity")),
                "Ell_status": _text(student.get("ell_status")),
                "Frl_status": _text(student.get("frl_status")),
                "IEP_status": _text(student.get("iep_status")),
                "Home_language": _text(student.get("home_language")),
                "Student_street": _text(location.get("address")),
                "Student_city": _text(location.get("city")),
                "Student_state": _text(location.get("state")),
                "Student_zip": _text(location.get("zip")),
                "Student_email": _text(user.get("email")),
                "Username": _text(_object(student.get("credentials")).get("district_username")),
            }
        ]

    def _teacher(self, user: Record, teacher: Record, schools: list[str]) -> list[Row]:
        key = _key(teacher, user)
        self.user_key[str(user["id"])] = key
        name = _object(user.get("name"))
        row: Row = {
            "Teacher_id": key,
            "Teacher_number": _text(teacher.get("teacher_number")),
            "State_teacher_id": _text(teacher.get("state_id")),
            "Last_name": _text(name.get("last")),
            "Middle_name": _text(name.get("middle")),
            "First_name": _text(name.get("first")),
            "Teacher_email": _text(user.get("email")),
            "Title": _text(teacher.get("title")),
            "Username": _text(_object(teacher.get("credentials")).get("district_username")),
        }
        return [{"School_id": school or None, **row} for school in schools]

    def _staff(self, user: Record, staff: Record, schools: list[str]) -> list[Row]:
        name = _object(user.get("name"))
        roles = [role.strip() for role in _list(staff.get("roles")) if isinstance(role, str) and role.strip()]
        row: Row = {
            "Staff_id": _text(staff.get("staff_id")) or str(user["id"]),
            "Staff_email": _text(user.get("email")),
            "First_name": _text(name.get("first")),
            "Last_name": _text(name.get("last")),
            "Department": _text(staff.get("department")),
            "Title": _text(staff.get("title")),
            "Username": _text(_object(staff.get("credentials")).get("district_username")),
            "Role": ", ".join(roles) or None,
        }
        return [{"School_id": school or None, **row} for school in schools]

    # -- sections and enrollments -----------------------------------------------------------------------
    def _sections(self) -> tuple[list[Row], dict[str, list[str | None]]]:
        sections: list[Row] = []
        enrollments: dict[str, list[str | None]] = {column: [] for column in ENROLLMENT_COLUMNS}
        for clever_id in sorted(self.district.sections):
            section = self.district.sections[clever_id]
            school = str(section.get("school") or "")
            if school in self.filtered_schools:
                continue
            school_key = self.school_key.get(school, school) or None
            section_key = _key(section, section)
            teachers = self._links("teacher", [section.get("teacher"), *_list(section.get("teachers"))])
            course = self._linked("courses", section, section_key)
            term = self._linked("terms", section, section_key)
            row: Row = {
                "School_id": school_key,
                "Section_id": section_key,
                "Teacher_id": teachers[0] if teachers else None,
                **{column: None for column in CO_TEACHER_COLUMNS},
                "Name": _text(section.get("name")),
                "Section_number": _text(section.get("section_number")),
                "Grade": _text(section.get("grade")),
                "Course_name": _text(course.get("name")),
                "Course_number": _text(course.get("number")),
                "Period": _text(section.get("period")),
                "Subject": _subject(section.get("subject")),
                "Term_name": _text(term.get("name")),
                "Term_start": _date_part(term.get("start_date")),
                "Term_end": _date_part(term.get("end_date")),
            }
            for column, teacher in zip(CO_TEACHER_COLUMNS, teachers[1:], strict=False):
                row[column] = teacher
            sections.append(row)
            students = self._links("student", _list(section.get("students")))
            enrollments["School_id"] += [school_key] * len(students)
            enrollments["Section_id"] += [section_key] * len(students)
            enrollments["Student_id"] += students
        return sections, enrollments

    def _linked(self, collection: str, section: Record, section_key: str) -> Mapping[str, Any]:
        """The course or term the section names; empty, with a warning, when it was not pulled."""
        field, kind, column, emptied = _SECTION_LINKS[collection]
        clever_id = _text(section.get(field))
        if clever_id is None:
            return {}
        record = self.district.collection(collection).get(clever_id)
        if record is not None:
            return _object(record)
        message = (
            f"the section's {field} names a {kind} that is not among the {collection} pulled from Clever "
            f"(not shared with this app, or deleted): {emptied} are left empty"
        )
        self.findings.append(
            Finding(
                "clever:sections", None, column, section_key, Severity.WARNING, "unknown_reference", message
            )
        )
        return {}

    def _links(self, role: str, clever_ids: Iterable[Any]) -> list[str]:
        """Keys of the linked users, in order, without repeats and without users the filter dropped."""
        keys: list[str] = []
        for clever_id in dict.fromkeys(str(i) for i in clever_ids if isinstance(i, str) and i):
            if clever_id in self.filtered_users[role]:
                continue
            keys.append(self.user_key.get(clever_id, clever_id))
        return list(dict.fromkeys(keys))


def _raw(kind: str, columns: Sequence[str], rows: list[Row]) -> RawFile:
    table = pa.Table.from_pylist(rows, schema=pa.schema([(column, pa.string()) for column in columns]))
    lines = pa.nulls(len(rows), pa.int64())
    return RawFile(kind=kind, name=f"clever:{kind}", table=table, lines=lines)


def _raw_columns(kind: str, columns: Mapping[str, list[str | None]]) -> RawFile:
    table = pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
    return RawFile(kind=kind, name=f"clever:{kind}", table=table, lines=pa.nulls(table.num_rows, pa.int64()))


def _key(details: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    """``sis_id`` when set, else the Clever id."""
    return _text(details.get("sis_id")) or str(record["id"])


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> Sequence[Any]:
    """A list field (``schools``, ``teachers``, ``students``, staff ``roles``); anything else, as if absent
    (a string would otherwise be taken for a list of one-character ids)."""
    return value if isinstance(value, list | tuple) else ()


def _text(value: Any) -> str | None:
    if type(value) is str:  # the common case first: this runs for every field of every record
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        text = str(value).strip()
        return text or None
    return None


def _subject(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    return SUBJECTS.get(text.lower(), text)


def _date_part(value: Any) -> str | None:
    """``2026-08-17T00:00:00.000Z`` → ``2026-08-17``; other spellings are left to the validator."""
    text = _text(value)
    if text is None:
        return None
    if len(text) >= 10 and text[4] == "-" and text[7] == "-" and (len(text) == 10 or text[10] in "T "):
        return text[:10]
    return text
