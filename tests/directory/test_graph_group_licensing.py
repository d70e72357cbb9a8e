"""The example district in group-based licensing mode, synced through the Graph adapter and the local Graph
server, ends in the same directory state as synced straight into the embedded local tenant."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sync.directory.graph_cache import RESOURCES, GraphCache
from sync.directory.local_tenant import LocalTenantDirectory, dump_state
from sync.directory.model import OpKind
from sync.graphserver import GraphServer
from sync.profile import Profile, load_profile
from tests.directory.test_graph_local_server import (
    FAST_RETRY_SCALE,
    FIRST,
    REPO,
    comparable,
    graph_directory,
    sync_folder,
)


@pytest.fixture(scope="module")
def group_mode() -> Profile:
    """The example profile licensing by group, without Intune groups (All Students / All Teachers are then
    kept for the licences alone)."""
    example = load_profile(REPO / "examples" / "profile.toml")
    return replace(example, license_assignment="group", intune_groups=False)


def test_group_mode_through_graph_ends_in_the_state_of_the_embedded_tenant(
    tmp_path: Path, group_mode: Profile
) -> None:
    with LocalTenantDirectory(tmp_path / "direct.db") as local:
        _, outcome = sync_folder(local, FIRST, group_mode)
        assert outcome.complete and outcome.failed == 0
    expected = comparable(dump_state(tmp_path / "direct.db"))
    served = tmp_path / "served.db"

    with (
        GraphServer(served, quota_scale=FAST_RETRY_SCALE) as server,
        graph_directory(server.base_url, tmp_path / "cache") as graph,
    ):
        first, outcome = sync_folder(graph, FIRST, group_mode)
        assert outcome.complete and outcome.failed == 0, outcome.findings
        second, _ = sync_folder(graph, FIRST, group_mode)

    assert comparable(dump_state(served)) == expected
    assert second.operations == ()
    kinds = [op.kind for op in first.operations]
    assert OpKind.ASSIGN_LICENSES not in kinds
    assert kinds.count(OpKind.ASSIGN_GROUP_LICENSES) == 2
    assert_licensed_by_group(expected, group_mode)


def assert_licensed_by_group(state: dict[str, Any], profile: Profile) -> None:
    groups = state["groups"]
    assert groups["Group_All_Students"]["assignedLicenses"] == list(profile.students.licenses)
    assert groups["Group_All_Teachers"]["assignedLicenses"] == list(profile.teachers.licenses)
    students = [user for key, user in state["users"].items() if key.startswith("Student_")]
    assert students and all(u["assignedLicenses"] == list(profile.students.licenses) for u in students)


def test_a_cached_delta_link_issued_for_another_select_is_not_reused(tmp_path: Path) -> None:
    """A delta link keeps the query it was issued for: a cache filled before ``/groups/delta`` selected
    ``assignedLicenses`` reads groups in full once instead of never learning their licences."""
    cache = GraphCache(tmp_path / "cache.db")
    groups = next(resource for resource in RESOURCES if resource.name == "groups")
    cache.apply_round(groups, [], "http://local/v1.0/groups/delta?$deltatoken=1", full=True)
    before_licences = replace(groups, url="/groups/delta?$select=id,displayName,mailNickname,members")

    assert cache.delta_link(groups) == "http://local/v1.0/groups/delta?$deltatoken=1"
    assert cache.delta_link(before_licences) is None
    cache.close()
