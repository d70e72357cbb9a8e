"""Planning: desired state (roster + profile + date) minus actual state (snapshot) → a :class:`Plan`.

Pure: no I/O, no clock. The result is deterministic: operations are sorted by phase, kind, target and
references, findings by their report order, so the same inputs give a byte-identical plan.

Decisions beyond the specs (``sds-behaviour.md``, ``clever-csv.md`` §6):

- Only what carries an anchor is managed; only managed members of managed containers are ever removed.
- A vanished section under ``expire``: renamed ``Exp<MMYY>_…`` (``today``), its students removed (also
  before the enrollment start date: expiry is the term-end action), its teachers and school link kept.
  An already expired class is left alone; ``keep`` touches nothing; ``delete`` deletes the class.
- Before ``student_enrollment_start_date`` no student is added to or removed from a current class.
- A section none of whose teachers has an account is not created (a class needs an owner from its first
  write): record error ``unmatched_entry`` at the section. An existing class in that state keeps the
  owners and teacher members it has (the directory refuses to remove a class's last owner), with the same
  finding, until one of the section's teachers has an account; its students are synced as usual.
- A vanished user leaves every managed membership; ``disable`` / ``delete`` then act on the account.
  ``ENABLE_USER`` is planned only under ``disable`` (the sync undoes its own disabling, never an admin's).
- Staff (``sync_staff``) are ``faculty`` with a ``teacher`` facet (anchor ``Staff_<id>``), school members
  only, matched by the teachers' rule where staff.csv has the column (``Teacher_id`` → ``Staff_id``,
  ``Teacher_email`` → ``Staff_email``, ``Username``), else by anchor only; not in *All Teachers*.
- Licences are assigned, never removed. Intune groups are created and filled, never renamed; when the
  profile turns them off their members are left alone.
- Group-based licensing (``license_assignment = "group"``): All Students / All Teachers are created and
  filled (also without ``intune_groups``) and get the role's SKUs once (``ASSIGN_GROUP_LICENSES``);
  students and teachers get no per-user ``ASSIGN_LICENSES`` (new users still get ``usageLocation``).
  Staff are in neither group and keep per-user licences. Switching from ``"user"`` to ``"group"``
  removes no licence a user already holds directly (an admin removes them once the groups carry them).
  A licence a user inherits from an All group this plan takes it out of (a teacher back as staff) is not
  counted as held: its own is assigned in the same run.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import pyarrow as pa

from sync.directory.anchors import USER_ANCHOR_KINDS
from sync.directory.model import MAX_BATCH, DirectoryGroup, DirectorySnapshot, Operation, OpKind, RecordRef
from sync.engine import memberships as ms
from sync.engine.changes import count_changes
from sync.engine.desired import (
    DesiredClass,
    DesiredGroup,
    class_nicknames,
    desired_classes,
    desired_groups,
    desired_schools,
    roster_users,
)
from sync.engine.gc_pause import gc_paused
from sync.engine.guard import Managed, judge
from sync.engine.matching import MatchResult, match_users
from sync.engine.object_ops import (
    class_spec,
    class_update,
    gone_class_ops,
    group_licence_ops,
    group_ops,
    is_expired,
    school_ops,
)
from sync.engine.plan import PHASES, Plan
from sync.engine.user_ops import gone_user_ops, inherited_licences, matched_user_ops
from sync.errors import SyncError
from sync.findings import Finding, Severity, sort_key
from sync.profile import Profile
from sync.roster.model import Roster
from sync.roster.names import split_anchor

_USER_ANCHOR_PREFIXES = tuple(f"{kind}_" for kind in sorted(USER_ANCHOR_KINDS))
_KIND_ORDER = {kind: index for index, kind in enumerate(kind for phase in PHASES for kind in phase)}
_ADD = {
    ("Section", "owner"): OpKind.ADD_CLASS_OWNERS,
    ("Section", "member"): OpKind.ADD_CLASS_MEMBERS,
    ("School", "user"): OpKind.ADD_SCHOOL_USERS,
    ("School", "class"): OpKind.ADD_SCHOOL_CLASSES,
    ("Group", "member"): OpKind.ADD_GROUP_MEMBERS,
}
_REMOVE = {
    ("Section", "owner"): OpKind.REMOVE_CLASS_OWNERS,
    ("Section", "member"): OpKind.REMOVE_CLASS_MEMBERS,
    ("School", "user"): OpKind.REMOVE_SCHOOL_USERS,
    ("School", "class"): OpKind.REMOVE_SCHOOL_CLASSES,
    ("Group", "member"): OpKind.REMOVE_GROUP_MEMBERS,
}


class ProfileExpired(SyncError):
    """The profile's stop date has passed: the profile no longer syncs."""


