"""Delta rounds stream into the Graph cache page by page and count only once complete; the snapshot's
memberships come out of SQLite in chunks. A scripted fake serves each resource's successive rounds in
pages and can refuse any one page."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sync.directory.graph import GraphDirectory, static_token
from sync.directory.graph_batch import RetryPolicy
from sync.directory.graph_cache import RESOURCES, GraphCache, Resource
from sync.directory.model import DirectorySnapshot
from sync.errors import DirectoryUnavailable

BASE = "http://graph.test/v1.0"
FAST = RetryPolicy(attempts=2, backoff_s=0.001, max_backoff_s=0.01)
USER = "#microsoft.graph.user"
GROUP = "#microsoft.graph.group"
BY_NAME = {resource.name: resource for resource in RESOURCES}


@dataclass
class PagedRounds:
    """Serves ``rounds[path][n]`` as the n-th delta round of ``path`` (the first without a token), in pages
    of ``page_size``; a ``(path, round, page)`` in ``refuse`` is answered ``400`` once, a delta link of a
    path in ``expired`` ``410`` once."""

    rounds: dict[str, list[list[dict[str, Any]]]]
    page_size: int
    refuse: set[tuple[str, int, int]] = field(default_factory=set)
    expired: set[str] = field(default_factory=set)
    #: Seconds a ``(path, round, page)`` takes to be answered.
    hold: dict[tuple[str, int, int], float] = field(default_factory=dict)
    pages: list[tuple[str, int, int]] = field(default_factory=list)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1.0")
        if path == "/subscribedSkus":
            return httpx.Response(200, json={"value": [{"skuId": "sku-1", "skuPartNumber": "X"}]})
        query = parse_qs(urlsplit(str(request.url)).query)
        number = int(query.get("$deltatoken", ["0"])[0])
        skip = int(query.get("$skiptoken", ["0"])[0])
        if "$deltatoken" in query and path in self.expired:
            self.expired.discard(path)
            return httpx.Response(410, json={"error": {"code": "SyncStateNotFound", "message": "gone"}})
        page = (path, number, skip // self.page_size)
        self.pages.append(page)
        await asyncio.sleep(self.hold.get(page, 0.0))
        if page in self.refuse:
            self.refuse.discard(page)
            return httpx.Response(400, json={"error": {"code": "BadRequest", "message": "refused"}})
        rounds = self.rounds.get(path, [])
        items = rounds[number] if number < len(rounds) else []
        body: dict[str, Any] = {"value": items[skip : skip + self.page_size]}
        if skip + self.page_size < len(items):
            body["@odata.nextLink"] = f"{BASE}{path}?$skiptoken={skip + self.page_size}&$deltatoken={number}"
        else:
            body["@odata.deltaLink"] = f"{BASE}{path}?$deltatoken={number + 1}"
        return httpx.Response(200, json=body)


def open_directory(fake: PagedRounds, cache: Path) -> GraphDirectory:
    return GraphDirectory(
        BASE,
        cache_dir=cache,
        token=static_token("t"),
        transport=httpx.MockTransport(fake.handle),
        quota_scale=1000,
        retry=FAST,
        replication=FAST,
    )


def snapshot_of(fake: PagedRounds, cache: Path, snapshots: int = 1) -> DirectorySnapshot:
    with open_directory(fake, cache) as directory:
        for _ in range(snapshots - 1):
            directory.snapshot()
        return directory.snapshot()


def comparable(snapshot: DirectorySnapshot) -> dict[str, Any]:
    return {
        "users": snapshot.users,
        "schools": snapshot.schools,
        "classes": snapshot.classes,
        "groups": snapshot.groups,
        "memberships": snapshot.memberships.to_pylist(),
    }


def link_set(snapshot: DirectorySnapshot) -> set[tuple[str, str, str]]:
    return {
        (row["container_id"], row["member_id"], row["relation"]) for row in snapshot.memberships.to_pylist()
    }


# -- a district-like tenant --------------------------------------------------------------------------------


def district(students: int, classes: int, per_class: int) -> dict[str, list[list[dict[str, Any]]]]:
    """One school, ``classes`` classes of ``per_class`` students each; every class group's members come in
    chunks of 7 (the same group listed several times in one round, as Graph does for large groups)."""
    users = [
        {"id": f"u{n:04}", "userPrincipalName": f"s{n}@s.edu", "displayName": f"S {n}"}
        for n in range(students)
    ]
    education = [
        {"id": f"u{n:04}", "primaryRole": "student", "student": {"externalId": str(1000 + n)}}
        for n in range(students)
    ]
    groups: list[dict[str, Any]] = []
    class_items: list[dict[str, Any]] = []
    for c in range(classes):
        group_id = f"c{c:03}"
        members = [{"@odata.type": USER, "id": f"u{(c * 13 + k) % students:04}"} for k in range(per_class)]
        class_items.append({"id": group_id, "displayName": f"Class {c}", "externalId": str(c)})
        groups.append(
            {
                "id": group_id,
                "displayName": f"Class {c}",
                "mailNickname": f"Section_{c}",
                "groupTypes": ["Unified"],
                "owners@delta": [{"@odata.type": USER, "id": f"u{c % students:04}"}],
                "members@delta": members[:7],
            }
        )
        groups.extend(
            {"id": group_id, "members@delta": members[start : start + 7]} for start in range(7, per_class, 7)
        )
    unit = {
        "id": "sch",
        "members@delta": [
            *({"@odata.type": USER, "id": user["id"]} for user in users),
            *({"@odata.type": GROUP, "id": item["id"]} for item in class_items),
        ],
    }
    return {
        "/users/delta": [users],
        "/education/users/delta": [education],
        "/education/schools/delta": [[{"id": "sch", "displayName": "High", "externalId": "10"}]],
        "/education/classes/delta": [class_items],
        "/groups/delta": [groups],
        "/directory/administrativeUnits/delta": [[unit]],
    }


def expected_links(rounds: dict[str, list[list[dict[str, Any]]]]) -> set[tuple[str, str, str]]:
    links = set()
    for item in rounds["/groups/delta"][0]:
        links |= {(item["id"], link["id"], "member") for link in item.get("members@delta", ())}
        links |= {(item["id"], link["id"], "owner") for link in item.get("owners@delta", ())}
    for link in rounds["/directory/administrativeUnits/delta"][0][0]["members@delta"]:
        links.add(("sch", link["id"], "user" if link["@odata.type"] == USER else "class"))
    return links


def test_a_large_round_in_many_small_pages_gives_the_snapshot_of_one_page_and_every_link(
    tmp_path: Path,
) -> None:
    rounds = district(students=300, classes=60, per_class=40)  # 2,400 class members + 360 school links
    small = PagedRounds(rounds, page_size=3)
    paged = snapshot_of(small, tmp_path / "paged")
    whole = snapshot_of(PagedRounds(rounds, page_size=100_000), tmp_path / "whole")
    assert comparable(paged) == comparable(whole)
    assert link_set(paged) == expected_links(rounds)
    assert paged.memberships.num_rows == 60 * 40 + 60 + 300 + 60
    assert len(paged.users) == 300 and len(paged.classes) == 60
    assert sum(1 for path, _, _ in small.pages if path == "/groups/delta") > 100


def test_memberships_are_ordered_by_container_relation_and_member(tmp_path: Path) -> None:
    snapshot = snapshot_of(PagedRounds(district(students=40, classes=5, per_class=9), page_size=4), tmp_path)
    rows = [
        (row["container_id"], row["relation"], row["member_id"]) for row in snapshot.memberships.to_pylist()
    ]
    assert rows == sorted(rows)


# -- a round that fails part-way ----------------------------------------------------------------------------


def with_second_round(
    rounds: dict[str, list[list[dict[str, Any]]]], resource: str
) -> dict[str, list[list[dict[str, Any]]]]:
    """A nightly round of ``resource`` alone (the others have nothing new): six students leave and one is
    renamed, or six classes get a new member and one loses one."""
    changed = dict(rounds)
    second: list[dict[str, Any]]
    if resource == "/users/delta":
        second = [
            *({"id": f"u{n:04}", "@removed": {"reason": "deleted"}} for n in range(100, 106)),
            {"id": "u0001", "userPrincipalName": "s1@s.edu", "displayName": "Renamed"},
        ]
    else:
        second = [
            *(
                {"id": f"c{c:03}", "members@delta": [{"@odata.type": USER, "id": f"u{150 + c}"}]}
                for c in range(6)
            ),
            {"id": "c002", "members@delta": [{"@odata.type": USER, "id": "u0026", "@removed": {}}]},
        ]
    changed[resource] = [*rounds[resource], second]
    return changed


def cache_file(folder: Path) -> Path:
    (path,) = folder.glob("graph-*.sqlite")
    return path


def cache_state(folder: Path, resource: str = "users") -> tuple[list[Any], ...]:
    """Objects, links, ``resource``'s delta link and the staged pages."""
    with sqlite3.connect(cache_file(folder)) as db:
        return (
            db.execute("SELECT kind, id, data FROM objects ORDER BY kind, id").fetchall(),
            db.execute("SELECT * FROM links ORDER BY 1, 2, 3").fetchall(),
            db.execute("SELECT link FROM deltas WHERE resource = ?", (resource,)).fetchall(),
            db.execute("SELECT * FROM staged_items").fetchall(),
        )


