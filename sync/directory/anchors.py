"""Anchors derived from Graph properties (``sync.directory.model``): the one rule shared by the local
tenant and anything else that reads a directory (the Graph adapter).

- a school: ``School_<externalId>``; a class: ``Section_<externalId>``;
- any other group: ``Group_<mailNickname>``;
- a user: from ``primaryRole`` and the role facet's ``externalId`` — ``student`` → ``Student_<id>`` (from
  ``student``), ``teacher`` → ``Teacher_<id>`` and ``faculty`` → ``Staff_<id>`` (both from ``teacher``:
  Graph has no staff facet, staff are synced as teachers with role ``faculty``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync.roster.names import (
    group_anchor,
    school_anchor,
    section_anchor,
    split_anchor,
    staff_anchor,
    student_anchor,
    teacher_anchor,
)

#: Anchor kind → (``primaryRole``, name of the facet holding ``externalId``).
USER_ANCHOR_KINDS: Mapping[str, tuple[str, str]] = {
    "Student": ("student", "student"),
    "Teacher": ("teacher", "teacher"),
    "Staff": ("faculty", "teacher"),
}
#: ``primaryRole`` → (facet holding ``externalId``, anchor maker).
_ROLE_ANCHORS = {
    "student": ("student", student_anchor),
    "teacher": ("teacher", teacher_anchor),
    "faculty": ("teacher", staff_anchor),
}


def user_anchor(primary_role: str | None, facets: Mapping[str, Any]) -> str | None:
    """The anchor of a user with ``primaryRole`` and facets ``{"student": {…}, "teacher": {…}}``."""
    if primary_role not in _ROLE_ANCHORS:
        return None
    facet_name, make = _ROLE_ANCHORS[primary_role]
    facet = facets.get(facet_name)
    external_id = facet.get("externalId") if isinstance(facet, Mapping) else None
    return make(external_id) if isinstance(external_id, str) and external_id else None


def school_anchor_of(external_id: str | None) -> str | None:
    return school_anchor(external_id) if external_id else None


def class_anchor_of(external_id: str | None) -> str | None:
    return section_anchor(external_id) if external_id else None


def group_anchor_of(mail_nickname: str | None) -> str | None:
    return group_anchor(mail_nickname) if mail_nickname else None


def user_role_of(anchor: str) -> tuple[str, str, str] | None:
    """``"Staff_7"`` → ``("faculty", "teacher", "7")``: role, facet and external id a user anchor means."""
    kind, key = split_anchor(anchor)
    if kind not in USER_ANCHOR_KINDS or not key:
        return None
    role, facet = USER_ANCHOR_KINDS[kind]
    return role, facet, key
