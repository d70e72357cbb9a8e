"""Reads over HTTP: entity shapes, $select, anchor look-ups by $filter, paging, OData errors."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.graphserver.client import Client
from tests.graphserver.seed import create_class, create_school, create_user


def test_a_user_reads_with_directory_properties_on_users_and_education_ones_on_education_users(
    client: Client,
) -> None:
    user_id = create_user(client, 1)
    plain = client.get(f"/users/{user_id}")
    education = client.get(f"/education/users/{user_id}")
    assert plain.status == education.status == 200
    assert plain.body["userPrincipalName"] == "user1@school.example.edu"
    assert "student" not in plain.body and "primaryRole" not in plain.body
    assert education.body["primaryRole"] == "student"
    assert education.body["student"] == {"externalId": "S1"}


def test_no_answer_ever_carries_a_password(client: Client) -> None:
    user_id = create_user(client, 1)
    answers = [
        client.get(f"/users/{user_id}"),
        client.get(f"/education/users/{user_id}"),
        client.get("/users"),
    ]
    assert all("Secret-123" not in str(answer.body) for answer in answers)
    assert all("passwordProfile" not in str(answer.body) for answer in answers)


def test_select_returns_only_the_chosen_properties_and_the_id(client: Client) -> None:
    user_id = create_user(client, 1)
    answer = client.get(f"/users/{user_id}?$select=displayName,employeeId")
    assert answer.body == {"id": user_id, "displayName": "User 1", "employeeId": None}


def test_anchor_lookups_by_filter_find_users_classes_schools_and_groups(client: Client) -> None:
    teacher = create_user(client, 1)
    class_id = create_class(client, 7, teacher)
    school_id = create_school(client, 3)
    by_upn = client.get("/users?$filter=userPrincipalName%20eq%20'USER1@school.example.edu'&$select=id")
    assert [u["id"] for u in by_upn.body["value"]] == [teacher]
    assert [c["id"] for c in client.get("/education/classes?$filter=externalId eq '7'").body["value"]] == [
        class_id
    ]
    assert [s["id"] for s in client.get("/education/schools?$filter=externalId eq '3'").body["value"]] == [
        school_id
    ]
    assert [g["id"] for g in client.get("/groups?$filter=mailNickname eq 'section_7'").body["value"]] == [
        class_id
    ]
    assert client.get("/users?$filter=userPrincipalName eq 'nobody@school.example.edu'").body["value"] == []


def test_a_quote_inside_a_filter_value_is_doubled(client: Client) -> None:
    user_id = create_user(client, 1, userPrincipalName="o'neil@school.example.edu")
    answer = client.get("/users?$filter=userPrincipalName eq 'o''neil@school.example.edu'")
    assert [u["id"] for u in answer.body["value"]] == [user_id]


def test_lists_are_paged_with_next_links_until_every_item_is_read(client: Client) -> None:
    ids = {create_user(client, n) for n in range(7)}
    first = client.get("/users?$top=3&$select=id")
    assert len(first.body["value"]) == 3
    assert first.body["@odata.nextLink"].startswith(client.base_url + "/users?$skiptoken=")
    items, _ = client.pages("/users?$top=3&$select=id")
    assert [item["id"] for item in items if item["id"] in ids] == [item["id"] for item in items]
    assert {item["id"] for item in items} == ids


def test_subscribed_skus_list_sku_ids_and_part_numbers(client: Client) -> None:
    skus = client.get("/subscribedSkus").body["value"]
    assert {sku["skuPartNumber"] for sku in skus} >= {"STANDARDWOFFPACK_STUDENT", "STANDARDWOFFPACK_FACULTY"}
    assert all(len(sku["skuId"]) == 36 for sku in skus)


def test_group_members_and_owners_list_as_typed_references(client: Client) -> None:
    teacher = create_user(client, 1)
    student = create_user(client, 2)
    class_id = create_class(client, 1, teacher, (student,))
    members = client.get(f"/groups/{class_id}/members").body["value"]
    owners = client.get(f"/groups/{class_id}/owners").body["value"]
    assert members == [{"@odata.type": "#microsoft.graph.user", "id": student}]
    assert owners == [{"@odata.type": "#microsoft.graph.user", "id": teacher}]


def test_an_unknown_id_is_an_odata_not_found_error(client: Client) -> None:
    answer = client.get("/users/7d1c4a36-0000-4000-8000-000000000000")
    assert answer.status == 404
    assert answer.error_code == "Request_ResourceNotFound"
    assert set(answer.body["error"]["innerError"]) == {"request-id", "date"}


def test_an_unknown_path_segment_is_a_bad_request(client: Client) -> None:
    answer = client.get("/teams")
    assert answer.status == 400
    assert "teams" in answer.body["error"]["message"]


def test_an_unsupported_filter_or_page_size_is_refused_with_a_clear_code(client: Client) -> None:
    assert client.get("/users?$filter=startswith(displayName,'a')").error_code == "Request_UnsupportedQuery"
    assert client.get("/users?$top=5000").error_code == "Request_UnsupportedQuery"
    assert client.get("/users?$filter=accountEnabled eq 'true'").error_code == "Request_UnsupportedQuery"


def test_a_method_the_path_does_not_take_is_refused(client: Client) -> None:
    assert client.request("PUT", "/subscribedSkus", {}).status == 405


def test_a_body_that_is_not_json_is_a_bad_request(client: Client) -> None:
    request = urllib.request.Request(
        client.base_url + "/$batch",
        data=b"{nope",
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 400
    assert b"not valid JSON" in raised.value.read()
