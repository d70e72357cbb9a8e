"""The directory as the engine sees it: a snapshot to plan against, and operations to apply.

Objects the sync manages carry an **anchor**, a string naming their SIS record (``sds-behaviour.md`` §2):
``School_<School_id>``, ``Section_<Section_id>``, ``Student_<Student_id>``, ``Teacher_<Teacher_id>``,
``Staff_<Staff_id>``, and ``Group_<mailNickname>`` for the Intune for Education groups. Operations address
objects **by anchor**, never by directory id, so a plan stays valid across processes and re-runs; each
:class:`Directory` resolves anchors itself (the local tenant by an indexed column, Graph through its
snapshot cache and the ids its creates return). The one exception is :attr:`OpKind.LINK_USER`, which
names the matched account by directory id (``fields["id"]``) and writes the anchor onto it.

Property names in ``fields`` and in snapshot ``properties`` are Microsoft Graph's (``displayName``,
``student: {externalId, grade, …}``, ``term: {…}``), so the Graph adapter writes them as they are and the
planner compares like with like.

**Idempotence contract** (what makes a killed run resumable without duplicates): applying an operation
whose effect is already there succeeds. Creating an object whose anchor already exists succeeds and
leaves it as is (``OperationResult.directory_id`` = the existing id); adding a present member or removing
an absent one succeeds; disabling a disabled user succeeds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import pyarrow as pa

#: The form of a ``userPrincipalName``: a name without ``@`` or white space, ``@``, a DNS domain with a
#: top-level part of letters. Entra refuses a user that has another (the local tenant does the same).
UPN_FORM = re.compile(r"^[^@\s]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")

#: Schema of :attr:`DirectorySnapshot.memberships`.
MEMBERSHIP_SCHEMA = pa.schema(
    [
        ("container_id", pa.string()),  # id of a class, group or school
        ("member_id", pa.string()),  # id of a user (or of a class, for relation "class")
        ("relation", pa.string()),  # "owner" | "member" (classes, groups); "user" | "class" (schools)
    ]
)

MAX_BATCH = 20  # Graph $batch limit; also the most members one request may add


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    id: str
    user_principal_name: str
    account_enabled: bool = True
    mail: str | None = None
    mail_nickname: str | None = None
    employee_id: str | None = None
    on_premises_sam_account_name: str | None = None
    usage_location: str | None = None
    #: Anchor written by this sync (``Student_1001``); ``None`` for accounts the sync does not manage.
    anchor: str | None = None
    #: ``"student"`` | ``"teacher"`` | ``None``.
    primary_role: str | None = None
    #: Graph-shaped properties the sync writes (displayName, givenName, surname, middleName,
    #: student{…}/teacher{…}); compared with the desired ones to plan updates.
    properties: Mapping[str, Any] = field(default_factory=dict)
    licenses: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DirectorySchool:
    id: str
    anchor: str | None
    display_name: str
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DirectoryClass:
    id: str
    anchor: str | None
    display_name: str
    mail_nickname: str
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DirectoryGroup:
    """A security / Microsoft 365 group the sync maintains (Intune for Education groups)."""

    id: str
    anchor: str | None
    display_name: str
    mail_nickname: str
    #: SKU ids assigned to the group itself (group-based licensing: its members inherit them).
    licenses: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DirectorySnapshot:
    """The actual state: every user of the tenant (for matching) and every school, class and group."""

    users: Sequence[DirectoryUser] = ()
    schools: Sequence[DirectorySchool] = ()
    classes: Sequence[DirectoryClass] = ()
    groups: Sequence[DirectoryGroup] = ()
    memberships: pa.Table = field(default_factory=MEMBERSHIP_SCHEMA.empty_table)
    #: SKU ids the tenant subscribes to.
    subscribed_skus: frozenset[str] = frozenset()


class OpKind(StrEnum):
    """What an operation does. ``target`` is the anchor of the object acted on; ``refs`` the anchors of
    users (or classes, for school-class links) being linked, at most :data:`MAX_BATCH`."""

    CREATE_SCHOOL = "create_school"  # fields: displayName, externalId, … (Graph educationSchool)
    UPDATE_SCHOOL = "update_school"  # fields: changed properties only
    CREATE_USER = "create_user"  # fields: userPrincipalName, displayName, …, primaryRole, student|teacher
    LINK_USER = "link_user"  # fields: id (directory id of the matched account) + role facet properties
    UPDATE_USER = "update_user"  # fields: changed properties only
    DISABLE_USER = "disable_user"
    ENABLE_USER = "enable_user"
    DELETE_USER = "delete_user"
    CREATE_CLASS = "create_class"  # fields: properties; owners: ≥ 1 teacher anchor; refs: first members
    UPDATE_CLASS = "update_class"  # fields: changed properties only
    EXPIRE_CLASS = "expire_class"  # fields: displayName, mailNickname with the Exp<MMYY>_ prefix
    DELETE_CLASS = "delete_class"
    ADD_CLASS_OWNERS = "add_class_owners"
    REMOVE_CLASS_OWNERS = "remove_class_owners"
    ADD_CLASS_MEMBERS = "add_class_members"
    REMOVE_CLASS_MEMBERS = "remove_class_members"
    ADD_SCHOOL_USERS = "add_school_users"
    REMOVE_SCHOOL_USERS = "remove_school_users"
    ADD_SCHOOL_CLASSES = "add_school_classes"  # refs: class anchors
    REMOVE_SCHOOL_CLASSES = "remove_school_classes"
    CREATE_GROUP = "create_group"  # fields: displayName, mailNickname
    ADD_GROUP_MEMBERS = "add_group_members"
    REMOVE_GROUP_MEMBERS = "remove_group_members"
    ASSIGN_LICENSES = "assign_licenses"  # fields: addLicenses: [sku], removeLicenses: [sku]
    ASSIGN_GROUP_LICENSES = "assign_group_licenses"  # target: a group anchor; fields as ASSIGN_LICENSES


#: Operation kinds by their JSON value.
_OP_KINDS: dict[str, OpKind] = {kind.value: kind for kind in OpKind}


@dataclass(frozen=True, slots=True)
class RecordRef:
    """The roster record an operation comes from, so a failure becomes a finding at the right place."""

    file: str
    line: int | None
    record_id: str | None


@dataclass(frozen=True, slots=True)
class Operation:
    kind: OpKind
    target: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    refs: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    record: RecordRef | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind.value, "target": self.target}
        if self.fields:
            data["fields"] = dict(self.fields)
        if self.refs:
            data["refs"] = list(self.refs)
        if self.owners:
            data["owners"] = list(self.owners)
        if self.record is not None:
            data["record"] = [self.record.file, self.record.line, self.record.record_id]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Operation:
        record = data.get("record")
        kind = data["kind"]
        return cls(
            kind=_OP_KINDS.get(kind) or OpKind(kind),  # the dict: an enum call per operation is slow
            target=data["target"],
            fields=data.get("fields", {}),
            refs=tuple(data.get("refs", ())),
            owners=tuple(data.get("owners", ())),
            record=RecordRef(record[0], record[1], record[2]) if record else None,
        )


@dataclass(frozen=True, slots=True)
class OperationResult:
    ok: bool
    #: Graph-style error code on failure (``InvalidLicense``, ``Request_ResourceNotFound`` …).
    code: str | None = None
    #: Human message on failure; no personal data.
    message: str | None = None
    #: Directory id of the object created (or found already there) by a create operation.
    directory_id: str | None = None


class Directory(Protocol):
    """What the engine needs of a directory (embedded local tenant, Microsoft Graph)."""

    #: The most operations one :meth:`apply` call accepts.
    max_batch: int

    @property
    def identity(self) -> str:
        """Names the tenant this directory writes to (not secret, no personal data). Journals are kept
        per identity, so the same plan on another tenant is not taken as already applied."""
        ...

    def snapshot(self) -> DirectorySnapshot:
        """The current state. Implementations may keep a cache refreshed by delta queries."""
        ...

    def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        """Apply independent operations (no one depends on another in the same call); one result each,
        in order. Per-operation failures are results, not exceptions; an exception means the directory
        could not be reached at all (the engine retries the whole call, which is safe by idempotence)."""
        ...
