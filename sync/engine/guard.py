"""The mass-change guard (``clever-csv.md`` §6): hold a plan that removes too much of what the sync manages.

Shares are measured against what the directory holds and the sync manages now; a category with nothing
managed yet (a first run) never holds a plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sync.engine.plan import GuardVerdict

#: Change counts of memberships a plan removes (the guard's numerator for memberships).
REMOVED_MEMBERSHIPS = ("owners_removed", "members_removed", "school_links_removed", "group_members_removed")


@dataclass(frozen=True, slots=True)
class Managed:
    """What the sync manages in the directory before the plan."""

    users: int
    classes: int
    memberships: int


def judge(changes: Mapping[str, int], managed: Managed, threshold: float) -> GuardVerdict:
    """Judge a plan by its change counts (:func:`sync.engine.changes.count_changes`)."""
    users = changes["users_disabled"] + changes["users_deleted"]
    classes = changes["classes_expired"] + changes["classes_deleted"]
    memberships = sum(changes[key] for key in REMOVED_MEMBERSHIPS)
    reasons = [
        reason
        for reason in (
            _exceeds("disable or delete", users, managed.users, "managed users", threshold),
            _exceeds("expire or delete", classes, managed.classes, "managed classes", threshold),
            _exceeds("remove", memberships, managed.memberships, "managed memberships", threshold),
        )
        if reason is not None
    ]
    return GuardVerdict(held=bool(reasons), reasons=tuple(reasons))


def _exceeds(verb: str, count: int, total: int, what: str, threshold: float) -> str | None:
    if total == 0 or count / total <= threshold:
        return None
    return (
        f"would {verb} {count} of {total} {what} ({100 * count / total:.1f} %, limit {100 * threshold:.1f} %)"
    )
