"""``python -m sync plan`` / ``run`` at their edges: tenant typos, a tenant not made yet, the report folder,
run timings, Graph options, log lines, closing the directory, and a closed output pipe."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from sync.cli import main
from sync.commands import sync_run
from sync.directory.local_tenant import LocalTenantDirectory, dump_state
from sync.directory.model import DirectorySnapshot, Operation, OperationResult
from sync.errors import DirectoryUnavailable
from sync.telemetry import URL_LOGGERS
from tests.commands.personal_data import shown_in

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TODAY = "2026-11-22"
PROFILE = ("--profile", "examples/profile.toml", "--today", TODAY)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def url_logger_levels() -> Iterator[None]:
    """``main`` sets the request-URL loggers' levels; put them back for the tests that follow."""
    saved = {name: logging.getLogger(name).level for name in URL_LOGGERS}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


# -- #15: a tenant spec that looks like a Graph typo ----------------------------------------------------
@pytest.mark.parametrize("command", ["plan", "run"])
@pytest.mark.parametrize(
    "tenant",
    ["foo:bar", "Graph", "grpah:https://graph.microsoft.com/v1.0", "https://graph.microsoft.com/v1.0"],
)
def test_a_tenant_that_looks_like_a_graph_typo_is_a_one_line_usage_error_that_creates_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str], command: str, tenant: str
) -> None:
    capsys.readouterr()
    status = main([command, "examples/district", *PROFILE, "--tenant", tenant])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error: --tenant ") and repr(tenant) in err and len(err.splitlines()) == 1
    assert sorted(os.listdir(workdir)) == ["examples"]


# -- #16: planning against a tenant that does not exist yet ---------------------------------------------
def test_a_plan_against_a_tenant_not_made_yet_says_so_and_creates_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    status = main(["plan", "examples/district", *PROFILE, "--tenant", "new/place/tenant.db"])
    out = capsys.readouterr().out
    assert status == 0
    assert "tenant new/place/tenant.db does not exist yet: planning against an empty tenant" in out
    assert "users_created" in out
    assert sorted(os.listdir(workdir)) == ["examples"]
    assert main(["run", "examples/district", *PROFILE, "--tenant", "new/place/tenant.db"]) == 0
    assert dump_state("new/place/tenant.db")["users"]


# -- #21: the report folder is checked before anything is applied --------------------------------------
def test_a_report_folder_that_cannot_hold_the_summary_fails_the_run_before_the_tenant_is_touched(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "out" / "summary.json").mkdir(parents=True)
    capsys.readouterr()
    status = main(["run", "examples/district", *PROFILE, "--report", "out"])
    err = capsys.readouterr().err
    assert status == 2
    assert "summary.json" in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not Path(".sync/tenant.db").exists()
    assert sorted(os.listdir("out")) == ["summary.json"]


def test_a_report_folder_that_cannot_hold_the_summary_leaves_an_existing_tenant_as_it_was(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "examples/district", *PROFILE]) == 0
    before = dump_state(".sync/tenant.db")
    (workdir / "out" / "summary.json").mkdir(parents=True)
    status = main(["run", "examples/district-next-term", *PROFILE, "--approve", "--report", "out"])
    assert status == 2
    assert dump_state(".sync/tenant.db") == before


# -- #22: a run's timings, as `runs` shows them ---------------------------------------------------------
def test_a_cli_run_records_its_start_end_and_duration_and_runs_shows_the_duration(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "examples/district", *PROFILE, "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    summary = json.loads((Path(result["report_dir"]) / "summary.json").read_text())
    assert summary["started_at"] <= summary["finished_at"]
    assert 0 <= summary["duration_s"] < 600
    assert main(["runs", "--store", ".sync/runs", "--format", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["duration_s"] == pytest.approx(summary["duration_s"], abs=0.01)
    assert record["started_at"] == summary["started_at"]
    assert main(["runs", "--store", ".sync/runs"]) == 0
    assert " s " in capsys.readouterr().out.splitlines()[1]


def test_run_help_says_that_tenants_in_one_folder_share_one_runs_list(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "share that folder's runs/ list" in " ".join(capsys.readouterr().out.split())


# -- #23: Graph quota scale and priority ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("tenant", "scale"),
    [
        ("graph", "50"),
        ("graph:https://graph.microsoft.com/v1.0", "2"),
        ("graph:https://10.0.0.5:8080/v1.0", "50"),
        (".sync/tenant.db", "50"),
        ("graph:http://127.0.0.1:9/v1.0", "0"),
        ("graph:http://127.0.0.1:9/v1.0", "-1"),
    ],
)
def test_a_graph_quota_scale_above_1_off_the_local_server_or_not_positive_is_a_usage_error(
    workdir: Path, capsys: pytest.CaptureFixture[str], tenant: str, scale: str
) -> None:
    capsys.readouterr()
    status = main(["plan", "examples/district", *PROFILE, "--tenant", tenant, "--graph-quota-scale", scale])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error: --graph-quota-scale") and len(err.splitlines()) == 1
    assert not Path(".sync").exists()


class _Recorded:
    """A local tenant opened in place of the real one; remembers how it was opened and whether closed."""

    def __init__(self, tenant: str, options: dict[str, Any], *, fail_snapshot: bool = False) -> None:
        Path(".sync").mkdir(exist_ok=True)
        self.inner = LocalTenantDirectory(".sync/tenant.db")
        self.tenant, self.options, self.fail_snapshot = tenant, options, fail_snapshot
        self.max_batch = self.inner.max_batch
        self.identity = self.inner.identity
        self.closed = 0

    def snapshot(self) -> DirectorySnapshot:
        if self.fail_snapshot:
            raise DirectoryUnavailable("the directory did not answer")
        return self.inner.snapshot()

    def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        return self.inner.apply(operations)

    def close(self) -> None:
        self.closed += 1
        self.inner.close()


def _record_opens(monkeypatch: pytest.MonkeyPatch, *, fail_snapshot: bool = False) -> list[_Recorded]:
    opened: list[_Recorded] = []

    def open_directory(tenant: str, **options: Any) -> _Recorded:
        opened.append(_Recorded(tenant, options, fail_snapshot=fail_snapshot))
        return opened[-1]

    monkeypatch.setattr(sync_run, "open_directory", open_directory)
    return opened


def test_the_graph_options_reach_the_graph_directory(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = _record_opens(monkeypatch)
    tenant = "graph:http://localhost:8123/v1.0"
    args = ["plan", "examples/district", *PROFILE, "--tenant", tenant, "--graph-quota-scale", "50"]
    assert main([*args, "--low-priority"]) == 0
    assert main(args) == 0
    assert [(o.tenant, o.options) for o in opened] == [
        (tenant, {"quota_scale": 50.0, "low_priority": True}),
        (tenant, {"quota_scale": 50.0, "low_priority": False}),
    ]


# -- #12: the directory is closed on every way out -----------------------------------------------------
@pytest.mark.parametrize("fails", [False, True], ids=["succeeds", "fails"])
@pytest.mark.parametrize("command", ["plan", "run"])
def test_the_directory_is_closed_once_whether_the_command_succeeds_or_fails(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    fails: bool,
) -> None:
    Path(".sync").mkdir()
    LocalTenantDirectory(".sync/tenant.db").close()
    opened = _record_opens(monkeypatch, fail_snapshot=fails)
    assert main([command, "examples/district", *PROFILE]) == (2 if fails else 0)
    assert ("the directory did not answer" in capsys.readouterr().err) is fails
    assert [o.closed for o in opened] == [1]


# -- #10 and #24: what -v logs -------------------------------------------------------------------------
def test_verbose_logs_the_stages_of_a_local_run_with_counts_and_no_personal_data(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert main(["-v", "run", "examples/district", *PROFILE]) == 0
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert any(line.startswith("validated ") and " records in " in line for line in lines), lines
    assert any(line.startswith("snapshot read in ") for line in lines), lines
    assert any(line.startswith("plan with ") and " operations" in line for line in lines), lines
    assert any(line.startswith("applied ") and " operations in " in line for line in lines), lines
    assert shown_in("\n".join(lines)) == []


@pytest.mark.parametrize(
    ("flags", "level"), [([], logging.WARNING), (["-v"], logging.WARNING), (["-vv"], logging.DEBUG)]
)
def test_request_url_loggers_stay_at_warning_below_vv(
    workdir: Path, capsys: pytest.CaptureFixture[str], flags: list[str], level: int
) -> None:
    main([*flags, "plan", "examples/district", *PROFILE])
    assert logging.getLogger("httpx").level == level
    assert logging.getLogger("httpcore").level == level


# -- #18: a closed output pipe ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        ["runs"],
        ["plan", str(EXAMPLES / "district"), "--profile", str(EXAMPLES / "profile.toml"), "--today", TODAY],
    ],
    ids=["runs", "plan"],
)
def test_a_closed_output_pipe_ends_the_command_quietly_with_status_141(
    tmp_path: Path, command: list[str]
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (`head`) is gone before the command writes
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sync", *command],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""
