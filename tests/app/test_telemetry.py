"""The run event: counts and state only, every count present."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

import sync.telemetry
from sync.engine.plan import CHANGE_KEYS
from sync.storage.run_records import RunRecord
from sync.telemetry import EVENT_NAME, Telemetry, configure, run_event_dimensions

START = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


def finished_record() -> RunRecord:
    record = RunRecord(
        "upload-abc",
        "Contoso USD",
        "upload",
        "uploads/contoso/2026-09-01",
        started_at=START,
        set_etags={"students.csv": "0x1"},
    )
    return record.finish(
        "completed_with_warnings",
        at=START + timedelta(seconds=95.5),
        counts={"users_created": 48, "findings_warnings": 3},
    )


def test_the_run_event_carries_the_state_duration_and_every_count() -> None:
    dims = run_event_dimensions(finished_record())

    assert dims["status"] == "completed_with_warnings"
    assert dims["duration_s"] == 95.5
    assert dims["users_created"] == 48 and dims["findings_warnings"] == 3
    assert all(dims[key] == 0 for key in CHANGE_KEYS if key != "users_created")
    assert set(dims) == {
        "run_id",
        "status",
        "profile",
        "trigger",
        "duration_s",
        *CHANGE_KEYS,
        "applied",
        "failed",
        "findings_errors",
        "findings_warnings",
    }


def test_the_run_event_is_a_log_record_named_as_an_application_insights_custom_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="sync.telemetry"):
        Telemetry().run_completed(finished_record())

    [record] = caplog.records
    assert getattr(record, "microsoft.custom_event.name") == EVENT_NAME
    assert record.__dict__["users_created"] == 48
    assert "uploads/contoso" not in record.getMessage()


def test_a_stage_span_runs_its_block_without_application_insights() -> None:
    ran = []
    with Telemetry().stage("validate", run_id="upload-abc"):
        ran.append(True)

    assert ran == [True]


def test_configuring_telemetry_keeps_request_urls_with_upns_out_of_info_logs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("httpx", "httpcore"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    configure(None)

    with caplog.at_level(logging.INFO):
        logging.getLogger("httpx").info(
            "HTTP Request: GET /v1.0/users?$filter=userPrincipalName eq 'ava.smith@students.contoso.edu'"
        )
    assert "ava.smith" not in caplog.text


def test_application_insights_is_not_given_httpx_calls_whose_urls_carry_upns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, object]] = []

    def configure_azure_monitor(**options: object) -> None:
        calls.append(options)

    import azure.monitor.opentelemetry

    monkeypatch.setattr(azure.monitor.opentelemetry, "configure_azure_monitor", configure_azure_monitor)
    monkeypatch.setattr(sync.telemetry, "_configured", False)
    monkeypatch.setattr(
        logging.getLogger("sync.telemetry"), "level", logging.getLogger("sync.telemetry").level
    )

    configure("InstrumentationKey=00000000-0000-0000-0000-000000000000")

    [options] = calls
    assert options["instrumentation_options"] == {"httpx": {"enabled": False}}
    assert options["logger_name"] == "sync.telemetry"
