"""A plan: the ordered operations that take the directory from its actual state to the desired one.

Plans are pure data: JSON-able (stored as a blob between Durable activities, shown to an admin before
anything is applied) and deterministic (the same roster, profile, snapshot and date give byte-identical
JSON). Operations are ordered by :data:`PHASES`; operations within one phase are independent of each
other, so a phase may be cut into chunks and applied in parallel, but a phase starts only after the
previous one has finished.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sync.directory.model import Operation, OpKind
from sync.engine.gc_pause import gc_paused
from sync.findings import Finding

#: The counts every plan and run reports (issue: ``"changes"`` object of the CLI's JSON).
CHANGE_KEYS = (
    "schools_created",
    "schools_updated",
    "users_matched",
    "users_created",
    "users_updated",
    "users_disabled",
    "users_enabled",
    "users_deleted",
    "users_unmatched",
    "classes_created",
    "classes_updated",
    "classes_expired",
    "classes_deleted",
    "owners_added",
    "owners_removed",
    "members_added",
    "members_removed",
    "school_links_added",
    "school_links_removed",
    "groups_created",
    "group_members_added",
    "group_members_removed",
    "licenses_assigned",
    "group_licenses_assigned",
)

#: Apply order. Each operation kind belongs to exactly one phase.
PHASES: tuple[tuple[OpKind, ...], ...] = (
    (OpKind.CREATE_SCHOOL, OpKind.UPDATE_SCHOOL, OpKind.CREATE_GROUP),
    (OpKind.CREATE_USER, OpKind.LINK_USER, OpKind.UPDATE_USER, OpKind.ENABLE_USER),
    (OpKind.CREATE_CLASS, OpKind.UPDATE_CLASS, OpKind.ASSIGN_LICENSES, OpKind.ASSIGN_GROUP_LICENSES),
    (
        OpKind.ADD_CLASS_OWNERS,
        OpKind.ADD_CLASS_MEMBERS,
        OpKind.ADD_SCHOOL_USERS,
        OpKind.ADD_SCHOOL_CLASSES,
        OpKind.ADD_GROUP_MEMBERS,
    ),
    (
        OpKind.REMOVE_CLASS_MEMBERS,
        OpKind.REMOVE_CLASS_OWNERS,
        OpKind.REMOVE_SCHOOL_USERS,
        OpKind.REMOVE_SCHOOL_CLASSES,
        OpKind.REMOVE_GROUP_MEMBERS,
    ),
    (OpKind.EXPIRE_CLASS, OpKind.DELETE_CLASS, OpKind.DISABLE_USER, OpKind.DELETE_USER),
)
PHASE_OF: Mapping[OpKind, int] = {kind: index for index, kinds in enumerate(PHASES) for kind in kinds}


@dataclass(frozen=True)
class GuardVerdict:
    """The mass-change guard's decision. ``held`` plans apply nothing until approved."""

    held: bool = False
    #: One sentence per exceeded limit, e.g. "would remove 23.0 % of managed memberships (limit 10.0 %)".
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    profile_name: str
    today: date
    operations: tuple[Operation, ...]
    #: Counts of :data:`CHANGE_KEYS` (every key present).
    changes: Mapping[str, int]
    #: Findings made while matching and planning (``unmatched_entry`` …).
    findings: tuple[Finding, ...] = ()
    guard: GuardVerdict = field(default_factory=GuardVerdict)

    def phase_slices(self) -> list[tuple[int, int]]:
        """``[(start, end), …]``: the index range of each non-empty phase, in order."""
        slices: list[tuple[int, int]] = []
        start = 0
        for index in range(1, len(self.operations) + 1):
            if (
                index == len(self.operations)
                or PHASE_OF[self.operations[index].kind] != PHASE_OF[self.operations[start].kind]
            ):
                slices.append((start, index))
                start = index
        return slices

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile_name,
            "today": self.today.isoformat(),
            "changes": {key: int(self.changes.get(key, 0)) for key in CHANGE_KEYS},
            "guard": {"held": self.guard.held, "reasons": list(self.guard.reasons)},
            "findings": [finding.to_json() for finding in self.findings],
            "operations": [operation.to_json() for operation in self.operations],
        }

    @classmethod
    def loads(cls, data: bytes | str) -> Plan:
        """The plan in ``data`` (its canonical JSON), read with the cyclic collector paused: a first sync's
        plan holds millions of objects, and the collector rescanning them made reading it more than twice
        as slow."""
        with gc_paused():
            return cls.from_json(json.loads(data))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            profile_name=data["profile"],
            today=date.fromisoformat(data["today"]),
            operations=tuple(Operation.from_json(item) for item in data["operations"]),
            changes=dict(data["changes"]),
            findings=tuple(Finding.from_json(item) for item in data["findings"]),
            guard=GuardVerdict(bool(data["guard"]["held"]), tuple(data["guard"]["reasons"])),
        )

    def dumps(self) -> str:
        """Canonical JSON (sorted keys, no white space): byte-identical for identical plans."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @property
    def plan_id(self) -> str:
        """Content hash; names the plan's journal so a resumed run continues the same plan."""
        return hashlib.sha256(self.dumps().encode()).hexdigest()[:32]


def chunk(operations: Sequence[Operation], size: int) -> list[Sequence[Operation]]:
    return [operations[start : start + size] for start in range(0, len(operations), size)]
