"""``python -m sync validate DIR [--profile FILE] [--report DIR] [--format text|json]``.

Reads and validates a folder of Clever-format CSV files; writes nothing but the optional report
(``findings.csv``, ``summary.json``). ``text`` prints counts per file and the findings grouped by code;
``json`` prints ``{"status", "counts", "findings"}`` for every set, one that fails included. Exit status:
0 completed (warnings allowed), 1 records dropped, 2 failed or bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from typing import Any, TextIO

from sync.errors import SyncError
from sync.findings import Finding, RunStatus, Severity
from sync.profile import ProfileError, load_profile
from sync.report import validation_summary, write_report
from sync.roster.model import ValidationResult
from sync.roster.validate import validate_folder

EXIT = {
    RunStatus.COMPLETED: 0,
    RunStatus.COMPLETED_WITH_WARNINGS: 0,
    RunStatus.COMPLETED_WITH_ERRORS: 1,
    RunStatus.HELD: 1,
    RunStatus.FAILED: 2,
}
#: Sets smaller than this (bytes) validate too fast to need a progress bar.
PROGRESS_MIN_BYTES = 50_000_000
EXAMPLES = 3


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("validate", help="check a folder of Clever CSV files and report findings")
    parser.add_argument("folder", metavar="DIR", help="folder of the Clever CSV files")
    parser.add_argument("--profile", metavar="FILE", help="sync profile (TOML): adds its column rules")
    parser.add_argument("--report", metavar="DIR", help="also write findings.csv and summary.json here")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        profile = load_profile(args.profile) if args.profile else None
        progress = ProgressBar(sys.stderr) if sys.stderr.isatty() else None
        try:
            result = validate_folder(args.folder, profile, progress=progress)
        finally:
            if progress is not None:
                progress.close()
        summary = validation_summary(result)
        if args.report:
            write_report(args.report, result.findings, summary)
    except (SyncError, ProfileError) as err:
        if args.format == "json":
            print(json.dumps({"status": RunStatus.FAILED.value, "error": str(err)}, indent=2))
        else:
            print(f"error: {err}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print(render_text(result), end="")
    return EXIT[result.status]


def render_text(result: ValidationResult) -> str:
    """Counts per file, then findings grouped by code (errors first) with the first examples."""
    lines = [f"status: {result.status.value}"]
    if result.counts:
        width = max(len(name) for name in result.counts)
        lines.append("")
        lines.append(f"{'file':<{width}}  {'rows':>10}  {'valid':>10}")
        for name, counts in sorted(result.counts.items()):
            lines.append(f"{name:<{width}}  {counts['rows']:>10,}  {counts['valid']:>10,}")
    groups: dict[str, list[Finding]] = defaultdict(list)
    for finding in result.findings:
        groups[finding.code].append(finding)
    order = sorted(groups, key=lambda code: (min(_rank(f) for f in groups[code]), code))
    for code in order:
        found = groups[code]
        level = "error" if any(f.severity is not Severity.WARNING for f in found) else "warning"
        lines.append("")
        lines.append(f"{code} ({level}): {len(found):,}")
        for finding in found[:EXAMPLES]:
            where = finding.file + (f":{finding.line}" if finding.line is not None else "")
            column = f" [{finding.column}]" if finding.column else ""
            lines.append(f"  {where}{column}: {finding.message}")
        if len(found) > EXAMPLES:
            lines.append(f"  … and {len(found) - EXAMPLES:,} more")
    return "\n".join(lines) + "\n"


def _rank(finding: Finding) -> int:
    return {Severity.FILE_ERROR: 0, Severity.RECORD_ERROR: 1, Severity.WARNING: 2}[finding.severity]


class ProgressBar:
    """A one-line progress bar on a terminal, shown once the set is large enough to be worth it."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self._stream = stream
        self._width = width
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        if total < PROGRESS_MIN_BYTES:
            return
        filled = self._width * done // total if total else self._width
        percent = 100 * done // total if total else 100
        then = " then checking…" if done >= total else ""
        self._stream.write(f"\rreading [{'#' * filled}{'.' * (self._width - filled)}] {percent:3d}%{then}")
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()
