"""``python -m sync plan`` / ``run`` end to end on the example district and the embedded local tenant."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from sync.cli import main
from sync.commands import sync_run
from sync.directory.local_tenant import LocalTenantDirectory, dump_state
from sync.engine.plan import CHANGE_KEYS, Plan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TODAY = "2026-11-22"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def distinct(name: str, column: str) -> int:
    with open(Path("examples/district") / name, newline="", encoding="utf-8") as handle:
        return len({row[column] for row in csv.DictReader(handle)})


def sync(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    status = main([*args, "--profile", "examples/profile.toml", "--format", "json", "--today", TODAY])
    return status, json.loads(capsys.readouterr().out)


def test_a_first_run_syncs_the_example_district_and_a_second_run_changes_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, first = sync(capsys, "run", "examples/district")
    assert (status, first["status"]) == (0, "completed")
    assert set(first["changes"]) == set(CHANGE_KEYS)
    assert first["changes"]["schools_created"] == 3
    assert first["changes"]["users_created"] == distinct("students.csv", "Student_id") + distinct(
        "teachers.csv", "Teacher_id"
    )
    assert first["changes"]["classes_created"] == 10
    assert first["changes"]["licenses_assigned"] == first["changes"]["users_created"]
    report = Path(first["report_dir"])
    assert report.parent == Path(".sync/runs")
    assert {p.name for p in report.iterdir()} == {"findings.csv", "summary.json", "plan.json"}
    assert json.loads((report / "summary.json").read_text())["changes"] == first["changes"]
    assert Plan.from_json(json.loads((report / "plan.json").read_text())).plan_id == first["plan_id"]
    status, second = sync(capsys, "run", "examples/district")
    assert (status, second["status"]) == (0, "completed")
    assert set(second["changes"].values()) == {0}
    assert second["operations"] == 0


def test_plan_shows_the_operations_and_changes_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, shown = sync(capsys, "plan", "examples/district")
    assert status == 0
    assert shown["changes"]["users_created"] > 0
    assert len(shown["plan"]["operations"]) == shown["operations"]
    assert shown["note"] == "tenant .sync/tenant.db does not exist yet: planning against an empty tenant"
    assert not Path(".sync").exists()  # no tenant file, journal or runs folder
    status, applied = sync(capsys, "run", "examples/district")
    assert applied["plan_id"] == shown["plan_id"]  # the same plan, byte for byte
    assert applied["changes"] == shown["changes"]


def test_the_text_output_marks_an_approved_guard(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", "examples/district", "--profile", "examples/profile.toml", "--today", TODAY])
    capsys.readouterr()
    args = ["run", "examples/district-next-term", "--profile", "examples/profile.toml", "--today", TODAY]
    assert main(args) == 1
    assert "guard: would expire or delete 6 of 10 managed classes" in capsys.readouterr().out
    assert main([*args, "--approve"]) == 0
    assert "guard (approved): would expire or delete" in capsys.readouterr().out


def test_the_text_output_is_a_short_summary(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", "examples/district", "--profile", "examples/profile.toml", "--today", TODAY])
    main(["run", "examples/district", "--profile", "examples/profile.toml", "--today", TODAY])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "status: completed"
    assert "  nothing to do: the directory matches the roster" in out
    assert "users_created" in "\n".join(out)


def test_a_term_rollover_is_held_until_approved(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sync(capsys, "run", "examples/district")
    before = dump_state(".sync/tenant.db")
    capsys.readouterr()
    status = main(
        [
            "run",
            "examples/district-next-term",
            "--profile",
            "examples/profile.toml",
            "--today",
            TODAY,
            "--format",
            "json",
        ]
    )
    captured = capsys.readouterr()
    held = json.loads(captured.out)
    assert (status, held["status"]) == (1, "held")
    assert held["guard"]["held"] and held["guard"]["reasons"]
    assert set(held["changes"].values()) == {0} and held["planned"]["classes_expired"] == 6
    plan_file = Path(held["report_dir"]) / "plan.json"
    assert f"held: re-run with --approve after reviewing {plan_file}" in captured.err
    assert json.loads(plan_file.read_text())["guard"]["held"] is True
    assert dump_state(".sync/tenant.db") == before
    status, approved = sync(capsys, "run", "examples/district-next-term", "--approve")
    assert (status, approved["status"]) == (0, "completed")
    assert approved["guard"]["held"]  # the plan was over the limit, and applied because approved
    assert approved["changes"]["classes_expired"] == 6
    status, again = sync(capsys, "run", "examples/district-next-term")
    assert set(again["changes"].values()) == {0}


def test_the_report_goes_where_asked_and_lists_findings(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = (workdir / "examples/district/students.csv").read_text().splitlines()
    broken = rows[0] + "\n" + ",".join(rows[1].split(",")[:3]) + "\n" + "\n".join(rows[2:]) + "\n"
    (workdir / "examples/district/students.csv").write_text(broken)
    status, result = sync(capsys, "run", "examples/district", "--report", "out/report")
    assert (status, result["status"]) == (1, "completed_with_errors")
    with open("out/report/findings.csv", newline="") as handle:
        findings = list(csv.DictReader(handle))
    rows_found = {(f["file"], f["line"], f["code"]) for f in findings}
    assert ("students.csv", "2", "malformed_row") in rows_found
    # the dropped student's enrollments are dropped with it
    assert {code for file, _, code in rows_found if file != "students.csv"} == {"unknown_reference"}
    assert Path("out/report/plan.json").exists()


def test_a_file_level_error_fails_the_run_before_anything_is_written(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "examples/district/sections.csv").unlink()
    status, result = sync(capsys, "run", "examples/district")
    assert (status, result["status"]) == (2, "failed")
    assert result["findings"]["errors"] >= 1
    assert "missing_file" in (Path(result["report_dir"]) / "findings.csv").read_text()
    assert not Path(".sync/tenant.db").exists()


def test_after_the_stop_date_the_run_is_refused(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    status = main(["run", "examples/district", "--profile", "examples/profile.toml", "--today", "2027-08-01"])
    err = capsys.readouterr().err
    assert status == 2
    assert "stopped syncing on 2027-07-31" in err and "Traceback" not in err
    status = main(
        [
            "plan",
            "examples/district",
            "--profile",
            "examples/profile.toml",
            "--today",
            "2027-08-01",
            "--format",
            "json",
        ]
    )
    result = json.loads(capsys.readouterr().out)
    assert (status, result["status"]) == (2, "failed")
    assert "stop_date" in result["error"]


def test_a_missing_profile_is_one_clear_line(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    status = main(["plan", "examples/district", "--profile", "nope.toml"])
    err = capsys.readouterr().err
    assert status == 2 and "nope.toml" in err and len(err.strip().splitlines()) == 1


class _DiesAfter:
    """A local tenant that dies (like a killed process) after ``calls`` apply calls."""

    def __init__(self, path: str, calls: int) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.inner = LocalTenantDirectory(path, max_batch=10)
        self.max_batch = 10
        self.calls = calls
        self.identity = self.inner.identity

    def snapshot(self):
        return self.inner.snapshot()

    def apply(self, operations):
        if self.calls == 0:
            raise KeyboardInterrupt
        self.calls -= 1
        return self.inner.apply(operations)


@pytest.mark.parametrize("calls", [0, 3, 9, 14])
def test_a_run_killed_mid_apply_and_started_again_ends_in_the_uninterrupted_state(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, calls: int
) -> None:
    sync(capsys, "run", "examples/district")
    expected = dump_state(".sync/tenant.db")
    shutil.rmtree(".sync")
    monkeypatch.setattr(sync_run, "open_directory", lambda tenant, **options: _DiesAfter(tenant, calls))
    assert main(["run", "examples/district", "--profile", "examples/profile.toml", "--today", TODAY]) == 130
    monkeypatch.undo()
    monkeypatch.chdir(workdir)
    status, resumed = sync(capsys, "run", "examples/district")
    assert resumed["status"] == "completed" and status == 0
    assert dump_state(".sync/tenant.db") == expected
    status, again = sync(capsys, "run", "examples/district")
    assert set(again["changes"].values()) == {0}


def test_the_same_plan_made_again_after_a_finished_run_is_applied_again(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, first = sync(capsys, "run", "examples/district")
    Path(".sync/tenant.db").unlink()  # the tenant is gone, the journal is not
    status, again = sync(capsys, "run", "examples/district")
    assert status == 0
    assert again["plan_id"] == first["plan_id"]
    assert again["changes"] == first["changes"]
    assert dump_state(".sync/tenant.db")["users"]


def test_a_csv_profile_without_a_folder_says_to_give_one(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    status = main(["plan", "--profile", "examples/profile.toml", "--today", TODAY])
    err = capsys.readouterr().err
    assert status == 2 and "give the folder" in err


def test_a_journal_left_by_a_killed_run_is_not_taken_as_done_for_a_tenant_made_anew_at_the_same_path(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed after journaling its last operation (before the journal is cleared), then the tenant file
    deleted: the same plan against the new tenant at that path applies everything again."""
    from sync.directory.factory import DEFAULT_TENANT
    from sync.engine.journal import SqliteJournal

    with monkeypatch.context() as killed:
        killed.setattr(SqliteJournal, "forget", lambda self, plan_id: None)
        _, first = sync(capsys, "run", "examples/district")
    with LocalTenantDirectory(DEFAULT_TENANT) as old_tenant:
        old_identity = old_tenant.identity
    Path(DEFAULT_TENANT).unlink()

    status, again = sync(capsys, "run", "examples/district")

    assert (status, again["status"], again["plan_id"]) == (0, "completed", first["plan_id"])
    assert again["changes"] == first["changes"]
    with LocalTenantDirectory(DEFAULT_TENANT) as new_tenant:
        assert new_tenant.identity != old_identity
    assert len(dump_state(DEFAULT_TENANT)["schools"]) == 3
