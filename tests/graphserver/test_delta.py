"""Delta queries: a first round with every object, then only what changed, removals and membership deltas."""

from __future__ import annotations

from typing import Any

from tests.graphserver.client import Client
from tests.graphserver.seed import GRAPH, create_class, create_school, create_user

USERS = "/users/delta?$select=id,userPrincipalName,displayName,accountEnabled"
GROUPS = "/groups/delta?$select=id,displayName,mailNickname,members,owners"


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in items}


def test_a_first_round_pages_every_user_and_ends_with_a_delta_link(client: Client) -> None:
    ids = {create_user(client, n) for n in range(5)}
    first = client.get(USERS, headers={"Prefer": "odata.maxpagesize=2"})
    assert "@odata.nextLink" in first.body and "@odata.deltaLink" not in first.body
    items, delta = client.pages(USERS, headers={"Prefer": "odata.maxpagesize=2"})
    assert set(by_id(items)) == ids
    assert delta is not None and "$deltatoken=" in delta
    assert set(items[0]) == {"id", "userPrincipalName", "displayName", "accountEnabled"}


def test_a_follow_up_round_returns_only_what_changed(client: Client) -> None:
    ids = [create_user(client, n) for n in range(4)]
    _, delta = client.pages(USERS)
    assert delta is not None
    quiet, delta = client.pages(delta)
    assert quiet == []
    client.write("PATCH", f"/users/{ids[1]}", {"displayName": "Renamed"})
    new = create_user(client, 9)
    changed, _ = client.pages(delta)
    assert set(by_id(changed)) == {ids[1], new}
    assert by_id(changed)[ids[1]]["displayName"] == "Renamed"


def test_a_deleted_user_comes_as_removed(client: Client) -> None:
    user_id = create_user(client, 1)
    _, delta = client.pages(USERS)
    assert delta is not None
    client.write("DELETE", f"/users/{user_id}")
    changed, _ = client.pages(delta)
    assert changed == [{"id": user_id, "@removed": {"reason": "changed"}}]


def test_the_delta_link_keeps_the_select_of_the_first_round(client: Client) -> None:
    _, delta = client.pages("/users/delta?$select=id,displayName")
    assert delta is not None
    user_id = create_user(client, 1)
    changed, _ = client.pages(delta)
    assert changed == [{"id": user_id, "displayName": "User 1"}]


def test_group_delta_carries_members_and_owners_and_later_only_the_changed_links(client: Client) -> None:
    teacher, kept, leaving, joining = (create_user(client, n) for n in range(4))
    class_id = create_class(client, 1, teacher, (kept, leaving))
    first, delta = client.pages(GROUPS)
    group = by_id(first)[class_id]
    assert {ref["id"] for ref in group["members@delta"]} == {kept, leaving}
    assert group["owners@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": teacher}]
    assert delta is not None
    client.write("DELETE", f"/groups/{class_id}/members/{leaving}/$ref")
    client.write("PATCH", f"/groups/{class_id}", {"members@odata.bind": [f"{GRAPH}/users/{joining}"]})
    changed, _ = client.pages(delta)
    group = by_id(changed)[class_id]
    assert sorted(group["members@delta"], key=lambda ref: ref["id"]) == sorted(
        [
            {"@odata.type": "#microsoft.graph.user", "id": leaving, "@removed": {"reason": "deleted"}},
            {"@odata.type": "#microsoft.graph.user", "id": joining},
        ],
        key=lambda ref: ref["id"],
    )
    assert "owners@delta" not in group
    assert group["mailNickname"] == "Section_1"


def test_class_delta_lists_classes_only_and_reports_a_deleted_class(client: Client) -> None:
    teacher = create_user(client, 1)
    class_id = create_class(client, 1, teacher)
    intune = client.write(
        "POST",
        "/groups",
        {
            "displayName": "All Teachers",
            "mailNickname": "AllTeachers",
            "mailEnabled": False,
            "securityEnabled": True,
            "groupTypes": [],
        },
    )["body"]["id"]
    first, delta = client.pages("/education/classes/delta?$select=id,externalId,classCode")
    assert first == [{"id": class_id, "externalId": "1", "classCode": "C1"}]
    assert intune not in by_id(first)
    assert delta is not None
    client.write("DELETE", f"/groups/{class_id}")
    changed, _ = client.pages(delta)
    assert changed == [{"id": class_id, "@removed": {"reason": "changed"}}]


