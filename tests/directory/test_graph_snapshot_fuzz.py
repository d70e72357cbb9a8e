"""Property: whatever JSON value a delta page holds in any property of an object, the Graph cache and the
snapshot built from it give a snapshot or a clean :class:`DirectoryUnavailable`, never another exception.
(The HTTP side of such pages is in ``test_graph_rounds.py``.)"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.directory.graph_cache import GROUP, RESOURCES, USER, GraphCache
from sync.directory.graph_snapshot import build_snapshot
from sync.errors import DirectoryUnavailable

FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(), st.text(max_size=8), st.just("Unified")
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
#: One object of each resource, as Graph documents it.
TEMPLATES: dict[str, dict[str, Any]] = {
    "users": {
        "id": "u1",
        "userPrincipalName": "a@b.example",
        "givenName": "A",
        "surname": "B",
        "mail": "a@b.example",
        "mailNickname": "a",
        "employeeId": "1",
        "accountEnabled": True,
        "usageLocation": "US",
        "assignedLicenses": [{"skuId": "sku-1"}],
    },
    "education_users": {
        "id": "u1",
        "primaryRole": "student",
        "middleName": "M",
        "externalSource": "sis",
        "student": {"externalId": "S1", "grade": "9", "studentNumber": "1"},
        "teacher": None,
    },
    "schools": {"id": "s1", "displayName": "School", "externalId": "100", "address": {"city": "X"}},
    "classes": {
        "id": "c1",
        "displayName": "Class",
        "mailNickname": "Section_1",
        "externalId": "SEC1",
        "term": {"displayName": "T"},
        "course": {"title": "C"},
    },
    "groups": {
        "id": "c1",
        "displayName": "Class",
        "mailNickname": "Section_1",
        "groupTypes": ["Unified"],
        "securityEnabled": False,
        "members@delta": [{"@odata.type": USER, "id": "u1"}],
        "owners@delta": [{"@odata.type": USER, "id": "u2"}],
    },
    "units": {
        "id": "s1",
        "members@delta": [{"@odata.type": USER, "id": "u1"}, {"@odata.type": GROUP, "id": "c1"}],
    },
}


@FUZZ
@given(st.data())
def test_any_value_in_any_property_gives_a_snapshot_or_a_clean_error(
    tmp_path_factory: Any, data: Any
) -> None:
    cache = GraphCache(Path(tmp_path_factory.mktemp("cache")) / "graph.sqlite")
    try:
        for resource in RESOURCES:
            item = copy.deepcopy(TEMPLATES[resource.name])
            for _ in range(data.draw(st.integers(0, 3))):
                key = data.draw(st.sampled_from(sorted(item)))
                item[key] = data.draw(_VALUES)
            try:
                cache.apply_round(resource, [item], "link", full=True)
            except DirectoryUnavailable as refused:
                assert "run again" in str(refused)
        view = build_snapshot(cache, ["sku-1"])
        assert len(view.snapshot.users) <= 1
    finally:
        cache.close()
