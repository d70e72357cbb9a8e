"""Which activity errors end a run at once and which are retried."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

import function_app
from sync.app.orchestration import first_line
from sync.app.permanent import (
    REASON_LIMIT,
    is_permanent,
    is_permanent_result,
    permanent_failure,
    run_activity,
)
from sync.clever.client import _ClientError
from sync.engine.planner import ProfileExpired
from sync.errors import DirectoryAccessRefused, DirectoryUnavailable, SettingsError, SourceError, UsageError
from sync.profile import ProfileError
from sync.storage.blob_store import BlobChanged, BlobMissing

PERMANENT = [
    UsageError("folder contoso/x lacks students.csv; upload it"),
    SettingsError([("SYNC_TENANT", "missing")]),
    ProfileError("profile.toml", [("toml", "invalid TOML")]),
    ProfileExpired("profile 'x' stopped syncing on 2026-06-30 (stop_date)"),
    BlobMissing("blob reports/runs/x/plan.json does not exist"),
    BlobChanged("blob uploads/x/students.csv changed while the run was reading it"),
    _ClientError(401, "the Clever API refused the district token"),
    _ClientError(404, "the Clever API answered 404 for /sections"),
    DirectoryAccessRefused("Microsoft Graph refused the credentials (HTTP 403, Authorization_RequestDenied)"),
]
TRANSIENT = [
    DirectoryUnavailable("Graph unreachable"),
    SourceError("cannot read blob reports/x: Server Busy"),
    _ClientError(429, "rate limited"),
    TimeoutError("storage timed out"),
    RuntimeError("worker recycled"),
]


@pytest.mark.parametrize("error", PERMANENT, ids=lambda e: type(e).__name__)
def test_errors_another_attempt_cannot_cure_are_permanent(error: Exception) -> None:
    assert is_permanent(error)


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__)
def test_unavailable_services_and_unknown_faults_are_retried(error: Exception) -> None:
    assert not is_permanent(error)


def failing(error: Exception) -> Any:
    def body(payload: Mapping[str, Any]) -> dict[str, Any]:
        raise error

    return body


def test_an_activity_returns_a_permanent_error_as_its_one_line_reason() -> None:
    result = run_activity("plan_run", failing(UsageError("first line\nsecond line")), {})

    assert result == {"error": "plan_run: first line second line", "permanent": True}
    assert is_permanent_result(result)


def test_a_permanent_reason_is_cut_to_the_limit() -> None:
    result = run_activity("plan_run", failing(UsageError("x" * 2000)), {})

    assert len(result["error"]) == REASON_LIMIT


def test_an_activity_raises_a_transient_error_for_the_host_to_retry() -> None:
    with pytest.raises(DirectoryUnavailable):
        run_activity("plan_run", failing(DirectoryUnavailable("Graph unreachable")), {})


def test_an_activity_that_succeeds_returns_its_result_unchanged() -> None:
    result = run_activity("claim_slot", lambda payload: {"granted": True, **payload}, {"x": 1})

    assert result == {"granted": True, "x": 1} and not is_permanent_result(result)


def test_the_orchestrator_keeps_a_permanent_reason_whole_on_its_way_to_the_run_record() -> None:
    reason = permanent_failure("plan_run", UsageError("x" * 1000))["error"]

    assert len(reason) == REASON_LIMIT
    assert first_line(function_app.PermanentFailure(reason)) == reason
