"""Group-based licensing over HTTP: ``POST /groups/{id}/assignLicense``, ``assignedLicenses`` on groups
(also through ``/groups/delta``) and on their members."""

from __future__ import annotations

from typing import Any

from sync.graphserver import GraphServer
from tests.graphserver.client import Client
from tests.graphserver.seed import GRAPH, create_user

STUDENT_SKU = "314c4481-f395-4525-be8b-2ec4bb1e9d91"
ADD_STUDENT_SKU = {"addLicenses": [{"skuId": STUDENT_SKU, "disabledPlans": []}], "removeLicenses": []}
ASSIGNED = [{"skuId": STUDENT_SKU, "disabledPlans": []}]


def security_group(client: Client, nickname: str, members: tuple[str, ...] = ()) -> str:
    body: dict[str, Any] = {
        "displayName": nickname,
        "mailNickname": nickname,
        "mailEnabled": False,
        "securityEnabled": True,
        "groupTypes": [],
    }
    if members:
        body["members@odata.bind"] = [f"{GRAPH}/directoryObjects/{m}" for m in members]
    response = client.write("POST", "/groups", body)
    assert response["status"] == 201, response
    return str(response["body"]["id"])


def test_a_group_licence_is_one_write_and_reads_back_on_the_group_and_its_members(
    server: GraphServer, client: Client
) -> None:
    ava, bo = create_user(client, 1), create_user(client, 2, usageLocation=None)
    students = security_group(client, "All_Students", (ava, bo))
    writes_before = server.stats()["writes"]

    answer = client.write("POST", f"/groups/{students}/assignLicense", ADD_STUDENT_SKU)

    assert (answer["status"], answer["body"]["assignedLicenses"]) == (200, ASSIGNED)
    assert server.stats()["writes"] == writes_before + 1
    assert client.get(f"/groups/{students}").body["assignedLicenses"] == ASSIGNED
    assert client.get(f"/users/{ava}").body["assignedLicenses"] == ASSIGNED
    assert client.get(f"/users/{bo}?$select=assignedLicenses").body["assignedLicenses"] == ASSIGNED


def test_group_licences_and_inherited_ones_come_through_delta_queries(client: Client) -> None:
    ava = create_user(client, 1)
    students = security_group(client, "All_Students", (ava,))
    _, groups_link = client.pages("/groups/delta?$select=id,displayName,assignedLicenses,members")
    _, users_link = client.pages("/users/delta?$select=id,assignedLicenses")
    assert groups_link and users_link

    client.write("POST", f"/groups/{students}/assignLicense", ADD_STUDENT_SKU)

    groups, _ = client.pages(groups_link)
    users, _ = client.pages(users_link)
    assert [(g["id"], g["assignedLicenses"]) for g in groups] == [(students, ASSIGNED)]
    assert [(u["id"], u["assignedLicenses"]) for u in users] == [(ava, ASSIGNED)]


def test_a_group_licence_for_an_unknown_sku_or_group_is_refused_with_graphs_codes(client: Client) -> None:
    students = security_group(client, "All_Students")
    unknown_sku = {"addLicenses": [{"skuId": "00000000-0000-0000-0000-0000000000ff"}], "removeLicenses": []}

    invalid = client.write("POST", f"/groups/{students}/assignLicense", unknown_sku)
    missing = client.write(
        "POST", "/groups/00000000-0000-0000-0000-000000000000/assignLicense", ADD_STUDENT_SKU
    )
    malformed = client.write("POST", f"/groups/{students}/assignLicense", {"addLicenses": []})

    assert (invalid["status"], invalid["body"]["error"]["code"]) == (400, "InvalidLicense")
    assert (missing["status"], missing["body"]["error"]["code"]) == (404, "Request_ResourceNotFound")
    assert (malformed["status"], malformed["body"]["error"]["code"]) == (400, "Request_BadRequest")
    assert client.get(f"/groups/{students}").body["assignedLicenses"] == []
