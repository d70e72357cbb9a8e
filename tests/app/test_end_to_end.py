"""End to end, in process: Azurite for storage, the local Graph server for the directory, the app's own
trigger, orchestrator and activity functions (activities run in order as the host would run them)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

import function_app
from sync import service
from sync.directory.local_tenant import LocalTenantDirectory, dump_state
from sync.engine.journal import MemoryJournal
from sync.engine.plan import CHANGE_KEYS
from sync.graphserver import GraphServer
from sync.profile import load_profile
from tests.app.app_functions import orchestrators, user_functions
from tests.app.durable_host import DurableHost
from tests.storage.app_runtime import EXAMPLE_PROFILE, EXAMPLE_SET, FakeDurableClient, azurite_runtime

#: The local Graph server and the app's pacing both run at 50 × the real quota, to keep the test short.
QUOTA_SCALE = "50"
TODAY = date(2026, 9, 1)


def run_activity(name: str, payload: Any, attempt: int) -> Any:
    return user_functions()[name](payload)


@pytest.fixture
def graph(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    path = tmp_path / "graph-tenant.db"
    server = GraphServer(path, quota_scale=float(QUOTA_SCALE))
    url = server.start()
    try:
        yield url, path
    finally:
        server.stop()


def expected_state(tmp_path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """The example district synced straight into an embedded tenant: the state and counts to match."""
    profile = load_profile(EXAMPLE_PROFILE)
    path = tmp_path / "direct.db"
    with LocalTenantDirectory(path) as local:
        validation = service.validate(service.open_roster_source(str(EXAMPLE_SET), profile), profile)
        assert validation.roster is not None
        findings = list(validation.findings)
        plan = service.make_plan(validation.roster, profile, local.snapshot(), TODAY, findings)
        passwords = service.passwords_for(plan, validation.roster, profile)
        outcome = service.apply(plan, local, MemoryJournal(), passwords=passwords)
        assert outcome.complete and outcome.failed == 0
    return comparable(dump_state(path)), {key: int(outcome.applied.get(key, 0)) for key in CHANGE_KEYS}


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    """Graph's ``POST /groups`` sends ``groupTypes: []`` for security groups; the embedded tenant omits it."""
    for group in state["groups"].values():
        if group.get("groupTypes") == []:
            del group["groupTypes"]
    return state


def upload(runtime: Any, client: FakeDurableClient, folder: str) -> None:
    container = runtime.settings.upload_container
    for path in sorted(EXAMPLE_SET.glob("*.csv")):
        data = path.read_bytes()
        runtime.blobs.write_bytes(container, f"{folder}/{path.name}", data, content_type="text/csv")
        blob = func.blob.InputStream(data=data, name=f"{container}/{folder}/{path.name}", length=len(data))
        asyncio.run(user_functions()["on_upload"].client_function(blob=blob, client=client))


def test_dropping_the_example_set_syncs_the_directory_and_records_a_completed_run(
    azurite: str, graph: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, tenant_path = graph
    runtime, telemetry, _ = azurite_runtime(
        azurite, real_directory=True, SYNC_TENANT=f"graph:{url}", GRAPH_QUOTA_SCALE=QUOTA_SCALE
    )
    monkeypatch.setattr(function_app, "runtime", lambda: runtime)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # the Graph adapter's delta cache
    client = FakeDurableClient()
    try:
        drive_the_app(runtime, telemetry, client, tenant_path, tmp_path)
    finally:
        directory = runtime.cache.get("directory")
        if directory is not None:
            directory.close()


def drive_the_app(
    runtime: Any, telemetry: Any, client: FakeDurableClient, tenant_path: Path, tmp_path: Path
) -> None:

    upload(runtime, client, "contoso/2026-09-01")
    [start] = client.starts_of("sync_run")
    host = DurableHost(orchestrators(), run_activity, clock=datetime(2026, 9, 1, 2, 0, tzinfo=UTC))
    result = host.run(start.orchestrator, start.instance_id, start.input)

    assert result.error is None and result.output["status"] == "completed"
    state, counts = expected_state(tmp_path)
    assert comparable(dump_state(tenant_path)) == state
    record = runtime.runs.get_run(start.instance_id)
    assert record.status == "completed" and record.finished_at is not None
    assert {key: record.counts[key] for key in CHANGE_KEYS} == counts
    assert counts["schools_created"] == 3 and counts["classes_created"] == 10
    assert record.counts["failed"] == 0 and record.counts["applied"] > 0
    assert set(record.timings) == {"validate", "plan", "apply", "report"}
    assert telemetry.events[-1]["status"] == "completed"
    assert telemetry.events[-1]["users_created"] == counts["users_created"]
    reports = runtime.settings.reports_container
    summary = json.loads(runtime.blobs.read_text(reports, f"runs/{start.instance_id}/summary.json"))
    assert summary["status"] == "completed" and summary["changes"] == counts

    # The nightly timer re-syncs the last accepted set: nothing has drifted, so nothing changes.
    timer = TimerRequest(past_due=False)
    asyncio.run(user_functions()["nightly"].client_function(timer=timer, client=client))
    [night] = client.starts_of("sync_run")[1:]
    assert night.input["set"] == start.input["set"] and night.input["trigger"] == "nightly"
    second = host.run(night.orchestrator, night.instance_id, night.input)
    assert second.output["status"] == "completed"
    assert set(second.output["counts"][key] for key in CHANGE_KEYS) == {0}
    assert comparable(dump_state(tenant_path)) == state

    # The status endpoint shows the record.
    request = func.HttpRequest(
        "GET", f"/api/runs/{start.instance_id}", body=b"", route_params={"run_id": start.instance_id}
    )
    response = asyncio.run(user_functions()["get_run"].client_function(req=request, client=client))
    assert response.status_code == 200
    assert json.loads(response.get_body())["run"]["status"] == "completed"
