"""A full pull: every collection the sync needs, in dependency order (``sds-behaviour.md`` §6).

Schools first (everything refers to them), then users role by role, sections (which carry their
``teachers[]`` and ``students[]``), terms and courses. A user with several roles comes back once per role
and is stored once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from sync.clever.records import USER_ROLES, PulledDistrict, Record

log = logging.getLogger(__name__)

#: ``list_records(collection, params)`` of :class:`sync.clever.client.CleverClient`.
ListRecords = Callable[..., Iterator[dict[str, Any]]]
#: Called with the number of records pulled so far (total unknown: 0).
PullProgress = Callable[[int, int], None]


def full_pull(
    list_records: ListRecords,
    *,
    roles: Iterable[str] = USER_ROLES,
    progress: PullProgress | None = None,
    check_schools: Callable[[Mapping[str, Record]], object] | None = None,
) -> PulledDistrict:
    """Pull every school, user of ``roles``, section, term and course. ``check_schools`` sees the schools
    before anything else is pulled (it raises to stop the pull there)."""
    pulled = 0

    def collect(
        collection: str, params: dict[str, str] | None = None, into: dict[str, Record] | None = None
    ) -> dict[str, Record]:
        nonlocal pulled
        records: dict[str, Record] = into if into is not None else {}
        for record in list_records(collection, params):
            records[str(record["id"])] = record
            pulled += 1
            if progress is not None and pulled % 1000 == 0:
                progress(pulled, 0)
        return records

    schools = collect("schools")
    if check_schools is not None:
        check_schools(schools)
    users: dict[str, Record] = {}
    for role in roles:
        collect("users", {"role": role}, users)
    sections = collect("sections")
    terms = collect("terms")
    courses = collect("courses")
    if progress is not None:
        progress(pulled, pulled)
    district = PulledDistrict(schools=schools, users=users, sections=sections, terms=terms, courses=courses)
    log.info("clever: full pull of %s", district.counts())
    return district
