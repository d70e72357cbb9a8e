"""The profile's school filter (``[clever] school_filter_mode`` / ``school_filter``; ``sds-behaviour.md`` §6).

A school is named by its Clever id or its SIS id. In ``allow`` mode only the listed schools are synced; in
``deny`` mode every school but the listed ones. What a filtered-out school takes with it (the mapping applies
these rules):

- the school itself, and every section of it (with its enrollments);
- a user whose schools are *all* filtered out; a user with at least one kept school stays, listed only at
  the kept schools;
- the links of kept sections to dropped users (an enrollment of a dropped student, a dropped co-teacher).

A name that matches no school (a typo, or a school no longer shared with the app) is a warning finding
``unknown_school_filter``. A filter that keeps *no* school of a district that has some fails the pull
(:class:`~sync.profile.ProfileError` naming ``clever.school_filter``) before anything is validated or
written: an empty roster would otherwise mean "every user and class is gone", and only the deletion guard
would stand between a typo and a mass removal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sync.findings import Finding, Severity
from sync.profile import CleverApiSettings, ProfileError

#: ``file`` and ``column`` of the findings about the filter: the profile key at fault.
FILTER_FILE = "profile"
FILTER_KEY = "clever.school_filter"


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

    def check(self, schools: Iterable[Mapping[str, Any]], *, profile_name: str) -> list[Finding]:
        """The ``unknown_school_filter`` warnings for ``schools`` (every school pulled); raises
        :class:`ProfileError` when the filter keeps none of them."""
        if self.mode is None:
            return []
        listed = list(schools)
        if listed and not self.kept_ids(listed):
            if self.mode == "allow":
                why = "none of its ids is the Clever id or SIS id of a school shared with this app"
            else:
                why = "it denies every school shared with this app"
            raise ProfileError(
                profile_name,
                [
                    (
                        FILTER_KEY,
                        f"the {self.mode}-list keeps none of the {len(listed)} schools ({why}); nothing "
                        "was synced: correct the ids (a school's Clever id or SIS id) or remove the filter",
                    )
                ],
            )
        return [
            Finding(
                FILTER_FILE,
                None,
                FILTER_KEY,
                name,
                Severity.WARNING,
                "unknown_school_filter",
                f"{FILTER_KEY} names {name!r}, which is neither the Clever id nor the SIS id of a school "
                "shared with this app: correct it (a typo?) or remove it",
            )
            for name in self.unknown_names(listed)
        ]


def _sis_id(school: Mapping[str, Any]) -> str:
    value = school.get("sis_id")
    return value.strip() if isinstance(value, str) else ""