def check_stop_date(profile: Profile, today: date) -> None:
    if profile.stop_date is not None and today > profile.stop_date:
        raise ProfileExpired(
            f"profile {profile.name!r} stopped syncing on {profile.stop_date.isoformat()} (stop_date); "
            "move stop_date in the profile to sync again"
        )


def make_plan(roster: Roster, profile: Profile, snapshot: DirectorySnapshot, today: date) -> Plan:
    check_stop_date(profile, today)
    with gc_paused():
        return _make_plan(roster, profile, snapshot, today)


def _make_plan(roster: Roster, profile: Profile, snapshot: DirectorySnapshot, today: date) -> Plan:
    """The steps hand on only what the next needs, so the per-user and per-class records of the first
    steps are freed before the membership diff, the step that needs the most memory."""
    findings: list[Finding] = []
    operations: list[Operation] = []
    schools = desired_schools(roster, profile)
    operations.extend(school_ops(schools, {s.anchor: s for s in snapshot.schools if s.anchor}, profile))
    group_index = {g.anchor: g for g in snapshot.groups if g.anchor}
    groups, groups_left_out = _school_groups(
        desired_groups(schools, profile), group_index, snapshot, findings
    )
    operations.extend(group_ops(groups, group_index))
    operations.extend(group_licence_ops(profile, group_index))
    users = _plan_users(roster, profile, snapshot, groups, operations, findings)
    classes = _plan_classes(roster, profile, snapshot, today, users.left_out["teacher"], operations, findings)
    left_out = ms.LeftOut(
        students=pa.array(users.left_out["student"], pa.string()),
        teachers=pa.array(users.left_out["teacher"], pa.string()),
        staff=pa.array(users.left_out["staff"], pa.string()),
        sections=pa.array(classes.left_out, pa.string()),
        groups=pa.array(groups_left_out, pa.string()),
    )
    scope = ms.Scope(
        students_in_classes=profile.student_enrollment_start_date is None
        or today >= profile.student_enrollment_start_date,
        intune_groups=profile.intune_groups,
        all_groups=profile.intune_groups or profile.licenses_by_group,
        section_policy=profile.deletion.sections,
        expired_classes=classes.expired_gone,
        classes_keeping_teachers=classes.keep_owners,
        frozen_members=users.failed,
        sync_staff=profile.sync_staff,
    )
    records = {s.anchor: s.record for s in schools} | dict(classes.records)
    records |= {g.anchor: g.record for g in groups if g.record is not None}
    actual = ms.actual_memberships(snapshot, users.anchors)
    desired = ms.desired_memberships(
        enrollments=roster.enrollments,
        section_teachers=roster.section_teachers,
        sections=roster.sections,
        students=roster.students,
        teachers=roster.teachers,
        teacher_schools=roster.teacher_schools,
        staff_schools=roster.staff_schools,
        left_out=left_out,
        scope=scope,
    )
    may_remove = ms.removable(
        actual,
        scope,
        kept_classes=classes.kept,
        kept_schools=pa.array(sorted(s.anchor for s in schools), pa.string()),
    )
    adds, removes = ms.diff(desired, actual, may_remove)
    del desired, may_remove
    # Deleting a user drops every membership and link it has (and restoring it brings them back), so the
    # removals naming a user this plan deletes would be writes spent for nothing.
    removes = removes.without_members(op.target for op in operations if op.kind is OpKind.DELETE_USER)
    operations.extend(_membership_ops(adds, classes.new, records, _ADD))
    operations.extend(_membership_ops(removes, {}, records, _REMOVE))
    operations.sort(key=_op_order)

    managed = Managed(
        users=sum(1 for u in snapshot.users if u.anchor and u.anchor.startswith(_USER_ANCHOR_PREFIXES)),
        classes=classes.managed,
        memberships=actual.num_rows,
    )
    changes = count_changes(operations)
    changes["users_unmatched"] = users.unmatched
    return Plan(
        profile_name=profile.name,
        today=today,
        operations=tuple(operations),
        changes=changes,
        findings=tuple(sorted(findings, key=sort_key)),
        guard=judge(changes, managed, profile.deletion.guard_threshold),
    )


