"""The sync slot's activities and permanent failures, on Azurite with the app's own activity functions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

import function_app
from sync.app.http_api import status_request
from sync.app.orchestration import RunInput
from sync.app.run_files import read_plan
from sync.app.runtime import Runtime
from sync.engine.plan import Plan
from sync.storage.run_records import RunRecord
from tests.app.app_functions import user_functions
from tests.storage.app_runtime import azurite_runtime

STARTED = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def runtime(azurite: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    built, _, _ = azurite_runtime(azurite)
    monkeypatch.setattr(function_app, "runtime", lambda: built)
    yield built


def started(rt: Runtime, run_id: str) -> dict[str, Any]:
    """A run whose record exists (it has validated), as the claim activity's payload."""
    rt.runs.put_run(RunRecord(run_id, "Contoso USD", "upload", f"uploads/{run_id}", started_at=STARTED))
    return {"run": RunInput(run_id, "upload", None).to_json()}


def activity(name: str, payload: dict[str, Any]) -> Any:
    return user_functions()[name](payload)


def test_a_refused_claim_shows_the_run_as_queued_behind_the_holder_until_it_gets_the_slot(
    runtime: Runtime,
) -> None:
    first, second = started(runtime, "upload-first"), started(runtime, "upload-second")
    assert activity("claim_slot", first) == {"granted": True}

    refused = activity("claim_slot", second)

    assert (refused["granted"], refused["holder"]) == (False, "upload-first")
    record = runtime.runs.get_run("upload-second")
    assert (record.status, record.stage) == ("queued", "queued")
    assert record.message is not None and "queued behind run upload-first" in record.message
    answer = status_request(runtime, run_id="upload-second", orchestration_status="Running")
    assert answer.body["run"]["status"] == "queued"

    assert activity("release_slot", second) == {"released": False}  # not the holder: nothing changes
    assert activity("claim_slot", second)["granted"] is False
    assert activity("release_slot", first) == {"released": True}
    assert activity("claim_slot", second) == {"granted": True}
    record = runtime.runs.get_run("upload-second")
    assert (record.status, record.stage, record.message) == ("running", "plan", None)


def test_a_claim_takes_over_the_slot_of_a_run_that_finished_without_releasing_it(runtime: Runtime) -> None:
    first, second = started(runtime, "upload-first"), started(runtime, "upload-second")
    activity("claim_slot", first)
    record = runtime.runs.get_run("upload-first")
    runtime.runs.put_run(record.finish("failed", at=STARTED, message="the worker was recycled"))

    assert activity("claim_slot", second) == {"granted": True}
    holder = runtime.sync_slot().holder()
    assert holder is not None and holder.run_id == "upload-second"


def test_a_claim_takes_over_a_holder_that_has_no_run_record(runtime: Runtime) -> None:
    runtime.sync_slot().claim("never-recorded", now=datetime.now(UTC), is_finished=lambda run_id: False)

    assert activity("claim_slot", started(runtime, "upload-second")) == {"granted": True}


def test_a_broken_profile_is_reported_as_a_permanent_failure_instead_of_raising(runtime: Runtime) -> None:
    container, path = runtime.settings.profile_blob
    runtime.blobs.write_bytes(container, path, b"[profile\nname = ", content_type="text/plain")
    payload = {"run": RunInput("upload-x", "upload", None).to_json(), "started_at": STARTED.isoformat()}

    result = activity("validate_run", payload)

    assert result["permanent"] is True
    assert result["error"].startswith("validate_run: ") and "invalid TOML" in result["error"]


def test_a_plan_blob_deleted_under_a_run_is_a_permanent_failure_of_its_chunk(runtime: Runtime) -> None:
    reports = runtime.settings.reports_container
    payload = {"run_id": "upload-y", "plan": {"blob": f"{reports}/runs/y/plan.json", "plan_id": "p"}}

    result = activity("apply_chunk", {**payload, "start": 0, "end": 1})

    assert result["permanent"] is True and f"{reports}/runs/y/plan.json does not exist" in result["error"]


def test_a_plan_blob_changed_under_a_run_is_a_permanent_failure_and_applies_nothing(runtime: Runtime) -> None:
    """A plan's id is the hash of its JSON: a blob that no longer hashes to it (edited, truncated, another
    plan written over it) is refused before anything of it is applied, and retrying cannot mend it."""
    reports = runtime.settings.reports_container
    plan = Plan(profile_name="p", today=date(2026, 9, 1), operations=(), changes={}, findings=())
    damaged = plan.dumps()[:-1].encode()  # cut short
    runtime.blobs.write_bytes(reports, "runs/z/plan.json", damaged, content_type="text/plain")
    payload = {"run_id": "upload-z", "plan": {"blob": f"{reports}/runs/z/plan.json", "plan_id": plan.plan_id}}

    result = activity("apply_chunk", {**payload, "start": 0, "end": 1})

    assert result["permanent"] is True
    assert f"{reports}/runs/z/plan.json no longer holds the plan this run made" in result["error"]
    runtime.blobs.write_bytes(reports, "runs/z/plan.json", plan.dumps().encode(), content_type="text/plain")
    assert read_plan(runtime, payload["plan"]).plan_id == plan.plan_id  # the plan as made is read
