"""A pulled district: the Clever records of each collection, keyed by Clever id.

Records are kept as Clever sends them (the inner ``data`` object of each list item), so a full pull and the
objects carried by events (``data.object``) are stored alike and mapped by the same code. Users are one
collection whatever their roles: a user who is both teacher and staff is one record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Collections pulled, in dependency order (schools first: everything refers to them).
COLLECTIONS = ("schools", "users", "sections", "terms", "courses")
#: User roles pulled (``/users?role=…``). Contacts (guardians) and district admins are not pulled: the sync
#: writes neither to the directory (SDS rejects admins.csv), so their personal data is not fetched, and user
#: events of someone who holds none of these roles are not kept (``sds-behaviour.md`` §6, a decision).
USER_ROLES = ("student", "teacher", "staff")

Record = Mapping[str, Any]


@dataclass(frozen=True)
class PulledDistrict:
    """``{collection: {clever id: record}}`` for each of :data:`COLLECTIONS`."""

    schools: Mapping[str, Record] = field(default_factory=dict)
    users: Mapping[str, Record] = field(default_factory=dict)
    sections: Mapping[str, Record] = field(default_factory=dict)
    terms: Mapping[str, Record] = field(default_factory=dict)
    courses: Mapping[str, Record] = field(default_factory=dict)

    def collection(self, name: str) -> Mapping[str, Record]:
        if name not in COLLECTIONS:
            raise KeyError(f"unknown Clever collection {name!r}; expected one of {', '.join(COLLECTIONS)}")
        value: Mapping[str, Record] = getattr(self, name)
        return value

    def counts(self) -> dict[str, int]:
        return {name: len(self.collection(name)) for name in COLLECTIONS}

    def users_with_role(self, role: str) -> list[Record]:
        """Users that hold ``role`` (``student``, ``teacher``, ``staff``), in Clever id order."""
        users = self.users
        return [users[key] for key in sorted(users) if holds_role(users[key], role)]


def holds_role(user: Record, role: str) -> bool:
    """Whether ``user`` holds ``role`` (its ``roles`` object has an object for it; anything else: no)."""
    roles = user.get("roles")
    return isinstance(roles, Mapping) and isinstance(roles.get(role), Mapping)
