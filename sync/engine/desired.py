"""Desired state, part 1: the objects the roster and profile ask for (users, schools, classes, groups).

Memberships are bulk data and live in :mod:`sync.engine.memberships`; this module builds one small
record per user, school, class and group, with Graph-shaped properties (``sync.engine.properties``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from sync.directory.model import RecordRef
from sync.engine.columns import lines, values
from sync.engine.properties import (
    GENDERS,
    SCHOOL_COLUMN_PATHS,
    SECTION_COLUMN_PATHS,
    STUDENT_FACET_COLUMNS,
    TEACHER_FACET_COLUMNS,
    nest,
)
from sync.profile import Profile, RoleSettings
from sync.roster.model import Roster
from sync.roster.names import (
    group_anchor,
    school_anchor,
    section_anchor,
    section_mail_nickname,
    staff_anchor,
    student_anchor,
    teacher_anchor,
)

Role = Literal["student", "teacher", "staff"]
ROLE_FILES: dict[Role, str] = {"student": "students.csv", "teacher": "teachers.csv", "staff": "staff.csv"}
ROLE_ID_COLUMN: dict[Role, str] = {"student": "Student_id", "teacher": "Teacher_id", "staff": "Staff_id"}
#: Staff are matched with the teachers' rule; these teachers.csv sources have a staff.csv counterpart.
STAFF_SOURCE_COLUMN = {"Teacher_id": "Staff_id", "Teacher_email": "Staff_email", "Username": "Username"}
_NICKNAME_BAD = re.compile(r"[^A-Za-z0-9\-_.]")


@dataclass(frozen=True, slots=True)
class RosterUser:
    role: Role
    sis_id: str
    anchor: str
    record: RecordRef
    #: Value of the identity-matching source column, ``None`` when blank or when the role has no such column.
    match_value: str | None
    username: str | None
    #: The roster gives a password for the account (looked up again at apply time, never kept in a plan).
    has_password: bool
    #: ``displayName``, ``givenName``, ``surname``, ``middleName`` and the role facet; no ``None`` values.
    properties: dict[str, Any]

    @property
    def primary_role(self) -> str:
        """Graph ``primaryRole``: staff are ``faculty`` (with a ``teacher`` facet), so their anchor is
        ``Staff_<id>`` (``sync.directory.anchors``)."""
        return {"student": "student", "teacher": "teacher", "staff": "faculty"}[self.role]

    @property
    def facet(self) -> str:
        return "student" if self.role == "student" else "teacher"


@dataclass(frozen=True, slots=True)
class DesiredSchool:
    anchor: str
    school_id: str
    name: str
    record: RecordRef
    #: ``displayName``, ``externalId`` and the profile's school properties.
    properties: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DesiredClass:
    anchor: str
    section_id: str
    school_id: str
    record: RecordRef
    #: ``displayName``, ``mailNickname``, ``externalId`` and the profile's section properties.
    properties: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DesiredGroup:
    anchor: str
    display_name: str
    mail_nickname: str
    record: RecordRef | None


def role_settings(profile: Profile, role: Role) -> RoleSettings:
    return profile.students if role == "student" else profile.teachers


def match_column(profile: Profile, role: Role) -> str | None:
    source = role_settings(profile, role).matching.source
    return STAFF_SOURCE_COLUMN.get(source) if role == "staff" else source


def _anchor(role: Role, sis_id: str) -> str:
    if role == "student":
        return student_anchor(sis_id)
    return teacher_anchor(sis_id) if role == "teacher" else staff_anchor(sis_id)


def roster_users(roster: Roster, profile: Profile) -> list[RosterUser]:
    """Every student, teacher (and staff member when ``profile.sync_staff``) of the roster."""
    tables: list[tuple[Role, pa.Table]] = [("student", roster.students), ("teacher", roster.teachers)]
    if profile.sync_staff:
        tables.append(("staff", roster.staff))
    users: list[RosterUser] = []
    for role, table in tables:
        users.extend(_users_of(role, table, profile))
    return users


def _users_of(role: Role, table: pa.Table, profile: Profile) -> list[RosterUser]:
    file = ROLE_FILES[role]
    ids = values(table, ROLE_ID_COLUMN[role])
    column = match_column(profile, role)
    match = values(table, column) if column else [None] * table.num_rows
    first, last, middle = (
        values(table, "First_name"),
        values(table, "Last_name"),
        values(table, "Middle_name"),
    )
    usernames = values(table, "Username")
    passwords = values(table, "Password")
    facet_columns = STUDENT_FACET_COLUMNS if role == "student" else TEACHER_FACET_COLUMNS
    facet_values = {key: values(table, col) for col, key in facet_columns.items()}
    facet = "student" if role == "student" else "teacher"
    users: list[RosterUser] = []
    for row, (sis_id, line) in enumerate(zip(ids, lines(table), strict=True)):
        if sis_id is None:
            continue
        facet_props = {"externalId": sis_id}
        for key, column_values in facet_values.items():
            value = column_values[row]
            if value is not None:
                facet_props[key] = GENDERS.get(value, value) if key == "gender" else value
        display = " ".join(part for part in (first[row], last[row]) if part)
        properties: dict[str, Any] = {
            key: value
            for key, value in (
                ("displayName", display or None),
                ("givenName", first[row]),
                ("surname", last[row]),
                ("middleName", middle[row]),
            )
            if value is not None
        }
        properties[facet] = facet_props
        users.append(
            RosterUser(
                role=role,
                sis_id=sis_id,
                anchor=_anchor(role, sis_id),
                record=RecordRef(file, line, sis_id),
                match_value=match[row],
                username=usernames[row],
                has_password=passwords[row] is not None,
                properties=properties,
            )
        )
    return users


def roster_passwords(roster: Roster, profile: Profile, anchors: frozenset[str]) -> dict[str, str]:
    """``{anchor: password}`` from the roster's ``Password`` columns, for the ``anchors`` asked for."""
    tables: list[tuple[Role, pa.Table]] = [("student", roster.students), ("teacher", roster.teachers)]
    if profile.sync_staff:
        tables.append(("staff", roster.staff))
    found: dict[str, str] = {}
    for role, table in tables:
        if "Password" not in table.column_names:
            continue
        for sis_id, password in zip(
            values(table, ROLE_ID_COLUMN[role]), values(table, "Password"), strict=True
        ):
            if sis_id is not None and password is not None and _anchor(role, sis_id) in anchors:
                found[_anchor(role, sis_id)] = password
    return found


