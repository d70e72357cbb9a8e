"""Graph-shaped properties: what the sync writes on schools, classes and users, and how to diff them.

Roster columns map to Microsoft Graph property paths (``sds-behaviour.md`` §3). A path is either a
top-level property (``"classCode"``) or one level into a complex property (``("course", "subject")``).
``None`` and a missing key are the same (a blank CSV value writes nothing at creation and clears the
property on update).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: schools.csv column → Graph educationSchool property path. ``State_id`` has no Graph property.
SCHOOL_COLUMN_PATHS: Mapping[str, tuple[str, ...]] = {
    "School_number": ("schoolNumber",),
    "Principal": ("principalName",),
    "Principal_email": ("principalEmail",),
    "Low_grade": ("lowestGrade",),
    "High_grade": ("highestGrade",),
    "School_address": ("address", "street"),
    "School_city": ("address", "city"),
    "School_state": ("address", "state"),
    "School_zip": ("address", "postalCode"),
    "School_phone": ("phone",),
}

#: sections.csv column → Graph educationClass property path. ``Period`` has no Graph property.
SECTION_COLUMN_PATHS: Mapping[str, tuple[str, ...]] = {
    "Name": ("externalName",),
    "Section_number": ("classCode",),
    "Grade": ("grade",),
    "Course_name": ("course", "displayName"),
    "Course_number": ("course", "courseNumber"),
    "Course_description": ("course", "description"),
    "Subject": ("course", "subject"),
    "Term_name": ("term", "displayName"),
    "Term_start": ("term", "startDate"),
    "Term_end": ("term", "endDate"),
}

#: students.csv column → property of the ``student`` facet (``externalId`` is the Student_id).
STUDENT_FACET_COLUMNS: Mapping[str, str] = {
    "Student_number": "studentNumber",
    "Grade": "grade",
    "Graduation_year": "graduationYear",
    "DOB": "birthDate",
    "Gender": "gender",
}
TEACHER_FACET_COLUMNS: Mapping[str, str] = {"Teacher_number": "teacherNumber"}

#: Clever gender letters → Graph ``educationGender``.
GENDERS: Mapping[str, str] = {"M": "male", "F": "female", "X": "other"}

#: Top-level user properties the sync owns (besides ``primaryRole`` and the role facet).
USER_NAME_KEYS = ("displayName", "givenName", "surname", "middleName")
STUDENT_FACET_KEYS = ("externalId", "studentNumber", "grade", "graduationYear", "birthDate", "gender")
TEACHER_FACET_KEYS = ("externalId", "teacherNumber")


def managed_paths(
    columns: Iterable[str], mapping: Mapping[str, tuple[str, ...]]
) -> tuple[tuple[str, ...], ...]:
    """The property paths the profile's ``columns`` write, in a stable order."""
    return tuple(sorted(mapping[column] for column in columns if column in mapping))


def nest(values: Iterable[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    """``[(("course", "subject"), "Math")]`` → ``{"course": {"subject": "Math"}}``; drops ``None`` values."""
    result: dict[str, Any] = {}
    for path, value in values:
        if value is None:
            continue
        if len(path) == 1:
            result[path[0]] = value
        else:
            result.setdefault(path[0], {})[path[1]] = value
    return result


@dataclass(frozen=True, slots=True)
class PropertySpec:
    """Paths compiled for fast diffs: top-level keys, and complex keys with their sub-keys."""

    flat: tuple[str, ...]
    nested: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def of(cls, paths: Iterable[tuple[str, ...]]) -> PropertySpec:
        flat: list[str] = []
        nested: dict[str, list[str]] = {}
        for path in paths:
            if len(path) == 1:
                flat.append(path[0])
            else:
                nested.setdefault(path[0], []).append(path[1])
        return cls(tuple(flat), tuple((key, tuple(subkeys)) for key, subkeys in nested.items()))


_EMPTY: Mapping[str, Any] = {}


def diff(desired: Mapping[str, Any], actual: Mapping[str, Any], spec: PropertySpec) -> dict[str, Any]:
    """The changed properties of ``spec``: top-level values as desired (``None`` clears), and for a
    complex property the whole desired object (a PATCH replaces a complex property as a whole).
    ``None`` and a missing key are the same."""
    if desired == actual:
        return {}
    changed: dict[str, Any] = {}
    for key in spec.flat:
        want = desired.get(key)
        if want != actual.get(key):
            changed[key] = want
    for key, subkeys in spec.nested:
        want_object = desired.get(key) or _EMPTY
        have_object = actual.get(key) or _EMPTY
        if want_object == have_object:
            continue
        if not isinstance(have_object, Mapping):
            have_object = _EMPTY
        if any(want_object.get(sub) != have_object.get(sub) for sub in subkeys):
            changed[key] = dict(want_object)
    return changed
