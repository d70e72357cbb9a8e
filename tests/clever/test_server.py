"""The local Clever server: the API subset, paging, auth, rate limit, faults and events."""

from __future__ import annotations

import math

import httpx

from sync.cleverserver import DEFAULT_TOKEN, CleverServer, Fault
from tests.clever.conftest import EXAMPLE_DISTRICT

AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}


def get(server: CleverServer, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(server.base_url + path, headers=AUTH if headers is None else headers)


def test_lists_come_in_pages_linked_by_next_until_the_last_page(server: CleverServer) -> None:
    path: str | None = "/v3.0/users?role=student&limit=7"
    ids: list[str] = []
    pages = 0
    while path is not None:
        body = get(server, path).json()
        pages += 1
        ids += [item["data"]["id"] for item in body["data"]]
        path = next((link["uri"] for link in body["links"] if link["rel"] == "next"), None)

    assert len(ids) == 40  # the example district's students
    assert ids == sorted(set(ids))
    assert pages == math.ceil(40 / 7)


def test_records_have_the_openapi_shape_with_sis_ids_and_school_references(server: CleverServer) -> None:
    schools = {item["data"]["id"]: item["data"] for item in get(server, "/v3.0/schools").json()["data"]}
    teacher = get(server, "/v3.0/users?role=teacher&limit=1").json()["data"][0]["data"]

    assert sorted(s["sis_id"] for s in schools.values()) == ["100", "200", "300"]
    role = teacher["roles"]["teacher"]
    assert role["school"] in schools and set(role["schools"]) <= set(schools)
    assert set(teacher["name"]) == {"first", "middle", "last"}


def test_a_v3_0_answer_leaves_out_the_student_fields_only_v3_1_has(server: CleverServer) -> None:
    old = get(server, "/v3.0/users?role=student&limit=1").json()["data"][0]["data"]["roles"]["student"]
    new = get(server, "/v3.1/users?role=student&limit=1").json()["data"][0]["data"]["roles"]["student"]
    assert "frl_status" not in old
    assert new["frl_status"] in ("Free", "Reduced", "Paid", "Other")


def test_a_request_without_the_bearer_token_is_refused_with_401(server: CleverServer) -> None:
    assert get(server, "/v3.0/schools", headers={}).status_code == 401
    assert get(server, "/v3.0/schools", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert server.stats()["unauthorized"] == 2


def test_requests_over_the_rate_limit_get_429_with_the_reset_time() -> None:
    with CleverServer(EXAMPLE_DISTRICT, rate_limit_per_min=2) as server:
        answers = [get(server, "/v3.0/schools") for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[1].headers["X-RateLimit-Remaining"] == "0"
    assert float(answers[2].headers["X-RateLimit-Reset"]) > 0
    assert server.stats()["rate_limited"] == 1


def test_an_injected_fault_answers_the_matching_requests_then_stops() -> None:
    with CleverServer(EXAMPLE_DISTRICT, faults=[Fault("/v3.0/sections", 500, times=2)]) as server:
        statuses = [get(server, "/v3.0/sections").status_code for _ in range(3)]
        other = get(server, "/v3.0/schools").status_code
    assert statuses == [500, 500, 200]
    assert other == 200


def test_a_limit_above_ten_thousand_is_a_400(server: CleverServer) -> None:
    assert get(server, "/v3.0/schools?limit=10001").status_code == 400


def test_changes_made_through_the_helpers_appear_as_events_in_order(server: CleverServer) -> None:
    student = next(iter(u for u in server.district.users.values() if "student" in u["roles"]))
    changed = dict(student, email="new@students.contoso.edu")
    first = server.upsert("users", changed)
    second = server.delete("users", student["id"])

    events = get(server, "/v3.0/events").json()["data"]
    assert [(e["data"]["id"], e["data"]["type"]) for e in events] == [
        (first, "users.updated"),
        (second, "users.deleted"),
    ]
    assert events[0]["data"]["data"]["object"]["email"] == "new@students.contoso.edu"
    after = get(server, f"/v3.0/events?starting_after={first}").json()["data"]
    assert [e["data"]["id"] for e in after] == [second]
    last = get(server, "/v3.0/events?ending_before=last&limit=1").json()["data"]
    assert [e["data"]["id"] for e in last] == [second]


def test_an_event_id_no_longer_held_is_a_404_as_when_the_window_was_missed(server: CleverServer) -> None:
    event_id = server.emit_event("schools.updated", {"id": "x"})
    server.forget_events()
    assert get(server, f"/v3.0/events?starting_after={event_id}").status_code == 404