def desired_schools(roster: Roster, profile: Profile) -> list[DesiredSchool]:
    table = roster.schools
    ids, names = values(table, "School_id"), values(table, "School_name")
    columns = sorted(c for c in profile.school_properties if c in SCHOOL_COLUMN_PATHS)
    column_values = {column: values(table, column) for column in columns}
    schools: list[DesiredSchool] = []
    for row, (school_id, line) in enumerate(zip(ids, lines(table), strict=True)):
        if school_id is None:
            continue
        name = names[row] or school_id
        properties = {"displayName": name, "externalId": school_id}
        properties.update(nest((SCHOOL_COLUMN_PATHS[c], column_values[c][row]) for c in columns))
        schools.append(
            DesiredSchool(
                school_anchor(school_id),
                school_id,
                name,
                RecordRef("schools.csv", line, school_id),
                properties,
            )
        )
    return schools


def desired_classes(roster: Roster, profile: Profile) -> list[DesiredClass]:
    table = roster.sections
    ids, schools, names = values(table, "Section_id"), values(table, "School_id"), values(table, "Name")
    columns = sorted(c for c in profile.section_properties if c in SECTION_COLUMN_PATHS)
    column_values = {column: values(table, column) for column in columns}
    classes: list[DesiredClass] = []
    for row, (section_id, line) in enumerate(zip(ids, lines(table), strict=True)):
        if section_id is None or schools[row] is None:
            continue
        properties: dict[str, Any] = {
            "displayName": names[row] or section_id,
            "mailNickname": section_mail_nickname(
                section_id, replace_special_characters=profile.replace_special_characters
            ),
            "externalId": section_id,
        }
        properties.update(nest((SECTION_COLUMN_PATHS[c], column_values[c][row]) for c in columns))
        classes.append(
            DesiredClass(
                section_anchor(section_id),
                section_id,
                str(schools[row]),
                RecordRef("sections.csv", line, section_id),
                properties,
            )
        )
    return classes


def sanitize_nickname(text: str) -> str:
    return _NICKNAME_BAD.sub("_", text)[:64]


def all_group(role: Literal["teacher", "student"]) -> DesiredGroup:
    noun = "Teachers" if role == "teacher" else "Students"
    nickname = f"All_{noun}"
    return DesiredGroup(group_anchor(nickname), f"All {noun}", nickname, None)


def school_group(role: Literal["teacher", "student"], school: DesiredSchool) -> DesiredGroup:
    noun = "Teachers" if role == "teacher" else "Students"
    nickname = sanitize_nickname(f"{noun}_{school.school_id}")
    return DesiredGroup(group_anchor(nickname), f"{noun} – {school.name}", nickname, school.record)


def desired_groups(schools: Sequence[DesiredSchool], profile: Profile) -> list[DesiredGroup]:
    """The Intune for Education groups (none unless ``profile.intune_groups``)."""
    if not profile.intune_groups:
        return []
    groups = [all_group("teacher"), all_group("student")]
    for school in schools:
        groups.extend((school_group("teacher", school), school_group("student", school)))
    return groups
