"""Fault injection over HTTP: rates within tolerance, faulted writes change nothing, timeouts and
replication-delay 404s."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sync.graphserver import FaultPlan, GraphServer
from sync.graphserver.calls import Call, Reply
from sync.graphserver.pipeline import applied_writes
from tests.graphserver.client import Client
from tests.graphserver.seed import GRAPH, create_user, user_body


def test_fault_rates_over_many_requests_are_within_tolerance(tmp_path: Path) -> None:
    plan = FaultPlan(throttle=0.1, unavailable=0.1)
    with GraphServer(tmp_path / "t.db", faults=plan, seed=5) as server:
        client = Client(server.base_url)
        statuses = [client.get("/subscribedSkus").status for _ in range(600)]
        stats = server.stats()
    assert abs(statuses.count(429) / 600 - 0.1) < 0.04
    assert abs(statuses.count(503) / 600 - 0.1) < 0.04
    assert stats["faults"] == {"429": statuses.count(429), "503": statuses.count(503)}


def test_faulted_batch_items_change_nothing(tmp_path: Path) -> None:
    plan = FaultPlan(throttle=0.25, unavailable=0.25)
    with GraphServer(tmp_path / "t.db", faults=plan, seed=11) as server:
        client = Client(server.base_url)
        created: set[str] = set()
        faulted = 0
        for start in range(0, 100, 10):
            answer = client.batch(
                *[
                    {"method": "POST", "url": "/education/users", "body": user_body(n)}
                    for n in range(start, start + 10)
                ]
            )
            if answer.status != 200:
                faulted += 10  # the envelope itself was faulted: nothing ran
                continue
            for item, n in zip(answer.body["responses"], range(start, start + 10), strict=True):
                if item["status"] == 201:
                    created.add(f"user{n}@school.example.edu")
                else:
                    assert item["status"] in (429, 503)
                    faulted += 1
        clean = GraphServer(tmp_path / "t.db")
        with clean:
            stored, _ = Client(clean.base_url).pages("/users?$select=userPrincipalName")
    assert faulted > 0
    assert {user["userPrincipalName"] for user in stored} == created


def test_injected_faults_carry_retry_after_scaled_with_the_quota(tmp_path: Path) -> None:
    with GraphServer(tmp_path / "t.db", quota_scale=50, faults=FaultPlan(throttle=1.0)) as server:
        answer = Client(server.base_url).get("/users")
    assert answer.status == 429
    assert answer.headers["retry-after"] == "0.02"
    assert answer.headers["x-ms-throttle-information"] == "InjectedFault"


def test_a_timeout_fault_holds_the_answer_then_says_504(tmp_path: Path) -> None:
    with GraphServer(tmp_path / "t.db", faults=FaultPlan(timeout=1.0, timeout_s=0.3)) as server:
        started = time.monotonic()
        answer = Client(server.base_url).get("/users")
        held = time.monotonic() - started
    assert answer.status == 504
    assert answer.error_code == "GatewayTimeout"
    assert held >= 0.3


def test_an_applied_timeout_fault_carries_the_write_out_then_holds_the_answer_and_says_504(
    tmp_path: Path,
) -> None:
    plan = FaultPlan(applied_timeout=1.0, timeout_s=0.3)
    with GraphServer(tmp_path / "t.db", faults=plan) as server:
        started = time.monotonic()
        answer = Client(server.base_url).request("POST", "/education/users", user_body(1))
        held = time.monotonic() - started
        stats = server.stats()
    with GraphServer(tmp_path / "t.db") as clean:
        stored, _ = Client(clean.base_url).pages("/users?$select=userPrincipalName")
    assert answer.status == 504 and answer.error_code == "GatewayTimeout"
    assert held >= 0.3
    assert [user["userPrincipalName"] for user in stored] == ["user1@school.example.edu"]
    assert stats["faults"] == {"applied-timeout": 1} and stats["faulted_writes_applied"] == 1


def test_an_applied_timeout_fault_on_a_batch_runs_every_item_and_counts_the_writes_that_landed(
    tmp_path: Path,
) -> None:
    # The envelope draws first (the fault), then each item draws (all applied-timeout too, held 0 s each).
    plan = FaultPlan(applied_timeout=1.0, timeout_s=0.0)
    with GraphServer(tmp_path / "t.db", faults=plan) as server:
        answer = Client(server.base_url).batch(
            {"method": "POST", "url": "/education/users", "body": user_body(1)},
            {"method": "GET", "url": "/users"},
        )
        stats = server.stats()
    with GraphServer(tmp_path / "t.db") as clean:
        stored, _ = Client(clean.base_url).pages("/users?$select=userPrincipalName")
    assert answer.status == 504
    assert [user["userPrincipalName"] for user in stored] == ["user1@school.example.edu"]
    # The envelope's answer held only 504 items, so it hid no landed write; the POST item's did.
    assert stats["faults"] == {"applied-timeout": 3} and stats["faulted_writes_applied"] == 1


def test_a_reply_carried_out_in_a_batch_counts_only_its_successful_writes() -> None:
    batch = Call(
        "POST",
        "/$batch",
        body={
            "requests": [
                {"id": "1", "method": "POST", "url": "/users"},
                {"id": "2", "method": "PATCH", "url": "/users/x"},
                {"id": "3", "method": "GET", "url": "/users"},
            ]
        },
    )
    reply = Reply(
        200,
        {"responses": [{"id": "1", "status": 201}, {"id": "2", "status": 404}, {"id": "3", "status": 200}]},
    )
    assert applied_writes(batch, reply) == 1
    assert applied_writes(Call("DELETE", "/users/x"), Reply(204)) == 1
    assert applied_writes(Call("DELETE", "/users/x"), Reply(404)) == 0
    assert applied_writes(Call("GET", "/users"), Reply(200)) == 0


def test_the_server_is_idle_only_once_a_held_request_has_ended_though_its_client_gave_up(
    tmp_path: Path,
) -> None:
    with GraphServer(tmp_path / "t.db", faults=FaultPlan(timeout=1.0, timeout_s=0.6)) as server:
        client = threading.Thread(target=lambda: Client(server.base_url).get("/users"), daemon=True)
        client.start()
        time.sleep(0.2)
        assert not server.wait_idle(0.1)
        assert server.wait_idle(2.0)
        client.join(timeout=2.0)


def test_a_replication_fault_hides_a_just_created_object_only(tmp_path: Path) -> None:
    plan = FaultPlan(replication=1.0, replication_ms=60_000)
    with GraphServer(tmp_path / "t.db", faults=plan) as server:
        client = Client(server.base_url)
        teacher = create_user(client, 1)  # the create names no fresh object: no fault
        fresh = client.get(f"/users/{teacher}")
        bind = client.write(
            "POST",
            "/groups",
            {
                "displayName": "C",
                "mailNickname": "Section_1",
                "mailEnabled": True,
                "securityEnabled": False,
                "groupTypes": ["Unified"],
                "owners@odata.bind": [f"{GRAPH}/users/{teacher}"],
            },
        )
        stats = server.stats()
    assert fresh.status == 404 and fresh.error_code == "Request_ResourceNotFound"
    assert bind["status"] == 404
    assert stats["faults"] == {"replication": 2}
    assert stats["fresh_calls"] == 2  # the calls a replication fault could hit (the create named none)


def test_calls_naming_fresh_objects_are_counted_whether_or_not_a_replication_fault_hits_them(
    tmp_path: Path,
) -> None:
    plan = FaultPlan(replication=1e-9, replication_ms=60_000)  # planned, but (almost) never drawn
    with GraphServer(tmp_path / "t.db", faults=plan) as server:
        client = Client(server.base_url)
        teacher = create_user(client, 1)
        assert client.get(f"/users/{teacher}").status == 200
        stats = server.stats()
    assert stats["faults"] == {} and stats["fresh_calls"] == 1


def test_without_replication_faults_nothing_is_counted_as_fresh(tmp_path: Path) -> None:
    with GraphServer(tmp_path / "t.db") as server:
        client = Client(server.base_url)
        teacher = create_user(client, 1)
        assert client.get(f"/users/{teacher}").status == 200
        stats = server.stats()
    assert stats["fresh_calls"] == 0
