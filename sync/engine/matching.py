"""Identity matching (``sds-behaviour.md`` §2): roster users ↔ directory accounts.

Anchor first: an account carrying the record's anchor (``Student_<id>`` …) is that record's account. Then
the profile's rule: the source column's value (with ``@domain`` appended when it has none and a domain is
set) is compared with the target attribute, case-insensitively for ``userPrincipalName``, ``mail`` and
``mailNickname``, exactly otherwise. Accounts that carry the anchor of another record of this roster are
never matched by rule. Outcomes per record:

- one account → matched (by anchor: nothing to write; by rule: ``LINK_USER`` writes the anchor);
- none → ``unmatched_entry`` (``existing`` mode; record error) or a new account (``create`` mode);
- several accounts → ``duplicate_target_entries`` (record error);
- one account claimed by several records → ``duplicate_source_entries`` (record error on each); so is a
  new account whose ``userPrincipalName`` another new account, or a directory user not matched to the
  record, already has (Entra would refuse the create on every run);
- a new account whose ``userPrincipalName`` is not of the form name@domain → ``invalid_username``.

A new account's ``mailNickname`` is its UPN's name part (``jlee`` of ``jlee@students.contoso.edu``). Entra
and the local tenant refuse a mailNickname another user or group already has, and two new accounts in two
domains may share a name part: such an account gets the lowest free number added (``jlee2``), decided here
from the directory's users, groups and classes and the groups and classes the plan creates, so that its create
is not refused on every run.

A record in error is left out of every membership and its account, if any, is not touched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from sync.directory.anchors import USER_ANCHOR_KINDS
from sync.directory.model import UPN_FORM, DirectoryUser
from sync.engine.desired import RosterUser, match_column, new_upn, nickname_of, role_settings
from sync.findings import Finding, Severity
from sync.profile import Profile
from sync.roster.names import NICKNAME_MAX, split_anchor

CASE_INSENSITIVE_TARGETS = frozenset({"userPrincipalName", "mail", "mailNickname"})
_ATTRIBUTES = {
    "userPrincipalName": "user_principal_name",
    "mail": "mail",
    "mailNickname": "mail_nickname",
    "employeeId": "employee_id",
    "onPremisesSamAccountName": "on_premises_sam_account_name",
}


@dataclass(frozen=True, slots=True)
class Match:
    """A roster user with its account: ``account`` is ``None`` when it is to be created."""

    user: RosterUser
    account: DirectoryUser | None
    #: Matched by the profile's rule now, so the anchor must be written (``LINK_USER``).
    linked: bool = False
    #: The ``mailNickname`` of a new account when it is not the one its UPN gives (that one is taken).
    mail_nickname: str | None = None


@dataclass(frozen=True)
class MatchResult:
    #: Records that have (or will have) an account, in roster order.
    matches: list[Match]
    findings: list[Finding]
    #: Anchors of records in error (unmatched, duplicates): left out of memberships, never treated as gone.
    failed: frozenset[str]
    #: Ids of the accounts claimed by a match.
    claimed_ids: frozenset[str] = field(default_factory=frozenset)


def match_users(
    users: Sequence[RosterUser],
    accounts: Sequence[DirectoryUser],
    profile: Profile,
    *,
    other_nicknames: Callable[[], Iterable[str]] = tuple,
) -> MatchResult:
    """Match ``users`` to ``accounts``. ``other_nicknames`` gives the mail nicknames of the directory's groups
    and classes and of those the plan creates (asked for only when accounts are to be created)."""
    by_anchor: dict[str, DirectoryUser] = {}
    repeated: dict[str, int] = {}
    for account in accounts:
        anchor = account.anchor
        if anchor is not None:
            if anchor in by_anchor:
                repeated[anchor] = repeated.get(anchor, 1) + 1
            else:
                by_anchor[anchor] = account
    findings: list[Finding] = []
    failed: set[str] = set()
    decided: dict[str, Match] = {}
    pending: list[RosterUser] = []
    for user in users:
        hit = by_anchor.get(user.anchor)
        if hit is None:
            pending.append(user)
        elif user.anchor in repeated:
            findings.append(_duplicate_targets(user, repeated[user.anchor], "its anchor"))
            failed.add(user.anchor)
        else:
            decided[user.anchor] = Match(user, hit)

    roster_anchors = {user.anchor for user in users} if pending else set()
    free = [a for a in accounts if a.anchor is None or a.anchor not in roster_anchors] if pending else []
    indexes: dict[str, dict[str, list[DirectoryUser]]] = {}
    candidates: dict[str, list[RosterUser]] = defaultdict(list)
    tentative: dict[str, DirectoryUser] = {}
    for user in pending:
        settings = role_settings(profile, user.role).matching
        index = indexes.get(settings.target)
        if index is None:
            index = indexes[settings.target] = _index(free, settings.target)
        key = match_key(user.match_value, settings.target, settings.domain)
        hits = index.get(key, []) if key is not None else []
        if len(hits) == 1:
            tentative[user.anchor] = hits[0]
            candidates[hits[0].id].append(user)
        elif hits:
            findings.append(_duplicate_targets(user, len(hits), settings.target))
            failed.add(user.anchor)
        elif profile.user_mode == "create":
            if user.username is None:
                findings.append(_finding(user, "Username", "missing_value", "a new account needs a Username"))
                failed.add(user.anchor)
            else:
                decided[user.anchor] = Match(user, None)
        else:
            findings.append(_unmatched(user, profile))
            failed.add(user.anchor)

    for claimants in candidates.values():
        if len(claimants) == 1:
            user = claimants[0]
            decided[user.anchor] = Match(user, tentative[user.anchor], linked=True)
            continue
        for user in claimants:
            target = role_settings(profile, user.role).matching.target
            message = (
                f"{len(claimants)} roster records match the same directory user by {target}; "
                "give each record its own value"
            )
            findings.append(_finding(user, None, "duplicate_source_entries", message))
            failed.add(user.anchor)

    creates = [user for user in pending if user.anchor in decided and decided[user.anchor].account is None]
    matched_ids: list[frozenset[str]] = []  # the matched accounts' ids, collected once when first needed

    def deleted_at_end(account: DirectoryUser) -> bool:
        """Whether this plan deletes ``account`` (asked only of accounts holding a new account's UPN)."""
        if profile.deletion.users != "delete":
            return False
        if not matched_ids:
            matched_ids.append(frozenset(m.account.id for m in decided.values() if m.account is not None))
        return any(departed_accounts([account], matched_ids[0], roster_anchors))

    for user, code, message in _refused_creates(creates, accounts, profile, deleted_at_end):
        del decided[user.anchor]
        findings.append(_finding(user, "Username", code, message))
        failed.add(user.anchor)
    creates = [user for user in creates if user.anchor in decided]

    def in_use() -> Iterator[str]:
        yield from (account.mail_nickname for account in accounts if account.mail_nickname)
        yield from other_nicknames()

    for anchor, nickname in free_nicknames(creates, profile, in_use).items():
        decided[anchor] = Match(decided[anchor].user, None, mail_nickname=nickname)

    matches = [decided[user.anchor] for user in users if user.anchor in decided]
    claimed = frozenset(m.account.id for m in matches if m.account is not None)
    return MatchResult(matches, findings, frozenset(failed), claimed)


def _refused_creates(
    creates: Sequence[RosterUser],
    accounts: Sequence[DirectoryUser],
    profile: Profile,
    deleted_at_end: Callable[[DirectoryUser], bool],
) -> list[tuple[RosterUser, str, str]]:
    """``(record, code, message)`` of the new accounts Entra would refuse on every run, found at plan time
    instead: a ``userPrincipalName`` that is not of the form name@domain (``invalid_username``), or one that
    another new account or a directory user already has ("another object with the same value for property
    userPrincipalName": ``duplicate_source_entries``) — several records giving one UPN, or a directory user
    that belongs to another record of the roster or that the profile's matching rule does not find. A user
    this plan deletes in its last phase (``deleted_at_end``) holds it until then: the message ends with
    :data:`MADE_NEXT_RUN`."""
    first: dict[str, RosterUser] = {}  # one entry per UPN: a million new students on a first sync
    repeated: dict[str, list[RosterUser]] = {}
    clashes: dict[str, tuple[RosterUser, str, str]] = {}
    well_formed = UPN_FORM.match
    for user in creates:
        upn = new_upn(user, profile)
        if upn is None:
            continue  # no domain to add: create_user reports it
        if well_formed(upn):
            key = upn.lower()
            held = first.setdefault(key, user)
            if held is not user:
                repeated.setdefault(key, [held]).append(user)
        else:
            message = (
                "Username (with user_domain) does not make a userPrincipalName of the form name@domain: "
                "remove spaces and any second @, and check the domain"
            )
            clashes[user.anchor] = (user, "invalid_username", message)
    for claimants in repeated.values():
        message = (
            f"{len(claimants)} roster records would create accounts with the same userPrincipalName "
            "(Username, with user_domain); give each record its own Username"
        )
        clashes.update((user.anchor, (user, "duplicate_source_entries", message)) for user in claimants)
    taken = (
        "a directory user that is not this record's account already has the userPrincipalName its new "
        "account would get (Username, with user_domain); give the record another Username, or match it to "
        "that user (match_source, match_target)"
    )
    until_deleted = (
        "the userPrincipalName its new account would get (Username, with user_domain) belongs to the account "
        "of a record that left the roster, which this run deletes at its end (deletion.users = delete): "
        + MADE_NEXT_RUN
    )
    for account in accounts:
        holder = first.get(account.user_principal_name.lower()) if account.user_principal_name else None
        if holder is not None:  # a UPN several records share has its finding already
            why = until_deleted if deleted_at_end(account) else taken
            clashes.setdefault(holder.anchor, (holder, "duplicate_source_entries", why))
    return [clashes[user.anchor] for user in creates if user.anchor in clashes]


#: How a refusal that the run itself lifts ends (the account is created by the next run).
MADE_NEXT_RUN = "the account is made on the next run"


def departed_accounts(
    accounts: Iterable[DirectoryUser], claimed_ids: Collection[str], kept_anchors: Collection[str]
) -> Iterator[DirectoryUser]:
    """The accounts the sync manages (a user anchor) whose record has left the roster (its anchor is not in
    ``kept_anchors``) and that no record claimed by the matching rule (``claimed_ids``)."""
    for account in accounts:
        anchor = account.anchor
        if anchor is None or account.id in claimed_ids or anchor in kept_anchors:
            continue
        if split_anchor(anchor)[0] in USER_ANCHOR_KINDS:
            yield account


def free_nicknames(
    creates: Sequence[RosterUser], profile: Profile, in_use: Callable[[], Iterable[str]]
) -> dict[str, str]:
    """``{anchor: mailNickname}`` of the new accounts whose own nickname (its UPN's name part) an object of
    ``in_use`` or an earlier new account has (compared case-insensitively): that nickname with the lowest
    number from 2 up that makes it free, within the 64 characters."""
    taken = {nickname.lower() for nickname in in_use()}
    renamed: dict[str, str] = {}
    domains: dict[str, str | None] = {}
    for user in creates:
        username = user.username
        if user.role not in domains:
            domains[user.role] = role_settings(profile, user.role).user_domain
        if not username or ("@" not in username and not domains[user.role]):
            continue  # new_upn gives none (create_user reports it); tested here without making the UPN
        nickname = nickname_of(username)  # the UPN's name part is the Username's, with or without a domain
        key = nickname.lower()
        if key in taken:
            chosen, number = nickname, 1
            while key in taken:
                number += 1
                chosen = nickname[: NICKNAME_MAX - len(str(number))] + str(number)
                key = chosen.lower()
            renamed[user.anchor] = chosen
        taken.add(key)
    return renamed


def match_key(value: str | None, target: str, domain: str | None) -> str | None:
    """The value compared with the target attribute (``None``: nothing to match on)."""
    if value is None or value == "":
        return None
    if domain and "@" not in value:
        value = f"{value}@{domain}"
    return value.lower() if target in CASE_INSENSITIVE_TARGETS else value


def _index(accounts: Sequence[DirectoryUser], target: str) -> dict[str, list[DirectoryUser]]:
    attribute = _ATTRIBUTES[target]
    fold = target in CASE_INSENSITIVE_TARGETS
    index: dict[str, list[DirectoryUser]] = defaultdict(list)
    for account in accounts:
        value = getattr(account, attribute)
        if value:
            index[value.lower() if fold else value].append(account)
    return index


def _finding(user: RosterUser, column: str | None, code: str, message: str) -> Finding:
    return Finding(
        user.record.file,
        user.record.line,
        column,
        user.record.record_id,
        Severity.RECORD_ERROR,
        code,
        message,
    )


def _duplicate_targets(user: RosterUser, count: int, by: str) -> Finding:
    message = f"{count} directory users match this record by {by}; remove the duplicates or fix the attribute"
    return _finding(user, None, "duplicate_target_entries", message)


def _unmatched(user: RosterUser, profile: Profile) -> Finding:
    settings = role_settings(profile, user.role).matching
    column = match_column(profile, user.role)
    if column is None:
        message = f"staff cannot be matched by {settings.source}; they are matched by anchor only"
    elif user.match_value is None:
        message = f"{column} is blank, so this record cannot be matched to a directory user"
    else:
        suffix = (
            f" (with @{settings.domain} appended)" if settings.domain and "@" not in user.match_value else ""
        )
        message = (
            f"no directory user has {settings.target} equal to this record's {column}{suffix}; "
            'create the account, correct the value, or set user_mode = "create"'
        )
    return _finding(user, column, "unmatched_entry", message)
