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
from sync.app import http_api, nightly_run
from sync.directory.local_tenant import dump_state
from sync.directory.tenant_store import TenantStore
from sync.engine.plan import CHANGE_KEYS
from sync.telemetry import SPAN_ATTRIBUTES
from tests.app.app_functions import orchestrators, user_functions
from tests.app.conftest import GRAPH_QUOTA_SCALE
from tests.app.direct_sync import comparable, direct_sync_states
from tests.app.durable_host import DurableHost
from tests.app.upload_client import fire_upload
from tests.storage.app_runtime import EXAMPLE_PROFILE, EXAMPLE_SET, FakeDurableClient, azurite_runtime

NEXT_TERM = EXAMPLE_SET.parent / "district-next-term"

#: The local Graph server and the app's pacing both run at 50 × the real quota, to keep the test short.
FALL = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
SPRING = datetime(2027, 1, 10, 2, 0, tzinfo=UTC)


def run_activity(name: str, payload: Any, attempt: int) -> Any:
    return user_functions()[name](payload)


@pytest.fixture
def app(
    azurite: str, graph: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """The app's runtime on Azurite and the local Graph server, as ``function_app.runtime()`` returns it."""
    url, _ = graph
    runtime, telemetry, _ = azurite_runtime(
        azurite, real_directory=True, SYNC_TENANT=f"graph:{url}", GRAPH_QUOTA_SCALE=GRAPH_QUOTA_SCALE
    )
    monkeypatch.setattr(function_app, "runtime", lambda: runtime)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # the Graph adapter's delta cache
    yield runtime, telemetry
    directory = runtime.cache.get("directory")
    if directory is not None:
        directory.close()


def expected_states(
    tmp_path: Path, runs: list[tuple[Path, date]]
) -> list[tuple[dict[str, Any], dict[str, int]]]:
    """Each set synced straight into an embedded tenant (held plans applied): states and counts to match."""
    return direct_sync_states(EXAMPLE_PROFILE, tmp_path, runs)


def upload(runtime: Any, client: FakeDurableClient, source: Path, folder: str) -> None:
    """Drop the set's files into the upload container, firing the blob trigger for each."""
    container = runtime.settings.upload_container
    for path in sorted(source.glob("*.csv")):
        data = path.read_bytes()
        runtime.blobs.write_bytes(container, f"{folder}/{path.name}", data, content_type="text/csv")
        fire_upload(runtime, client, f"{folder}/{path.name}")


def http(name: str, client: FakeDurableClient, method: str, url: str, **route: str) -> tuple[int, Any]:
    request = func.HttpRequest(method, url, body=b"", route_params=route)
    response = asyncio.run(user_functions()[name].client_function(req=request, client=client))
    return response.status_code, json.loads(response.get_body())


def test_dropping_the_example_set_syncs_the_directory_and_records_a_completed_run(
    app: Any, graph: tuple[str, Path], tmp_path: Path
) -> None:
    runtime, telemetry = app
    _, tenant_path = graph
    client = FakeDurableClient()

    upload(runtime, client, EXAMPLE_SET, "contoso/2026-09-01")
    [start] = client.starts_of("sync_run")
    host = DurableHost(orchestrators(), run_activity, clock=FALL)
    result = host.run(start.orchestrator, start.instance_id, start.input)

    assert result.error is None and result.output["status"] == "completed"
    [(state, counts)] = expected_states(tmp_path, [(EXAMPLE_SET, FALL.date())])
    assert comparable(dump_state(tenant_path)) == state
    record = runtime.runs.get_run(start.instance_id)
    assert record.status == "completed" and record.finished_at is not None
    assert {key: record.counts[key] for key in CHANGE_KEYS} == counts
    assert counts["schools_created"] == 3 and counts["classes_created"] == 10
    assert record.counts["failed"] == 0 and record.counts["applied"] > 0
    assert set(record.timings) == {"validate", "plan", "apply", "report"}
    assert telemetry.events[-1]["status"] == "completed"
    assert telemetry.events[-1]["users_created"] == counts["users_created"]
    # One span per stage, in order (the snapshot inside the plan, one per apply activity), run id and stage
    # their only attributes.
    chunks = [payload for name, payload, _ in host.calls if name == "apply_chunk"]
    assert len(chunks) >= 2
    assert telemetry.stages == [
        *[("validate", start.instance_id), ("plan", start.instance_id), ("snapshot", start.instance_id)],
        *[("apply", start.instance_id)] * len(chunks),
        ("report", start.instance_id),
    ]
    assert [span.name for span in telemetry.started.spans[:3]] == [
        "sync.validate",
        "sync.plan",
        "sync.snapshot",
    ]
    assert all(set(span.attributes or {}) == set(SPAN_ATTRIBUTES) for span in telemetry.started.spans)
    reports = runtime.settings.reports_container
    summary = json.loads(runtime.blobs.read_text(reports, f"runs/{start.instance_id}/summary.json"))
    assert summary["status"] == "completed" and summary["changes"] == counts

    # The nightly timer re-syncs the last accepted set: nothing has drifted, so nothing changes.
    asyncio.run(
        user_functions()["nightly"].client_function(timer=TimerRequest(past_due=False), client=client)
    )
    [night] = client.starts_of("sync_run")[1:]
    assert night.input["set"] == start.input["set"] and night.input["trigger"] == "nightly"
    second = host.run(night.orchestrator, night.instance_id, night.input)
    assert second.output["status"] == "completed"
    assert {second.output["counts"][key] for key in CHANGE_KEYS} == {0}
    assert comparable(dump_state(tenant_path)) == state

    # The status endpoint shows the record.
    status, body = http("get_run", client, "GET", "/api/runs/x", run_id=start.instance_id)
    assert status == 200 and body["run"]["status"] == "completed"


def fall_synced_then_spring_uploaded(runtime: Any, client: FakeDurableClient) -> tuple[Any, Any]:
    """The fall set uploaded and its run carried out; the spring set uploaded: both runs' starts."""
    upload(runtime, client, EXAMPLE_SET, "contoso/fall")
    [fall] = client.starts_of("sync_run")
    DurableHost(orchestrators(), run_activity, clock=FALL).run(
        fall.orchestrator, fall.instance_id, fall.input
    )
    upload(runtime, client, NEXT_TERM, "contoso/spring")
    [spring] = client.starts_of("sync_run")[1:]
    return fall, spring


def test_a_rollover_the_guard_holds_is_applied_once_an_operator_approves_it_over_http(
    app: Any, graph: tuple[str, Path], tmp_path: Path
) -> None:
    runtime, _ = app
    _, tenant_path = graph
    client = FakeDurableClient()
    _, spring = fall_synced_then_spring_uploaded(runtime, client)
    seen_while_waiting: list[str] = []

    def operator(instance_id: str, event: str) -> Any:
        """While the run waits: it is recorded as held; approve it through the HTTP endpoint."""
        seen_while_waiting.append(runtime.runs.get_run(instance_id).status)
        status, _ = http("decide_run", client, "POST", "/x", run_id=instance_id, decision="approve")
        assert status == 202
        run_id, name, payload = client.raised[-1]
        assert (run_id, name) == (instance_id, event)
        return payload

    host = DurableHost(orchestrators(), run_activity, clock=SPRING, on_wait=operator)
    result = host.run(spring.orchestrator, spring.instance_id, spring.input)

    assert seen_while_waiting == ["held"]
    assert result.output["status"] == "completed"
    (_, _), (state, counts) = expected_states(
        tmp_path, [(EXAMPLE_SET, FALL.date()), (NEXT_TERM, SPRING.date())]
    )
    assert comparable(dump_state(tenant_path)) == state
    record = runtime.runs.get_run(spring.instance_id)
    assert (record.status, record.decision) == ("completed", "approved")
    assert {key: record.counts[key] for key in CHANGE_KEYS} == counts
    assert counts["classes_expired"] > 0 and "wait" in record.timings


def test_the_same_drift_twice_in_one_day_is_repaired_both_times(
    app: Any, graph: tuple[str, Path], tmp_path: Path
) -> None:
    """A member removed by hand, repaired by the nightly run, removed again and repaired by a manual run the
    same day: both runs make the same plan (same plan id), and the second must apply it again rather than
    find it done in the first run's journal."""
    runtime, _ = app
    _, tenant_path = graph
    client = FakeDurableClient()
    upload(runtime, client, EXAMPLE_SET, "contoso/2026-09-01")
    [start] = client.starts_of("sync_run")
    DurableHost(orchestrators(), run_activity, clock=FALL).run(
        start.orchestrator, start.instance_id, start.input
    )
    synced = comparable(dump_state(tenant_path))
    reports = runtime.settings.reports_container
    night, morning = datetime(2026, 9, 2, 2, 0, tzinfo=UTC), datetime(2026, 9, 2, 9, 30, tzinfo=UTC)
    options = function_app.run_options()
    starts = [
        lambda: nightly_run.start_for_night(runtime, now=night, options=options),
        lambda: http_api.start_request(runtime, body=b"{}", now=morning, options=options).start,
    ]
    with TenantStore(tenant_path) as store:
        [klass] = [group for group in store.list_classes() if group.get("externalId")][:1]
        student = next(
            user_id
            for user_id in store.list_links(klass["id"], "member")
            if store.get_user(user_id).get("primaryRole") == "student"
        )
        plan_ids = []
        for start_run, clock in zip(starts, (night, morning), strict=True):
            store.remove_links(klass["id"], "member", [student])
            run = start_run()
            assert run is not None
            result = DurableHost(orchestrators(), run_activity, clock=clock).run(
                run.orchestrator, run.instance_id, run.input
            )
            assert result.output["status"] == "completed"
            assert result.output["counts"]["members_added"] == 1
            assert comparable(dump_state(tenant_path)) == synced
            summary = json.loads(runtime.blobs.read_text(reports, f"runs/{run.instance_id}/summary.json"))
            plan_ids.append(summary["plan_id"])
    assert plan_ids[0] == plan_ids[1]


def test_two_sets_uploaded_at_once_run_one_after_the_other_the_second_planning_on_the_first_ones_result(
    app: Any, graph: tuple[str, Path], tmp_path: Path
) -> None:
    """Both uploads start a run; the first takes the tenant's sync slot, the second is queued behind it and
    plans only once the first has applied, so it finds nothing left to change instead of creating everyone
    a second time from a stale snapshot."""
    runtime, _ = app
    _, tenant_path = graph
    client = FakeDurableClient()
    upload(runtime, client, EXAMPLE_SET, "contoso/first")
    upload(runtime, client, EXAMPLE_SET, "contoso/second")
    first, second = client.starts_of("sync_run")
    first_host = DurableHost(orchestrators(), run_activity, clock=FALL)
    # The first run has validated and holds the slot when the second one arrives.
    run_activity("validate_run", {"run": first.input, "started_at": FALL.isoformat()}, 1)
    assert run_activity("claim_slot", {"run": first.input}, 1) == {"granted": True}
    seen: list[tuple[str, str]] = []

    def second_run_activity(name: str, payload: Any, attempt: int) -> Any:
        if name == "claim_slot" and seen:  # the second run's first poll: meanwhile the first run finishes
            record = runtime.runs.get_run(second.instance_id)
            seen.append((record.status, record.message or ""))
            result = first_host.run(first.orchestrator, first.instance_id, first.input)
            assert result.output["status"] == "completed"
        answer = run_activity(name, payload, attempt)
        if name == "claim_slot" and not seen:
            seen.append(("claim", json.dumps(answer)))
        return answer

    second_host = DurableHost(orchestrators(), second_run_activity, clock=FALL)
    result = second_host.run(second.orchestrator, second.instance_id, second.input)

    refusal = json.loads(seen[0][1])
    assert (refusal["granted"], refusal["holder"]) == (False, first.instance_id)
    assert seen[1][0] == "queued" and f"queued behind run {first.instance_id}" in seen[1][1]
    assert result.output["status"] == "completed"
    assert {result.output["counts"][key] for key in CHANGE_KEYS} == {0}
    [(state, _)] = expected_states(tmp_path, [(EXAMPLE_SET, FALL.date())])
    assert comparable(dump_state(tenant_path)) == state
    record = runtime.runs.get_run(second.instance_id)
    assert record.status == "completed" and record.message is None and record.timings["queue"] > 0
    assert runtime.sync_slot().holder() is None


def test_a_nightly_run_queued_behind_a_newer_set_does_not_put_the_older_set_back(
    app: Any, graph: tuple[str, Path], tmp_path: Path
) -> None:
    """The nightly run picks the last accepted set (fall) while the spring set's run holds the slot; once
    spring is applied, re-syncing fall would undo it, so the nightly run ends without planning."""
    runtime, _ = app
    _, tenant_path = graph
    client = FakeDurableClient()
    fall, spring = fall_synced_then_spring_uploaded(runtime, client)
    run_activity("validate_run", {"run": spring.input, "started_at": SPRING.isoformat()}, 1)
    assert run_activity("claim_slot", {"run": spring.input}, 1) == {"granted": True}
    asyncio.run(
        user_functions()["nightly"].client_function(timer=TimerRequest(past_due=False), client=client)
    )
    [night] = client.starts_of("sync_run")[2:]
    assert night.input["set"] == fall.input["set"] and night.input["resync"] is True

    def approve(instance_id: str, event: str) -> Any:  # an operator approves through the HTTP endpoint
        return http_api.decision_request(runtime, run_id=instance_id, action="approve").event

    claims: list[dict[str, Any]] = []

    def night_activity(name: str, payload: Any, attempt: int) -> Any:
        if name == "claim_slot" and claims:  # while the nightly run waits, the spring run is approved
            spring_host = DurableHost(orchestrators(), run_activity, clock=SPRING, on_wait=approve)
            done = spring_host.run(spring.orchestrator, spring.instance_id, spring.input)
            assert done.output["status"] == "completed"
        answer = run_activity(name, payload, attempt)
        if name == "claim_slot":
            claims.append(answer)
        return answer

    result = DurableHost(orchestrators(), night_activity, clock=SPRING).run(
        night.orchestrator, night.instance_id, night.input
    )

    assert claims[0]["granted"] is False
    upload_container = runtime.settings.upload_container
    assert claims[1] == {
        "granted": True,
        "superseded_by": spring.instance_id,
        "source": f"{upload_container}/contoso/spring",
    }
    assert result.output["status"] == "completed"
    (_, _), (state, _) = expected_states(tmp_path, [(EXAMPLE_SET, FALL.date()), (NEXT_TERM, SPRING.date())])
    assert comparable(dump_state(tenant_path)) == state
    record = runtime.runs.get_run(night.instance_id)
    assert record.message is not None and f"run {spring.instance_id} completed a newer set" in record.message
    last = nightly_run.last_accepted_set(runtime)
    assert last is not None and last.location == f"{upload_container}/contoso/spring"
