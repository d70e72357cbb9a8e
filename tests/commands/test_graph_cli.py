"""``python -m sync plan`` / ``run`` against the local Graph server, run as real processes: what the log and
stderr may show, and the Graph options (quota scale, low priority)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sync.graphserver import GraphServer
from tests.commands.personal_data import shown_in

ROOT = Path(__file__).resolve().parents[2]
DISTRICT = ROOT / "examples" / "district"
TODAY = "2026-11-22"
#: Students matched by Student_id → employeeId: Ava's account (made beforehand, no employeeId) is not
#: matched, and the UPN her new account would get is taken: a record error at plan time (its message, in the
#: report, names no value), the rest of the district is applied.
MATCH_BY_EMPLOYEE_ID = (
    ('match_source = "Username"          # Student_id', 'match_source = "Student_id"          # Student_id'),
    (
        'match_target = "userPrincipalName" # userPrincipalName',
        'match_target = "employeeId" # userPrincipalName',
    ),
)


def sync_process(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sync", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def verbose_graph_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.CompletedProcess[str]]:
    """One ``-v run`` over the local Graph server whose tenant already holds an unmatched ``ava.smith``."""
    folder = tmp_path_factory.mktemp("graph-run")
    profile = (ROOT / "examples" / "profile.toml").read_text(encoding="utf-8")
    for old, new in MATCH_BY_EMPLOYEE_ID:
        assert old in profile
        profile = profile.replace(old, new, 1)
    (folder / "profile.toml").write_text(profile, encoding="utf-8")
    with GraphServer(folder / "g.db", quota_scale=50) as server:
        made = httpx.post(
            f"{server.base_url}/users",
            json={
                "accountEnabled": True,
                "displayName": "Ava Smith",
                "mailNickname": "ava.smith",
                "userPrincipalName": "ava.smith@students.contoso.edu",
                "passwordProfile": {"password": "Seeded-Passw0rd!", "forceChangePasswordNextSignIn": True},
            },
        )
        assert made.status_code == 201, made.text
        yield sync_process(
            folder,
            *("-v", "run", str(DISTRICT), "--profile", "profile.toml", "--today", TODAY),
            *("--tenant", f"graph:{server.base_url}", "--graph-quota-scale", "50"),
        )


def test_a_verbose_graph_run_logs_no_student_value_at_info(
    verbose_graph_run: subprocess.CompletedProcess[str],
) -> None:
    log = verbose_graph_run.stderr
    assert verbose_graph_run.returncode in (0, 1), log
    assert "INFO sync.commands.sync_run: applied" in log  # the log was on
    assert shown_in(log) == []


def test_a_graph_run_leaves_no_pending_task_behind(
    verbose_graph_run: subprocess.CompletedProcess[str],
) -> None:
    assert "status: " in verbose_graph_run.stdout
    assert "Task was destroyed" not in verbose_graph_run.stderr
    assert "Traceback" not in verbose_graph_run.stderr


def test_a_graph_plan_without_verbose_options_ends_with_an_empty_stderr(tmp_path: Path) -> None:
    with GraphServer(tmp_path / "g.db", quota_scale=50) as server:
        done = sync_process(
            tmp_path,
            *("plan", str(DISTRICT), "--profile", str(ROOT / "examples" / "profile.toml"), "--today", TODAY),
            *("--tenant", f"graph:{server.base_url}"),
        )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
