"""``python -m sync runs``: the last runs from a folder or from the Function App's table (Azurite)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient

from sync.cli import main
from sync.storage.run_records import FolderRunStore, RunRecord, TableRunStore

START = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


def completed(run_id: str, hours: int) -> RunRecord:
    record = RunRecord(
        run_id, "Contoso USD", "nightly", "uploads/contoso", started_at=START + timedelta(hours=hours)
    )
    return record.finish(
        "completed", at=record.started_at + timedelta(seconds=42), counts={"users_created": hours}
    )


def test_runs_lists_the_last_runs_of_a_folder_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = FolderRunStore(tmp_path)
    for hours in range(3):
        store.put_run(completed(f"nightly-{hours}", hours))

    assert main(["runs", "--store", str(tmp_path), "--last", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("started (UTC)")
    assert [line.split()[-1] for line in lines[1:]] == ["nightly-2", "nightly-1"]
    assert "42 s" in lines[1]


def test_runs_reads_the_function_apps_table_as_json(
    azurite: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = f"runs{uuid.uuid4().hex[:10]}"
    TableRunStore(TableServiceClient.from_connection_string(azurite), table).put_run(completed("upload-1", 1))
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)

    assert (
        main(["runs", "--table-url", f"http://127.0.0.1/devstoreaccount1/{table}", "--format", "json"]) == 0
    )
    [run] = json.loads(capsys.readouterr().out)
    assert (run["run_id"], run["status"], run["counts"]["users_created"]) == ("upload-1", "completed", 1)


def test_runs_says_so_when_there_are_none_and_rejects_a_bad_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "--store", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "no runs yet"
    with pytest.raises(SystemExit) as exited:
        main(["runs", "--last", "0"])
    assert exited.value.code == 2
    assert "greater than 0" in capsys.readouterr().err


def test_runs_with_a_table_url_that_names_no_table_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["runs", "--table-url", "runs"]) == 2
    assert "--table-url" in capsys.readouterr().err


def test_runs_with_a_store_folder_that_does_not_exist_is_a_usage_error_not_no_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "--store", str(tmp_path / "typo")]) == 2
    err = capsys.readouterr().err
    assert f"--store {tmp_path / 'typo'}: the folder does not exist" in err


def test_runs_with_a_store_that_is_a_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "summary.json").write_text("{}")
    assert main(["runs", "--store", str(tmp_path / "summary.json")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_runs_with_an_http_table_url_and_no_connection_string_says_what_to_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    assert main(["runs", "--table-url", "http://127.0.0.1:10002/devstoreaccount1/runs"]) == 2
    err = capsys.readouterr().err
    assert "set AZURE_STORAGE_CONNECTION_STRING (UseDevelopmentStorage=true for Azurite)" in err
    assert "Token credential" not in err


def test_runs_shows_a_run_waiting_for_the_sync_slot_as_queued(
    azurite: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = f"runs{uuid.uuid4().hex[:10]}"
    store = TableRunStore(TableServiceClient.from_connection_string(azurite), table)
    store.put_run(
        RunRecord(
            "nightly-2026-09-02",
            "Contoso USD",
            "nightly",
            "uploads/contoso",
            status="queued",
            stage="queued",
            started_at=START + timedelta(days=1),
            message="queued behind run upload-1",
        )
    )
    store.put_run(completed("upload-1", 1))
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)

    assert main(["runs", "--table-url", f"http://127.0.0.1/devstoreaccount1/{table}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[2:4] == ["queued", "nightly"] and lines[1].endswith("nightly-2026-09-02")
    assert lines[2].split()[2] == "completed"
