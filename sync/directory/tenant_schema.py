"""The SQLite layout of the local tenant: tables, indexes and the Graph property ↔ column maps.

Each object table holds Graph properties in typed columns (``text``, ``bool`` or ``json`` for complex
properties), plus bookkeeping: ``anchor`` (derived on every write, see :mod:`sync.directory.anchors`),
``version`` (the change counter value of the object's last change) and ``seq`` (creation order).
Licences assigned directly are rows of ``licenses`` (users) and ``group_licenses`` (group-based
licensing: a group's direct user members inherit them); tables are created if absent, so older tenant
files gain ``group_licenses`` when opened.
Links (group owners/members, school users/classes) are rows of ``links``; a removed link stays as a
tombstone (``present = 0``) so delta queries can report it. A deleted object leaves a row in
``tombstones``. ``meta.counter`` is the last change number handed out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

SCHEMA_VERSION = "1"

PropType = Literal["text", "bool", "json"]

#: Graph property → (column, type), per object kind.
USER_PROPS: Mapping[str, tuple[str, PropType]] = {
    "userPrincipalName": ("upn", "text"),
    "displayName": ("display_name", "text"),
    "givenName": ("given_name", "text"),
    "surname": ("surname", "text"),
    "middleName": ("middle_name", "text"),
    "mail": ("mail", "text"),
    "mailNickname": ("mail_nickname", "text"),
    "employeeId": ("employee_id", "text"),
    "onPremisesSamAccountName": ("sam_account_name", "text"),
    "accountEnabled": ("account_enabled", "bool"),
    "usageLocation": ("usage_location", "text"),
    "primaryRole": ("primary_role", "text"),
    "externalSource": ("external_source", "text"),
    "externalSourceDetail": ("external_source_detail", "text"),
    "student": ("student", "json"),
    "teacher": ("teacher", "json"),
}
#: Group properties; the ``CLASS_PROPS`` are settable only through the class view.
GROUP_PROPS: Mapping[str, tuple[str, PropType]] = {
    "displayName": ("display_name", "text"),
    "mailNickname": ("mail_nickname", "text"),
    "description": ("description", "text"),
    "mailEnabled": ("mail_enabled", "bool"),
    "securityEnabled": ("security_enabled", "bool"),
    "groupTypes": ("group_types", "json"),
}
CLASS_PROPS: Mapping[str, tuple[str, PropType]] = {
    "externalId": ("external_id", "text"),
    "externalName": ("external_name", "text"),
    "externalSource": ("external_source", "text"),
    "classCode": ("class_code", "text"),
    "grade": ("grade", "text"),
    "term": ("term", "json"),
    "course": ("course", "json"),
}
SCHOOL_PROPS: Mapping[str, tuple[str, PropType]] = {
    "displayName": ("display_name", "text"),
    "description": ("description", "text"),
    "externalId": ("external_id", "text"),
    "externalSource": ("external_source", "text"),
    "schoolNumber": ("school_number", "text"),
    "principalName": ("principal_name", "text"),
    "principalEmail": ("principal_email", "text"),
    "lowestGrade": ("lowest_grade", "text"),
    "highestGrade": ("highest_grade", "text"),
    "address": ("address", "json"),
    "phone": ("phone", "text"),
    "fax": ("fax", "text"),
}

#: Relations a link may have, by container kind.
GROUP_RELATIONS = ("owner", "member")
SCHOOL_RELATIONS = ("user", "class")

#: SKUs a new tenant file subscribes to: skuId → skuPartNumber.
SEEDED_SKUS: Mapping[str, str] = {
    "314c4481-f395-4525-be8b-2ec4bb1e9d91": "STANDARDWOFFPACK_STUDENT",
    "94763226-9b3c-4e75-a931-5c89701abe66": "STANDARDWOFFPACK_FACULTY",
}


def _columns(props: Mapping[str, tuple[str, PropType]]) -> str:
    kinds = {"text": "TEXT", "bool": "INTEGER", "json": "TEXT"}
    return ",\n    ".join(f"{column} {kinds[kind]}" for column, kind in dict(props.values()).items())


DDL = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    upn_lc TEXT NOT NULL UNIQUE,
    anchor TEXT,
    version INTEGER NOT NULL,
    {_columns(USER_PROPS)}
);
CREATE INDEX IF NOT EXISTS users_anchor ON users (anchor);
CREATE INDEX IF NOT EXISTS users_version ON users (version);
CREATE TABLE IF NOT EXISTS groups_ (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    is_class INTEGER NOT NULL DEFAULT 0,
    anchor TEXT,
    version INTEGER NOT NULL,
    {_columns({**GROUP_PROPS, **CLASS_PROPS})}
);
CREATE INDEX IF NOT EXISTS groups_anchor ON groups_ (anchor);
CREATE INDEX IF NOT EXISTS groups_version ON groups_ (version);
CREATE TABLE IF NOT EXISTS schools (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    anchor TEXT,
    version INTEGER NOT NULL,
    {_columns(SCHOOL_PROPS)}
);
CREATE INDEX IF NOT EXISTS schools_anchor ON schools (anchor);
CREATE INDEX IF NOT EXISTS schools_version ON schools (version);
CREATE TABLE IF NOT EXISTS nicknames (nick_lc TEXT PRIMARY KEY, object_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS links (
    container_id TEXT NOT NULL,
    relation TEXT NOT NULL,
    member_id TEXT NOT NULL,
    present INTEGER NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (container_id, relation, member_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS links_member ON links (member_id);
CREATE INDEX IF NOT EXISTS links_version ON links (version);
CREATE TABLE IF NOT EXISTS licenses (
    user_id TEXT NOT NULL,
    sku_id TEXT NOT NULL,
    PRIMARY KEY (user_id, sku_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_licenses (
    group_id TEXT NOT NULL,
    sku_id TEXT NOT NULL,
    PRIMARY KEY (group_id, sku_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS skus (sku_id TEXT PRIMARY KEY, part_number TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tombstones (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tombstones_version ON tombstones (version);
"""
