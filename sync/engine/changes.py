"""Change counts (:data:`sync.engine.plan.CHANGE_KEYS`) of a list of operations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sync.directory.model import Operation, OpKind
from sync.engine.plan import CHANGE_KEYS

#: Operation kinds counted once per operation.
_ONE_EACH: Mapping[OpKind, str] = {
    OpKind.CREATE_SCHOOL: "schools_created",
    OpKind.UPDATE_SCHOOL: "schools_updated",
    OpKind.CREATE_USER: "users_created",
    OpKind.LINK_USER: "users_matched",
    OpKind.UPDATE_USER: "users_updated",
    OpKind.DISABLE_USER: "users_disabled",
    OpKind.ENABLE_USER: "users_enabled",
    OpKind.DELETE_USER: "users_deleted",
    OpKind.CREATE_CLASS: "classes_created",
    OpKind.UPDATE_CLASS: "classes_updated",
    OpKind.EXPIRE_CLASS: "classes_expired",
    OpKind.DELETE_CLASS: "classes_deleted",
    OpKind.CREATE_GROUP: "groups_created",
    OpKind.ASSIGN_LICENSES: "licenses_assigned",
    OpKind.ASSIGN_GROUP_LICENSES: "group_licenses_assigned",
}
#: Operation kinds counted once per reference they link or unlink.
_PER_REF: Mapping[OpKind, str] = {
    OpKind.CREATE_CLASS: "members_added",
    OpKind.ADD_CLASS_OWNERS: "owners_added",
    OpKind.REMOVE_CLASS_OWNERS: "owners_removed",
    OpKind.ADD_CLASS_MEMBERS: "members_added",
    OpKind.REMOVE_CLASS_MEMBERS: "members_removed",
    OpKind.ADD_SCHOOL_USERS: "school_links_added",
    OpKind.ADD_SCHOOL_CLASSES: "school_links_added",
    OpKind.REMOVE_SCHOOL_USERS: "school_links_removed",
    OpKind.REMOVE_SCHOOL_CLASSES: "school_links_removed",
    OpKind.ADD_GROUP_MEMBERS: "group_members_added",
    OpKind.REMOVE_GROUP_MEMBERS: "group_members_removed",
}


def zero_changes() -> dict[str, int]:
    return dict.fromkeys(CHANGE_KEYS, 0)


def count_changes(operations: Iterable[Operation]) -> dict[str, int]:
    counts = zero_changes()
    for operation in operations:
        key = _ONE_EACH.get(operation.kind)
        if key is not None:
            counts[key] += 1
        key = _PER_REF.get(operation.kind)
        if key is not None:
            counts[key] += len(operation.refs)
        if operation.kind is OpKind.CREATE_CLASS:
            counts["owners_added"] += len(operation.owners)
    return counts
