"""The :class:`DirectorySnapshot` as the delta cache holds it, with anchors derived the shared way
(:mod:`sync.directory.anchors`): users from ``primaryRole`` and the role facet's ``externalId``, schools and
classes from ``externalId``, security groups (not Unified, not classes) from ``mailNickname``."""

from __future__ import annotations

import sys
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa

from sync.directory.anchors import class_anchor_of, group_anchor_of, school_anchor_of, user_anchor
from sync.directory.graph_cache import GraphCache
from sync.directory.model import (
    MEMBERSHIP_SCHEMA,
    DirectoryClass,
    DirectoryGroup,
    DirectorySchool,
    DirectorySnapshot,
    DirectoryUser,
)

#: The properties the sync writes and the planner compares (the same keys the local tenant reports).
USER_KEYS = ("displayName", "givenName", "surname", "middleName", "student", "teacher")
CLASS_KEYS = (
    "displayName", "mailNickname", "externalId", "externalName", "classCode", "grade", "description", "term",
    "course",
)  # fmt: skip
SCHOOL_KEYS = (
    "displayName", "externalId", "schoolNumber", "principalName", "principalEmail", "lowestGrade",
    "highestGrade", "address", "phone",
)  # fmt: skip


_T = TypeVar("_T", bound=Hashable)


@dataclass(frozen=True)
class SnapshotView:
    snapshot: DirectorySnapshot
    #: anchor → directory id of every anchored object.
    anchors: Mapping[str, str]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


#: Top-level properties whose values repeat across a district (nested values are shared unless unique).
_REPEATED = frozenset({"givenName", "surname", "middleName", "grade"})
#: Nested properties that name one record: one copy each anyway.
_UNIQUE = frozenset({"externalId", "studentNumber", "teacherNumber", "classCode"})


class _Shared:
    """One copy of each repeated value across the snapshot (each cached row is parsed on its own, so
    without this every user holds its own "grade", "US", role, licence set and nested keys: at district
    scale that is about a third of the snapshot's memory). The values are immutable strings and
    frozensets; dicts are never shared."""

    def __init__(self) -> None:
        self._values: dict[Hashable, Any] = {}

    def one(self, value: _T) -> _T:
        found: _T = self._values.setdefault(value, value)
        return found

    def properties(self, data: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
        return {
            key: self.one(value) if key in _REPEATED and isinstance(value, str) else self._nested(value)
            for key in keys
            if (value := data.get(key)) is not None
        }

    def _nested(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {
            sys.intern(key): self.one(item)
            if isinstance(item, str) and key not in _UNIQUE
            else self._nested(item)
            for key, item in value.items()
        }

    def licenses(self, data: Mapping[str, Any]) -> frozenset[str]:
        """The SKU ids of ``assignedLicenses`` (a user's include those inherited from its groups)."""
        return self.one(
            frozenset(
                str(item["skuId"])
                for item in data.get("assignedLicenses") or ()
                if isinstance(item, Mapping) and item.get("skuId")
            )
        )

    def text(self, value: Any) -> str | None:
        return self.one(value) if isinstance(value, str) and value else None


def _user(base: Mapping[str, Any], education: Mapping[str, Any], shared: _Shared) -> DirectoryUser:
    merged = {**base, **education}
    role = shared.text(merged.get("primaryRole"))
    return DirectoryUser(
        id=str(merged["id"]),
        user_principal_name=str(merged.get("userPrincipalName") or ""),
        account_enabled=merged.get("accountEnabled") is not False,
        mail=_text(merged.get("mail")),
        mail_nickname=_text(merged.get("mailNickname")),
        employee_id=_text(merged.get("employeeId")),
        on_premises_sam_account_name=_text(merged.get("onPremisesSamAccountName")),
        usage_location=shared.text(merged.get("usageLocation")),
        anchor=user_anchor(role, merged),
        primary_role=role if role not in (None, "none") else None,
        properties=shared.properties(merged, USER_KEYS),
        licenses=shared.licenses(merged),
    )


def _is_security_group(data: Mapping[str, Any]) -> bool:
    return "Unified" not in (data.get("groupTypes") or ()) and data.get("securityEnabled") is True


def _memberships(cache: GraphCache, containers: Iterable[tuple[str, str]]) -> pa.Table:
    """The links of the snapshot's containers, fetched from SQLite in chunks straight into Arrow."""
    batches = [
        pa.record_batch(
            [pa.array([row[column] for row in rows], pa.string()) for column in range(3)],
            schema=MEMBERSHIP_SCHEMA,
        )
        for rows in cache.container_links(containers)
    ]
    return pa.Table.from_batches(batches, schema=MEMBERSHIP_SCHEMA)


def build_snapshot(cache: GraphCache, subscribed_skus: Iterable[str]) -> SnapshotView:
    shared = _Shared()
    users = [_user(base, education, shared) for base, education in cache.joined("user", "education_user")]
    schools = [
        DirectorySchool(
            id=str(data["id"]),
            anchor=school_anchor_of(_text(data.get("externalId"))),
            display_name=str(data.get("displayName") or ""),
            properties=shared.properties(data, SCHOOL_KEYS),
        )
        for data in cache.objects("school")
    ]
    classes = []
    for data, group in cache.joined("class", "group"):
        merged = {**group, **data}
        classes.append(
            DirectoryClass(
                id=str(data["id"]),
                anchor=class_anchor_of(_text(data.get("externalId"))),
                display_name=str(merged.get("displayName") or ""),
                mail_nickname=str(merged.get("mailNickname") or ""),
                properties=shared.properties(merged, CLASS_KEYS),
            )
        )
    groups = [
        DirectoryGroup(
            id=str(data["id"]),
            anchor=group_anchor_of(_text(data.get("mailNickname"))),
            display_name=str(data.get("displayName") or ""),
            mail_nickname=str(data.get("mailNickname") or ""),
            licenses=shared.licenses(data),
        )
        for data in cache.objects("group", unless="class")
        if _is_security_group(data)
    ]
    memberships = _memberships(
        cache,
        (
            *((item.id, "class") for item in classes),
            *((item.id, "group") for item in groups),
            *((item.id, "school") for item in schools),
        ),
    )
    anchors: dict[str, str] = {}
    for anchor, directory_id in (
        *((user.anchor, user.id) for user in users),
        *((school.anchor, school.id) for school in schools),
        *((item.anchor, item.id) for item in classes),
        *((group.anchor, group.id) for group in groups),
    ):
        if anchor:
            anchors[anchor] = directory_id
    snapshot = DirectorySnapshot(
        users=tuple(users),
        schools=tuple(schools),
        classes=tuple(classes),
        groups=tuple(groups),
        memberships=memberships,
        subscribed_skus=frozenset(subscribed_skus),
    )
    return SnapshotView(snapshot, anchors)
