"""``python -m sync validate`` run as a real process: exit codes, JSON shape, text output, report files."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sync.commands.validate import PROGRESS_MIN_BYTES, ProgressBar
from tests.roster.csvset import CLEAN, with_rows, write_set

ROOT = Path(__file__).resolve().parents[2]


def validate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "sync", "validate", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )


def as_json(process: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(process.stdout)


def test_a_clean_set_exits_0_and_prints_counts(tmp_path: Path) -> None:
    process = validate(write_set(tmp_path))
    assert process.returncode == 0, process.stderr
    assert "status: completed" in process.stdout
    assert "students.csv" in process.stdout
    assert process.stderr == ""


def test_json_output_has_status_counts_and_findings(tmp_path: Path) -> None:
    process = validate(
        write_set(tmp_path, with_rows("schools.csv", "S2,South Middle,6,8")), "--format", "json"
    )
    assert process.returncode == 0
    output = as_json(process)
    assert set(output) == {"status", "counts", "findings"}
    assert output["status"] == "completed_with_warnings"
    assert output["counts"]["schools.csv"] == {"rows": 3, "valid": 2}
    assert output["findings"] == [
        {
            "file": "schools.csv",
            "line": 4,
            "column": None,
            "record_id": "S2",
            "level": "warning",
            "code": "duplicate_row",
            "message": output["findings"][0]["message"],
        }
    ]


def test_dropped_records_exit_1(tmp_path: Path) -> None:
    process = validate(write_set(tmp_path, with_rows("enrollments.csv", "S1,SEC1,999")), "--format", "json")
    assert process.returncode == 1
    assert as_json(process)["status"] == "completed_with_errors"


def test_a_failing_set_exits_2_and_still_prints_json(tmp_path: Path) -> None:
    process = validate(write_set(tmp_path, {"students.csv": None}), "--format", "json")
    assert process.returncode == 2
    output = as_json(process)
    assert output["status"] == "failed"
    assert [f["code"] for f in output["findings"]] == ["missing_file"]


def test_text_output_groups_findings_by_code_with_examples(tmp_path: Path) -> None:
    rows = [f"S1,SEC1,{900 + n}" for n in range(5)]
    process = validate(write_set(tmp_path, with_rows("enrollments.csv", *rows)))
    assert process.returncode == 1
    assert "unknown_reference (error): 5" in process.stdout
    assert "enrollments.csv:4 [Student_id]" in process.stdout
    assert "… and 2 more" in process.stdout


def test_a_missing_folder_is_one_line_on_stderr_and_exit_2(tmp_path: Path) -> None:
    process = validate(tmp_path / "nowhere")
    assert process.returncode == 2
    assert process.stdout == ""
    assert process.stderr.count("\n") == 1
    assert process.stderr.startswith("error: folder ")
    assert "Traceback" not in process.stderr


def test_a_missing_folder_in_json_mode_prints_a_failed_status(tmp_path: Path) -> None:
    process = validate(tmp_path / "nowhere", "--format", "json")
    assert process.returncode == 2
    output = as_json(process)
    assert output["status"] == "failed"
    assert "does not exist" in output["error"]


def test_a_missing_profile_file_is_a_one_line_error(tmp_path: Path) -> None:
    process = validate(write_set(tmp_path / "set"), "--profile", tmp_path / "nope.toml")
    assert process.returncode == 2
    assert process.stderr.count("\n") == 1
    assert "nope.toml" in process.stderr


def test_the_profile_adds_its_column_rules(tmp_path: Path) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text(
        'name = "Test"\nuser_mode = "create"\n\n[students]\nuser_domain = "school.org"\n\n'
        '[teachers]\nuser_domain = "school.org"\n',
        encoding="utf-8",
    )
    students = CLEAN["students.csv"].replace("S2,101,Bob,Ray,bob,", "S2,101,Bob,Ray,,")
    folder = write_set(tmp_path / "set", {"students.csv": students})
    without = validate(folder, "--format", "json")
    with_profile = validate(folder, "--profile", profile, "--format", "json")
    assert without.returncode == 0
    assert with_profile.returncode == 1, with_profile.stderr
    codes = [(f["file"], f["code"]) for f in as_json(with_profile)["findings"]]
    assert codes == [
        ("enrollments.csv", "unknown_reference"),
        ("sections.csv", "empty_section"),
        ("students.csv", "missing_value"),
    ]


def test_report_files_are_written_where_asked(tmp_path: Path) -> None:
    folder = write_set(tmp_path / "set", with_rows("enrollments.csv", "S1,SEC1,=1+1"))
    process = validate(folder, "--report", tmp_path / "report", "--format", "json")
    assert process.returncode == 1
    summary = json.loads((tmp_path / "report" / "summary.json").read_text(encoding="utf-8"))
    assert summary == as_json(process)
    lines = (tmp_path / "report" / "findings.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "file,line,column,record_id,level,code,message"
    assert lines[1].startswith("enrollments.csv,4,Student_id,SEC1,error,unknown_reference,")


def test_the_progress_bar_stays_silent_for_a_small_set_and_draws_for_a_large_one() -> None:
    small, large = io.StringIO(), io.StringIO()
    quiet = ProgressBar(small)
    quiet(10, 20)
    quiet.close()
    bar = ProgressBar(large, width=10)
    bar(PROGRESS_MIN_BYTES // 2, PROGRESS_MIN_BYTES)
    bar(PROGRESS_MIN_BYTES, PROGRESS_MIN_BYTES)
    bar.close()
    assert small.getvalue() == ""
    assert large.getvalue() == "\rreading [#####.....]  50%\rreading [##########] 100% then checking…\n"
