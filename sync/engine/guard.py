"""The mass-change guard (``clever-csv.md`` §6): hold a plan that removes too much of what the sync manages.

Shares are measured against what the directory holds and the sync manages now; a category with nothing
managed yet (a first run) never holds a plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sync.directory.model import Operation, OpKind
from sync.engine.changes import REMOVALS
from sync.engine.plan import GuardVerdict


@dataclass(frozen=True, slots=True)
class Managed:
    """What the sync manages in the directory before the plan."""

    users: int
    classes: int
    memberships: int


def judge(operations: Sequence[Operation], managed: Managed, threshold: float) -> GuardVerdict:
    users = sum(1 for op in operations if op.kind in (OpKind.DISABLE_USER, OpKind.DELETE_USER))
    classes = sum(1 for op in operations if op.kind in (OpKind.EXPIRE_CLASS, OpKind.DELETE_CLASS))
    memberships = sum(len(op.refs) for op in operations if op.kind in REMOVALS)
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
