"""Property: whatever type the Clever API sends in any field of any record, a pull (and a delta applied on
top of it) maps and validates to a result, never an exception.

The client already refuses a page whose records are not objects with a string ``id`` (a clean
``SourceError``), so records here are always objects with their id; every other field may be anything
JSON can hold.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.clever.events import apply_events
from sync.clever.mapping import map_district
from sync.clever.records import COLLECTIONS, PulledDistrict
from sync.clever.school_filter import SchoolFilter
from sync.cleverserver.district import load_district
from sync.roster.validate import validate_raw

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "district"
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(), st.text(max_size=12), st.just(" ")
)
#: Anything JSON can hold.
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
_FIELDS = ("id", "name", "roles", "school", "schools", "sis_id", "teachers", "students", "term_id", "course")
_EVENT_TYPES = ("users.created", "users.updated", "users.deleted", "sections.updated", "schools.created")


def _base() -> PulledDistrict:
    served = load_district(EXAMPLE)
    return PulledDistrict(**{name: served.collection(name) for name in COLLECTIONS})


BASE = _base()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place inside a record (keys of objects, the first items of lists), its own ``id`` excepted."""
    items: Any = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value[:2])
    for key, inner in items:
        if prefix or key != "id":
            yield (*prefix, key)
        yield from _paths(inner, (*prefix, key))


def _mutated(data: st.DataObject) -> PulledDistrict:
    collections = {name: copy.deepcopy(dict(BASE.collection(name))) for name in COLLECTIONS}
    for _ in range(data.draw(st.integers(1, 4))):
        name = data.draw(st.sampled_from([n for n in COLLECTIONS if collections[n]]))
        key = data.draw(st.sampled_from(sorted(collections[name])))
        record = collections[name][key]
        places = list(_paths(record))
        if not places or data.draw(st.booleans()):
            fields = data.draw(st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=4))
            collections[name][key] = {**fields, "id": key}
            continue
        place = data.draw(st.sampled_from(places))
        holder = record
        for step in place[:-1]:
            holder = holder[step]
        holder[place[-1]] = data.draw(_VALUES)
    return PulledDistrict(**collections)


@FUZZ
@given(st.data())
def test_any_field_of_any_type_maps_and_validates_without_an_exception(data: st.DataObject) -> None:
    pulled = _mutated(data)
    # With a filter too: it drops a school's users and sections, and reads the fields that link to them.
    denied = data.draw(st.sets(st.sampled_from(sorted(pulled.schools)), max_size=1))
    school_filter = SchoolFilter("deny", frozenset(denied)) if denied else None
    files, findings = map_district(pulled, school_filter, include_staff=True)
    result = validate_raw(files, findings)
    assert result.counts  # a result, with every file counted, whatever it holds
    events = data.draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "id": st.text(min_size=1, max_size=6),
                    "type": st.sampled_from(_EVENT_TYPES),
                    "data": st.fixed_dictionaries(
                        {"object": st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=5)}
                    ),
                }
            ),
            max_size=4,
        )
    )
    after = apply_events(pulled, events)
    files, findings = map_district(after.district, school_filter, include_staff=True)
    assert validate_raw(files, findings).counts
