"""``python -m sync plan`` and ``python -m sync run``: plan a sync, or plan and apply it.

``plan DIR --profile FILE [--tenant PATH] [--format text|json]`` shows what a run would change.
``run DIR --profile FILE [--tenant PATH] [--approve] [--report DIR] [--format text|json]`` applies it and
writes the run report (findings.csv, summary.json) and plan.json to ``--report`` or, by default,
``<tenant folder>/runs/<UTC timestamp>-<plan id>/``. A plan the mass-change guard holds is written and not
applied (exit 1) until it is run again with ``--approve``. Exit status: 0 completed (warnings allowed),
1 records dropped or plan held, 2 failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sync import service
from sync.directory.factory import DEFAULT_TENANT, is_graph_spec, journal_path, open_directory
from sync.directory.model import Directory
from sync.engine.journal import SqliteJournal, TenantJournal
from sync.engine.plan import Plan
from sync.engine.plan_io import write_plan
from sync.engine.planner import check_stop_date
from sync.errors import SyncError, UsageError
from sync.findings import Finding, RunStatus
from sync.profile import Profile, ProfileError, load_profile
from sync.report import write_report
from sync.roster.model import Roster, ValidationResult

EXIT = {
    RunStatus.COMPLETED: 0,
    RunStatus.COMPLETED_WITH_WARNINGS: 0,
    RunStatus.COMPLETED_WITH_ERRORS: 1,
    RunStatus.HELD: 1,
    RunStatus.FAILED: 2,
}


def register(subparsers: Any) -> None:
    plan = subparsers.add_parser("plan", help="show what a sync would change, without changing anything")
    _common(plan)
    plan.set_defaults(handler=lambda args: _guarded(args, _plan))
    run = subparsers.add_parser("run", help="sync the roster into the directory and write the run report")
    _common(run)
    run.add_argument("--approve", action="store_true", help="apply a plan the mass-change guard held")
    run.add_argument(
        "--report", metavar="DIR", help="report folder (default: <tenant folder>/runs/<time>-<plan id>)"
    )
    run.set_defaults(handler=lambda args: _guarded(args, _run))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", nargs="?", metavar="DIR", help="folder of the Clever CSV files")
    parser.add_argument("--profile", required=True, metavar="FILE", help="sync profile (TOML)")
    parser.add_argument(
        "--tenant", default=DEFAULT_TENANT, metavar="PATH", help=f"directory (default {DEFAULT_TENANT})"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument("--today", type=date.fromisoformat, metavar="YYYY-MM-DD", help="plan as of this date")


def _guarded(args: argparse.Namespace, command: Callable[[argparse.Namespace], int]) -> int:
    """Errors at the edge: one line (or a JSON object with status ``failed``), exit 2, no traceback."""
    try:
        return command(args)
    except (SyncError, ProfileError) as err:
        if args.format == "json":
            print(json.dumps({"status": RunStatus.FAILED.value, "error": str(err)}, indent=2))
        else:
            print(f"error: {err}", file=sys.stderr)
        return 2


@dataclass(frozen=True)
class _Planned:
    plan: Plan
    findings: list[Finding]
    validation: ValidationResult
    roster: Roster
    profile: Profile
    directory: Directory


def _prepare(args: argparse.Namespace, *, report_failure: bool) -> _Planned | int:
    """Load, validate and plan; on a file-level error print (and for ``run`` report) it and return 2."""
    profile = load_profile(args.profile)
    today = args.today or datetime.now(UTC).date()
    check_stop_date(profile, today)
    source = service.open_roster_source(args.folder, profile, os.environ)
    validation = service.validate(source, profile)
    findings = list(validation.findings)
    if validation.roster is None:
        summary = service.run_summary(status=RunStatus.FAILED, findings=findings, validation=validation)
        if report_failure:
            summary["report_dir"] = str(_write_report(args, "failed", findings, summary, None))
        _print(args, summary, None)
        return 2
    directory = open_directory(args.tenant)
    plan = service.make_plan(validation.roster, profile, directory.snapshot(), today, findings)
    return _Planned(plan, findings, validation, validation.roster, profile, directory)


def _plan(args: argparse.Namespace) -> int:
    planned = _prepare(args, report_failure=False)
    if isinstance(planned, int):
        return planned
    status = (
        RunStatus.HELD
        if planned.plan.guard.held
        else service.run_status(planned.findings, planned.plan, None, True)
    )
    summary = service.run_summary(
        status=status,
        findings=planned.findings,
        validation=planned.validation,
        plan=planned.plan,
        plan_id=write_plan(planned.plan),  # the id only: streamed through the hash
        applying=False,
    )
    _print(args, summary, planned.plan)
    return EXIT[status]


def _run(args: argparse.Namespace) -> int:
    planned = _prepare(args, report_failure=True)
    if isinstance(planned, int):
        return planned
    plan = planned.plan
    plan_id, report_dir = _save_plan(args, plan)
    if plan.guard.held and not args.approve:
        summary = service.run_summary(
            status=RunStatus.HELD,
            findings=planned.findings,
            validation=planned.validation,
            plan=plan,
            plan_id=plan_id,
            report_dir=str(report_dir),
        )
        _write_report(args, plan_id, planned.findings, summary, report_dir)
        _print(args, summary, None)
        print(f"held: re-run with --approve after reviewing {report_dir / 'plan.json'}", file=sys.stderr)
        return EXIT[RunStatus.HELD]
    store = SqliteJournal(journal_path(args.tenant))
    journal = TenantJournal(store, planned.directory.identity)
    try:
        outcome = service.apply(
            plan,
            planned.directory,
            journal,
            passwords=service.passwords_for(plan, planned.roster, planned.profile),
            progress=_progress_printer() if args.format == "text" and sys.stderr.isatty() else None,
            plan_id=plan_id,
        )
        if outcome.complete:
            journal.forget(plan_id)
    finally:
        store.close()
    findings = planned.findings + list(outcome.findings)
    status = service.run_status(findings, plan, outcome, applied=True)
    summary = service.run_summary(
        status=status,
        findings=findings,
        validation=planned.validation,
        plan=plan,
        outcome=outcome,
        plan_id=plan_id,
        report_dir=str(report_dir),
        error=outcome.error,
    )
    _write_report(args, plan_id, findings, summary, report_dir)
    _print(args, summary, None)
    return EXIT[status]


def _progress_printer() -> Callable[[int, int], None]:
    """Progress on one terminal line, at most twice a second."""
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5 or done == total:
            last[0] = now
            end = "\n" if done == total else ""
            print(f"\rapplying: {done:,} of {total:,} operations", end=end, file=sys.stderr, flush=True)

    return show


def _runs_folder(args: argparse.Namespace) -> Path:
    return (Path(".sync") if is_graph_spec(args.tenant) else Path(args.tenant).parent) / "runs"


def _report_dir(args: argparse.Namespace, plan_id: str) -> Path:
    if getattr(args, "report", None):
        return Path(args.report)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return _runs_folder(args) / f"{stamp}-{plan_id}"


def _save_plan(args: argparse.Namespace, plan: Plan) -> tuple[str, Path]:
    """Stream ``plan.json`` (passwords are redacted in every plan) into the run's report folder, whose
    default name holds the plan id: written to a temporary file first, moved once the id is known."""
    staging = Path(args.report) if getattr(args, "report", None) else _runs_folder(args)
    temporary: Path | None = None
    try:
        staging.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=staging, prefix=".plan.", suffix=".tmp", delete=False
        ) as out:
            temporary = Path(out.name)
            plan_id = write_plan(plan, out)
        report_dir = _report_dir(args, plan_id)
        report_dir.mkdir(parents=True, exist_ok=True)
        os.replace(temporary, report_dir / "plan.json")
    except OSError as err:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise UsageError(f"cannot write the plan into {staging}: {err.strerror or err}") from err
    return plan_id, report_dir


def _write_report(
    args: argparse.Namespace,
    plan_id: str,
    findings: list[Finding],
    summary: dict[str, Any],
    report_dir: Path | None,
) -> Path:
    target = report_dir or _report_dir(args, plan_id)
    write_report(target, findings, summary)
    return target


def _print(args: argparse.Namespace, summary: dict[str, Any], plan: Plan | None) -> None:
    if args.format == "json":
        output = dict(summary)
        if plan is not None:
            output["plan"] = plan.to_json()
        print(json.dumps(output, indent=2, sort_keys=True, ensure_ascii=False))
        return
    print(render_text(summary, plan))


def render_text(summary: dict[str, Any], plan: Plan | None) -> str:
    lines = [f"status: {summary['status']}"]
    if summary.get("error"):
        lines.append(f"error: {summary['error']}")
    if summary.get("plan_id"):
        verb = "applied" if summary.get("applied") else "planned"
        lines.append(f"plan {summary['plan_id']}: {summary['operations']} operations ({verb})")
    shown = summary["changes"] if summary.get("applied") or not summary.get("planned") else summary["planned"]
    changed = {key: value for key, value in shown.items() if value}
    if changed:
        width = max(len(key) for key in changed)
        lines += [f"  {key:<{width}}  {value}" for key, value in changed.items()]
    elif summary.get("plan_id"):
        lines.append("  nothing to do: the directory matches the roster")
    guard = summary.get("guard") or {}
    label = "guard (approved)" if summary.get("applied") else "guard"
    lines += [f"{label}: {reason}" for reason in guard.get("reasons", ())]
    if plan is not None and plan.operations:
        kinds = Counter(op.kind.value for op in plan.operations)
        lines.append("operations: " + ", ".join(f"{kind} {count}" for kind, count in kinds.items()))
    counts = summary["findings"]
    lines.append(f"findings: {counts['errors']} errors, {counts['warnings']} warnings")
    if summary.get("report_dir"):
        lines.append(f"report: {summary['report_dir']}")
    return "\n".join(lines)
