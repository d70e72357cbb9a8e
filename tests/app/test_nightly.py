"""The nightly timer, through the function the app registers, on Azurite with a fake Durable client."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

import function_app
from sync.app import http_api
from sync.app.orchestration import RunInput, RunOptions
from sync.app.runtime import Runtime
from sync.app.uploads import set_ref_of
from sync.directory.local_tenant import LocalTenantDirectory
from sync.storage.run_records import RunRecord
from tests.app.app_functions import orchestrators, user_functions
from tests.app.durable_host import DurableHost
from tests.storage.app_runtime import (
    EXAMPLE_PROFILE,
    EXAMPLE_SET,
    FakeDurableClient,
    RecordingDirectory,
    azurite_runtime,
)

START = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def runtime(azurite: str, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    runtime, _, _ = azurite_runtime(azurite)
    monkeypatch.setattr(function_app, "runtime", lambda: runtime)
    return runtime


@pytest.fixture
def recorded(
    azurite: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Runtime, RecordingDirectory]]:
    """The app's runtime on Azurite and an embedded tenant, recording how the directory is opened."""
    with LocalTenantDirectory(tmp_path / "tenant.db") as tenant:
        runtime, _, recording = azurite_runtime(azurite, directory=tenant)
        monkeypatch.setattr(function_app, "runtime", lambda: runtime)
        yield runtime, recording


def run_activity(name: str, payload: Any, attempt: int) -> Any:
    return user_functions()[name](payload)


def fire_timer(client: FakeDurableClient) -> None:
    asyncio.run(
        user_functions()["nightly"].client_function(timer=TimerRequest(past_due=False), client=client)
    )


def upload_set(runtime: Runtime, folder: str) -> None:
    for path in EXAMPLE_SET.glob("*.csv"):
        runtime.blobs.write_bytes(
            runtime.settings.upload_container,
            f"{folder}/{path.name}",
            path.read_bytes(),
            content_type="text/csv",
        )


def accepted_run(runtime: Runtime, run_id: str, folder: str, status: str, hour: int) -> None:
    record = RunRecord(
        run_id,
        "Contoso USD",
        "upload",
        f"{runtime.settings.upload_container}/{folder}",
        started_at=START.replace(hour=hour),
        set_etags={"schools.csv": '"0x1"'},
    )
    runtime.runs.put_run(record.finish(status, at=START.replace(hour=hour, minute=5)))


def test_the_nightly_run_resyncs_the_newest_accepted_set_once_per_night(runtime: Runtime) -> None:
    upload_set(runtime, "term-1")
    upload_set(runtime, "term-2")
    accepted_run(runtime, "upload-1", "term-1", "completed", 1)
    accepted_run(runtime, "upload-2", "term-2", "completed_with_warnings", 2)
    accepted_run(runtime, "upload-3", "term-3", "failed", 3)
    client = FakeDurableClient()

    fire_timer(client)
    fire_timer(client)

    [night] = client.started
    assert night.orchestrator == "sync_run" and night.instance_id.startswith("nightly-")
    assert night.input["trigger"] == "nightly" and night.input["set"]["folder"] == "term-2"
    assert night.input["options"]["low_priority"] is True
    listing = runtime.blobs.list_folder(runtime.settings.upload_container, "term-2")
    assert night.input["set"]["etags"]["students.csv"] == listing["students.csv"].etag


def test_the_nightly_run_starts_nothing_before_any_set_was_accepted(runtime: Runtime) -> None:
    client = FakeDurableClient()

    fire_timer(client)

    assert client.started == []


def test_a_clever_api_profile_makes_the_nightly_run_pull_from_the_api(runtime: Runtime) -> None:
    text = EXAMPLE_PROFILE.read_text(encoding="utf-8").replace('source = "csv"', 'source = "clever_api"')
    text += '\n[clever]\ntoken_setting = "CLEVER_TOKEN"\n'
    container, path = runtime.settings.profile_blob
    runtime.blobs.write_bytes(container, path, text.encode("utf-8"), content_type="text/plain")
    client = FakeDurableClient()

    fire_timer(client)

    [night] = client.started
    assert night.input["set"] is None and night.input["trigger"] == "nightly"


def test_a_clever_api_run_without_its_token_setting_fails_naming_the_setting(runtime: Runtime) -> None:
    text = EXAMPLE_PROFILE.read_text(encoding="utf-8").replace('source = "csv"', 'source = "clever_api"')
    text += '\n[clever]\ntoken_setting = "CLEVER_TOKEN"\n'
    container, path = runtime.settings.profile_blob
    runtime.blobs.write_bytes(container, path, text.encode("utf-8"), content_type="text/plain")
    run = RunInput("nightly-2026-09-01", "nightly", None, RunOptions())

    result = user_functions()["validate_run"]({"run": run.to_json(), "started_at": START.isoformat()})

    # A missing setting is permanent: the activity says so instead of failing four times.
    assert result["permanent"] is True
    assert result["error"].startswith("validate_run: invalid settings: CLEVER_TOKEN")


def test_a_nightly_run_reads_and_writes_the_directory_at_low_priority_and_a_manual_run_at_normal(
    recorded: tuple[Runtime, RecordingDirectory],
) -> None:
    runtime, directory = recorded
    upload_set(runtime, "term-1")
    container = runtime.settings.upload_container
    accepted = set_ref_of(container, "term-1", runtime.blobs.list_folder(container, "term-1"))
    record = RunRecord("upload-1", "Contoso USD", "upload", accepted.location, set_etags=accepted.etags)
    runtime.runs.put_run(record.finish("completed", at=START.replace(hour=1)))
    client = FakeDurableClient()

    fire_timer(client)
    [night] = client.started
    result = DurableHost(orchestrators(), run_activity, clock=START).run(
        night.orchestrator, night.instance_id, night.input
    )

    assert result.output["status"] == "completed" and directory.applied
    assert directory.opened_low_priority == [True]  # planned and applied through one low-priority opening

    later = START.replace(hour=9)
    manual = http_api.start_request(runtime, body=b"{}", now=later, options=function_app.run_options()).start
    assert manual is not None and manual.input["options"]["low_priority"] is False
    again = DurableHost(orchestrators(), run_activity, clock=later).run(
        manual.orchestrator, manual.instance_id, manual.input
    )

    assert again.output["status"] == "completed"
    assert directory.opened_low_priority == [True, False]
