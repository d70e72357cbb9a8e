"""``python -m sync.cleverserver`` refuses bad input with one line and exit 2, never a traceback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clever.conftest import EXAMPLE_DISTRICT

ROOT = EXAMPLE_DISTRICT.parents[1]


def serve(*options: str) -> subprocess.CompletedProcess[str]:
    """The server command, expected to stop at once (a started server would run until the timeout)."""
    return subprocess.run(
        [sys.executable, "-m", "sync.cleverserver", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def assert_refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert all(word in done.stderr for word in words), done.stderr
    assert done.stdout == ""


@pytest.fixture
def district(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLE_DISTRICT, tmp_path / "district"))


def test_a_utf16_csv_is_refused_naming_the_file_and_the_encoding_to_use(district: Path) -> None:
    students = district / "students.csv"
    students.write_text(students.read_text(encoding="utf-8"), encoding="utf-16")
    assert_refused(serve("--district", str(district)), "students.csv", "UTF-8")


def test_a_students_csv_that_is_a_folder_is_refused(district: Path) -> None:
    (district / "students.csv").unlink()
    (district / "students.csv").mkdir()
    assert_refused(serve("--district", str(district)), "students.csv", "is a folder")


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_out_of_range_is_refused(port: str) -> None:
    assert_refused(serve("--district", str(EXAMPLE_DISTRICT), "--port", port), "--port", "0 to 65535")


@pytest.mark.parametrize("limit", ["-1", "0", "many"])
def test_a_rate_limit_below_1_is_refused(limit: str) -> None:
    assert_refused(serve("--district", str(EXAMPLE_DISTRICT), "--rate-limit", limit), "--rate-limit")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_a_port_in_use_is_refused(busy_port: int) -> None:
    done = serve("--district", str(EXAMPLE_DISTRICT), "--port", str(busy_port))
    assert_refused(done, f"127.0.0.1:{busy_port}")