@pytest.mark.parametrize(("resource", "name"), [("/users/delta", "users"), ("/groups/delta", "groups")])
def test_a_round_refused_after_some_pages_leaves_cache_and_delta_link_as_they_were(
    tmp_path: Path, resource: str, name: str
) -> None:
    rounds = with_second_round(district(students=200, classes=20, per_class=14), resource)
    fake = PagedRounds(rounds, page_size=2, refuse={(resource, 1, 2)})  # pages 0 and 1 staged first
    with open_directory(fake, tmp_path / "cache") as directory:
        directory.snapshot()
        before = cache_state(tmp_path / "cache", name)
        assert before[2] and not before[3]
        with pytest.raises(DirectoryUnavailable, match="refused a delta read"):
            directory.snapshot()
        assert [page for page in fake.pages if page[0] == resource and page[1] == 1] == [
            (resource, 1, 0),
            (resource, 1, 1),
            (resource, 1, 2),
        ]
        assert cache_state(tmp_path / "cache", name) == before
        after_failure = directory.snapshot()  # asks the same delta link again, from its first page
    assert (resource, 1, 0) in fake.pages[-30:]
    reference = snapshot_of(PagedRounds(rounds, page_size=50), tmp_path / "reference", snapshots=2)
    assert comparable(after_failure) == comparable(reference)
    assert comparable(after_failure) != comparable(
        snapshot_of(PagedRounds(rounds, page_size=50), tmp_path / "one")
    )
    if resource == "/users/delta":
        assert "u0100" not in {user.id for user in after_failure.users}
    else:
        assert ("c005", "u155", "member") in link_set(after_failure)
        assert ("c002", "u0026", "member") not in link_set(after_failure)


