"""Operations on user accounts: create, link, update, enable, disable, delete, licences."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from sync.directory.model import DirectoryUser, Operation, OpKind, RecordRef
from sync.engine.desired import RosterUser, new_upn, nickname_of, user_licenses
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


def matched_user_ops(match: Match, profile: Profile, findings: list[Finding]) -> list[Operation]:
    user, account = match.user, match.account
    if account is None:
        create = create_user(user, profile, findings, mail_nickname=match.mail_nickname)
        return [] if create is None else [create, *licence_ops(user, frozenset(), profile)]
    skus = user_licenses(profile, user.role)
    if (
        not match.linked
        and user.properties == account.properties
        and account.primary_role == user.primary_role
        and account.account_enabled
        and account.licenses.issuperset(skus)
    ):
        return []  # the nightly common case: nothing to do for this account
    operations: list[Operation] = []
    changed = diff(user.properties, account.properties, _SPECS[user.facet])
    needs_licences = skus and not account.licenses.issuperset(skus)
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
    if skus and not account.licenses.issuperset(skus):
        operations.extend(licence_ops(user, account.licenses, profile))
    return operations


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
