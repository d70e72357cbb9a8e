"""Helpers that seed a served tenant over HTTP, the way the adapter writes (one-item ``$batch``)."""

from __future__ import annotations

from typing import Any

from tests.graphserver.client import Client

GRAPH = "https://graph.microsoft.com/v1.0"


def user_body(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "userPrincipalName": f"user{n}@school.example.edu",
        "displayName": f"User {n}",
        "mailNickname": f"user{n}",
        "accountEnabled": True,
        "usageLocation": "US",
        "passwordProfile": {"password": "Secret-123", "forceChangePasswordNextSignIn": True},
        "primaryRole": "student",
        "externalSource": "sis",
        "student": {"externalId": f"S{n}"},
        **extra,
    }


def create_user(client: Client, n: int, **extra: Any) -> str:
    response = client.write("POST", "/education/users", user_body(n, **extra))
    assert response["status"] == 201, response
    return str(response["body"]["id"])


def create_class(client: Client, n: int, owner: str, members: tuple[str, ...] = ()) -> str:
    response = client.write(
        "POST",
        "/groups",
        {
            "displayName": f"Class {n}",
            "mailNickname": f"Section_{n}",
            "mailEnabled": True,
            "securityEnabled": False,
            "groupTypes": ["Unified"],
            "owners@odata.bind": [f"{GRAPH}/users/{owner}"],
            "members@odata.bind": [f"{GRAPH}/users/{m}" for m in members],
        },
    )
    assert response["status"] == 201, response
    class_id = str(response["body"]["id"])
    patched = client.write(
        "PATCH", f"/education/classes/{class_id}", {"externalId": str(n), "classCode": f"C{n}"}
    )
    assert patched["status"] == 200, patched
    return class_id


def create_school(client: Client, n: int) -> str:
    response = client.write(
        "POST",
        "/education/schools",
        {"displayName": f"School {n}", "externalId": str(n), "externalSource": "sis"},
    )
    assert response["status"] == 201, response
    return str(response["body"]["id"])