def test_when_one_round_fails_the_rounds_still_reading_are_stopped_and_commit_nothing(tmp_path: Path) -> None:
    rounds = with_second_round(district(students=200, classes=20, per_class=14), "/users/delta")
    rounds["/groups/delta"].append(
        [{"id": f"c{c:03}", "members@delta": [{"@odata.type": USER, "id": "u0199"}]} for c in range(8)]
    )
    fake = PagedRounds(rounds, page_size=2)
    with open_directory(fake, tmp_path / "cache") as directory:
        directory.snapshot()
        before = cache_state(tmp_path / "cache", "users")
        # users' round (4 pages) has staged two pages and waits for its third when groups' fails
        fake.hold.update({("/users/delta", 1, 2): 0.5, ("/groups/delta", 1, 3): 0.2})
        fake.refuse.add(("/groups/delta", 1, 3))
        with pytest.raises(DirectoryUnavailable):
            directory.snapshot()
        assert [page for page in fake.pages if page[:2] == ("/users/delta", 1)] == [
            ("/users/delta", 1, 0),
            ("/users/delta", 1, 1),
            ("/users/delta", 1, 2),
        ]
        time.sleep(0.8)  # long enough for an orphaned users round to finish and commit
        assert cache_state(tmp_path / "cache", "users") == before
        assert len([page for page in fake.pages if page[:2] == ("/users/delta", 1)]) == 3
        fake.hold.clear()
        again = directory.snapshot()
    assert "u0100" not in {user.id for user in again.users}
    assert ("c007", "u0199", "member") in link_set(again)


