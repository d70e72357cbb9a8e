"""Hand-written fakes for the engine tests: an in-memory :class:`Directory` that follows the idempotence
contract of ``sync.directory.model``, a journal that forgets nothing, and helpers to build rosters."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from sync.directory.model import (
    MAX_BATCH,
    MEMBERSHIP_SCHEMA,
    DirectoryClass,
    DirectoryGroup,
    DirectorySchool,
    DirectorySnapshot,
    DirectoryUser,
    Operation,
    OperationResult,
    OpKind,
)
from sync.errors import DirectoryUnavailable
from sync.roster.model import Roster

_COMPLEX = frozenset({"student", "teacher", "course", "term", "address"})


class Killed(BaseException):
    """Simulates the process dying: not an ``Exception``, so nothing in the engine may catch it."""


@dataclass
class _User:
    id: str
    upn: str
    enabled: bool = True
    mail: str | None = None
    mail_nickname: str | None = None
    employee_id: str | None = None
    sam: str | None = None
    usage_location: str | None = None
    anchor: str | None = None
    primary_role: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    licenses: set[str] = field(default_factory=set)
    password: str | None = None


@dataclass
class _Object:
    id: str
    kind: str  # school | class | group
    anchor: str | None
    display_name: str
    mail_nickname: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    #: SKU ids assigned to a group (group-based licensing).
    licenses: set[str] = field(default_factory=set)


def _merge(target: dict[str, Any], fields: Mapping[str, Any]) -> None:
    for key, value in fields.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = dict(value) if key in _COMPLEX else value


class MemoryDirectory:
    """An in-memory tenant. ``kill_after`` raises :class:`Killed` once that many more operations have been
    applied (mid-batch: the operations before it in the batch are applied); ``unavailable`` makes the next
    that many ``apply`` calls raise :class:`DirectoryUnavailable` before applying anything."""

    def __init__(self, *, max_batch: int = MAX_BATCH, skus: Sequence[str] = ()) -> None:
        self.max_batch = max_batch
        self.subscribed_skus = frozenset(skus)
        self.users: dict[str, _User] = {}
        self.objects: dict[str, _Object] = {}
        self.links: set[tuple[str, str, str]] = set()
        self.applied: list[Operation] = []
        self.kill_after: int | None = None
        self.unavailable = 0
        self.apply_calls = 0
        self.batches: list[list[OpKind]] = []
        self._ids = itertools.count(1)

    # -- seeding -----------------------------------------------------------------------------------------
    def add_user(self, upn: str, **values: Any) -> str:
        user = _User(id=f"u{next(self._ids)}", upn=upn, **values)
        self.users[user.id] = user
        return user.id

    def add_object(
        self, kind: str, anchor: str | None, display_name: str, nickname: str = "", **props: Any
    ) -> str:
        obj = _Object(f"{kind[0]}{next(self._ids)}", kind, anchor, display_name, nickname, dict(props))
        self.objects[obj.id] = obj
        return obj.id

    def link(self, container_id: str, member_id: str, relation: str) -> None:
        self.links.add((container_id, member_id, relation))

    def unlink(self, container_id: str, member_id: str, relation: str) -> None:
        self.links.discard((container_id, member_id, relation))

    # -- Directory ---------------------------------------------------------------------------------------
    def snapshot(self) -> DirectorySnapshot:
        users = [
            DirectoryUser(
                id=u.id,
                user_principal_name=u.upn,
                account_enabled=u.enabled,
                mail=u.mail,
                mail_nickname=u.mail_nickname,
                employee_id=u.employee_id,
                on_premises_sam_account_name=u.sam,
                usage_location=u.usage_location,
                anchor=u.anchor,
                primary_role=u.primary_role,
                properties={k: dict(v) if isinstance(v, dict) else v for k, v in u.properties.items()},
                licenses=frozenset(u.licenses),
            )
            for u in self.users.values()
        ]
        schools = [
            DirectorySchool(o.id, o.anchor, o.display_name, dict(o.properties))
            for o in self.objects.values()
            if o.kind == "school"
        ]
        classes = [
            DirectoryClass(o.id, o.anchor, o.display_name, o.mail_nickname, dict(o.properties))
            for o in self.objects.values()
            if o.kind == "class"
        ]
        groups = [
            DirectoryGroup(o.id, o.anchor, o.display_name, o.mail_nickname, frozenset(o.licenses))
            for o in self.objects.values()
            if o.kind == "group"
        ]
        rows = sorted(self.links)
        memberships = pa.table(
            {
                "container_id": [r[0] for r in rows],
                "member_id": [r[1] for r in rows],
                "relation": [r[2] for r in rows],
            },
            schema=MEMBERSHIP_SCHEMA,
        )
        return DirectorySnapshot(users, schools, classes, groups, memberships, self.subscribed_skus)

    def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        assert len(operations) <= self.max_batch, "engine sent a batch larger than max_batch"
        self.apply_calls += 1
        self.batches.append([op.kind for op in operations])
        if self.unavailable:
            self.unavailable -= 1
            raise DirectoryUnavailable("fake directory is down")
        results = []
        for operation in operations:
            if self.kill_after is not None:
                if self.kill_after == 0:
                    self.kill_after = None
                    raise Killed()
                self.kill_after -= 1
            self.applied.append(operation)
            results.append(self._apply_one(operation))
        return results

    # -- state for comparisons ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Id-free state: objects by anchor (or UPN), links by anchors."""
        names = {u.id: u.anchor or u.upn for u in self.users.values()}
        names |= {o.id: o.anchor or o.display_name for o in self.objects.values()}
        return {
            "users": sorted(
                (
                    names[u.id],
                    u.upn,
                    u.enabled,
                    u.primary_role,
                    repr(sorted(u.properties.items())),
                    sorted(u.licenses),
                )
                for u in self.users.values()
            ),
            "objects": sorted(
                (
                    o.kind,
                    names[o.id],
                    o.display_name,
                    o.mail_nickname,
                    repr(sorted(o.properties.items())),
                    sorted(o.licenses),
                )
                for o in self.objects.values()
            ),
            "links": sorted((names[c], names[m], r) for c, m, r in self.links),
        }

    def anchored(self, anchor: str) -> str | None:
        for user in self.users.values():
            if user.anchor == anchor:
                return user.id
        for obj in self.objects.values():
            if obj.anchor == anchor:
                return obj.id
        return None

    def members(self, anchor: str, relation: str) -> set[str]:
        container = self.anchored(anchor)
        names = {u.id: u.anchor or u.upn for u in self.users.values()}
        names |= {o.id: o.anchor or o.display_name for o in self.objects.values()}
        return {names[m] for c, m, r in self.links if c == container and r == relation}

    # -- operations --------------------------------------------------------------------------------------
    def _apply_one(self, op: Operation) -> OperationResult:
        handler = getattr(self, f"_op_{op.kind.value}")
        result: OperationResult = handler(op)
        return result

    def _missing(self, what: str) -> OperationResult:
        return OperationResult(False, "Request_ResourceNotFound", f"{what} does not exist")

    def _op_create_school(self, op: Operation) -> OperationResult:
        return self._create_object("school", op)

    def _op_create_group(self, op: Operation) -> OperationResult:
        return self._create_object("group", op)

    def _create_object(self, kind: str, op: Operation) -> OperationResult:
        found = self.anchored(op.target)
        if found is not None:
            return OperationResult(True, directory_id=found)
        fields = dict(op.fields)
        display = fields.pop("displayName")
        nickname = fields.pop("mailNickname", "")
        new_id = self.add_object(kind, op.target, display, nickname)
        _merge(self.objects[new_id].properties, fields)
        return OperationResult(True, directory_id=new_id)

    def _op_update_school(self, op: Operation) -> OperationResult:
        return self._update_object(op)

    def _op_update_class(self, op: Operation) -> OperationResult:
        return self._update_object(op)

    def _op_expire_class(self, op: Operation) -> OperationResult:
        return self._update_object(op)

    def _update_object(self, op: Operation) -> OperationResult:
        found = self.anchored(op.target)
        if found is None:
            return self._missing(op.target)
        obj = self.objects[found]
        fields = dict(op.fields)
        obj.display_name = fields.pop("displayName", obj.display_name)
        obj.mail_nickname = fields.pop("mailNickname", obj.mail_nickname)
        _merge(obj.properties, fields)
        return OperationResult(True)

    def _op_create_user(self, op: Operation) -> OperationResult:
        found = self.anchored(op.target)
        if found is not None:
            return OperationResult(True, directory_id=found)
        fields = dict(op.fields)
        upn = fields.pop("userPrincipalName")
        if any(u.upn.lower() == upn.lower() for u in self.users.values()):
            return OperationResult(False, "Request_BadRequest", "userPrincipalName is already in use")
        profile = fields.pop("passwordProfile", None)
        user = _User(
            id=f"u{next(self._ids)}",
            upn=upn,
            enabled=fields.pop("accountEnabled", True),
            mail_nickname=fields.pop("mailNickname", None),
            usage_location=fields.pop("usageLocation", None),
            anchor=op.target,
            primary_role=fields.pop("primaryRole", None),
            password=profile["password"] if profile else "generated",
        )
        _merge(user.properties, fields)
        self.users[user.id] = user
        return OperationResult(True, directory_id=user.id)

    def _op_link_user(self, op: Operation) -> OperationResult:
        fields = dict(op.fields)
        user = self.users.get(fields.pop("id"))
        if user is None:
            return self._missing("the matched account")
        user.anchor = op.target
        user.primary_role = fields.pop("primaryRole", user.primary_role)
        user.usage_location = fields.pop("usageLocation", user.usage_location)
        _merge(user.properties, fields)
        return OperationResult(True, directory_id=user.id)

    def _op_update_user(self, op: Operation) -> OperationResult:
        found = self.anchored(op.target)
        if found is None:
            return self._missing(op.target)
        user = self.users[found]
        fields = dict(op.fields)
        user.primary_role = fields.pop("primaryRole", user.primary_role)
        user.usage_location = fields.pop("usageLocation", user.usage_location)
        _merge(user.properties, fields)
        return OperationResult(True)

    def _op_disable_user(self, op: Operation) -> OperationResult:
        return self._set_enabled(op, False)

    def _op_enable_user(self, op: Operation) -> OperationResult:
        return self._set_enabled(op, True)

    def _set_enabled(self, op: Operation, enabled: bool) -> OperationResult:
        found = self.anchored(op.target)
        if found is None:
            return self._missing(op.target)
        self.users[found].enabled = enabled
        return OperationResult(True)

    def _op_delete_user(self, op: Operation) -> OperationResult:
        found = self.anchored(op.target)
        if found is not None:
            del self.users[found]
            self.links = {link for link in self.links if found not in (link[0], link[1])}
        return OperationResult(True)

    def _op_delete_class(self, op: Operation) -> OperationResult:
        found = self.anchored(op.target)
        if found is not None:
            del self.objects[found]
            self.links = {link for link in self.links if found not in (link[0], link[1])}
        return OperationResult(True)

    def _op_create_class(self, op: Operation) -> OperationResult:
        found = self.anchored(op.target)
        if found is not None:
            return OperationResult(True, directory_id=found)
        if not op.owners:
            return OperationResult(False, "Request_BadRequest", "a class needs an owner")
        owners = [self.anchored(a) for a in op.owners]
        members = [self.anchored(a) for a in op.refs]
        if None in owners or None in members:
            return self._missing("an owner or member")
        result = self._create_object("class", op)
        assert result.directory_id is not None
        for owner in owners:
            assert owner is not None
            self.link(result.directory_id, owner, "owner")
        for member in members:
            assert member is not None
            self.link(result.directory_id, member, "member")
        return result

    def _links(self, op: Operation, relation: str, add: bool) -> OperationResult:
        container = self.anchored(op.target)
        if container is None:
            return self._missing(op.target)
        ids = [self.anchored(ref) for ref in op.refs]
        if add and None in ids:
            return self._missing("a member")
        for member in ids:
            if member is None:
                continue
            if add:
                self.link(container, member, relation)
            else:
                self.unlink(container, member, relation)
        return OperationResult(True)

    def _op_add_class_owners(self, op: Operation) -> OperationResult:
        return self._links(op, "owner", True)

    def _op_remove_class_owners(self, op: Operation) -> OperationResult:
        return self._links(op, "owner", False)

    def _op_add_class_members(self, op: Operation) -> OperationResult:
        return self._links(op, "member", True)

    def _op_remove_class_members(self, op: Operation) -> OperationResult:
        return self._links(op, "member", False)

    def _op_add_school_users(self, op: Operation) -> OperationResult:
        return self._links(op, "user", True)

    def _op_remove_school_users(self, op: Operation) -> OperationResult:
        return self._links(op, "user", False)

    def _op_add_school_classes(self, op: Operation) -> OperationResult:
        return self._links(op, "class", True)

    def _op_remove_school_classes(self, op: Operation) -> OperationResult:
        return self._links(op, "class", False)

    def _op_add_group_members(self, op: Operation) -> OperationResult:
        return self._links(op, "member", True)

    def _op_remove_group_members(self, op: Operation) -> OperationResult:
        return self._links(op, "member", False)

    def _op_assign_licenses(self, op: Operation) -> OperationResult:
        found = self.anchored(op.target)
        if found is None:
            return self._missing(op.target)
        user = self.users[found]
        skus = set(op.fields.get("addLicenses", ()))
        if self.subscribed_skus and not skus <= self.subscribed_skus:
            return OperationResult(False, "InvalidLicense", "the tenant does not subscribe to that SKU")
        if user.usage_location is None:
            return OperationResult(False, "InvalidUserUsageLocation", "the user has no usage location")
        user.licenses |= skus
        return OperationResult(True)

    def _op_assign_group_licenses(self, op: Operation) -> OperationResult:
        found = self.anchored(op.target)
        if found is None or found not in self.objects or self.objects[found].kind != "group":
            return self._missing(op.target)
        skus = set(op.fields.get("addLicenses", ()))
        if self.subscribed_skus and not skus <= self.subscribed_skus:
            return OperationResult(False, "InvalidLicense", "the tenant does not subscribe to that SKU")
        self.objects[found].licenses |= skus
        return OperationResult(True)


