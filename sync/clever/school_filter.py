"""The profile's school filter (``[clever] school_filter_mode`` / ``school_filter``; ``sds-behaviour.md`` §6).

A school is named by its Clever id or its SIS id. In ``allow`` mode only the listed schools are synced; in
``deny`` mode every school but the listed ones. What a filtered-out school takes with it (the mapping applies
these rules):

- the school itself, and every section of it (with its enrollments);
- a user whose schools are *all* filtered out; a user with at least one kept school stays, listed only at
  the kept schools;
- the links of kept sections to dropped users (an enrollment of a dropped student, a dropped co-teacher).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sync.profile import CleverApiSettings


@dataclass(frozen=True)
class SchoolFilter:
    mode: str | None = None
    names: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: CleverApiSettings) -> SchoolFilter:
        return cls(settings.school_filter_mode, frozenset(settings.school_filter))

    def keeps(self, school: Mapping[str, Any]) -> bool:
        """Whether a Clever school record is synced."""
        if self.mode is None:
            return True
        named = str(school.get("id")) in self.names or _sis_id(school) in self.names
        return named if self.mode == "allow" else not named

    def kept_ids(self, schools: Iterable[Mapping[str, Any]]) -> frozenset[str]:
        """Clever ids of the kept schools."""
        return frozenset(str(school["id"]) for school in schools if self.keeps(school))

    def unknown_names(self, schools: Iterable[Mapping[str, Any]]) -> list[str]:
        """Names in the filter that match no school (a typo, or a school no longer shared)."""
        known: set[str] = set()
        for school in schools:
            known.add(str(school.get("id")))
            known.add(_sis_id(school))
        return sorted(self.names - known)


def _sis_id(school: Mapping[str, Any]) -> str:
    value = school.get("sis_id")
    return value.strip() if isinstance(value, str) else ""
