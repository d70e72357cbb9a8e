"""Desired state, part 1: the objects the roster and profile ask for (users, schools, classes, groups).

Memberships are bulk data and live in :mod:`sync.engine.memberships`; this module builds one small
record per user, school, class and group, with Graph-shaped properties (``sync.engine.properties``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

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


# Not frozen: a frozen dataclass costs five times as much to build, and an XL plan builds a million of these.
@dataclass(slots=True)
class RosterUser:
    role: Role
    sis_id: str
    anchor: str
    #: First line of the record in its file (``None`` for API-sourced records).
    line: int | None
    #: Value of the identity-matching source column, ``None`` when blank or when the role has no such column.
    match_value: str | None
    username: str | None
    #: The roster gives a password for the account (looked up again at apply time, never kept in a plan).
    has_password: bool
    #: ``displayName``, ``givenName``, ``surname`` (``None`` when blank), ``middleName`` (left out when
    #: blank) and the role facet (blank values left out).
    properties: dict[str, Any]

    @property
    def record(self) -> RecordRef:
        return RecordRef(ROLE_FILES[self.role], self.line, self.sis_id)

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


def new_upn(user: RosterUser, profile: Profile) -> str | None:
    """The ``userPrincipalName`` a new account of ``user`` gets: its Username, with the role's
    ``user_domain`` appended when it has no ``@``; ``None`` when there is no Username or no domain to add."""
    username = user.username or ""
    if "@" in username:
        return username
    domain = role_settings(profile, user.role).user_domain
    return f"{username}@{domain}" if username and domain else None


def nickname_of(upn: str) -> str:
    """The mail nickname a user principal name gives: its name part, with characters a nickname cannot
    hold replaced by ``_``."""
    return sanitize_nickname(upn.partition("@")[0])


def user_licenses(profile: Profile, role: Role) -> tuple[str, ...]:
    """The SKU ids assigned to each user of ``role`` directly: none for students and teachers when the
    profile licenses the All Students / All Teachers groups instead. Staff are in neither group, so they
    keep the teachers' licences per user in both modes."""
    if profile.licenses_by_group and role != "staff":
        return ()
    return role_settings(profile, role).licenses


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
    """One :class:`RosterUser` per row. Per-row Python work is kept to building two small dicts: names,
    anchors and Graph values are computed column-wise in Arrow first (a million students)."""
    facet = "student" if role == "student" else "teacher"
    column = match_column(profile, role)
    first, last = _column(table, "First_name"), _column(table, "Last_name")
    display = pc.binary_join_element_wise(first, last, " ", null_handling="skip")
    facet_columns = STUDENT_FACET_COLUMNS if role == "student" else TEACHER_FACET_COLUMNS
    facet_keys = ("externalId", *facet_columns.values())
    facet_values = [values(table, ROLE_ID_COLUMN[role])]
    for name, key in facet_columns.items():
        facet_values.append(_gender(_column(table, name)) if key == "gender" else values(table, name))
    columns = zip(
        values(table, ROLE_ID_COLUMN[role]),
        _prefixed(_ANCHOR_PREFIX[role], _column(table, ROLE_ID_COLUMN[role])),
        lines(table),
        values(table, column) if column else [None] * table.num_rows,
        values(table, "Username"),
        pc.is_valid(_column(table, "Password")).to_pylist(),
        _blank_as_none(display.to_pylist()),
        values(table, "First_name"),
        values(table, "Last_name"),
        values(table, "Middle_name"),
        zip(*facet_values, strict=True),
        strict=True,
    )
    users: list[RosterUser] = []
    append = users.append
    for (
        sis_id,
        anchor,
        line,
        match,
        username,
        has_password,
        name,
        given,
        surname,
        middle,
        facet_row,
    ) in columns:
        if sis_id is None:
            continue
        properties = {
            "displayName": name,
            "givenName": given,
            "surname": surname,
            facet: dict(zip(facet_keys, facet_row, strict=True))
            if None not in facet_row
            else {k: v for k, v in zip(facet_keys, facet_row, strict=True) if v is not None},
        }
        if middle is not None:
            properties["middleName"] = middle
        append(RosterUser(role, sis_id, anchor, line, match, username, has_password, properties))
    return users


_ANCHOR_PREFIX: dict[Role, str] = {"student": "Student_", "teacher": "Teacher_", "staff": "Staff_"}
_GENDER_CODES = pa.array(list(GENDERS), pa.string())
_GENDER_NAMES = pa.array(list(GENDERS.values()), pa.string())


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        return pa.chunked_array([pa.nulls(table.num_rows, pa.string())])
    return table.column(name).cast(pa.string())


def _prefixed(prefix: str, column: pa.ChunkedArray) -> list[str | None]:
    result: list[str | None] = pc.binary_join_element_wise(pa.scalar(prefix), column, "").to_pylist()
    return result


def _blank_as_none(items: list[str | None]) -> list[str | None]:
    return [item or None for item in items]


def _gender(column: pa.ChunkedArray) -> list[str | None]:
    """``M``/``F``/``X`` → Graph's ``male``/``female``/``other``; anything else as it is."""
    index = pc.index_in(column, value_set=_GENDER_CODES)
    mapped = pc.if_else(pc.is_valid(index), _GENDER_NAMES.take(pc.fill_null(index, 0)), column)
    return _blank_as_none(mapped.to_pylist())


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


def class_nicknames(roster: Roster, profile: Profile) -> Iterator[str]:
    """The mail nicknames of the roster's classes (``Section_<Section_id>``)."""
    replace = profile.replace_special_characters
    for section_id in values(roster.sections, "Section_id"):
        if section_id is not None:
            yield section_mail_nickname(section_id, replace_special_characters=replace)


def desired_classes(roster: Roster, profile: Profile) -> list[DesiredClass]:
    table = roster.sections
    ids, schools, names = values(table, "Section_id"), values(table, "School_id"), values(table, "Name")
    columns = sorted(c for c in profile.section_properties if c in SECTION_COLUMN_PATHS)
    flat = [
        (SECTION_COLUMN_PATHS[c][0], values(table, c)) for c in columns if len(SECTION_COLUMN_PATHS[c]) == 1
    ]
    nested: dict[str, list[tuple[str, list[str | None]]]] = {}
    for column in columns:
        path = SECTION_COLUMN_PATHS[column]
        if len(path) == 2:
            nested.setdefault(path[0], []).append((path[1], values(table, column)))
    replace = profile.replace_special_characters
    classes: list[DesiredClass] = []
    for row, (section_id, line) in enumerate(zip(ids, lines(table), strict=True)):
        school_id = schools[row]
        if section_id is None or school_id is None:
            continue
        properties: dict[str, Any] = {
            "displayName": names[row] or section_id,
            "mailNickname": section_mail_nickname(section_id, replace_special_characters=replace),
            "externalId": section_id,
        }
        for key, column_values in flat:
            if column_values[row] is not None:
                properties[key] = column_values[row]
        for key, parts in nested.items():
            value = {
                sub: column_values[row] for sub, column_values in parts if column_values[row] is not None
            }
            if value:
                properties[key] = value
        classes.append(
            DesiredClass(
                section_anchor(section_id),
                section_id,
                school_id,
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
    """The Intune for Education groups (``profile.intune_groups``); with group-based licensing and no
    Intune groups, only All Teachers and All Students (they carry the licences)."""
    if not profile.intune_groups:
        return [all_group("teacher"), all_group("student")] if profile.licenses_by_group else []
    groups = [all_group("teacher"), all_group("student")]
    for school in schools:
        groups.extend((school_group("teacher", school), school_group("student", school)))
    return groups
