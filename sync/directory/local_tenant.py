"""The embedded local tenant: a :class:`~sync.directory.model.Directory` on one SQLite file.

The default target of the CLI, so a whole sync runs on any machine with no Azure at all. Operations
address objects by anchor (``sync.directory.model``); this module resolves anchors through the store's
indexed ``anchor`` column and applies each operation as Graph would, following the idempotence
contract: creating an object whose anchor exists returns its id, adding a present link or removing an
absent one (or deleting an absent object) succeeds. One :meth:`LocalTenantDirectory.apply` call is one
transaction; each operation runs in its own savepoint, so a failing one leaves no trace and is reported
as an ``OperationResult(ok=False, code=…, message=…)`` while the others go on.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from sync.directory.anchors import (
    class_anchor_of,
    group_anchor_of,
    school_anchor_of,
    user_anchor,
    user_role_of,
)
from sync.directory.model import DirectorySnapshot, Operation, OperationResult, OpKind
from sync.directory.passwords import generate_password
from sync.directory.tenant_dump import dump_state
from sync.directory.tenant_errors import TenantError, bad_request
from sync.directory.tenant_snapshot import read_snapshot
from sync.directory.tenant_store import TenantStore
from sync.errors import DirectoryUnavailable
from sync.roster.names import section_mail_nickname, split_anchor

__all__ = ["LocalTenantDirectory", "dump_state"]

#: The most operations one apply call takes locally (one SQLite transaction).
LOCAL_MAX_BATCH = 500

Table = Literal["users", "groups", "classes", "schools"]
_TABLE_OF_KIND: Mapping[str, Table] = {
    "Student": "users",
    "Teacher": "users",
    "Staff": "users",
    "Section": "classes",
    "Group": "groups",
    "School": "schools",
}
_NOUN: Mapping[Table, str] = {"users": "user", "groups": "group", "classes": "class", "schools": "school"}


def _table(anchor: str) -> Table | None:
    return _TABLE_OF_KIND.get(split_anchor(anchor)[0])


def _missing(table: Table, count: int = 1) -> TenantError:
    noun = _NOUN[table] if count == 1 else f"{count} referenced {_NOUN[table]}es"
    what = f"the {noun}" if count == 1 else noun
    return TenantError("Request_ResourceNotFound", f"{what} named by the operation does not exist", 404)


class _Anchors:
    """Anchor → id for one apply call: loaded in bulk up front, kept current as operations run."""

    def __init__(self, store: TenantStore, operations: Sequence[Operation]) -> None:
        wanted: dict[Table, set[str]] = {"users": set(), "groups": set(), "classes": set(), "schools": set()}
        for op in operations:
            for anchor in (op.target, *op.refs, *op.owners):
                table = _table(anchor)
                if table is not None:
                    wanted[table].add(anchor)
        self._ids: dict[str, str] = {}
        for table, anchors in wanted.items():
            if anchors:
                self._ids.update(store.ids_by_anchor(table, anchors))

    def get(self, anchor: str) -> str | None:
        return self._ids.get(anchor)

    def need(self, anchor: str, table: Table) -> str:
        object_id = self._ids.get(anchor) if _table(anchor) == table else None
        if object_id is None:
            raise _missing(table)
        return object_id

    def all(self, anchors: Iterable[str], table: Table, *, strict: bool) -> list[str]:
        """Ids of ``anchors``; with ``strict`` every one must exist, else the absent ones are skipped."""
        found = [self._ids.get(a) if _table(a) == table else None for a in anchors]
        absent = sum(1 for object_id in found if object_id is None)
        if strict and absent:
            raise _missing(table, absent)
        return [object_id for object_id in found if object_id is not None]

    def remember(self, anchor: str, object_id: str) -> None:
        self._ids[anchor] = object_id

    def forget(self, anchor: str) -> None:
        self._ids.pop(anchor, None)


Handler = Callable[["LocalTenantDirectory", Operation, _Anchors], str | None]


class LocalTenantDirectory:
    """A :class:`~sync.directory.model.Directory` on the tenant file at ``path`` (created if absent)."""

    def __init__(self, path: str | os.PathLike[str], *, max_batch: int = LOCAL_MAX_BATCH) -> None:
        self.path = Path(path)
        self.max_batch = max_batch
        self.store = TenantStore(self.path)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> LocalTenantDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def identity(self) -> str:
        return f"local:{self.store.tenant_id}"

    def snapshot(self) -> DirectorySnapshot:
        try:
            return read_snapshot(self.store)
        except sqlite3.Error as err:
            raise DirectoryUnavailable(f"local tenant {self.path} cannot be read: {err}") from err

    def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        if len(operations) > self.max_batch:
            raise ValueError(
                f"{len(operations)} operations in one call; the local tenant takes {self.max_batch}"
            )
        results: list[OperationResult] = []
        try:
            with self.store.transaction():
                anchors = _Anchors(self.store, operations)
                for op in operations:
                    results.append(self._apply_one(op, anchors))
        except sqlite3.Error as err:
            raise DirectoryUnavailable(f"local tenant {self.path} cannot be written: {err}") from err
        return results

    def _apply_one(self, op: Operation, anchors: _Anchors) -> OperationResult:
        try:
            with self.store.transaction():
                directory_id = _HANDLERS[op.kind](self, op, anchors)
        except TenantError as err:
            return OperationResult(ok=False, code=err.code, message=err.message)
        return OperationResult(ok=True, directory_id=directory_id)

    # -- schools -----------------------------------------------------------------------------------------
    def _create_school(self, op: Operation, anchors: _Anchors) -> str | None:
        existing = anchors.get(op.target)
        if existing is not None:
            return existing
        fields = _with_external_id(op)
        fields.setdefault("externalSource", "sis")
        _check_anchor(op.target, school_anchor_of(fields.get("externalId")))
        object_id = self.store.create_school(fields)
        anchors.remember(op.target, object_id)
        return object_id

    def _update_school(self, op: Operation, anchors: _Anchors) -> None:
        self.store.update_school(anchors.need(op.target, "schools"), op.fields)

    def _school_links(self, op: Operation, anchors: _Anchors) -> None:
        school_id = anchors.need(op.target, "schools")
        if op.kind in (OpKind.ADD_SCHOOL_USERS, OpKind.REMOVE_SCHOOL_USERS):
            self._links(school_id, "user", "users", op, anchors)
        else:
            self._links(school_id, "class", "classes", op, anchors)

    # -- users -------------------------------------------------------------------------------------------
    def _create_user(self, op: Operation, anchors: _Anchors) -> str | None:
        existing = anchors.get(op.target)
        if existing is not None:
            return existing
        fields = _with_role(op)
        fields.setdefault("accountEnabled", True)
        if "passwordProfile" not in fields:
            fields["passwordProfile"] = {
                "password": generate_password(),
                "forceChangePasswordNextSignIn": True,
            }
        object_id = self.store.create_user(fields)
        anchors.remember(op.target, object_id)
        return object_id

    def _link_user(self, op: Operation, anchors: _Anchors) -> str | None:
        user_id = op.fields.get("id")
        if not isinstance(user_id, str) or self.store.kind_of(user_id) != "user":
            raise _missing("users")
        holder = anchors.get(op.target)
        if holder not in (None, user_id):
            raise bad_request("the anchor is already on another account")
        self.store.update_user(user_id, {k: v for k, v in _with_role(op).items() if k != "id"})
        anchors.remember(op.target, user_id)
        return user_id

    def _update_user(self, op: Operation, anchors: _Anchors) -> None:
        user_id = anchors.need(op.target, "users")
        role = user_role_of(op.target)
        fields = dict(op.fields)
        if role is not None and isinstance(fields.get(role[1]), Mapping):
            # A PATCH replaces a complex property whole: keep the anchor's externalId in the facet.
            fields[role[1]] = {"externalId": role[2], **fields[role[1]]}
        self.store.update_user(user_id, fields)

    def _set_enabled(self, op: Operation, anchors: _Anchors) -> None:
        enabled = op.kind is OpKind.ENABLE_USER
        self.store.update_user(anchors.need(op.target, "users"), {"accountEnabled": enabled})

    def _delete_user(self, op: Operation, anchors: _Anchors) -> None:
        user_id = anchors.get(op.target)
        if user_id is not None:
            self.store.delete_user(user_id)
            anchors.forget(op.target)

    def _assign_licenses(self, op: Operation, anchors: _Anchors) -> None:
        user_id = anchors.need(op.target, "users")
        self.store.assign_licenses(user_id, add=_added(op), remove=_removed(op))

    def _assign_group_licenses(self, op: Operation, anchors: _Anchors) -> None:
        """Assigning SKUs the group holds already changes nothing (idempotent)."""
        group_id = anchors.need(op.target, "groups")
        self.store.assign_group_licenses(group_id, add=_added(op), remove=_removed(op))

    # -- classes and groups ------------------------------------------------------------------------------
    def _create_class(self, op: Operation, anchors: _Anchors) -> str | None:
        existing = anchors.get(op.target)
        if existing is not None:
            return existing
        if not op.owners:
            raise bad_request("a class is created with at least one owner")
        owners = anchors.all(op.owners, "users", strict=True)
        members = anchors.all(op.refs, "users", strict=True)
        fields = _with_external_id(op)
        fields.setdefault("mailNickname", section_mail_nickname(split_anchor(op.target)[1]))
        fields.setdefault("externalSource", "sis")
        _check_anchor(op.target, class_anchor_of(fields.get("externalId")))
        object_id = self.store.create_group(fields, owners=owners, members=members, as_class=True)
        anchors.remember(op.target, object_id)
        return object_id

    def _update_class(self, op: Operation, anchors: _Anchors) -> None:
        class_id = anchors.need(op.target, "classes")
        self.store.update_class(class_id, op.fields)
        if "externalId" in op.fields:
            anchors.forget(op.target)

    def _delete_class(self, op: Operation, anchors: _Anchors) -> None:
        class_id = anchors.get(op.target)
        if class_id is not None:
            self.store.delete_group(class_id)
            anchors.forget(op.target)

    def _class_links(self, op: Operation, anchors: _Anchors) -> None:
        relation = "owner" if "OWNERS" in op.kind.name else "member"
        self._links(anchors.need(op.target, "classes"), relation, "users", op, anchors)

    def _create_group(self, op: Operation, anchors: _Anchors) -> str | None:
        existing = anchors.get(op.target)
        if existing is not None:
            return existing
        fields = dict(op.fields)
        fields.setdefault("mailNickname", split_anchor(op.target)[1])
        _check_anchor(op.target, group_anchor_of(fields.get("mailNickname")))
        object_id = self.store.create_group(fields)
        anchors.remember(op.target, object_id)
        return object_id

    def _group_links(self, op: Operation, anchors: _Anchors) -> None:
        self._links(anchors.need(op.target, "groups"), "member", "users", op, anchors)

    # -- links -------------------------------------------------------------------------------------------
    def _links(
        self, container_id: str, relation: str, table: Table, op: Operation, anchors: _Anchors
    ) -> None:
        """Add or remove ``op.refs``; present links are not added again, absent ones not removed."""
        adding = op.kind.name.startswith("ADD_")
        member_ids = anchors.all(op.refs, table, strict=adding)
        if adding:
            self.store.add_links(container_id, relation, member_ids, skip_present=True)
        else:
            self.store.remove_links(container_id, relation, member_ids, skip_absent=True)


_HANDLERS: Mapping[OpKind, Handler] = {
    OpKind.CREATE_SCHOOL: LocalTenantDirectory._create_school,
    OpKind.UPDATE_SCHOOL: LocalTenantDirectory._update_school,
    OpKind.CREATE_USER: LocalTenantDirectory._create_user,
    OpKind.LINK_USER: LocalTenantDirectory._link_user,
    OpKind.UPDATE_USER: LocalTenantDirectory._update_user,
    OpKind.DISABLE_USER: LocalTenantDirectory._set_enabled,
    OpKind.ENABLE_USER: LocalTenantDirectory._set_enabled,
    OpKind.DELETE_USER: LocalTenantDirectory._delete_user,
    OpKind.CREATE_CLASS: LocalTenantDirectory._create_class,
    OpKind.UPDATE_CLASS: LocalTenantDirectory._update_class,
    OpKind.EXPIRE_CLASS: LocalTenantDirectory._update_class,
    OpKind.DELETE_CLASS: LocalTenantDirectory._delete_class,
    OpKind.ADD_CLASS_OWNERS: LocalTenantDirectory._class_links,
    OpKind.REMOVE_CLASS_OWNERS: LocalTenantDirectory._class_links,
    OpKind.ADD_CLASS_MEMBERS: LocalTenantDirectory._class_links,
    OpKind.REMOVE_CLASS_MEMBERS: LocalTenantDirectory._class_links,
    OpKind.ADD_SCHOOL_USERS: LocalTenantDirectory._school_links,
    OpKind.REMOVE_SCHOOL_USERS: LocalTenantDirectory._school_links,
    OpKind.ADD_SCHOOL_CLASSES: LocalTenantDirectory._school_links,
    OpKind.REMOVE_SCHOOL_CLASSES: LocalTenantDirectory._school_links,
    OpKind.CREATE_GROUP: LocalTenantDirectory._create_group,
    OpKind.ADD_GROUP_MEMBERS: LocalTenantDirectory._group_links,
    OpKind.REMOVE_GROUP_MEMBERS: LocalTenantDirectory._group_links,
    OpKind.ASSIGN_LICENSES: LocalTenantDirectory._assign_licenses,
    OpKind.ASSIGN_GROUP_LICENSES: LocalTenantDirectory._assign_group_licenses,
}


def _with_external_id(op: Operation) -> dict[str, Any]:
    fields = dict(op.fields)
    fields.setdefault("externalId", split_anchor(op.target)[1])
    return fields


def _with_role(op: Operation) -> dict[str, Any]:
    """``op.fields`` with the ``primaryRole`` and facet ``externalId`` the target anchor means."""
    role = user_role_of(op.target)
    if role is None:
        raise bad_request("the operation's target is not a student, teacher or staff anchor")
    primary_role, facet, external_id = role
    fields = dict(op.fields)
    fields.setdefault("primaryRole", primary_role)
    given = fields.get(facet) or {}
    if not isinstance(given, Mapping):
        raise bad_request(f"property '{facet}' must be an object")
    fields[facet] = {"externalId": external_id, **given}
    fields.setdefault("externalSource", "sis")
    _check_anchor(op.target, user_anchor(fields["primaryRole"], fields))
    return fields


def _check_anchor(target: str, derived: str | None) -> None:
    if derived != target:
        raise bad_request("the fields name another object than the operation's target anchor")


def _added(op: Operation) -> list[str]:
    return _sku_ids(op.fields.get("addLicenses", ()))


def _removed(op: Operation) -> list[str]:
    return _sku_ids(op.fields.get("removeLicenses", ()))


def _sku_ids(values: Any) -> list[str]:
    """``["sku", …]`` or Graph's ``[{"skuId": "sku"}, …]`` → SKU ids."""
    ids = []
    for value in values or ():
        sku = value.get("skuId") if isinstance(value, Mapping) else value
        if not isinstance(sku, str):
            raise bad_request("addLicenses / removeLicenses hold SKU ids")
        ids.append(sku)
    return ids
