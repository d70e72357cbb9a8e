"""Telemetry: one custom event ``SyncRunCompleted`` per run and a span per stage, never personal data.

With ``APPLICATIONINSIGHTS_CONNECTION_STRING`` set, :func:`configure` wires ``azure-monitor-opentelemetry``
once per process: spans go to Application Insights as dependencies, and the event (a log record carrying
``microsoft.custom_event.name``) lands in ``customEvents`` with its dimensions in ``customDimensions``.
Without it, spans are OpenTelemetry no-ops and the event is one INFO log line.

Dimensions are counts, the run's state and duration, the profile name and run id: no names, emails, SIS ids.

HTTP request lines are personal data too: a Graph look-up after a conflict is
``GET /users?$filter=userPrincipalName eq '<a student's UPN>'``. So :func:`configure` keeps httpx's request
log lines below INFO (they reach Application Insights as traces through the Functions host) and does not
turn httpx calls into dependency telemetry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sync.engine.plan import CHANGE_KEYS
from sync.storage.run_records import RunRecord

EVENT_NAME = "SyncRunCompleted"
EVENT_LOGGER = "sync.telemetry"
_CUSTOM_EVENT_ATTRIBUTE = "microsoft.custom_event.name"
#: Loggers whose INFO lines carry request URLs (with Graph ``$filter`` values such as UPNs).
URL_LOGGERS = ("httpx", "httpcore")
_configured = False


def run_event_dimensions(record: RunRecord) -> dict[str, str | int | float]:
    """The event's ``customDimensions``: what the workbook charts; all counts present (zero when none)."""
    dims: dict[str, str | int | float] = {
        "run_id": record.run_id,
        "status": record.status,
        "profile": record.profile,
        "trigger": record.trigger,
        "duration_s": record.duration_s if record.duration_s is not None else 0.0,
    }
    for key in (*CHANGE_KEYS, "applied", "failed", "findings_errors", "findings_warnings"):
        dims[key] = int(record.counts.get(key, 0))
    return dims


#: Attributes of a stage span: the run and the stage, nothing about the roster.
SPAN_ATTRIBUTES = ("sync.run_id", "sync.stage")


class Telemetry:
    """Stage spans and the run event. Safe to use whether or not Application Insights is configured.

    Spans go to ``tracer_provider``, by default OpenTelemetry's global one (Azure Monitor's once
    :func:`configure` has wired it; a no-op otherwise)."""

    def __init__(self, logger: logging.Logger | None = None, *, tracer_provider: Any = None) -> None:
        self._logger = logger or logging.getLogger(EVENT_LOGGER)
        self._tracer_provider = tracer_provider

    @contextmanager
    def stage(self, name: str, *, run_id: str) -> Iterator[None]:
        """A span ``sync.<name>`` around the block (nested in the current one), carrying only
        :data:`SPAN_ATTRIBUTES`."""
        from opentelemetry import trace

        tracer = trace.get_tracer("sync", tracer_provider=self._tracer_provider)
        with tracer.start_as_current_span(
            f"sync.{name}", attributes={"sync.run_id": run_id, "sync.stage": name}
        ):
            yield

    def run_completed(self, record: RunRecord) -> Mapping[str, Any]:
        dims = run_event_dimensions(record)
        self._logger.info(
            "%s %s status=%s duration_s=%s",
            EVENT_NAME,
            record.run_id,
            record.status,
            dims["duration_s"],
            extra={_CUSTOM_EVENT_ATTRIBUTE: EVENT_NAME, **dims},
        )
        return dims


def configure(connection_string: str | None, *, client_id: str | None = None) -> Telemetry:
    """Send telemetry to Application Insights when a connection string is given (once per process).
    ``client_id`` selects the managed identity for Entra ID-authenticated ingestion."""
    global _configured
    for name in URL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    if connection_string and not _configured:
        from azure.monitor.opentelemetry import configure_azure_monitor

        options: dict[str, Any] = {
            "connection_string": connection_string,
            "logger_name": EVENT_LOGGER,
            "instrumentation_options": {"httpx": {"enabled": False}},  # URLs carry UPNs (module docstring)
        }
        if client_id:
            from azure.identity import ManagedIdentityCredential

            options["credential"] = ManagedIdentityCredential(client_id=client_id)
        configure_azure_monitor(**options)
        logging.getLogger(EVENT_LOGGER).setLevel(logging.INFO)
        _configured = True
    return Telemetry()
