"""Report files of a validation or sync run (``clever-csv.md`` §8): ``findings.csv`` and ``summary.json``.

- ``findings.csv``: one row per finding, columns ``file,line,column,record_id,level,code,message``, in
  :func:`sync.findings.sort_key` order. A value that a spreadsheet would run as a formula (it starts with
  ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is written with a leading ``'``.
- ``summary.json``: the summary dict as given (sorted keys, two-space indent).

Both are written atomically (a temporary file in the same folder, then a rename), so a reader never sees a
half-written report. The same input gives byte-identical files.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sync.errors import UsageError
from sync.findings import Finding, sort_key
from sync.roster.model import ValidationResult

FINDING_COLUMNS = ("file", "line", "column", "record_id", "level", "code", "message")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: object) -> str:
    """The text of a report cell; ``None`` is empty, a formula-like value gets a leading ``'``."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def findings_csv(findings: Iterable[Finding]) -> str:
    """The text of ``findings.csv``."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FINDING_COLUMNS)
    for finding in sorted(findings, key=sort_key):
        row = finding.to_dict()
        writer.writerow([escape_cell(row[name]) for name in FINDING_COLUMNS])
    return buffer.getvalue()


def summary_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def validation_summary(result: ValidationResult) -> dict[str, Any]:
    """``{"status", "counts": {file: {"rows", "valid"}}, "findings": [report rows]}`` of a validation."""
    return {
        "status": result.status.value,
        "counts": {name: dict(counts) for name, counts in sorted(result.counts.items())},
        "findings": [finding.to_dict() for finding in sorted(result.findings, key=sort_key)],
    }


def write_report(
    directory: str | os.PathLike[str], findings: Iterable[Finding], summary: dict[str, Any]
) -> Path:
    """Write ``findings.csv`` and ``summary.json`` into ``directory`` (created if needed); returns it."""
    folder = Path(directory)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create report folder {folder}: {err.strerror or err}") from err
    if not folder.is_dir():
        raise UsageError(f"report folder {folder} is not a folder; give another --report folder")
    write_atomically(folder / "findings.csv", findings_csv(findings))
    write_atomically(folder / "summary.json", summary_json(summary))
    return folder


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same folder and a rename."""
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise UsageError(f"cannot write in report folder {path.parent}: {err.strerror or err}") from err
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as err:
        Path(temporary).unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {err.strerror or err}") from err
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
