"""Run records in Table storage (Azurite) and in a local folder behave the same."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient

from sync.errors import UsageError
from sync.storage.run_records import FolderRunStore, RunRecord, RunStore, TableRunStore

START = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(params=["table", "folder"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> RunStore:
    if request.param == "table":
        connection = request.getfixturevalue("azurite")
        service = TableServiceClient.from_connection_string(connection)
        return TableRunStore(service, f"runs{uuid.uuid4().hex[:12]}")
    return FolderRunStore(tmp_path / "runs")


def test_a_record_reads_back_as_written_with_its_counts_and_etags(store: RunStore) -> None:
    written = RunRecord(
        "upload-1",
        "Contoso USD",
        "upload",
        "uploads/contoso/2026-09-01",
        started_at=START,
        set_etags={"students.csv": '"0x8DC"'},
    ).finish(
        "completed",
        at=START + timedelta(minutes=3),
        counts={"users_created": 48, "findings_errors": 0},
        report="reports/runs/upload-1",
    )
    store.put_run(written)

    read = store.get_run("upload-1")
    assert read == written
    assert read.duration_s == 180.0


def test_putting_a_record_again_replaces_it(store: RunStore) -> None:
    first = RunRecord("upload-2", "Contoso USD", "upload", "uploads/x", started_at=START)
    store.put_run(first)
    store.put_run(first.finish("failed", at=START + timedelta(seconds=5), message="missing_file"))

    assert store.get_run("upload-2").status == "failed"
    assert len(store.list_runs(limit=10)) == 1


def test_the_last_runs_are_listed_newest_first_up_to_the_limit(store: RunStore) -> None:
    for hours in (3, 1, 2, 0):
        store.put_run(
            RunRecord(
                f"run-{hours}",
                "Contoso USD",
                "nightly",
                "uploads/x",
                started_at=START + timedelta(hours=hours),
            )
        )

    assert [r.run_id for r in store.list_runs(limit=3)] == ["run-3", "run-2", "run-1"]


def test_an_unknown_run_is_a_clear_error_and_an_empty_store_lists_nothing(store: RunStore) -> None:
    assert store.list_runs(limit=5) == []
    with pytest.raises(UsageError, match="no run 'nope'"):
        store.get_run("nope")


def test_a_folder_store_also_lists_the_report_folders_of_cli_runs(tmp_path: Path) -> None:
    report = tmp_path / "runs" / "20260901T020000Z-abcdef"
    report.mkdir(parents=True)
    summary = {
        "status": "completed",
        "changes": {"users_created": 5},
        "findings": {"errors": 1, "warnings": 2},
    }
    (report / "summary.json").write_text(json.dumps(summary), encoding="utf-8")

    [run] = FolderRunStore(tmp_path / "runs").list_runs(limit=5)
    assert (run.run_id, run.trigger, run.status) == ("20260901T020000Z-abcdef", "cli", "completed")
    assert run.counts == {"users_created": 5, "findings_errors": 1, "findings_warnings": 2}
    assert run.started_at == START


def test_a_cli_run_stopped_before_its_report_is_listed_as_unfinished(tmp_path: Path) -> None:
    finished = tmp_path / "runs" / "20260901T020000Z-abcdef"
    stopped = tmp_path / "runs" / "20260901T030000Z-123456"
    for folder in (finished, stopped):
        folder.mkdir(parents=True)
        (folder / "plan.json").write_text("{}", encoding="utf-8")
    (finished / "summary.json").write_text(json.dumps({"status": "completed"}), encoding="utf-8")

    newest, oldest = FolderRunStore(tmp_path / "runs").list_runs(limit=5)
    assert (newest.run_id, newest.status, newest.trigger) == ("20260901T030000Z-123456", "unfinished", "cli")
    assert newest.message is not None and "plan 123456 has no summary.json" in newest.message
    assert (oldest.run_id, oldest.status) == ("20260901T020000Z-abcdef", "completed")


def test_a_queued_run_shown_as_queued_loses_its_queue_message_once_it_runs(store: RunStore) -> None:
    queued = RunRecord(
        "upload-2",
        "Contoso USD",
        "upload",
        "uploads/contoso/second",
        status="queued",
        stage="queued",
        started_at=START,
        message="queued behind run upload-1",
    )
    store.put_run(queued)
    assert (store.get_run("upload-2").status, store.get_run("upload-2").message) == (
        "queued",
        "queued behind run upload-1",
    )

    store.put_run(RunRecord("upload-2", "Contoso USD", "upload", "uploads/contoso/second", started_at=START))

    running = store.get_run("upload-2")
    assert (running.status, running.stage, running.message) == ("running", "validate", None)
