"""The blob trigger on Azurite: real blobs, the trigger function the app registers, a fake Durable client."""

from __future__ import annotations

import csv
import io
import json
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from azure.durable_functions.constants import DATETIME_STRING_FORMAT

import function_app
from sync.app.runtime import Runtime
from sync.app.uploads import REQUIRED_FILES, set_ref_of, set_run_id
from tests.app.app_functions import orchestrators, user_functions
from tests.app.durable_host import TIMER_CREATED, DurableHost
from tests.app.upload_client import fire_upload
from tests.storage.app_runtime import EXAMPLE_SET, FakeDurableClient, azurite_runtime


def trigger_upload(runtime: Runtime, client: FakeDurableClient, folder: str, name: str, data: bytes) -> None:
    """Upload ``folder/name`` into the upload container, then fire the blob trigger for it."""
    container = runtime.settings.upload_container
    path = f"{folder}/{name}"
    runtime.blobs.write_bytes(container, path, data, content_type="text/csv")
    upload = fire_upload(runtime, client, path)
    assert upload.content_reads() == [], "the trigger is handed a reference and must not read the file"


def example_files() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(EXAMPLE_SET.glob("*.csv"))}


def run_activity(name: str, payload: object, attempt: int) -> object:
    return user_functions()[name](payload)


@pytest.fixture
def app_runtime(azurite: str, monkeypatch: pytest.MonkeyPatch):
    runtime, telemetry, directory = azurite_runtime(azurite)
    monkeypatch.setattr(function_app, "runtime", lambda: runtime)
    return runtime, telemetry, directory


@pytest.mark.parametrize("seed", range(4))
def test_a_set_uploaded_file_by_file_in_random_order_and_in_parallel_starts_exactly_one_run(
    app_runtime, seed: int
) -> None:
    runtime, _, _ = app_runtime
    client = FakeDurableClient()
    files = list(example_files().items())
    random.Random(seed).shuffle(files)
    folder = f"district/2026-09-0{seed + 1}"

    with ThreadPoolExecutor(max_workers=len(files)) as pool:
        for outcome in [pool.submit(trigger_upload, runtime, client, folder, n, d) for n, d in files]:
            outcome.result()

    runs = client.starts_of("sync_run")
    assert len(runs) == 1
    listing = runtime.blobs.list_folder(runtime.settings.upload_container, folder)
    expected_id = set_run_id(set_ref_of(runtime.settings.upload_container, folder, listing))
    assert runs[0].instance_id == expected_id
    assert runs[0].input["set"]["etags"] == {name: listing[name].etag for name in REQUIRED_FILES}
    assert len(client.starts_of("set_deadline")) <= 1


def test_uploading_a_file_of_a_set_again_starts_a_new_run_for_the_new_version(app_runtime) -> None:
    runtime, _, _ = app_runtime
    client = FakeDurableClient()
    files = example_files()
    for name, data in files.items():
        trigger_upload(runtime, client, "term", name, data)
    trigger_upload(runtime, client, "term", "schools.csv", files["schools.csv"])

    runs = client.starts_of("sync_run")
    assert len(runs) == 2
    assert runs[0].instance_id != runs[1].instance_id


def test_files_the_app_writes_beside_an_upload_start_nothing(app_runtime) -> None:
    runtime, _, _ = app_runtime
    client = FakeDurableClient()
    trigger_upload(runtime, client, "term", "findings.csv", b"file,line\n")
    trigger_upload(runtime, client, "term", "summary.json", b"{}")

    assert client.started == []


