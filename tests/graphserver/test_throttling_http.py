"""Throttling over HTTP: 429 inside a batch once the scaled budget is spent, headers, per-app buckets."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.graphserver import GraphServer
from tests.graphserver.client import Client
from tests.graphserver.seed import user_body


@pytest.fixture
def tight(tmp_path: Path) -> Iterator[GraphServer]:
    with GraphServer(tmp_path / "tenant.db", quota_scale=0.002) as running:  # 6 writes, 16 RU per app
        yield running


def jwt(**claims: str) -> str:
    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


def creates(first: int, count: int) -> list[dict[str, object]]:
    return [
        {"method": "POST", "url": "/education/users", "body": user_body(n)}
        for n in range(first, first + count)
    ]


def test_items_beyond_the_write_budget_answer_429_with_retry_after_and_change_nothing(
    tight: GraphServer,
) -> None:
    client = Client(tight.base_url)
    answer = client.batch(*creates(0, 8))
    statuses = [item["status"] for item in answer.body["responses"]]
    assert statuses == [201] * 6 + [429, 429]
    throttled = answer.body["responses"][6]
    assert throttled["body"]["error"]["code"] == "TooManyRequests"
    assert int(throttled["headers"]["Retry-After"]) >= 1
    assert throttled["headers"]["x-ms-throttle-scope"].startswith("Tenant_Application/Write/")
    assert throttled["headers"]["x-ms-throttle-information"] == "WriteLimitExceeded"
    upns = {
        user["userPrincipalName"] for user in client.get("/users?$select=userPrincipalName").body["value"]
    }
    assert upns == {f"user{n}@school.example.edu" for n in range(6)}


def test_the_limit_percentage_header_appears_near_the_limit(tight: GraphServer) -> None:
    client = Client(tight.base_url)
    answer = client.batch(*creates(0, 6))
    headers = [item["headers"] for item in answer.body["responses"]]
    assert "x-ms-throttle-limit-percentage" not in headers[0]
    assert float(headers[5]["x-ms-throttle-limit-percentage"]) >= 0.8
    assert float(answer.headers["x-ms-throttle-limit-percentage"]) >= 0.8


def test_reads_are_throttled_on_resource_units_with_headers_on_the_response(tight: GraphServer) -> None:
    client = Client(tight.base_url)
    answers = [client.get("/users") for _ in range(9)]  # 2 RU each, 16 RU budget
    assert [a.status for a in answers] == [200] * 8 + [429]
    assert all(a.headers["x-ms-resource-unit"] == "2" for a in answers)
    assert answers[-1].headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"
    assert int(answers[-1].headers["retry-after"]) >= 1


def test_each_app_named_by_its_token_has_its_own_write_bucket(tight: GraphServer) -> None:
    first = Client(tight.base_url, headers={"Authorization": f"Bearer {jwt(appid='app-one', tid='t')}"})
    second = Client(tight.base_url, headers={"Authorization": f"Bearer {jwt(appid='app-two', tid='t')}"})
    one = [item["status"] for item in first.batch(*creates(0, 7)).body["responses"]]
    two = [item["status"] for item in second.batch(*creates(10, 7)).body["responses"]]
    assert one == two == [201] * 6 + [429]
    scope = first.batch(*creates(20, 1)).body["responses"][0]["headers"]["x-ms-throttle-scope"]
    assert scope == "Tenant_Application/Write/app-one/t"


def test_low_priority_requests_are_throttled_before_the_budget_is_spent(tight: GraphServer) -> None:
    client = Client(tight.base_url)
    low = client.batch(*creates(0, 6), headers={"x-ms-throttle-priority": "low"})
    statuses = [item["status"] for item in low.body["responses"]]
    assert statuses.count(429) > 0 and statuses[0] == 201
    normal = client.batch(*creates(10, 1))
    assert normal.body["responses"][0]["status"] == 201
