"""Operations on user accounts: create, link, update, enable, disable, delete, licences."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import pyarrow.compute as pc

from sync.directory.model import (
    DirectoryGroup,
    DirectorySnapshot,
    DirectoryUser,
    Operation,
    OpKind,
    RecordRef,
)
from sync.engine.desired import Role, RosterUser, all_group, new_upn, nickname_of, user_licenses
from sync.engine.matching import Match, departed_accounts
from sync.engine.properties import (
    STUDENT_FACET_KEYS,
    TEACHER_FACET_KEYS,
    USER_NAME_KEYS,
    PropertySpec,
    diff,
)
from sync.findings import Finding, Severity
from sync.profile import Profile

#: Stands for a password in every plan shown or stored; apply looks the real one up in the roster.
REDACTED = "***"


_SPECS = {
    "student": PropertySpec.of(
        [(key,) for key in USER_NAME_KEYS] + [("student", k) for k in STUDENT_FACET_KEYS]
    ),
    "teacher": PropertySpec.of(
        [(key,) for key in USER_NAME_KEYS] + [("teacher", k) for k in TEACHER_FACET_KEYS]
    ),
}


def matched_user_ops(
    match: Match, profile: Profile, findings: list[Finding], inherited: InheritedLicences | None = None
) -> list[Operation]:
    """The operations that make ``match``'s account what its record wants. ``inherited`` says which of an
    account's licences come from an All Students / All Teachers group this plan takes it out of."""
    user, account = match.user, match.account
    if account is None:
        create = create_user(user, profile, findings, mail_nickname=match.mail_nickname)
        return [] if create is None else [create, *licence_ops(user, frozenset(), profile)]
    skus = user_licenses(profile, user.role)
    held = account.licenses
    if skus and inherited is not None:
        held = held - inherited.lost(account.id, user.role)
    if (
        not match.linked
        and user.properties == account.properties
        and account.primary_role == user.primary_role
        and account.account_enabled
        and held.issuperset(skus)
    ):
        return []  # the nightly common case: nothing to do for this account
    operations: list[Operation] = []
    changed = diff(user.properties, account.properties, _SPECS[user.facet])
    needs_licences = skus and not held.issuperset(skus)
    if needs_licences and not account.usage_location and profile.usage_location:
        # Entra refuses a licence to an account without a usage location (InvalidUserUsageLocation):
        # a matched account gets the profile's, as a new one does. One it has already is never changed.
        changed["usageLocation"] = profile.usage_location
    if match.linked:
        fields: dict[str, Any] = {"id": account.id, "primaryRole": user.primary_role}
        fields[user.facet] = user.properties[user.facet]
        fields.update({key: value for key, value in changed.items() if key != user.facet})
        operations.append(Operation(OpKind.LINK_USER, user.anchor, fields, record=user.record))
    else:
        if account.primary_role != user.primary_role:
            changed["primaryRole"] = user.primary_role
        if changed:
            operations.append(Operation(OpKind.UPDATE_USER, user.anchor, changed, record=user.record))
        if not account.account_enabled and profile.deletion.users == "disable":
            operations.append(Operation(OpKind.ENABLE_USER, user.anchor, record=user.record))
    if needs_licences:
        operations.extend(licence_ops(user, held, profile))
    return operations


def inherited_licences(snapshot: DirectorySnapshot, profile: Profile) -> InheritedLicences | None:
    """``None`` when no All group the sync maintains carries licences (then no user loses any): the
    per-user check is skipped for the million users of a tenant licensed per user."""
    if not (profile.intune_groups or profile.licenses_by_group):  # else their members are left alone
        return None
    anchors = {all_group("student").anchor, all_group("teacher").anchor}
    groups = [group for group in snapshot.groups if group.licenses and group.anchor in anchors]
    return InheritedLicences(snapshot, groups) if groups else None


class InheritedLicences:
    """The licences accounts inherit from the sync's All Students / All Teachers groups (group-based
    licensing), as far as this plan takes them away: a user leaves every All group but its role's (staff
    belong to none), and with it the group's licences. ``assignedLicenses`` lists inherited licences with
    the direct ones, so without this a staff member who was a teacher would keep no licence of its own once
    out of All Teachers (assigned only by the next run)."""

    def __init__(self, snapshot: DirectorySnapshot, groups: Sequence[DirectoryGroup]) -> None:
        self._snapshot = snapshot
        self._groups = groups
        self._members: dict[str, frozenset[str]] = {}

    def lost(self, account_id: str, role: Role) -> frozenset[str]:
        """The SKUs ``account_id`` inherits from All groups other than its role's (taken out of them)."""
        own = all_group(role).anchor if role != "staff" else None
        lost: set[str] = set()
        for group in self._groups:
            if group.anchor != own and account_id in self._members_of(group.id):
                lost |= group.licenses
        return frozenset(lost)

    def _members_of(self, group_id: str) -> frozenset[str]:
        """Ids of the members of ``group_id`` in the snapshot (read once per group, only when asked)."""
        if group_id not in self._members:
            table = self._snapshot.memberships
            mask = pc.and_(
                pc.equal(table.column("container_id"), group_id), pc.equal(table.column("relation"), "member")
            )
            self._members[group_id] = frozenset(table.filter(mask).column("member_id").to_pylist())
        return self._members[group_id]


def create_user(
    user: RosterUser, profile: Profile, findings: list[Finding], *, mail_nickname: str | None = None
) -> Operation | None:
    """The create of ``user``'s account; ``mail_nickname`` replaces the one the UPN gives (taken already)."""
    upn = new_upn(user, profile)
    if upn is None:
        message = f"Username has no @ and the profile sets no user_domain for {user.role}s; add one"
        findings.append(_error(user.record, "Username", "missing_value", message))
        return None
    fields: dict[str, Any] = {
        "userPrincipalName": upn,
        "mailNickname": mail_nickname or nickname_of(upn),
        "accountEnabled": True,
        "primaryRole": user.primary_role,
        **{key: value for key, value in user.properties.items() if value is not None},
    }
    if profile.usage_location:
        fields["usageLocation"] = profile.usage_location
    if user.has_password:
        fields["passwordProfile"] = {"password": REDACTED, "forceChangePasswordNextSignIn": True}
    return Operation(OpKind.CREATE_USER, user.anchor, fields, record=user.record)


def licence_ops(user: RosterUser, held: frozenset[str], profile: Profile) -> list[Operation]:
    skus = user_licenses(profile, user.role)
    return assign_missing(OpKind.ASSIGN_LICENSES, user.anchor, skus, held, user.record)


def assign_missing(
    kind: OpKind, target: str, skus: Sequence[str], held: frozenset[str], record: RecordRef | None
) -> list[Operation]:
    """One ``kind`` operation (``ASSIGN_LICENSES`` / ``ASSIGN_GROUP_LICENSES``) adding the ``skus`` that
    ``target`` does not hold yet; none when it holds them all. Licences are never removed."""
    missing = tuple(sorted(sku for sku in skus if sku not in held))
    if not missing:
        return []
    return [Operation(kind, target, _licence_fields(missing), record=record)]


@functools.cache
def _licence_fields(missing: tuple[str, ...]) -> Mapping[str, Any]:
    """One read-only fields object per set of SKUs, shared by every operation that assigns it (a million
    students get the same licences)."""
    return MappingProxyType({"addLicenses": list(missing), "removeLicenses": []})


def gone_user_ops(
    accounts: Sequence[DirectoryUser],
    claimed_ids: frozenset[str],
    kept_anchors: frozenset[str],
    profile: Profile,
) -> Iterable[Operation]:
    """Accounts the sync manages whose record has left the roster: ``keep`` / ``disable`` / ``delete``."""
    policy = profile.deletion.users
    if policy == "keep":
        return
    for account in departed_accounts(accounts, claimed_ids, kept_anchors):
        if policy == "delete":
            yield Operation(OpKind.DELETE_USER, str(account.anchor))
        elif account.account_enabled:
            yield Operation(OpKind.DISABLE_USER, str(account.anchor))


def _error(record: RecordRef, column: str | None, code: str, message: str) -> Finding:
    return Finding(record.file, record.line, column, record.record_id, Severity.RECORD_ERROR, code, message)