assert {f"_op_{kind.value}" for kind in OpKind} <= set(dir(MemoryDirectory))


# -- rosters -------------------------------------------------------------------------------------------------
def table(rows: Sequence[Mapping[str, str | None]], columns: Sequence[str]) -> pa.Table:
    data: dict[str, pa.Array] = {c: pa.array([row.get(c) for row in rows], pa.string()) for c in columns}
    data["_line"] = pa.array(range(2, len(rows) + 2), pa.int64())
    return pa.table(data)


STUDENT_COLUMNS = (
    "Student_id",
    "School_id",
    "First_name",
    "Last_name",
    "Middle_name",
    "Username",
    "Password",
    "Student_number",
    "State_id",
    "Student_email",
    "Grade",
    "Gender",
    "Graduation_year",
    "DOB",
)
TEACHER_COLUMNS = (
    "Teacher_id",
    "First_name",
    "Last_name",
    "Middle_name",
    "Username",
    "Password",
    "Teacher_number",
    "State_teacher_id",
    "Teacher_email",
)
SECTION_COLUMNS = (
    "Section_id",
    "School_id",
    "Name",
    "Section_number",
    "Grade",
    "Course_name",
    "Course_number",
    "Course_description",
    "Subject",
    "Period",
    "Term_name",
    "Term_start",
    "Term_end",
)
SCHOOL_COLUMNS = (
    "School_id",
    "School_name",
    "School_number",
    "Principal",
    "Principal_email",
    "Low_grade",
    "High_grade",
    "School_address",
    "School_city",
    "School_state",
    "School_zip",
    "School_phone",
)


@dataclass
class RosterBuilder:
    """A small district built row by row; ``build()`` gives the validated-roster shape of the model."""

    schools: list[dict[str, str | None]] = field(default_factory=list)
    students: list[dict[str, str | None]] = field(default_factory=list)
    teachers: list[dict[str, str | None]] = field(default_factory=list)
    teacher_schools: list[tuple[str, str]] = field(default_factory=list)
    sections: list[dict[str, str | None]] = field(default_factory=list)
    section_teachers: list[tuple[str, str, int]] = field(default_factory=list)
    enrollments: list[tuple[str, str, str]] = field(default_factory=list)
    staff: list[dict[str, str | None]] = field(default_factory=list)
    staff_schools: list[tuple[str, str]] = field(default_factory=list)

    def school(self, school_id: str, name: str | None = None, **values: str) -> RosterBuilder:
        self.schools.append({"School_id": school_id, "School_name": name or f"School {school_id}", **values})
        return self

    def student(self, student_id: str, school_id: str, **values: str | None) -> RosterBuilder:
        row: dict[str, str | None] = {
            "Student_id": student_id,
            "School_id": school_id,
            "First_name": f"First{student_id}",
            "Last_name": f"Last{student_id}",
            "Username": f"s{student_id}".lower(),
        }
        row.update(values)
        self.students.append(row)
        return self

    def teacher(self, teacher_id: str, *school_ids: str, **values: str | None) -> RosterBuilder:
        row: dict[str, str | None] = {
            "Teacher_id": teacher_id,
            "First_name": f"First{teacher_id}",
            "Last_name": f"Last{teacher_id}",
            "Username": f"t{teacher_id}".lower(),
        }
        row.update(values)
        self.teachers.append(row)
        self.teacher_schools.extend((teacher_id, school) for school in school_ids)
        return self

    def staff_member(self, staff_id: str, school_id: str, **values: str | None) -> RosterBuilder:
        row: dict[str, str | None] = {
            "Staff_id": staff_id,
            "First_name": f"First{staff_id}",
            "Last_name": f"Last{staff_id}",
            "Username": f"f{staff_id}".lower(),
        }
        row.update(values)
        self.staff.append(row)
        self.staff_schools.append((staff_id, school_id))
        return self

    def section(
        self,
        section_id: str,
        school_id: str,
        teachers: Sequence[str],
        students: Sequence[str] = (),
        **values: str,
    ) -> RosterBuilder:
        self.sections.append(
            {"Section_id": section_id, "School_id": school_id, "Name": f"Class {section_id}", **values}
        )
        self.section_teachers.extend((section_id, t, i + 1) for i, t in enumerate(teachers))
        self.enrollments.extend((section_id, s, school_id) for s in students)
        return self

    def build(self) -> Roster:
        staff_columns = ("Staff_id", "First_name", "Last_name", "Username", "Password", "Staff_email")
        return Roster(
            schools=table(self.schools, SCHOOL_COLUMNS),
            students=table(self.students, STUDENT_COLUMNS),
            student_contacts=pa.table({"Student_id": pa.array([], pa.string())}),
            teachers=table(self.teachers, TEACHER_COLUMNS),
            teacher_schools=pa.table(
                {
                    "Teacher_id": pa.array([t for t, _ in self.teacher_schools], pa.string()),
                    "School_id": pa.array([s for _, s in self.teacher_schools], pa.string()),
                }
            ),
            sections=table(self.sections, SECTION_COLUMNS),
            section_teachers=pa.table(
                {
                    "Section_id": pa.array([s for s, _, _ in self.section_teachers], pa.string()),
                    "Teacher_id": pa.array([t for _, t, _ in self.section_teachers], pa.string()),
                    "Position": pa.array([p for _, _, p in self.section_teachers], pa.int8()),
                }
            ),
            enrollments=pa.table(
                {
                    "Section_id": pa.array([e[0] for e in self.enrollments], pa.string()),
                    "Student_id": pa.array([e[1] for e in self.enrollments], pa.string()),
                    "School_id": pa.array([e[2] for e in self.enrollments], pa.string()),
                }
            ),
            staff=table(self.staff, staff_columns),
            staff_schools=pa.table(
                {
                    "Staff_id": pa.array([t for t, _ in self.staff_schools], pa.string()),
                    "School_id": pa.array([s for _, s in self.staff_schools], pa.string()),
                }
            ),
        )


# -- profiles and runs ---------------------------------------------------------------------------------------
def make_profile(**overrides: Any) -> Any:
    """A create-mode profile matching students and teachers by ``Username`` + domain, every option off."""
    from sync.profile import IdentityMatching, Profile, RoleSettings

    values: dict[str, Any] = {
        "name": "test",
        "user_mode": "create",
        "students": RoleSettings(
            IdentityMatching("Username", "userPrincipalName", "s.example.edu"), "s.example.edu"
        ),
        "teachers": RoleSettings(
            IdentityMatching("Username", "userPrincipalName", "example.edu"), "example.edu"
        ),
    }
    values.update(overrides)
    return Profile(**values)


def sync_once(roster: Roster, profile: Any, directory: MemoryDirectory, today: Any) -> Any:
    """Plan and apply (approved) one run; returns the plan."""
    from sync.engine.apply import apply_plan
    from sync.engine.journal import MemoryJournal
    from sync.engine.planner import make_plan

    plan = make_plan(roster, profile, directory.snapshot(), today)
    outcome = apply_plan(plan, directory, MemoryJournal(), approved=True)
    assert outcome.complete
    return plan
