"""The local tenant as the engine sees it: a :class:`DirectorySnapshot` read in one consistent pass.

Plain cursors, no per-row queries; memberships are built column-wise into the Arrow table.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pyarrow as pa

from sync.directory.model import (
    MEMBERSHIP_SCHEMA,
    DirectoryClass,
    DirectoryGroup,
    DirectorySchool,
    DirectorySnapshot,
    DirectoryUser,
)
from sync.directory.tenant_store import TenantStore

_USER_NAMES = ("displayName", "givenName", "surname", "middleName")
_CLASS_KEYS = ("externalId", "externalName", "classCode", "grade", "description", "term", "course")
_SCHOOL_KEYS = (
    "externalId",
    "schoolNumber",
    "principalName",
    "principalEmail",
    "lowestGrade",
    "highestGrade",
    "address",
    "phone",
)
_JSON_KEYS = frozenset({"term", "course", "address"})


def read_snapshot(store: TenantStore) -> DirectorySnapshot:
    with store.reading() as db:
        licenses: dict[str, set[str]] = defaultdict(set)
        for user_id, sku in db.execute("SELECT user_id, sku_id FROM licenses"):
            licenses[user_id].add(sku)
        group_licenses: dict[str, set[str]] = defaultdict(set)
        for group_id, sku in db.execute("SELECT group_id, sku_id FROM group_licenses"):
            group_licenses[group_id].add(sku)
        inherited = db.execute(
            "SELECT l.member_id, g.sku_id FROM group_licenses AS g JOIN links AS l "
            "ON l.container_id = g.group_id AND l.relation = 'member' AND l.present = 1"
        )
        for user_id, sku in inherited:  # a user's licences: its own and its groups' (Graph's view)
            licenses[user_id].add(sku)
        users = [
            _user(row, licenses.get(row[0]))
            for row in db.execute(
                "SELECT id, upn, account_enabled, mail, mail_nickname, employee_id, sam_account_name, "
                "usage_location, anchor, primary_role, display_name, given_name, surname, middle_name, "
                "student, teacher FROM users ORDER BY seq"
            )
        ]
        schools = [
            DirectorySchool(row[0], row[1], row[2], _props(("displayName", *_SCHOOL_KEYS), row[2:]))
            for row in db.execute(
                "SELECT id, anchor, display_name, external_id, school_number, principal_name, "
                "principal_email, lowest_grade, highest_grade, address, phone FROM schools ORDER BY seq"
            )
        ]
        classes = [
            DirectoryClass(
                row[0], row[1], row[2], row[3], _props(("displayName", "mailNickname", *_CLASS_KEYS), row[2:])
            )
            for row in db.execute(
                "SELECT id, anchor, display_name, mail_nickname, external_id, external_name, class_code, "
                "grade, description, term, course FROM groups_ WHERE is_class = 1 ORDER BY seq"
            )
        ]
        groups = [
            DirectoryGroup(row[0], row[1], row[2], row[3], frozenset(group_licenses.get(row[0], ())))
            for row in db.execute(
                "SELECT id, anchor, display_name, mail_nickname FROM groups_ WHERE is_class = 0 ORDER BY seq"
            )
        ]
        links = db.execute(
            "SELECT container_id, member_id, relation FROM links WHERE present = 1 "
            "ORDER BY container_id, relation, member_id"
        ).fetchall()
        skus = frozenset(sku for (sku,) in db.execute("SELECT sku_id FROM skus"))
    columns = list(zip(*links, strict=True)) if links else [(), (), ()]
    memberships = pa.Table.from_arrays(
        [pa.array(column, type=pa.string()) for column in columns], schema=MEMBERSHIP_SCHEMA
    )
    return DirectorySnapshot(users, schools, classes, groups, memberships, skus)


def _user(row: tuple[Any, ...], licenses: set[str] | None) -> DirectoryUser:
    properties: dict[str, Any] = {}
    for key, value in zip(_USER_NAMES, row[10:14], strict=True):
        if value is not None:
            properties[key] = value
    if row[14] is not None:
        properties["student"] = json.loads(row[14])
    if row[15] is not None:
        properties["teacher"] = json.loads(row[15])
    return DirectoryUser(
        id=row[0],
        user_principal_name=row[1],
        account_enabled=bool(row[2]),
        mail=row[3],
        mail_nickname=row[4],
        employee_id=row[5],
        on_premises_sam_account_name=row[6],
        usage_location=row[7],
        anchor=row[8],
        primary_role=row[9] if row[9] not in (None, "none") else None,
        properties=properties,
        licenses=frozenset(licenses or ()),
    )


def _props(keys: tuple[str, ...], values: tuple[Any, ...]) -> dict[str, Any]:
    return {
        key: json.loads(value) if key in _JSON_KEYS else value
        for key, value in zip(keys, values, strict=True)
        if value is not None
    }
