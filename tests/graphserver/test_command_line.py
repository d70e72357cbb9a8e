"""``python -m sync.graphserver``: prints its URL first, serves, and refuses bad options clearly."""

from __future__ import annotations

import socket
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
            "429=0.0,applied-timeout=0.0",
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


def _run_server(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sync.graphserver", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_tenant_file_that_is_not_a_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    tenant = tmp_path / "tenant.txt"
    tenant.write_text("not a tenant\n")
    done = _run_server("--tenant", str(tenant), "--port", "0")
    assert done.returncode == 2
    assert f"{tenant} is not a tenant file" in done.stderr and "Traceback" not in done.stderr


def test_a_tenant_path_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    done = _run_server("--tenant", str(tmp_path), "--port", "0")
    assert done.returncode == 2
    assert "is a folder" in done.stderr and "Traceback" not in done.stderr


def test_a_port_out_of_range_is_refused_by_name(tmp_path: Path) -> None:
    done = _run_server("--tenant", str(tmp_path / "t.db"), "--port", "99999")
    assert done.returncode == 2
    assert "argument --port: '99999' is not a TCP port" in done.stderr and "Traceback" not in done.stderr


def test_a_port_in_use_names_the_port_and_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run_server("--tenant", str(tmp_path / "t.db"), "--port", str(port))
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "another --port" in done.stderr
