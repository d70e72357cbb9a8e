"""The $batch envelope: mixed results, limits, dependsOn, ids."""

from __future__ import annotations

from tests.graphserver.client import Client
from tests.graphserver.seed import create_user, user_body


def test_a_batch_answers_each_item_by_id_with_its_own_status(client: Client) -> None:
    existing = create_user(client, 1)
    answer = client.batch(
        {"method": "POST", "url": "/education/users", "body": user_body(2)},
        {"method": "POST", "url": "/education/users", "body": user_body(1)},
        {"method": "GET", "url": f"/users/{existing}?$select=id"},
        {"method": "DELETE", "url": "users/3f1c4a36-0000-4000-8000-000000000000"},
    )
    assert answer.status == 200
    statuses = {item["id"]: item["status"] for item in answer.body["responses"]}
    assert statuses == {"1": 201, "2": 400, "3": 200, "4": 404}
    bodies = {item["id"]: item["body"] for item in answer.body["responses"]}
    assert bodies["3"] == {"id": existing}
    assert bodies["2"]["error"]["code"] == "Request_BadRequest"


def test_every_batch_item_carries_its_resource_unit_header(client: Client) -> None:
    answer = client.batch(
        {"method": "POST", "url": "/education/users", "body": user_body(1)},
        {"method": "GET", "url": "/users"},
    )
    units = [item["headers"]["x-ms-resource-unit"] for item in answer.body["responses"]]
    assert units == ["1", "2"]
    assert answer.headers["x-ms-resource-unit"] == "3"


def test_more_than_twenty_requests_is_refused_whole(client: Client) -> None:
    items = [{"method": "POST", "url": "/education/users", "body": user_body(n)} for n in range(21)]
    answer = client.batch(*items)
    assert answer.status == 400
    assert "at most 20" in answer.body["error"]["message"]
    assert client.get("/users").body["value"] == []


def test_repeated_request_ids_are_refused(client: Client) -> None:
    answer = client.request(
        "POST",
        "/$batch",
        {
            "requests": [
                {"id": "a", "method": "GET", "url": "/users"},
                {"id": "a", "method": "GET", "url": "/users"},
            ]
        },
    )
    assert answer.status == 400
    assert "'a'" in answer.body["error"]["message"]


def test_an_item_whose_dependency_failed_answers_424(client: Client) -> None:
    create_user(client, 1)
    answer = client.request(
        "POST",
        "/$batch",
        {
            "requests": [
                {"id": "1", "method": "POST", "url": "/education/users", "body": user_body(1)},
                {
                    "id": "2",
                    "method": "POST",
                    "url": "/education/users",
                    "body": user_body(2),
                    "dependsOn": ["1"],
                },
            ]
        },
    )
    statuses = {item["id"]: item["status"] for item in answer.body["responses"]}
    assert statuses == {"1": 400, "2": 424}
    assert client.get("/users?$filter=userPrincipalName eq 'user2@school.example.edu'").body["value"] == []


def test_absolute_graph_urls_are_accepted_inside_a_batch(client: Client) -> None:
    user_id = create_user(client, 1)
    answer = client.batch({"method": "GET", "url": f"https://graph.microsoft.com/v1.0/users/{user_id}"})
    assert answer.body["responses"][0]["status"] == 200


def test_a_malformed_envelope_is_a_bad_request(client: Client) -> None:
    assert client.request("POST", "/$batch", {"items": []}).status == 400
    assert client.request("POST", "/$batch", {"requests": [{"id": "1", "url": "/users"}]}).status == 400
