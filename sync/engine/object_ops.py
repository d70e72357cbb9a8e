"""Operations on schools, classes and Intune groups, and group licences (memberships are in
:mod:`sync.engine.planner`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Literal

from sync.directory.model import (
    DirectoryClass,
    DirectoryGroup,
    DirectorySchool,
    Operation,
    OpKind,
)
from sync.engine.desired import DesiredClass, DesiredGroup, DesiredSchool, all_group, role_settings
from sync.engine.properties import (
    SCHOOL_COLUMN_PATHS,
    SECTION_COLUMN_PATHS,
    PropertySpec,
    diff,
    managed_paths,
)
from sync.engine.user_ops import assign_missing
from sync.profile import Profile
from sync.roster.names import NICKNAME_MAX


def school_ops(
    schools: Sequence[DesiredSchool], actual: Mapping[str, DirectorySchool], profile: Profile
) -> Iterable[Operation]:
    spec = PropertySpec.of(
        [("displayName",), ("externalId",), *managed_paths(profile.school_properties, SCHOOL_COLUMN_PATHS)]
    )
    for school in schools:
        found = actual.get(school.anchor)
        if found is None:
            yield Operation(OpKind.CREATE_SCHOOL, school.anchor, school.properties, record=school.record)
            continue
        changed = diff(school.properties, {**found.properties, "displayName": found.display_name}, spec)
        if changed:
            yield Operation(OpKind.UPDATE_SCHOOL, school.anchor, changed, record=school.record)


def group_ops(groups: Sequence[DesiredGroup], actual: Mapping[str, DirectoryGroup]) -> Iterable[Operation]:
    for group in groups:
        if group.anchor not in actual:
            fields = {"displayName": group.display_name, "mailNickname": group.mail_nickname}
            yield Operation(OpKind.CREATE_GROUP, group.anchor, fields, record=group.record)


def group_licence_ops(profile: Profile, actual: Mapping[str, DirectoryGroup]) -> Iterable[Operation]:
    """Group-based licensing: the role's SKUs that All Students / All Teachers lack, assigned to the group
    once (a group created by this plan holds none yet). Nothing in per-user mode."""
    if not profile.licenses_by_group:
        return
    roles: tuple[Literal["teacher", "student"], ...] = ("teacher", "student")
    for role in roles:
        group = all_group(role)
        found = actual.get(group.anchor)
        held = found.licenses if found is not None else frozenset()
        skus = role_settings(profile, role).licenses
        yield from assign_missing(OpKind.ASSIGN_GROUP_LICENSES, group.anchor, skus, held, group.record)


def class_spec(profile: Profile) -> PropertySpec:
    """What a class update compares: the name (unless locked), nickname, externalId and the profile's
    section properties."""
    paths: list[tuple[str, ...]] = [] if profile.lock_section_display_name else [("displayName",)]
    paths += [("mailNickname",), ("externalId",)]
    return PropertySpec.of(paths + list(managed_paths(profile.section_properties, SECTION_COLUMN_PATHS)))


def class_update(desired: DesiredClass, found: DirectoryClass, spec: PropertySpec) -> Operation | None:
    actual: dict[str, Any] = {
        **found.properties,
        "displayName": found.display_name,
        "mailNickname": found.mail_nickname,
    }
    changed = diff(desired.properties, actual, spec)
    return Operation(OpKind.UPDATE_CLASS, desired.anchor, changed, record=desired.record) if changed else None


def is_expired(found: DirectoryClass) -> bool:
    return found.mail_nickname.startswith("Exp")


def expiry_prefix(today: date) -> str:
    return f"Exp{today:%m%y}_"


def gone_class_ops(gone: Iterable[DirectoryClass], profile: Profile, today: date) -> Iterable[Operation]:
    """Classes whose section left the roster: ``keep`` / ``expire`` (rename; students are removed by the
    membership diff) / ``delete``. Already expired classes are left alone."""
    policy = profile.deletion.sections
    prefix = expiry_prefix(today)
    for found in gone:
        if found.anchor is None or policy == "keep" or is_expired(found):
            continue
        if policy == "delete":
            yield Operation(OpKind.DELETE_CLASS, found.anchor)
        else:
            fields = {
                "displayName": prefix + found.display_name,
                "mailNickname": (prefix + found.mail_nickname)[:NICKNAME_MAX],
            }
            yield Operation(OpKind.EXPIRE_CLASS, found.anchor, fields)