def test_a_full_round_refused_part_way_after_an_expired_link_keeps_the_cached_objects(tmp_path: Path) -> None:
    rounds = district(students=30, classes=3, per_class=5)
    fake = PagedRounds(rounds, page_size=4)
    with open_directory(fake, tmp_path / "cache") as directory:
        first = directory.snapshot()
        objects = cache_state(tmp_path / "cache")[0]
        rounds["/users/delta"].append([])  # round 1 exists, but the server says its token is gone
        fake.expired.add("/users/delta")
        fake.refuse.add(("/users/delta", 0, 3))
        with pytest.raises(DirectoryUnavailable):
            directory.snapshot()
        assert cache_state(tmp_path / "cache")[0] == objects
        assert cache_state(tmp_path / "cache")[3] == []
        again = directory.snapshot()  # no stored link now: reads users in full
    assert comparable(again) == comparable(first)


# -- the cache on its own ---------------------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[GraphCache]:
    opened = GraphCache(tmp_path / "cache.sqlite")
    yield opened
    opened.close()


def user(user_id: str, name: str) -> dict[str, Any]:
    return {"id": user_id, "displayName": name}


def names(cache: GraphCache) -> dict[str, str]:
    return {item["id"]: item["displayName"] for item in cache.objects("user")}


def test_staged_pages_stay_invisible_until_the_round_commits(cache: GraphCache) -> None:
    users = BY_NAME["users"]
    cache.apply_round(users, [user("a", "Ann")], "link-1", full=True)
    with cache.round(users, full=False) as staged:
        staged.add_page([user("a", "Anna"), user("b", "Bo")])
        staged.add_page([user("c", "Cy")])
        assert names(cache) == {"a": "Ann"}
        assert staged.staged == 3
        staged.commit("link-2")
    assert names(cache) == {"a": "Anna", "b": "Bo", "c": "Cy"}
    assert cache.delta_link(users) == "link-2"


def test_a_round_left_by_an_error_discards_its_pages_and_keeps_the_old_link(cache: GraphCache) -> None:
    users = BY_NAME["users"]
    cache.apply_round(users, [user("a", "Ann")], "link-1", full=True)
    with pytest.raises(RuntimeError, match="network"), cache.round(users, full=True) as staged:
        staged.add_page([user("b", "Bo")])
        raise RuntimeError("network")
    assert names(cache) == {"a": "Ann"}
    assert cache.delta_link(users) == "link-1"
    with cache.round(users, full=False) as staged:
        staged.commit("link-2")  # an empty round: nothing of the discarded one comes back
    assert names(cache) == {"a": "Ann"}


def test_a_round_left_without_commit_changes_nothing(cache: GraphCache) -> None:
    users = BY_NAME["users"]
    with cache.round(users, full=True) as staged:
        staged.add_page([user("a", "Ann")])
    assert names(cache) == {}
    assert cache.delta_link(users) is None


def test_pages_a_killed_process_staged_are_cleared_by_the_next_round(
    cache: GraphCache, tmp_path: Path
) -> None:
    users = BY_NAME["users"]
    with sqlite3.connect(tmp_path / "cache.sqlite") as other:  # what a process killed mid-round leaves
        other.execute("INSERT INTO staged_items (resource, item) VALUES ('users', '{\"id\": \"ghost\"}')")
    with cache.round(users, full=True) as staged:
        staged.add_page([user("a", "Ann")])
        staged.commit("link-1")
    assert names(cache) == {"a": "Ann"}


def test_a_group_listed_on_several_pages_keeps_the_links_of_every_page_in_order(cache: GraphCache) -> None:
    groups: Resource = BY_NAME["groups"]
    member = {"@odata.type": USER, "id": "u1"}
    with cache.round(groups, full=True) as staged:
        staged.add_page(
            [{"id": "g", "displayName": "G", "members@delta": [member, {"@odata.type": USER, "id": "u2"}]}]
        )
        staged.add_page(
            [{"id": "g", "members@delta": [{**member, "@removed": {}}, {"@odata.type": GROUP, "id": "h"}]}]
        )
        staged.add_page([{"id": "g", "members@delta": [member, {**member, "@removed": {}}, member]}])
        staged.commit("link-1")
    rows = [row for block in cache.container_links([("g", "group")]) for row in block]
    assert rows == [("g", "h", "member"), ("g", "u1", "member"), ("g", "u2", "member")]
    assert [item["displayName"] for item in cache.objects("group")] == ["G"]


