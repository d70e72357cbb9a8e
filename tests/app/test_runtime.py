"""The runtime opens the tenant's directory with the Graph priority of the run that asks for it: runs started
by the nightly timer send ``x-ms-throttle-priority: low``, the others no priority header."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from sync.app.runtime import Runtime, settings_directory_opener
from sync.devserver import LocalHTTPServer
from sync.errors import DirectoryAccessRefused
from sync.settings import Settings
from sync.telemetry import Telemetry

ENVIRON = {
    "UPLOAD_CONTAINER": "uploads",
    "REPORTS_CONTAINER": "reports",
    "RUNS_TABLE": "runs",
    "SYNC_PROFILE_BLOB": "config/profile.toml",
    "SYNC_SCHEDULE": "0 0 2 * * *",
    "SYNC_TENANT": "graph",
    "DURABLE_TASK_HUB": "SyncTest",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
}


@pytest.fixture
def refusing_graph() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A Graph endpoint that records each request's headers and refuses it (401), so that a snapshot fails
    at once, after its first requests have shown their headers."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append({name.lower(): value for name, value in self.headers.items()})
            body = json.dumps({"error": {"code": "InvalidAuthenticationToken", "message": "no"}}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    # A client that closes its connection after the 401 is not an error to print (LocalHTTPServer).
    server = LocalHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1.0", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("low_priority", [True, False])
def test_the_graph_directory_the_app_opens_sends_the_runs_priority_with_every_request(
    refusing_graph: tuple[str, list[dict[str, str]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    low_priority: bool,
) -> None:
    url, seen = refusing_graph
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # the Graph adapter's delta cache
    settings = Settings.from_env({**ENVIRON, "SYNC_TENANT": f"graph:{url}"})

    directory = settings_directory_opener(settings)(settings.tenant, low_priority=low_priority)
    try:
        with pytest.raises(DirectoryAccessRefused):
            directory.snapshot()
    finally:
        directory.close()

    assert seen
    assert [headers.get("x-ms-throttle-priority") for headers in seen] == [
        "low" if low_priority else None
    ] * len(seen)


@dataclass
class Opened:
    low_priority: bool
    closed: bool = False

    def close(self) -> None:
        self.closed = True


def test_the_runtime_keeps_the_directory_open_and_reopens_it_only_for_the_other_priority() -> None:
    opened: list[Opened] = []

    def opener(tenant: str, *, low_priority: bool) -> Opened:
        opened.append(Opened(low_priority))
        return opened[-1]

    # Only the directory is used: no storage clients.
    runtime = Runtime(Settings.from_env(ENVIRON), None, None, Telemetry(), open_directory=opener)

    night = runtime.directory(low_priority=True)
    assert runtime.directory(low_priority=True) is night
    day = runtime.directory(low_priority=False)

    assert [directory.low_priority for directory in opened] == [True, False]
    assert night is opened[0] and night.closed
    assert day is opened[1] and not day.closed
    assert runtime.directory() is day
