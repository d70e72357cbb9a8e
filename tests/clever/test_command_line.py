"""``python -m sync run --profile P`` with ``source = "clever_api"`` (no folder), and the server's own CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sync.cleverserver import DEFAULT_TOKEN, CleverServer
from sync.cli import main
from sync.directory.factory import open_directory
from tests.clever.conftest import EXAMPLE_DISTRICT

ROOT = EXAMPLE_DISTRICT.parents[1]


def profile_for(server: CleverServer, folder: Path) -> Path:
    text = (ROOT / "examples" / "profile-clever.toml").read_text(encoding="utf-8")
    path = folder / "profile.toml"
    path.write_text(text.replace("http://127.0.0.1:8765", server.base_url), encoding="utf-8")
    return path


def run(profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    status = main(
        [
            *("run", "--profile", str(profile), "--tenant", str(tmp_path / "tenant.db")),
            *("--format", "json", "--today", "2026-09-01"),
        ]
    )
    return status, json.loads(capsys.readouterr().out)


def test_run_without_a_folder_pulls_from_clever_then_a_second_run_has_nothing_to_do(
    tmp_path: Path, server: CleverServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLEVER_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("SYNC_CLEVER_STATE_DIR", str(tmp_path / "clever-state"))
    profile = profile_for(server, tmp_path)

    status, first = run(profile, tmp_path, capsys)
    assert status == 0, first
    assert first["changes"]["users_created"] == 48
    assert first["counts"]["clever:students"]["valid"] == 40

    server.reset_stats()
    status, second = run(profile, tmp_path, capsys)
    assert status == 0, second
    assert second["operations"] == 0
    assert server.stats()["requests"] == 1  # the events page only
    assert (tmp_path / "clever-state").is_dir()


def test_run_with_the_token_setting_missing_fails_naming_the_setting(
    tmp_path: Path, server: CleverServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CLEVER_TOKEN", raising=False)
    status = main(
        ["run", "--profile", str(profile_for(server, tmp_path)), "--tenant", str(tmp_path / "t.db")]
    )
    assert status == 2
    assert "CLEVER_TOKEN: is not set" in capsys.readouterr().err
    assert server.stats()["requests"] == 0


def test_run_with_a_school_filter_that_keeps_no_school_fails_before_writing_anything(
    tmp_path: Path, server: CleverServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLEVER_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("SYNC_CLEVER_STATE_DIR", str(tmp_path / "clever-state"))
    profile = profile_for(server, tmp_path)
    text = profile.read_text(encoding="utf-8").replace(
        '# school_filter_mode = "deny"     # allow | deny\n# school_filter = ["300"]',
        'school_filter_mode = "allow"\nschool_filter = ["3000"]',
    )
    assert 'school_filter = ["3000"]' in text
    profile.write_text(text, encoding="utf-8")
    tenant = tmp_path / "tenant.db"

    status = main(["run", "--profile", str(profile), "--tenant", str(tenant)])

    assert status == 2
    error = capsys.readouterr().err
    assert "clever.school_filter: the allow-list keeps none of the 3 schools" in error
    assert server.stats()["v3.1/schools"] == 1  # it did pull
    snapshot = open_directory(str(tenant)).snapshot()
    assert (snapshot.users, snapshot.schools, snapshot.classes) == ([], [], [])


def test_the_server_command_serves_a_district_folder_on_the_port_it_prints() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sync.cleverserver", "--district", str(EXAMPLE_DISTRICT), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        answer = httpx.get(f"{base_url}/v3.0/schools", headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"})
        assert sorted(item["data"]["sis_id"] for item in answer.json()["data"]) == ["100", "200", "300"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_server_command_refuses_a_folder_without_clever_files(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sync.cleverserver", "--district", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "holds no schools.csv" in done.stderr