def test_container_links_keep_only_the_relations_of_each_kind_and_come_in_chunks(cache: GraphCache) -> None:
    cache.apply_round(
        BY_NAME["units"],
        [{"id": "s", "members@delta": [{"@odata.type": USER, "id": f"u{n}"} for n in range(5)]}],
        "link-u",
        full=True,
    )
    cache.apply_round(
        BY_NAME["groups"],
        [
            {"id": "c", "members@delta": [{"@odata.type": USER, "id": "u1"}], "owners@delta": [{"id": "t"}]},
            {"id": "x", "members@delta": [{"@odata.type": USER, "id": "u2"}]},
        ],
        "link-g",
        full=True,
    )
    blocks = list(cache.container_links([("s", "school"), ("c", "class"), ("s", "class")], chunk=2))
    assert [len(block) for block in blocks] == [2, 2, 2, 1]
    assert [row for block in blocks for row in block] == [
        ("c", "u1", "member"),
        ("c", "t", "owner"),
        *(("s", f"u{n}", "user") for n in range(5)),
    ]
    assert list(cache.container_links([("s", "group")])) == []


# -- pages Graph's documented shapes rule out -------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "name", "odd", "message"),
    [
        (
            "/groups/delta",
            "groups",
            {"id": "c001", "members@delta": True},
            "members@delta as bool, not a list",
        ),
        ("/groups/delta", "groups", {"id": "c001", "groupTypes": "Unified"}, "groupTypes as str, not a list"),
        (
            "/users/delta",
            "users",
            {"id": "u0001", "assignedLicenses": {"skuId": "x"}},
            "assignedLicenses as dict",
        ),
        ("/users/delta", "users", {"userPrincipalName": "s9@s.edu"}, "an object without an id"),
        ("/users/delta", "users", {"id": 17}, "an object without an id"),
    ],
)
def test_an_object_of_an_impossible_shape_stops_the_read_and_keeps_the_cache_as_it_was(
    tmp_path: Path, resource: str, name: str, odd: dict[str, Any], message: str
) -> None:
    """Taken as it comes, ``members@delta: true`` would be read as "no member changes" and an
    ``assignedLicenses`` object as "no licences" (the plan would then assign them again); an object without
    an id cannot be stored. The read stops with a clear error; nothing of that round is applied."""
    rounds = district(students=20, classes=3, per_class=4)
    rounds[resource].append([*rounds[resource][0][:2], odd])
    fake = PagedRounds(rounds, page_size=2)
    with open_directory(fake, tmp_path / "cache") as directory:
        first = directory.snapshot()
        before = cache_state(tmp_path / "cache", name)
        with pytest.raises(DirectoryUnavailable, match=message) as raised:
            directory.snapshot()
        assert f"a delta page of {name}" in str(raised.value) and "run again" in str(raised.value)
        assert "s9@s.edu" not in str(raised.value)  # names no user
        assert cache_state(tmp_path / "cache", name) == before
        rounds[resource][1][-1] = {**rounds[resource][0][0]}  # the next read sends what Graph documents
        assert comparable(directory.snapshot()) == comparable(first)


def test_a_page_whose_value_is_not_a_list_stops_the_read(tmp_path: Path) -> None:
    fake = PagedRounds(district(students=5, classes=1, per_class=2), page_size=10)
    odd = httpx.Response(200, json={"value": {"id": "u0001"}, "@odata.deltaLink": f"{BASE}/users/delta?x=1"})

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1.0/users/delta":
            return odd
        return await fake.handle(request)

    directory = GraphDirectory(
        BASE,
        cache_dir=tmp_path / "cache",
        token=static_token("t"),
        transport=httpx.MockTransport(handle),
        quota_scale=1000,
        retry=FAST,
        replication=FAST,
    )
    with directory, pytest.raises(DirectoryUnavailable, match="/users/delta with a value that is not a list"):
        directory.snapshot()
