"""Writes inside $batch: the adapter's operations and the OData errors for constraint violations."""

from __future__ import annotations

from tests.graphserver.client import Client
from tests.graphserver.seed import GRAPH, create_class, create_school, create_user, user_body

STUDENT_SKU = "314c4481-f395-4525-be8b-2ec4bb1e9d91"


def member_ids(client: Client, path: str) -> set[str]:
    return {ref["id"] for ref in client.get(path).body["value"]}


def test_a_created_user_answers_201_with_its_new_id(client: Client) -> None:
    response = client.write("POST", "/education/users", user_body(1))
    assert response["status"] == 201
    assert len(response["body"]["id"]) == 36
    assert response["body"]["userPrincipalName"] == "user1@school.example.edu"


def test_a_duplicate_upn_is_a_bad_request_naming_the_property(client: Client) -> None:
    create_user(client, 1)
    response = client.write(
        "POST", "/education/users", user_body(2, userPrincipalName="USER1@school.example.edu")
    )
    assert response["status"] == 400
    error = response["body"]["error"]
    assert error["code"] == "Request_BadRequest"
    assert (
        error["message"]
        == "Another object with the same value for property userPrincipalName already exists."
    )
    assert error["details"] == [{"code": "ObjectConflict", "target": "userPrincipalName"}]


def test_a_duplicate_mail_nickname_across_users_and_groups_is_refused(client: Client) -> None:
    teacher = create_user(client, 1)
    response = client.write(
        "POST",
        "/groups",
        {
            "displayName": "Clash",
            "mailNickname": "user1",
            "mailEnabled": False,
            "securityEnabled": True,
            "groupTypes": [],
            "owners@odata.bind": [f"{GRAPH}/users/{teacher}"],
        },
    )
    assert response["status"] == 400
    assert "mailNickname" in response["body"]["error"]["message"]


def test_a_class_created_without_an_owner_is_refused_and_not_created(client: Client) -> None:
    response = client.write(
        "POST",
        "/groups",
        {
            "displayName": "Orphan",
            "mailNickname": "Section_9",
            "mailEnabled": True,
            "securityEnabled": False,
            "groupTypes": ["Unified"],
        },
    )
    assert response["status"] == 400
    assert "owner" in response["body"]["error"]["message"]
    assert client.get("/groups?$filter=mailNickname eq 'Section_9'").body["value"] == []


def test_a_group_becomes_a_class_once_patched_through_education_classes(client: Client) -> None:
    teacher = create_user(client, 1)
    created = client.write(
        "POST",
        "/groups",
        {
            "displayName": "Algebra",
            "mailNickname": "Section_5",
            "mailEnabled": True,
            "securityEnabled": False,
            "groupTypes": ["Unified"],
            "owners@odata.bind": [f"{GRAPH}/users/{teacher}"],
        },
    )
    class_id = created["body"]["id"]
    assert client.get(f"/education/classes/{class_id}").status == 404
    patched = client.write(
        "PATCH",
        f"/education/classes/{class_id}",
        {"externalId": "5", "grade": "9", "term": {"displayName": "Fall"}},
    )
    assert patched["status"] == 200
    assert patched["body"]["term"] == {"displayName": "Fall"}
    assert client.get(f"/education/classes/{class_id}").body["externalId"] == "5"


def test_members_bind_adds_up_to_twenty_and_refuses_more(client: Client) -> None:
    teacher = create_user(client, 0)
    students = [create_user(client, n) for n in range(1, 22)]
    class_id = create_class(client, 1, teacher)
    binds = [f"{GRAPH}/directoryObjects/{s}" for s in students]
    too_many = client.write("PATCH", f"/groups/{class_id}", {"members@odata.bind": binds})
    assert too_many["status"] == 400
    assert member_ids(client, f"/groups/{class_id}/members") == set()
    added = client.write("PATCH", f"/groups/{class_id}", {"members@odata.bind": binds[:20]})
    assert added["status"] == 204
    assert member_ids(client, f"/groups/{class_id}/members") == set(students[:20])


def test_adding_a_present_member_says_the_reference_already_exists(client: Client) -> None:
    teacher = create_user(client, 0)
    student = create_user(client, 1)
    class_id = create_class(client, 1, teacher, (student,))
    again = client.write(
        "POST", f"/groups/{class_id}/members/$ref", {"@odata.id": f"{GRAPH}/users/{student}"}
    )
    assert again["status"] == 400
    assert again["body"]["error"]["message"].startswith("One or more added object references already exist")


def test_owners_are_added_and_removed_one_per_request(client: Client) -> None:
    first, second = create_user(client, 1), create_user(client, 2)
    class_id = create_class(client, 1, first)
    added = client.write("POST", f"/groups/{class_id}/owners/$ref", {"@odata.id": f"{GRAPH}/users/{second}"})
    assert added["status"] == 204
    removed = client.write("DELETE", f"/groups/{class_id}/owners/{first}/$ref")
    assert removed["status"] == 204
    assert member_ids(client, f"/groups/{class_id}/owners") == {second}


def test_the_last_owner_of_a_class_cannot_be_removed(client: Client) -> None:
    teacher = create_user(client, 1)
    class_id = create_class(client, 1, teacher)
    response = client.write("DELETE", f"/groups/{class_id}/owners/{teacher}/$ref")
    assert response["status"] == 400
    assert member_ids(client, f"/groups/{class_id}/owners") == {teacher}


def test_removing_an_absent_member_is_not_found(client: Client) -> None:
    teacher, student = create_user(client, 1), create_user(client, 2)
    class_id = create_class(client, 1, teacher)
    response = client.write("DELETE", f"/groups/{class_id}/members/{student}/$ref")
    assert response["status"] == 404
    assert response["body"]["error"]["code"] == "Request_ResourceNotFound"


def test_school_links_take_users_and_classes(client: Client) -> None:
    teacher = create_user(client, 1)
    class_id = create_class(client, 1, teacher)
    school_id = create_school(client, 1)
    user_link = client.write(
        "POST",
        f"/education/schools/{school_id}/users/$ref",
        {"@odata.id": f"{GRAPH}/education/users/{teacher}"},
    )
    class_link = client.write(
        "POST",
        f"/education/schools/{school_id}/classes/$ref",
        {"@odata.id": f"{GRAPH}/education/classes/{class_id}"},
    )
    assert user_link["status"] == class_link["status"] == 204
    assert member_ids(client, f"/education/schools/{school_id}/users") == {teacher}
    assert member_ids(client, f"/education/schools/{school_id}/classes") == {class_id}
    unlinked = client.write("DELETE", f"/education/schools/{school_id}/users/{teacher}/$ref")
    assert unlinked["status"] == 204
    assert member_ids(client, f"/education/schools/{school_id}/users") == set()


def test_a_school_is_created_and_updated(client: Client) -> None:
    school_id = create_school(client, 4)
    updated = client.write(
        "PATCH", f"/education/schools/{school_id}", {"principalName": "Ms. Ada", "phone": "555"}
    )
    assert updated["status"] == 200
    assert updated["body"]["principalName"] == "Ms. Ada"
    assert client.get(f"/education/schools/{school_id}").body["phone"] == "555"


def test_a_user_is_disabled_updated_and_deleted(client: Client) -> None:
    user_id = create_user(client, 1)
    assert client.write("PATCH", f"/users/{user_id}", {"accountEnabled": False})["status"] == 204
    assert client.get(f"/users/{user_id}").body["accountEnabled"] is False
    linked = client.write(
        "PATCH", f"/education/users/{user_id}", {"student": {"externalId": "S1", "grade": "10"}}
    )
    assert linked["status"] == 200 and linked["body"]["student"]["grade"] == "10"
    assert client.write("DELETE", f"/users/{user_id}")["status"] == 204
    assert client.get(f"/users/{user_id}").status == 404


def test_licences_need_a_usage_location_and_a_subscribed_sku(client: Client) -> None:
    located = create_user(client, 1)
    unlocated = create_user(client, 2, usageLocation=None)
    body = {"addLicenses": [{"skuId": STUDENT_SKU, "disabledPlans": []}], "removeLicenses": []}
    assert client.write("POST", f"/users/{located}/assignLicense", body)["status"] == 200
    assert client.get(f"/users/{located}").body["assignedLicenses"] == [
        {"skuId": STUDENT_SKU, "disabledPlans": []}
    ]
    no_location = client.write("POST", f"/users/{unlocated}/assignLicense", body)
    assert (no_location["status"], no_location["body"]["error"]["code"]) == (400, "InvalidUserUsageLocation")
    unknown = {"addLicenses": [{"skuId": "00000000-0000-0000-0000-0000000000ff"}], "removeLicenses": []}
    invalid = client.write("POST", f"/users/{located}/assignLicense", unknown)
    assert (invalid["status"], invalid["body"]["error"]["code"]) == (400, "InvalidLicense")


def test_an_intune_security_group_needs_no_owner(client: Client) -> None:
    response = client.write(
        "POST",
        "/groups",
        {
            "displayName": "All Students",
            "mailNickname": "AllStudents",
            "mailEnabled": False,
            "securityEnabled": True,
            "groupTypes": [],
        },
    )
    assert response["status"] == 201
    assert response["body"]["securityEnabled"] is True


def test_a_read_only_property_is_a_bad_request(client: Client) -> None:
    user_id = create_user(client, 1)
    response = client.write("PATCH", f"/users/{user_id}", {"id": "something-else"})
    assert response["status"] == 400
    assert client.get(f"/users/{user_id}").status == 200
