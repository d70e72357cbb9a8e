"""The HTTP endpoints, through the functions the app registers, on Azurite with a fake Durable client."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest

import function_app
from sync.app.runtime import Runtime
from sync.storage.run_records import RunRecord
from tests.app.app_functions import indexed_functions, user_functions
from tests.storage.app_runtime import EXAMPLE_SET, FakeDurableClient, azurite_runtime

START = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def runtime(azurite: str, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    runtime, _, _ = azurite_runtime(azurite)
    monkeypatch.setattr(function_app, "runtime", lambda: runtime)
    return runtime


def call(
    name: str, client: FakeDurableClient, method: str, url: str, body: bytes = b"", **route: str
) -> tuple[int, Any]:
    request = func.HttpRequest(
        method,
        url,
        body=body,
        route_params=route,
        params=dict(p.split("=") for p in url.partition("?")[2].split("&") if p),
    )
    function = user_functions()[name]
    if hasattr(function, "client_function"):
        response = asyncio.run(function.client_function(req=request, client=client))
    else:
        response = function(request)
    return response.status_code, json.loads(response.get_body())


def http_triggers() -> dict[str, dict[str, Any]]:
    """Function name → its HTTP trigger binding, as the worker sends it to the host at indexing."""
    triggers = {}
    for name, function in indexed_functions().items():
        for binding in map(json.loads, function.get_raw_bindings()):
            if binding["type"] == "httpTrigger":
                triggers[name] = binding
    return triggers


def test_every_http_endpoint_asks_for_a_function_key() -> None:
    triggers = http_triggers()

    assert set(triggers) == {"start_run", "list_runs", "get_run", "decide_run"}
    assert {name: binding["authLevel"] for name, binding in triggers.items()} == dict.fromkeys(
        triggers, "FUNCTION"
    )


def held(runtime: Runtime, run_id: str) -> None:
    runtime.runs.put_run(
        RunRecord(
            run_id, "Contoso USD", "upload", "uploads/x", status="held", stage="guard", started_at=START
        )
    )


def test_approving_a_held_run_raises_the_approval_event_and_records_the_decision(runtime: Runtime) -> None:
    held(runtime, "upload-held")
    client = FakeDurableClient()

    status, body = call(
        "decide_run",
        client,
        "POST",
        "/api/runs/upload-held/approve",
        run_id="upload-held",
        decision="approve",
    )

    assert status == 202 and body["decision"] == "approved"
    assert client.raised == [("upload-held", "approval", {"decision": "approved"})]
    record = runtime.runs.get_run("upload-held")
    assert (record.status, record.decision) == ("running", "approved")


def test_a_second_decision_or_a_decision_on_a_run_that_is_not_held_is_refused(runtime: Runtime) -> None:
    held(runtime, "upload-held")
    client = FakeDurableClient()
    call("decide_run", client, "POST", "/x", run_id="upload-held", decision="reject")

    status, body = call("decide_run", client, "POST", "/x", run_id="upload-held", decision="approve")

    assert status == 409 and "not waiting for approval" in body["error"]
    assert len(client.raised) == 1 and client.raised[0][2] == {"decision": "rejected"}
    status, _ = call("decide_run", client, "POST", "/x", run_id="nobody", decision="approve")
    assert status == 404


def test_starting_a_run_for_a_folder_starts_the_sync_orchestration_for_that_set(runtime: Runtime) -> None:
    container = runtime.settings.upload_container
    for path in EXAMPLE_SET.glob("*.csv"):
        runtime.blobs.write_bytes(container, f"term/{path.name}", path.read_bytes(), content_type="text/csv")
    client = FakeDurableClient()

    status, body = call("start_run", client, "POST", "/api/runs", json.dumps({"folder": "term"}).encode())

    assert status == 202
    [start] = client.started
    assert (start.orchestrator, start.instance_id) == ("sync_run", body["run_id"])
    assert start.input["trigger"] == "manual" and start.input["set"]["folder"] == "term"
    assert start.input["options"]["low_priority"] is False  # only nightly runs ask Graph for low priority


def test_starting_a_run_for_an_incomplete_folder_or_with_a_bad_body_is_a_clear_400(runtime: Runtime) -> None:
    client = FakeDurableClient()

    status, body = call("start_run", client, "POST", "/api/runs", b'{"folder": "empty"}')
    assert status == 400 and "schools.csv" in body["error"]
    status, body = call("start_run", client, "POST", "/api/runs", b"{not json")
    assert status == 400 and "not JSON" in body["error"]
    status, body = call("start_run", client, "POST", "/api/runs", b"")
    assert status == 409 and "no accepted file set" in body["error"]
    assert client.started == []


def test_listing_runs_returns_the_newest_first_and_checks_the_limit(runtime: Runtime) -> None:
    for hour, run_id in enumerate(("a", "b", "c")):
        runtime.runs.put_run(
            RunRecord(run_id, "Contoso USD", "nightly", "uploads/x", started_at=START.replace(hour=hour))
        )
    client = FakeDurableClient()

    status, body = call("list_runs", client, "GET", "/api/runs?last=2")
    assert status == 200 and [run["run_id"] for run in body["runs"]] == ["c", "b"]
    status, body = call("list_runs", client, "GET", "/api/runs?last=zero")
    assert status == 400


@pytest.mark.parametrize("run_id", ["a/b", "it's", "a\x01b", "x" * 300, "-upload"])
def test_a_path_that_cannot_be_a_run_id_is_a_clear_400_without_asking_the_run_store(
    runtime: Runtime, run_id: str
) -> None:
    """Azure Tables cannot hold some characters in a key (Azurite answers 500 to a ``/``): such an id is
    refused before the store is asked, and the message does not echo a huge path whole."""
    client = FakeDurableClient()
    for name, method, route in (
        ("get_run", "GET", {}),
        ("decide_run", "POST", {"decision": "approve"}),
    ):
        status, body = call(name, client, method, "/x", run_id=run_id, **route)
        assert status == 400 and "is not a run id" in body["error"], name
        assert len(body["error"]) < 200
    assert client.raised == []


@pytest.mark.parametrize("folder", ["a\x01b", "tab\there", "x" * 1025])
def test_a_folder_with_control_characters_or_longer_than_a_blob_name_is_a_clear_400(
    runtime: Runtime, folder: str
) -> None:
    client = FakeDurableClient()
    status, body = call("start_run", client, "POST", "/api/runs", json.dumps({"folder": folder}).encode())
    assert status == 400 and '"folder" must be a folder path' in body["error"]
    assert client.started == []
