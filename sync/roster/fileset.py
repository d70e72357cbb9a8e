"""Which files of a folder make up a Clever-format set (``clever-csv.md`` §1)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sync.errors import UsageError
from sync.findings import Finding, Severity
from sync.roster.columns import SPECS
from sync.roster.model import REQUIRED_KINDS
from sync.roster.printable import printable

_KIND_BY_NAME = {spec.file_name: kind for kind, spec in SPECS.items()}
_UNSUPPORTED = ("admins.csv",)


@dataclass(frozen=True)
class FileSet:
    #: ``{kind: path}`` of the files found.
    paths: dict[str, Path]
    findings: tuple[Finding, ...]


def _whole_file(file: str, severity: Severity, code: str, message: str) -> Finding:
    """A finding about a whole file: no line, column or record."""
    return Finding(file, None, None, None, severity, code, message)


def find_files(folder: Path) -> FileSet:
    """Find the set's files in ``folder``. Raises :class:`UsageError` when the folder cannot be listed."""
    if not folder.exists():
        raise UsageError(f"folder {folder} does not exist; give the folder that holds the CSV files")
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder; give the folder that holds the CSV files")
    try:
        entries = sorted(folder.iterdir(), key=lambda p: (p.name.lower() != p.name, p.name))
    except OSError as err:
        raise UsageError(f"cannot list folder {folder}: {err.strerror or err}") from err
    paths: dict[str, Path] = {}
    findings: list[Finding] = []
    for entry in entries:
        name = printable(entry.name)  # as shown in findings: control characters escaped
        lower = entry.name.lower()
        kind = _KIND_BY_NAME.get(lower)
        if lower in _UNSUPPORTED:
            findings.append(
                _whole_file(
                    name,
                    Severity.FILE_ERROR,
                    "unsupported_file",
                    f"{name} is not supported (School Data Sync does not accept admins); "
                    "remove it from the set",
                )
            )
        elif kind is None:
            findings.append(
                _whole_file(
                    name,
                    Severity.WARNING,
                    "ignored_file",
                    f"{name} is not a file of a Clever-format set and is ignored; remove it or rename it",
                )
            )
        elif kind in paths:
            findings.append(
                _whole_file(
                    name,
                    Severity.WARNING,
                    "ignored_file",
                    f"{name} is ignored because {paths[kind].name} is used; keep only one of them",
                )
            )
        else:
            paths[kind] = entry
            if entry.name != lower:
                findings.append(
                    _whole_file(
                        name,
                        Severity.WARNING,
                        "file_name_case",
                        f"{name} was read as {lower}; name it {lower}",
                    )
                )
    for kind in REQUIRED_KINDS:
        if kind not in paths:
            file_name = SPECS[kind].file_name
            findings.append(
                _whole_file(
                    file_name,
                    Severity.FILE_ERROR,
                    "missing_file",
                    f"{file_name} is missing; a set needs schools, students, teachers, sections and "
                    "enrollments every run",
                )
            )
    return FileSet(paths, tuple(findings))
