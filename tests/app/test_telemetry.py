"""Telemetry: the run event (counts and state only, every count present), the stage spans (run id and stage
only), and Azure Monitor configured only when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import sync.telemetry
from sync.app.runtime import Runtime
from sync.engine.plan import CHANGE_KEYS
from sync.settings import Settings
from sync.storage.run_records import RunRecord
from sync.telemetry import EVENT_NAME, SPAN_ATTRIBUTES, Telemetry, configure, run_event_dimensions
from tests.storage.app_runtime import ROOT

START = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
CONNECTION_STRING = "InstrumentationKey=00000000-0000-0000-0000-000000000000"


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


def test_a_stage_span_is_named_after_its_stage_nests_in_the_current_one_and_carries_only_run_and_stage() -> (
    None
):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = Telemetry(tracer_provider=provider)

    with telemetry.stage("plan", run_id="upload-abc"), telemetry.stage("snapshot", run_id="upload-abc"):
        pass

    snapshot, plan = exporter.get_finished_spans()
    assert (snapshot.name, plan.name) == ("sync.snapshot", "sync.plan")
    assert snapshot.parent is not None and snapshot.parent.span_id == plan.context.span_id
    assert dict(plan.attributes or {}) == {"sync.run_id": "upload-abc", "sync.stage": "plan"}
    assert set(snapshot.attributes or {}) == set(SPAN_ATTRIBUTES)


def test_a_stage_that_fails_ends_its_span_marked_as_an_error_and_the_error_goes_on() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    with (
        pytest.raises(ValueError, match="bad chunk"),
        Telemetry(tracer_provider=provider).stage("apply", run_id="upload-abc"),
    ):
        raise ValueError("bad chunk")

    [span] = exporter.get_finished_spans()
    assert span.name == "sync.apply" and span.status.status_code is StatusCode.ERROR


@pytest.fixture
def azure_monitor_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """Every ``configure_azure_monitor`` call from now on (none reaches Azure Monitor)."""
    calls: list[dict[str, object]] = []

    def configure_azure_monitor(**options: object) -> None:
        calls.append(options)

    import azure.monitor.opentelemetry

    monkeypatch.setattr(azure.monitor.opentelemetry, "configure_azure_monitor", configure_azure_monitor)
    monkeypatch.setattr(sync.telemetry, "_configured", False)
    monkeypatch.setattr(
        logging.getLogger("sync.telemetry"), "level", logging.getLogger("sync.telemetry").level
    )
    return calls


def example_settings(azurite: str, **values: str) -> Settings:
    """``local.settings.example.json``'s values (the storage connection pointed at the test's Azurite)."""
    example = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))["Values"]
    return Settings.from_env({**example, "AzureWebJobsStorage": azurite, **values})


def test_the_app_configures_no_azure_monitor_without_a_connection_string(
    azure_monitor_calls: list[dict[str, object]], azurite: str
) -> None:
    settings = example_settings(azurite)  # "APPLICATIONINSIGHTS_CONNECTION_STRING": ""
    assert settings.app_insights_connection_string is None

    Runtime.from_settings(settings, environ={})
    configure(None)

    assert azure_monitor_calls == []


def test_the_app_configures_azure_monitor_once_when_a_connection_string_is_set(
    azure_monitor_calls: list[dict[str, object]], azurite: str
) -> None:
    settings = example_settings(azurite, APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION_STRING)

    Runtime.from_settings(settings, environ={})
    Runtime.from_settings(settings, environ={})

    [options] = azure_monitor_calls
    assert options["connection_string"] == CONNECTION_STRING


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
    azure_monitor_calls: list[dict[str, object]],
) -> None:
    configure(CONNECTION_STRING)

    [options] = azure_monitor_calls
    assert options["instrumentation_options"] == {"httpx": {"enabled": False}}
    assert options["logger_name"] == "sync.telemetry"