@dataclass(frozen=True)
class _Users:
    #: Directory id → anchor of every account, with the anchors this plan writes (``LINK_USER``).
    anchors: pa.Table
    #: SIS ids per role of the roster users that will have no account (records in error).
    left_out: Mapping[str, list[str]]
    #: Anchors of records in error: their memberships are frozen.
    failed: frozenset[str]
    unmatched: int


def _plan_users(
    roster: Roster,
    profile: Profile,
    snapshot: DirectorySnapshot,
    groups: Sequence[DesiredGroup],
    operations: list[Operation],
    findings: list[Finding],
) -> _Users:
    """Match, then create / link / update / enable / licence the roster's users, and apply the deletion
    policy to the managed accounts whose record left."""
    users = roster_users(roster, profile)

    def other_nicknames() -> Iterator[str]:
        """Mail nicknames a new account cannot have: the directory's classes' and groups', and those of the
        classes and groups this plan may create."""
        yield from (item.mail_nickname for item in snapshot.classes)
        yield from (item.mail_nickname for item in snapshot.groups)
        yield from (group.mail_nickname for group in groups)
        yield from class_nicknames(roster, profile)

    matched = match_users(users, snapshot.users, profile, other_nicknames=other_nicknames)
    findings.extend(matched.findings)
    failed = set(matched.failed)
    inherited = inherited_licences(snapshot, profile)
    for match in matched.matches:
        user_operations = matched_user_ops(match, profile, findings, inherited)
        if match.account is None and not user_operations:
            failed.add(match.user.anchor)  # could not be created: reported by matched_user_ops
        operations.extend(user_operations)
    left_out: dict[str, list[str]] = {"student": [], "teacher": [], "staff": []}
    for user in users:
        if user.anchor in failed:
            left_out[user.role].append(user.sis_id)
    roster_anchors = frozenset(user.anchor for user in users)
    operations.extend(gone_user_ops(snapshot.users, matched.claimed_ids, roster_anchors, profile))
    return _Users(
        anchors=ms.anchor_map(_id_anchor_pairs(snapshot, matched)),
        left_out=left_out,
        failed=frozenset(failed),
        unmatched=sum(1 for f in matched.findings if f.code == "unmatched_entry"),
    )


@dataclass(frozen=True)
class _Classes:
    #: Anchors of the roster's classes (sorted), and the record each comes from.
    kept: pa.Array
    records: Mapping[str, RecordRef]
    #: Classes to create (their owners and first members come from the membership diff).
    new: dict[str, DesiredClass]
    #: Section ids that will have no class (no teacher with an account to own it).
    left_out: list[str]
    #: Anchors of vanished classes already expired (left alone).
    expired_gone: frozenset[str]
    #: Managed classes not yet expired (the guard's denominator).
    managed: int
    #: Existing classes none of whose section's teachers has an account: their teachers stay.
    keep_owners: frozenset[str] = frozenset()


