"""Fixtures of the infrastructure checks: the infra environment, the parsed templates, checkov's report.

pycep-parser and checkov live in ``.venv-infra`` (``make install-dev`` creates it from
requirements-infra.txt), not in the test interpreter, so both run in subprocesses. A missing environment
fails the tests: the checks are part of CI and must never pass by not running.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
INFRA_VENV = REPO / ".venv-infra"
PARSE_SCRIPT = Path(__file__).with_name("pycep_parse.py")


def require_infra_tool(venv: Path, tool: str) -> Path:
    """The path of ``tool`` in the infra virtual environment; fails the test with the fix if it is missing."""
    path = venv / "bin" / tool
    if not path.exists():
        pytest.fail(
            f"{path} is missing: run `make install-dev` (it builds {venv.name} from requirements-infra.txt)"
        )
    return path


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@pytest.fixture(scope="session")
def parsed() -> dict[str, dict[str, Any]]:
    """pycep's result per .bicep file, keyed by its path under infra/ (e.g. ``modules/storage.bicep``)."""
    python = require_infra_tool(INFRA_VENV, "python")
    paths = [str(path) for path in bicep_files()]
    done = subprocess.run(
        [str(python), str(PARSE_SCRIPT), *paths], capture_output=True, text=True, check=False, timeout=240
    )
    assert done.returncode == 0, f"pycep_parse.py failed:\n{done.stderr}"
    results: dict[str, dict[str, Any]] = json.loads(done.stdout)
    return {str(Path(path).relative_to(INFRA)): result for path, result in results.items()}


@pytest.fixture(scope="session")
def templates(parsed: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The parsed templates; fails if any file did not parse."""
    errors = {path: result["error"] for path, result in parsed.items() if "error" in result}
    assert not errors, f"pycep could not parse: {errors}"
    return {path: result["template"] for path, result in parsed.items()}


@pytest.fixture(scope="session")
def checkov_report() -> dict[str, Any]:
    """checkov's JSON report for ``-d infra`` with the Bicep framework and no downloads."""
    checkov = require_infra_tool(INFRA_VENV, "checkov")
    done = subprocess.run(
        [str(checkov), "--framework", "bicep", "--skip-download", "-d", str(INFRA), "--output", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
        cwd=REPO,
    )
    # checkov exits 1 when a check fails; the report says which, so read it either way.
    assert done.returncode in (0, 1), f"checkov did not run:\n{done.stderr}"
    report: dict[str, Any] = json.loads(done.stdout)
    return report