def test_school_and_administrative_unit_deltas_show_schools_and_their_members(client: Client) -> None:
    teacher = create_user(client, 1)
    class_id = create_class(client, 1, teacher)
    school_id = create_school(client, 1)
    client.write(
        "POST", f"/education/schools/{school_id}/users/$ref", {"@odata.id": f"{GRAPH}/users/{teacher}"}
    )
    client.write(
        "POST",
        f"/education/schools/{school_id}/classes/$ref",
        {"@odata.id": f"{GRAPH}/education/classes/{class_id}"},
    )
    schools, _ = client.pages("/education/schools/delta?$select=id,displayName,externalId")
    assert schools == [{"id": school_id, "displayName": "School 1", "externalId": "1"}]
    units, _ = client.pages("/directory/administrativeUnits/delta?$select=id,displayName,members")
    members = by_id(units)[school_id]["members@delta"]
    assert sorted(members, key=lambda ref: ref["@odata.type"]) == [
        {"@odata.type": "#microsoft.graph.group", "id": class_id},
        {"@odata.type": "#microsoft.graph.user", "id": teacher},
    ]


def test_education_user_delta_shows_role_and_facets(client: Client) -> None:
    user_id = create_user(client, 1)
    items, _ = client.pages("/education/users/delta?$select=id,primaryRole,student,teacher")
    assert items == [
        {"id": user_id, "primaryRole": "student", "student": {"externalId": "S1"}, "teacher": None}
    ]


def test_latest_token_gives_a_delta_link_without_the_first_round(client: Client) -> None:
    create_user(client, 1)
    answer = client.get("/users/delta?$deltatoken=latest")
    assert answer.body["value"] == []
    new = create_user(client, 2)
    changed, _ = client.pages(answer.body["@odata.deltaLink"])
    assert [item["id"] for item in changed] == [new]


def test_a_token_the_server_did_not_make_answers_410(client: Client) -> None:
    assert client.get("/users/delta?$deltatoken=not-a-token").status == 410
    assert client.get("/users/delta?$skiptoken=eyJyIjoiZ29uZSIsIm8iOjJ9").status == 410


def test_a_delta_link_survives_a_server_restart(tmp_path: Any) -> None:
    from sync.graphserver import GraphServer

    with GraphServer(tmp_path / "t.db") as first:
        early = Client(first.base_url)
        create_user(early, 1)
        _, delta = early.pages(USERS)
        create_user(early, 2)
    assert delta is not None
    with GraphServer(tmp_path / "t.db") as second:
        late = Client(second.base_url)
        token = delta.split("$deltatoken=")[1]
        changed, _ = late.pages(f"/users/delta?$deltatoken={token}")
    assert [item["userPrincipalName"] for item in changed] == ["user2@school.example.edu"]


def test_an_object_changed_while_a_round_is_paged_comes_again_in_the_next_round(client: Client) -> None:
    ids = [create_user(client, n) for n in range(6)]
    small = {"Prefer": "odata.maxpagesize=2"}
    page = client.get(USERS, headers=small)
    seen = [item["id"] for item in page.body["value"]]
    client.write("PATCH", f"/users/{seen[0]}", {"displayName": "Changed early"})
    late = next(i for i in ids if i not in seen)
    client.write("PATCH", f"/users/{late}", {"displayName": "Changed late"})
    rest, delta = client.pages(page.body["@odata.nextLink"], headers=small)
    assert set(seen) | set(by_id(rest)) == set(ids)
    assert delta is not None
    changed, _ = client.pages(delta)
    assert {item["id"]: item["displayName"] for item in changed} == {
        seen[0]: "Changed early",
        late: "Changed late",
    }


def test_a_delta_link_of_another_tenant_file_answers_410_even_on_the_same_port(tmp_path: Any) -> None:
    """Two servers started one after the other may get the same port, so the same delta link: a token
    carries the tenant file it belongs to, and another file's token is "unknown" (410), as Graph answers a
    token it does not know, instead of a counter read against other data."""
    from sync.graphserver import GraphServer

    with GraphServer(tmp_path / "one.db") as first:
        _, delta = Client(first.base_url).pages(USERS)
    assert delta is not None
    token = delta.split("$deltatoken=")[1]
    with GraphServer(tmp_path / "two.db") as second:
        other = Client(second.base_url)
        create_user(other, 1)
        answer = other.get(f"/users/delta?$deltatoken={token}")
        assert answer.status == 410
        assert answer.body["error"]["code"] == "SyncStateNotFound"