def _plan_classes(
    roster: Roster,
    profile: Profile,
    snapshot: DirectorySnapshot,
    today: date,
    teachers_left_out: list[str],
    operations: list[Operation],
    findings: list[Finding],
) -> _Classes:
    """Update existing classes, pick the ones to create (they need an owner), apply the section policy to
    the classes whose section left."""
    classes = desired_classes(roster, profile)
    class_index = {c.anchor: c for c in snapshot.classes if c.anchor}
    staffed = _sections_with_teachers(roster.section_teachers, pa.array(teachers_left_out, pa.string()))
    new: dict[str, DesiredClass] = {}
    left_out: list[str] = []
    keep_owners: list[str] = []
    spec = class_spec(profile)
    for desired in classes:
        found = class_index.get(desired.anchor)
        if found is not None:
            update = class_update(desired, found, spec)
            operations.extend([update] if update else [])
            if desired.section_id not in staffed and not is_expired(found):
                findings.append(_owners_kept(desired))
                keep_owners.append(desired.anchor)
        elif desired.section_id in staffed:
            new[desired.anchor] = desired
        else:
            findings.append(_ownerless(desired))
            left_out.append(desired.section_id)
    records = {c.anchor: c.record for c in classes}
    gone = [c for anchor, c in sorted(class_index.items()) if anchor not in records]
    retired = list(gone_class_ops(gone, profile, today))  # applied last, after their students leave
    operations.extend(retired)
    nicknames = {c.anchor: str(c.properties["mailNickname"]) for c in classes}
    later = frozenset(op.target for op in retired)
    for anchor, why in _nickname_clashes(nicknames, new, snapshot, "section's class", later=later).items():
        refused = new.pop(anchor)
        advice = (
            "the class is made on the next run"
            if why.endswith(_UNTIL_RETIRED)
            else "give the section another Section_id or rename that object (the class is not made)"
        )
        message = f"{why}: {advice}"
        findings.append(_record_error(refused.record, "Section_id", "duplicate_source_entries", message))
        left_out.append(refused.section_id)
    return _Classes(
        kept=pa.array(sorted(records), pa.string()),
        records=records,
        new=new,
        left_out=left_out,
        expired_gone=frozenset(c.anchor for c in gone if c.anchor and is_expired(c)),
        managed=sum(1 for c in class_index.values() if not is_expired(c)),
        keep_owners=frozenset(keep_owners),
    )


def _op_order(operation: Operation) -> tuple[int, str, tuple[str, ...]]:
    return (_KIND_ORDER[operation.kind], operation.target, operation.refs)


def _sections_with_teachers(section_teachers: pa.Table, teachers_left_out: pa.Array) -> frozenset[str]:
    rows = ms.drop_rows(section_teachers, "Teacher_id", teachers_left_out)
    return frozenset(value for value in rows.column("Section_id").to_pylist() if value is not None)


def _school_groups(
    groups: list[DesiredGroup],
    actual: Mapping[str, DirectoryGroup],
    snapshot: DirectorySnapshot,
    findings: list[Finding],
) -> tuple[list[DesiredGroup], list[str]]:
    """The groups to keep, and the anchors of the per-school groups left out: a new one whose mailNickname
    another school's group or a directory object has (:func:`_nickname_clashes`) is not made, with a record
    error on its school; the school's users and classes are synced as usual."""
    nicknames = {group.anchor: group.mail_nickname for group in groups if group.record is not None}
    new = {anchor for anchor in nicknames if anchor not in actual}
    refused = _nickname_clashes(nicknames, new, snapshot, "school's group")
    for group in groups:
        if group.anchor in refused and group.record is not None:
            message = (
                f"{refused[group.anchor]}: give the school another School_id or rename that object (the "
                "group is not made; the school's users and classes are synced)"
            )
            findings.append(_record_error(group.record, "School_id", "duplicate_source_entries", message))
    return [group for group in groups if group.anchor not in refused], sorted(refused)


def _owners_kept(desired: DesiredClass) -> Finding:
    message = (
        "none of the section's teachers has a directory account, so the class keeps the teachers it has "
        "(a class cannot lose its last owner) until one of the section's teachers has an account"
    )
    return _record_error(desired.record, None, "unmatched_entry", message)


def _ownerless(desired: DesiredClass) -> Finding:
    message = (
        "class not created: none of the section's teachers has a directory account (a class needs an owner)"
    )
    return _record_error(desired.record, None, "unmatched_entry", message)


def _record_error(record: RecordRef, column: str | None, code: str, message: str) -> Finding:
    return Finding(record.file, record.line, column, record.record_id, Severity.RECORD_ERROR, code, message)


