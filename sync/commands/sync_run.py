"""``python -m sync plan`` and ``python -m sync run``: plan a sync, or plan and apply it.

``plan DIR --profile FILE [--tenant PATH] [--format text|json]`` shows what a run would change; it writes
nothing, and a local tenant that does not exist yet is planned against as an empty tenant (not created).
``run DIR --profile FILE [--tenant PATH] [--approve] [--report DIR] [--format text|json]`` applies it and
writes the run report (findings.csv, summary.json with the run's start, end and duration) and plan.json to
``--report`` or, by default, ``<tenant folder>/runs/<UTC timestamp>-<plan id>/``. A plan the mass-change
guard holds is written and not applied (exit 1) until it is run again with ``--approve``. Exit status:
0 completed (warnings allowed), 1 records dropped or plan held, 2 failed.

Against Graph, ``--graph-quota-scale F`` paces writes to F times the Graph quota (above 1 only for the local
Graph server) and ``--low-priority`` marks requests ``x-ms-throttle-priority: low``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sync import service
from sync.directory.factory import (
    DEFAULT_TENANT,
    check_quota_scale,
    check_tenant_spec,
    close_directory,
    is_graph_spec,
    journal_path,
    local_tenant_exists,
    new_tenant_snapshot,
    open_directory,
)
from sync.directory.model import Directory, DirectorySnapshot
from sync.engine.journal import SqliteJournal, TenantJournal
from sync.engine.plan import Plan
from sync.engine.plan_io import write_plan
from sync.engine.planner import check_stop_date
from sync.errors import SyncError, UsageError
from sync.findings import Finding, RunStatus
from sync.profile import Profile, ProfileError, load_profile
from sync.report import write_report
from sync.roster.model import Roster, ValidationResult

log = logging.getLogger(__name__)

EXIT = {
    RunStatus.COMPLETED: 0,
    RunStatus.COMPLETED_WITH_WARNINGS: 0,
    RunStatus.COMPLETED_WITH_ERRORS: 1,
    RunStatus.HELD: 1,
    RunStatus.FAILED: 2,
}
_REPORT_FILES = ("findings.csv", "summary.json")
_RUNS_HELP = (
    "The run reports of local tenants kept in one folder share that folder's runs/ list "
    "(`python -m sync runs --store <folder>/runs` lists them all); Graph runs are kept in .sync/runs."
)


def register(subparsers: Any) -> None:
    plan = subparsers.add_parser("plan", help="show what a sync would change, without changing anything")
    _common(plan)
    plan.set_defaults(handler=lambda args: _guarded(args, _plan))
    run = subparsers.add_parser(
        "run", help="sync the roster into the directory and write the run report", epilog=_RUNS_HELP
    )
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
        "--tenant",
        default=DEFAULT_TENANT,
        metavar="PATH",
        help=f"a local tenant file (default {DEFAULT_TENANT}); 'graph' for Microsoft Graph (the tenant of "
        "AZURE_TENANT_ID or of your login), 'graph:<tenant id or domain>' for Microsoft Graph in that "
        "tenant (e.g. graph:contoso.onmicrosoft.com), or 'graph:http://127.0.0.1:PORT/v1.0' for the local "
        "Graph server",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument("--today", type=date.fromisoformat, metavar="YYYY-MM-DD", help="plan as of this date")
    parser.add_argument(
        "--graph-quota-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="Graph only: pace to F times the Graph write quota (default 1; above 1 only with the local "
        "Graph server, graph:http://127.0.0.1:PORT/v1.0, started with the same --quota-scale)",
    )
    parser.add_argument(
        "--low-priority",
        action="store_true",
        help="Graph only: send x-ms-throttle-priority: low (throttled first when the tenant is busy)",
    )


def _guarded(args: argparse.Namespace, command: Callable[[argparse.Namespace], int]) -> int:
    """Errors at the edge: one line (or a JSON object with status ``failed``), exit 2, no traceback."""
    try:
        check_tenant_spec(args.tenant)
        check_quota_scale(args.tenant, args.graph_quota_scale)
        return command(args)
    except (SyncError, ProfileError) as err:
        if args.format == "json":
            print(json.dumps({"status": RunStatus.FAILED.value, "error": str(err)}, indent=2))
        else:
            print(f"error: {err}", file=sys.stderr)
        return 2


@dataclass(frozen=True)
class _Loaded:
    """A valid roster and its profile, ready to plan."""

    validation: ValidationResult
    roster: Roster
    profile: Profile
    today: date


@dataclass(frozen=True)
class _Planned:
    plan: Plan
    findings: list[Finding]
    loaded: _Loaded


@dataclass(frozen=True)
class _Clock:
    """When the command started: wall time for the report, monotonic time for durations."""

    started_at: datetime
    started: float

    @classmethod
    def start(cls) -> _Clock:
        return cls(datetime.now(UTC), time.monotonic())

    def stamp(self, summary: dict[str, Any]) -> dict[str, Any]:
        """``summary`` with ``started_at``, ``finished_at`` (ISO 8601, UTC) and ``duration_s``."""
        duration = time.monotonic() - self.started
        summary["started_at"] = self.started_at.isoformat()
        summary["finished_at"] = datetime.now(UTC).isoformat()
        summary["duration_s"] = round(duration, 3)
        return summary


def _load(args: argparse.Namespace, *, report_clock: _Clock | None) -> _Loaded | int:
    """Load and validate; on a file-level error print (and with ``report_clock``, report) it and return 2."""
    profile = load_profile(args.profile)
    today = args.today or datetime.now(UTC).date()
    check_stop_date(profile, today)
    began = time.monotonic()
    source = service.open_roster_source(args.folder, profile, os.environ)
    validation = service.validate(source, profile)
    valid = sum(counts.get("valid", 0) for counts in validation.counts.values())
    log.info("validated %d records in %.2f s", valid, time.monotonic() - began)
    if validation.roster is None:
        findings = list(validation.findings)
        summary = service.run_summary(status=RunStatus.FAILED, findings=findings, validation=validation)
        if report_clock is not None:
            report_clock.stamp(summary)
            summary["report_dir"] = str(_write_report(args, "failed", findings, summary, None))
        _print(args, summary, None)
        return 2
    return _Loaded(validation, validation.roster, profile, today)


@contextmanager
def _opened(args: argparse.Namespace) -> Iterator[Directory]:
    """The directory of ``--tenant``, closed on every way out (a Graph directory's event loop with it)."""
    directory = open_directory(
        args.tenant, quota_scale=args.graph_quota_scale, low_priority=args.low_priority
    )
    try:
        yield directory
    finally:
        close_directory(directory)


def _snapshot(directory: Directory) -> DirectorySnapshot:
    began = time.monotonic()
    snapshot = directory.snapshot()
    log.info("snapshot read in %.2f s", time.monotonic() - began)
    return snapshot


def _make_plan(loaded: _Loaded, snapshot: DirectorySnapshot) -> _Planned:
    findings = list(loaded.validation.findings)
    began = time.monotonic()
    plan = service.make_plan(loaded.roster, loaded.profile, snapshot, loaded.today, findings)
    log.info("plan with %d operations made in %.2f s", len(plan.operations), time.monotonic() - began)
    return _Planned(plan, findings, loaded)


def _plan(args: argparse.Namespace) -> int:
    loaded = _load(args, report_clock=None)
    if isinstance(loaded, int):
        return loaded
    note = None
    if local_tenant_exists(args.tenant):
        with _opened(args) as directory:
            planned = _make_plan(loaded, _snapshot(directory))
    else:  # a plan writes nothing: not even the new tenant file `run` would create
        note = f"tenant {args.tenant} does not exist yet: planning against an empty tenant"
        planned = _make_plan(loaded, new_tenant_snapshot())
    status = (
        RunStatus.HELD
        if planned.plan.guard.held
        else service.run_status(planned.findings, planned.plan, None, True)
    )
    summary = service.run_summary(
        status=status,
        findings=planned.findings,
        validation=loaded.validation,
        plan=planned.plan,
        plan_id=write_plan(planned.plan),  # the id only: streamed through the hash
        applying=False,
    )
    if note is not None:
        summary["note"] = note
    _print(args, summary, planned.plan)
    return EXIT[status]


def _run(args: argparse.Namespace) -> int:
    clock = _Clock.start()
    loaded = _load(args, report_clock=clock)
    if isinstance(loaded, int):
        return loaded
    _check_report_folder(_writable_folder(args))  # before the tenant is opened, let alone changed
    with _opened(args) as directory:
        return _plan_and_apply(args, clock, loaded, directory)


def _plan_and_apply(args: argparse.Namespace, clock: _Clock, loaded: _Loaded, directory: Directory) -> int:
    planned = _make_plan(loaded, _snapshot(directory))
    plan = planned.plan
    plan_id, report_dir = _save_plan(args, plan)  # checks the report folder before anything is applied
    if plan.guard.held and not args.approve:
        summary = service.run_summary(
            status=RunStatus.HELD,
            findings=planned.findings,
            validation=loaded.validation,
            plan=plan,
            plan_id=plan_id,
            report_dir=str(report_dir),
        )
        _write_report(args, plan_id, planned.findings, clock.stamp(summary), report_dir)
        _print(args, summary, None)
        print(f"held: re-run with --approve after reviewing {report_dir / 'plan.json'}", file=sys.stderr)
        return EXIT[RunStatus.HELD]
    store = SqliteJournal(journal_path(args.tenant))
    journal = TenantJournal(store, directory.identity)
    began = time.monotonic()
    try:
        outcome = service.apply(
            plan,
            directory,
            journal,
            passwords=service.passwords_for(plan, loaded.roster, loaded.profile),
            progress=_progress_printer() if args.format == "text" and sys.stderr.isatty() else None,
            plan_id=plan_id,
            approved=args.approve,
        )
        if outcome.complete:
            journal.forget(plan_id)
    finally:
        store.close()
    log.info(
        "applied %d of %d operations in %.2f s (%d failed)",
        outcome.done,
        outcome.total,
        time.monotonic() - began,
        outcome.failed,
    )
    findings = planned.findings + list(outcome.findings)
    status = service.run_status(findings, plan, outcome, applied=True)
    summary = service.run_summary(
        status=status,
        findings=findings,
        validation=loaded.validation,
        plan=plan,
        outcome=outcome,
        plan_id=plan_id,
        report_dir=str(report_dir),
        error=outcome.error,
    )
    _write_report(args, plan_id, findings, clock.stamp(summary), report_dir)
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
        _check_report_folder(report_dir)
        os.replace(temporary, report_dir / "plan.json")
    except UsageError:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise
    except OSError as err:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise UsageError(f"cannot write the plan into {staging}: {err.strerror or err}") from err
    return plan_id, report_dir


def _writable_folder(args: argparse.Namespace) -> Path:
    """The ``--report`` folder, or the runs folder the report folder will be made in; created here."""
    folder = Path(args.report) if getattr(args, "report", None) else _runs_folder(args)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create the report folder {folder}: {err.strerror or err}") from err
    return folder


def _check_report_folder(report_dir: Path) -> None:
    """Before anything is applied: the report files can be written into ``report_dir`` (else the run would
    change the tenant and then fail to report it)."""
    for name in ("plan.json", *_REPORT_FILES):
        target = report_dir / name
        if target.exists() and not target.is_file():
            raise UsageError(
                f"cannot write the report into {report_dir}: {name} there is not a file; "
                "give another --report folder"
            )
    if not os.access(report_dir, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write the report into {report_dir}: the folder is not writable")


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
    if summary.get("note"):
        lines.append(f"note: {summary['note']}")
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
