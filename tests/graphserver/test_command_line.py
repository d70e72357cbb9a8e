"""``python -m sync.graphserver``: prints its URL first, serves, and refuses bad options clearly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.graphserver.client import Client

ROOT = Path(__file__).resolve().parents[2]


def test_the_command_prints_its_base_url_first_and_serves_it(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sync.graphserver",
            "--port",
            "0",
            "--tenant",
            str(tmp_path / "t.db"),
            "--quota-scale",
            "50",
            "--faults",
            "429=0.0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1.0")
        answer = Client(url).get("/subscribedSkus")
        assert answer.status == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_bad_fault_spec_is_one_line_naming_the_part_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sync.graphserver", "--tenant", str(tmp_path / "t.db"), "--faults", "418=0.1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "418=0.1" in done.stderr and "Traceback" not in done.stderr


def test_a_tenant_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sync.graphserver", "--tenant", str(tmp_path / "nowhere" / "t.db")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr
