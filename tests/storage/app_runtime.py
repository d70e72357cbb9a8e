"""Hand-written fakes and a :class:`Runtime` on Azurite, for the tests that drive the app's triggers."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobServiceClient
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider

from sync.app.runtime import DirectoryOpener, Runtime
from sync.directory.model import Directory, DirectorySnapshot, Operation, OperationResult
from sync.settings import Settings
from sync.storage.blob_store import BlobStore
from sync.storage.run_records import RunRecord
from sync.telemetry import Telemetry, run_event_dimensions

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_SET = ROOT / "examples" / "district"
EXAMPLE_PROFILE = ROOT / "examples" / "profile.toml"


class StartedSpans(SpanProcessor):
    """Keeps every span in the order the spans started (a finished-span exporter would list a nested span
    before the one around it)."""

    def __init__(self) -> None:
        self.spans: list[Span] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.spans.append(span)


class RecordingTelemetry(Telemetry):
    """The real stage spans, sent to an in-memory tracer provider instead of Application Insights; run events
    recorded."""

    def __init__(self) -> None:
        self.started = StartedSpans()
        provider = TracerProvider()
        provider.add_span_processor(self.started)
        super().__init__(tracer_provider=provider)
        self.events: list[Mapping[str, Any]] = []

    @property
    def stages(self) -> list[tuple[str, str]]:
        """``(stage, run id)`` of every stage span, in the order they started."""
        return [
            (str(span.attributes["sync.stage"]), str(span.attributes["sync.run_id"]))
            for span in self.started.spans
            if span.attributes is not None
        ]

    def run_completed(self, record: RunRecord) -> Mapping[str, Any]:
        dims = run_event_dimensions(record)
        self.events.append(dims)
        return dims


@dataclass
class StartCall:
    orchestrator: str
    instance_id: str
    input: Any


class FakeDurableClient:
    """Records what the triggers ask of the Durable client; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started: list[StartCall] = []
        self.raised: list[tuple[str, str, Any]] = []

    async def start_new(
        self, orchestration_function_name: str, instance_id: str | None = None, client_input: Any = None
    ) -> str:
        assert instance_id is not None
        with self._lock:
            self.started.append(StartCall(orchestration_function_name, instance_id, client_input))
        return instance_id

    async def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        with self._lock:
            self.raised.append((instance_id, event_name, event_data))

    async def get_status(self, instance_id: str) -> None:
        return None

    def starts_of(self, orchestrator: str) -> list[StartCall]:
        return [call for call in self.started if call.orchestrator == orchestrator]


@dataclass
class RecordingDirectory:
    """Wraps a directory (or none) and records every snapshot and apply call, and the Graph priority each
    opening of the directory asked for."""

    inner: Directory | None = None
    max_batch: int = 20
    snapshots: int = 0
    applied: list[Operation] = field(default_factory=list)
    #: ``low_priority`` of each time the runtime opened the directory.
    opened_low_priority: list[bool] = field(default_factory=list)

    def open(self, tenant: str, *, low_priority: bool) -> Any:
        """A :class:`~sync.app.runtime.DirectoryOpener`."""
        self.opened_low_priority.append(low_priority)
        return self

    def snapshot(self) -> DirectorySnapshot:
        self.snapshots += 1
        return self.inner.snapshot() if self.inner is not None else DirectorySnapshot()

    def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        self.applied.extend(operations)
        if self.inner is None:
            return [OperationResult(True) for _ in operations]
        return self.inner.apply(operations)


def azurite_settings(connection_string: str, token: str, **overrides: str) -> Settings:
    environ = {
        "UPLOAD_CONTAINER": f"uploads-{token}",
        "REPORTS_CONTAINER": f"reports-{token}",
        "RUNS_TABLE": f"runs{token}",
        "SYNC_PROFILE_BLOB": f"config-{token}/profile.toml",
        "SYNC_SCHEDULE": "0 0 2 * * *",
        "SET_WAIT_MINUTES": "0.01",
        "SYNC_TENANT": "graph:http://127.0.0.1:9/v1.0",
        "DURABLE_TASK_HUB": "SyncTest",
        "AzureWebJobsStorage": connection_string,
        **overrides,
    }
    return Settings.from_env(environ)


def azurite_runtime(
    connection_string: str,
    *,
    directory: Directory | None = None,
    real_directory: bool = False,
    **overrides: str,
) -> tuple[Runtime, RecordingTelemetry, RecordingDirectory]:
    """A runtime on fresh containers and table (a random token in their names), with the example profile.
    The directory is a recording wrapper around ``directory``, or with ``real_directory`` the one
    ``SYNC_TENANT`` names, opened as the app opens it."""
    token = uuid.uuid4().hex[:10]
    settings = azurite_settings(connection_string, token, **overrides)
    recording = RecordingDirectory(directory)
    opener: DirectoryOpener | None = None if real_directory else recording.open
    built = Runtime.from_settings(settings, environ={}, open_directory=opener)
    telemetry = RecordingTelemetry()
    # The instance's memory of a default Flex Consumption instance, whatever the machine running the tests.
    flex_default = 2048 * 1024**2
    runtime = Runtime(
        settings, built.blobs, built.runs, telemetry, {}, opener, memory_limit=lambda: flex_default
    )
    container, path = settings.profile_blob
    runtime.blobs.write_bytes(container, path, EXAMPLE_PROFILE.read_bytes(), content_type="text/plain")
    runtime.blobs.ensure_container(settings.upload_container)
    return runtime, telemetry, recording


def blob_store(connection_string: str) -> BlobStore:
    return BlobStore(BlobServiceClient.from_connection_string(connection_string))