def test_a_partial_set_starts_no_run_then_reports_missing_file_after_the_wait(
    azurite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, telemetry, directory = azurite_runtime(azurite, SET_WAIT_MINUTES="45")
    monkeypatch.setattr(function_app, "runtime", lambda: runtime)
    client = FakeDurableClient()
    files = example_files()
    for name in ("schools.csv", "students.csv", "teachers.csv"):
        trigger_upload(runtime, client, "partial", name, files[name])

    assert client.starts_of("sync_run") == []
    [deadline] = client.starts_of("set_deadline")

    checked_at: list[datetime] = []

    def timed_activity(name: str, payload: object, attempt: int) -> object:
        checked_at.append(host.clock)
        return run_activity(name, payload, attempt)

    host = DurableHost(orchestrators(), timed_activity)
    started = host.clock
    result = host.run("set_deadline", deadline.instance_id, deadline.input)

    # The check runs once SET_WAIT_MINUTES have passed since the deadline started, not before.
    [timer] = [event for event in result.history if event["EventType"] == TIMER_CREATED]
    fire_at = datetime.strptime(timer["FireAt"], DATETIME_STRING_FORMAT).replace(tzinfo=UTC)
    assert fire_at == started + timedelta(minutes=45)
    assert len(checked_at) == 1 and checked_at[0] >= fire_at
    assert result.error is None and result.output["missing"] == ["sections.csv", "enrollments.csv"]
    container = runtime.settings.upload_container
    rows = list(csv.DictReader(io.StringIO(runtime.blobs.read_text(container, "partial/findings.csv"))))
    assert [(row["file"], row["code"], row["level"]) for row in rows] == [
        ("enrollments.csv", "missing_file", "error"),
        ("sections.csv", "missing_file", "error"),
    ]
    summary = json.loads(runtime.blobs.read_text(container, "partial/summary.json"))
    assert summary["status"] == "failed"
    record = runtime.runs.get_run(deadline.instance_id)
    assert record.status == "failed" and record.counts["findings_errors"] == 2
    assert [event["status"] for event in telemetry.events] == ["failed"]
    assert directory.snapshots == 0 and directory.applied == []


def test_a_set_completed_before_its_deadline_is_not_reported_missing(app_runtime) -> None:
    runtime, _, _ = app_runtime
    client = FakeDurableClient()
    for name, data in example_files().items():
        trigger_upload(runtime, client, "late", name, data)
    deadlines = client.starts_of("set_deadline")

    host = DurableHost(orchestrators(), run_activity)
    results = [host.run("set_deadline", call.instance_id, call.input) for call in deadlines]

    assert all(result.output == {"status": "complete", "missing": []} for result in results)
    assert not runtime.blobs.exists(runtime.settings.upload_container, "late/findings.csv")


def without_column(data: bytes, column: str) -> bytes:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    index = rows[0].index(column)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([row[:index] + row[index + 1 :] for row in rows])
    return out.getvalue().encode("utf-8")


def test_a_set_with_errors_gets_its_findings_beside_it_and_writes_nothing_to_the_directory(
    app_runtime,
) -> None:
    runtime, telemetry, directory = app_runtime
    client = FakeDurableClient()
    files = example_files()
    files["students.csv"] = without_column(files["students.csv"], "Student_id")
    for name, data in files.items():
        trigger_upload(runtime, client, "broken", name, data)
    [run] = client.starts_of("sync_run")

    host = DurableHost(orchestrators(), run_activity)
    result = host.run("sync_run", run.instance_id, run.input)

    assert result.error is None and result.output["status"] == "failed"
    container = runtime.settings.upload_container
    rows = list(csv.DictReader(io.StringIO(runtime.blobs.read_text(container, "broken/findings.csv"))))
    assert ("students.csv", "missing_column", "Student_id") in {
        (r["file"], r["code"], r["column"]) for r in rows
    }
    assert json.loads(runtime.blobs.read_text(container, "broken/summary.json"))["status"] == "failed"
    assert directory.snapshots == 0 and directory.applied == []
    assert runtime.runs.get_run(run.instance_id).status == "failed"
    assert [event["status"] for event in telemetry.events] == ["failed"]
    assert [name for name, _, _ in host.calls] == ["validate_run", "finish_run", "release_slot"]

    # The host may run the last activity again (a lost result): the run stays finished, one event only.
    again = run_activity("finish_run", host.calls[-1][1], 2)
    assert again == result.output and len(telemetry.events) == 1
