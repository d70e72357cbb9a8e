"""The apply activity and the mass-change guard, on Azurite with the app's own activity function: a held plan
is applied only once the run's record holds an operator's approval."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

import function_app
from sync.app.http_api import decision_request
from sync.app.run_files import blob_ref, run_folder
from sync.app.runtime import Runtime
from sync.directory.model import Operation, OpKind
from sync.engine.plan import CHANGE_KEYS, GuardVerdict, Plan
from sync.storage.run_records import RunRecord
from tests.app.app_functions import user_functions
from tests.storage.app_runtime import RecordingDirectory, azurite_runtime

STARTED = datetime(2027, 1, 20, 2, 0, tzinfo=UTC)
HELD = Plan(
    profile_name="Contoso USD",
    today=STARTED.date(),
    operations=(
        Operation(OpKind.CREATE_SCHOOL, "School_1", {"displayName": "One"}),
        Operation(OpKind.CREATE_SCHOOL, "School_2", {"displayName": "Two"}),
    ),
    changes={**dict.fromkeys(CHANGE_KEYS, 0), "schools_created": 2},
    guard=GuardVerdict(True, ("would expire or delete 6 of 10 managed classes (60.0 %, limit 10.0 %)",)),
)


@pytest.fixture
def app(azurite: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Runtime, RecordingDirectory]]:
    built, _, recording = azurite_runtime(azurite)
    monkeypatch.setattr(function_app, "runtime", lambda: built)
    yield built, recording


def held_run(rt: Runtime, run_id: str) -> dict[str, Any]:
    """A run held by the guard (its plan stored, its record ``held``), as an apply chunk's payload."""
    reports = rt.settings.reports_container
    path = f"{run_folder(run_id)}/plan.json"
    rt.blobs.write_text(reports, path, HELD.dumps(), content_type="application/json")
    record = RunRecord(run_id, "Contoso USD", "upload", "uploads/x", started_at=STARTED)
    rt.runs.put_run(replace(record, status="held", stage="guard"))
    plan = {"blob": blob_ref(reports, path), "plan_id": HELD.plan_id}
    return {"run_id": run_id, "plan": plan, "start": 0, "end": len(HELD.operations)}


def test_a_held_plan_whose_record_holds_no_approval_applies_nothing_and_fails_for_good(
    app: tuple[Runtime, RecordingDirectory],
) -> None:
    """An approval event raised around the approve endpoint (which records the decision) is not enough."""
    runtime, directory = app
    result = user_functions()["apply_chunk"](held_run(runtime, "upload-held"))
    assert result["permanent"] is True
    assert "mass-change guard held this plan" in result["error"] and "approve" in result["error"]
    assert directory.applied == []


def test_a_held_plan_is_applied_once_an_operator_approved_it_through_the_endpoint(
    app: tuple[Runtime, RecordingDirectory],
) -> None:
    runtime, directory = app
    payload = held_run(runtime, "upload-held")
    assert decision_request(runtime, run_id="upload-held", action="approve").status == 202
    result = user_functions()["apply_chunk"](payload)
    assert result == {"applied": 2, "failed": 0, "writes": 2}
    assert [op.target for op in directory.applied] == ["School_1", "School_2"]


def test_a_rejected_held_plan_applies_nothing(app: tuple[Runtime, RecordingDirectory]) -> None:
    runtime, directory = app
    payload = held_run(runtime, "upload-held")
    assert decision_request(runtime, run_id="upload-held", action="reject").status == 202
    assert user_functions()["apply_chunk"](payload)["permanent"] is True
    assert directory.applied == []