def _nickname_clashes(
    wanted: Mapping[str, str],
    new: Collection[str],
    snapshot: DirectorySnapshot,
    kind: str,
    *,
    later: Collection[str] = frozenset(),
) -> dict[str, str]:
    """Why each object to create (an anchor of ``new``) cannot have its mailNickname: ``wanted`` maps every
    object of its ``kind`` ("section's class", "school's group") the roster wants to its nickname, and
    another of them, or a directory object with another anchor, already has it. Entra compares nicknames
    ignoring case (``Section_A`` and ``Section_a`` are one): the directory would refuse the create on every
    run, and through Graph the look-up after "already exists" would take the other object for this one. An
    object without an anchor holding it is taken for the sync's own create whose answer was lost (its anchor
    is written last), and left to be adopted when the create is sent again. One of ``later`` (classes whose
    section left, which this plan expires or deletes in its last phase, after their students have left them)
    holds it until then: the reason ends with :data:`_UNTIL_RETIRED`."""
    if not new:
        return {}
    holders: dict[str, list[str]] = {}
    for anchor, nickname in wanted.items():
        holders.setdefault(nickname.lower(), []).append(anchor)
    reasons: dict[str, str] = {}
    for anchors in holders.values():
        if len(anchors) > 1:
            shown = " and ".join(wanted[anchor] for anchor in anchors)
            reasons |= {a: f"another {kind} of the roster has it too ({shown})" for a in anchors if a in new}
    taken: Iterator[tuple[str | None, str | None, str]] = itertools.chain(
        ((c.mail_nickname, c.anchor, "class") for c in snapshot.classes),
        ((g.mail_nickname, g.anchor, "group") for g in snapshot.groups),
        ((u.mail_nickname, u.anchor or "", "user") for u in snapshot.users),
    )
    for held, owner, what in taken:
        if not held or owner is None:
            continue
        for anchor in holders.get(held.lower(), ()):
            if anchor in new and anchor != owner:
                has = _UNTIL_RETIRED if owner in later else "has it"
                reasons.setdefault(anchor, f"a {what} of the directory {has}")
    return {
        anchor: f"this {kind} would get the mail nickname {wanted[anchor]} (Entra ignores case in mail "
        f"nicknames), but {reason}"
        for anchor, reason in reasons.items()
    }


#: How a nickname clash with a class this plan expires or deletes at its end is told.
_UNTIL_RETIRED = "holds it until this run expires or deletes it, its section having left the roster"


def _id_anchor_pairs(snapshot: DirectorySnapshot, matched: MatchResult) -> Iterable[tuple[str, str]]:
    """Directory id → anchor, with the anchors this plan writes (``LINK_USER``) already in place."""
    for match in matched.matches:
        if match.account is not None:
            yield match.account.id, match.user.anchor
    for user in snapshot.users:
        if user.anchor and user.id not in matched.claimed_ids:
            yield user.id, user.anchor
    for school in snapshot.schools:
        if school.anchor:
            yield school.id, school.anchor
    for cls in snapshot.classes:
        if cls.anchor:
            yield cls.id, cls.anchor
    for group in snapshot.groups:
        if group.anchor:
            yield group.id, group.anchor


def _membership_ops(
    changes: ms.Changes,
    new_classes: Mapping[str, DesiredClass],
    records: Mapping[str, RecordRef],
    kinds: Mapping[tuple[str, str], OpKind],
) -> Iterable[Operation]:
    """Chunked membership operations; a new class's owners and first members go in its ``CREATE_CLASS``."""
    creating: dict[str, tuple[list[str], list[str]]] = {anchor: ([], []) for anchor in new_classes}
    for container, relation, members in changes.grouped():
        if container in creating:
            creating[container][0 if relation == "owner" else 1].extend(members)
            continue
        kind = kinds[(split_anchor(container)[0], relation)]
        yield from _chunks(kind, container, members, records.get(container))
    for anchor, (owners, members) in creating.items():
        desired = new_classes[anchor]
        first_owners = owners[:MAX_BATCH]
        room = MAX_BATCH - len(first_owners)
        yield Operation(
            OpKind.CREATE_CLASS,
            anchor,
            desired.properties,
            refs=tuple(members[:room]),
            owners=tuple(first_owners),
            record=desired.record,
        )
        yield from _chunks(OpKind.ADD_CLASS_OWNERS, anchor, owners[MAX_BATCH:], desired.record)
        yield from _chunks(OpKind.ADD_CLASS_MEMBERS, anchor, members[room:], desired.record)


def _chunks(
    kind: OpKind, container: str, members: Sequence[str], record: RecordRef | None
) -> Iterable[Operation]:
    for start in range(0, len(members), MAX_BATCH):
        yield Operation(kind, container, refs=tuple(members[start : start + MAX_BATCH]), record=record)
