"""Reading the directory through delta queries into the local cache, and the snapshot derived from it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from sync.directory.graph import GraphDirectory, static_token
from sync.directory.graph_batch import RetryPolicy
from sync.errors import DirectoryAccessRefused, UsageError
from tests.directory.graph_fakes import BASE, FakeGraph

FAST = RetryPolicy(attempts=4, backoff_s=0.001, max_backoff_s=0.01)
USER = "#microsoft.graph.user"
GROUP = "#microsoft.graph.group"


def seeded() -> FakeGraph:
    users = [
        {
            "id": "u1",
            "userPrincipalName": "ava@s.edu",
            "displayName": "Ava",
            "accountEnabled": True,
            "assignedLicenses": [{"skuId": "sku-1", "disabledPlans": []}],
        },
        {"id": "u2", "userPrincipalName": "tom@t.edu", "displayName": "Tom", "accountEnabled": False},
        {"id": "u3", "userPrincipalName": "sam@t.edu", "displayName": "Sam"},
        {"id": "u4", "userPrincipalName": "admin@t.edu", "displayName": "Admin"},
    ]
    education_users = [
        {"id": "u1", "primaryRole": "student", "student": {"externalId": "1001", "grade": "9"}},
        {"id": "u2", "primaryRole": "teacher", "teacher": {"externalId": "T7"}},
        {"id": "u3", "primaryRole": "faculty", "teacher": {"externalId": "S3"}},
        {"id": "u4", "primaryRole": "none"},
    ]
    return FakeGraph(
        seed={
            "/users/delta": users,
            "/education/users/delta": education_users,
            "/education/schools/delta": [{"id": "sch", "displayName": "High", "externalId": "10"}],
            "/education/classes/delta": [
                {
                    "id": "c1",
                    "displayName": "Algebra",
                    "mailNickname": "Section_42",
                    "externalId": "42",
                    "term": {"displayName": "Fall"},
                }
            ],
            "/groups/delta": [
                {
                    "id": "c1",
                    "displayName": "Algebra",
                    "mailNickname": "Section_42",
                    "groupTypes": ["Unified"],
                    "members@delta": [{"@odata.type": USER, "id": "u1"}, {"@odata.type": USER, "id": "u2"}],
                    "owners@delta": [{"@odata.type": USER, "id": "u2"}],
                },
                {
                    "id": "g1",
                    "displayName": "All Students",
                    "mailNickname": "AllStudents",
                    "groupTypes": [],
                    "securityEnabled": True,
                    "members@delta": [{"@odata.type": USER, "id": "u1"}],
                },
                {
                    "id": "team",
                    "displayName": "Staff room",
                    "mailNickname": "staffroom",
                    "groupTypes": ["Unified"],
                },
            ],
            "/directory/administrativeUnits/delta": [
                {
                    "id": "sch",
                    "members@delta": [{"@odata.type": USER, "id": "u1"}, {"@odata.type": GROUP, "id": "c1"}],
                }
            ],
        }
    )


def open_directory(fake: FakeGraph, cache: Path) -> GraphDirectory:
    return GraphDirectory(
        BASE,
        cache_dir=cache,
        token=static_token("t"),
        transport=fake.transport(),
        quota_scale=1000,
        retry=FAST,
        replication=FAST,
    )


def memberships(directory: GraphDirectory) -> set[tuple[Any, ...]]:
    table = directory.snapshot().memberships.to_pylist()
    return {(row["container_id"], row["member_id"], row["relation"]) for row in table}


def test_the_first_snapshot_reads_every_page_and_derives_user_anchors_from_role_and_facet(
    tmp_path: Path,
) -> None:
    with open_directory(seeded(), tmp_path) as directory:
        users = {user.id: user for user in directory.snapshot().users}
    assert {user_id: user.anchor for user_id, user in users.items()} == {
        "u1": "Student_1001",
        "u2": "Teacher_T7",
        "u3": "Staff_S3",
        "u4": None,
    }
    assert users["u1"].licenses == frozenset({"sku-1"})
    assert users["u1"].properties["student"] == {"externalId": "1001", "grade": "9"}
    assert users["u2"].account_enabled is False
    assert users["u2"].primary_role == "teacher"


def test_schools_classes_and_only_non_unified_security_groups_are_anchored(tmp_path: Path) -> None:
    with open_directory(seeded(), tmp_path) as directory:
        snapshot = directory.snapshot()
    assert [(school.id, school.anchor) for school in snapshot.schools] == [("sch", "School_10")]
    assert [(item.id, item.anchor, item.mail_nickname) for item in snapshot.classes] == [
        ("c1", "Section_42", "Section_42")
    ]
    assert snapshot.classes[0].properties["term"] == {"displayName": "Fall"}
    assert [(group.id, group.anchor) for group in snapshot.groups] == [("g1", "Group_AllStudents")]
    assert snapshot.subscribed_skus == frozenset({"sku-1"})


def test_memberships_come_from_group_and_administrative_unit_deltas(tmp_path: Path) -> None:
    with open_directory(seeded(), tmp_path) as directory:
        assert memberships(directory) == {
            ("c1", "u1", "member"),
            ("c1", "u2", "member"),
            ("c1", "u2", "owner"),
            ("g1", "u1", "member"),
            ("sch", "u1", "user"),
            ("sch", "c1", "class"),
        }


def test_a_snapshot_with_nothing_changed_costs_one_read_per_resource(tmp_path: Path) -> None:
    fake = seeded()
    with open_directory(fake, tmp_path) as directory:
        directory.snapshot()
        before = directory.stats().requests
        directory.snapshot()
        assert directory.stats().requests - before == 7  # six delta links + subscribed SKUs


def test_changes_remove_gone_users_and_removed_links_and_merge_changed_properties(tmp_path: Path) -> None:
    fake = seeded()
    with open_directory(fake, tmp_path) as directory:
        directory.snapshot()
        fake.changes = {
            "/users/delta": [
                {"id": "u4", "@removed": {"reason": "deleted"}},
                {"id": "u1", "displayName": "Ava B", "userPrincipalName": "ava@s.edu"},
            ],
            "/groups/delta": [
                {
                    "id": "c1",
                    "members@delta": [{"@odata.type": USER, "id": "u1", "@removed": {"reason": "deleted"}}],
                }
            ],
        }
        users = {user.id: user for user in directory.snapshot().users}
        assert set(users) == {"u1", "u2", "u3"}
        assert users["u1"].properties["displayName"] == "Ava B"
        assert users["u1"].anchor == "Student_1001"  # the education view did not change and is kept
        assert ("c1", "u1", "member") not in memberships(directory)
        assert ("c1", "u2", "member") in memberships(directory)


def test_a_directory_reopened_on_the_same_cache_continues_from_the_stored_delta_links(tmp_path: Path) -> None:
    fake = seeded()
    with open_directory(fake, tmp_path) as directory:
        first = directory.snapshot()
    with open_directory(fake, tmp_path) as directory:
        again = directory.snapshot()
        assert directory.stats().requests == 7
    assert [user.id for user in again.users] == [user.id for user in first.users]


def test_an_expired_delta_link_starts_that_resource_over_and_replaces_its_cache(tmp_path: Path) -> None:
    fake = seeded()
    with open_directory(fake, tmp_path) as directory:
        directory.snapshot()
        fake.seed["/users/delta"] = fake.seed["/users/delta"][:2]
        fake.expired.add("/users/delta")
        users = directory.snapshot().users
    assert sorted(user.id for user in users) == ["u1", "u2"]


def jwt(tenant: str) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"tid": tenant}).encode()).decode().rstrip("=")
    return f"header.{payload}.signature"


def test_a_cache_filled_for_another_tenant_is_dropped_and_read_again_in_full(tmp_path: Path) -> None:
    fake = seeded()
    tenant = {"tid": "tenant-a"}

    async def token() -> str | None:
        return jwt(tenant["tid"])

    def directory() -> GraphDirectory:
        return GraphDirectory(BASE, cache_dir=tmp_path, token=token, transport=fake.transport(), retry=FAST)

    with directory() as graph:
        graph.snapshot()
    fake.seed["/users/delta"] = fake.seed["/users/delta"][:1]
    tenant["tid"] = "tenant-b"
    with directory() as graph:
        assert [user.id for user in graph.snapshot().users] == ["u1"]
        assert graph.stats().requests > 7


def test_an_unwritable_cache_folder_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UsageError, match="cannot open the Graph cache"):
        open_directory(seeded(), blocker / "cache")


def test_reads_answered_429_or_503_wait_and_are_sent_again(tmp_path: Path) -> None:
    fake = seeded()
    fake.get_faults = [(429, {"Retry-After": "0.01"}), (503, {"Retry-After": "0.01"})]
    with open_directory(fake, tmp_path) as directory:
        users = directory.snapshot().users
        stats = directory.stats()
    assert len(users) == 4
    assert (stats.throttled, stats.retries) == (1, 2)


@pytest.mark.parametrize("status", [401, 403])
def test_a_read_refused_for_the_credentials_raises_access_refused_without_a_retry(
    status: int, tmp_path: Path
) -> None:
    fake = seeded()
    fake.get_faults = [(status, {})] * 50
    with (
        open_directory(fake, tmp_path) as directory,
        pytest.raises(DirectoryAccessRefused, match=f"HTTP {status}"),
    ):
        directory.snapshot()
    refused = [item.url for item in fake.items if item.batch is None]
    assert refused and len(refused) == len(set(refused))  # each read refused once, never sent again


def test_delta_reads_ask_for_the_largest_pages_and_select_only_what_the_sync_needs(tmp_path: Path) -> None:
    fake = seeded()
    with open_directory(fake, tmp_path) as directory:
        directory.snapshot()
    first = next(item for item in fake.items if "/users/delta" in item.url)
    assert first.headers["prefer"] == "odata.maxpagesize=999"
    assert "$select=id,userPrincipalName," in first.url.replace("%24", "$").replace("%2C", ",")
