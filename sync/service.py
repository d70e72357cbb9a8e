"""The service layer: the steps of a sync run as small functions, I/O passed in. The CLI and the
Functions app both call these; neither holds sync logic of its own.

``open_roster_source`` → ``validate`` → ``make_plan`` → ``apply`` → ``run_summary``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sync.directory.model import Directory, DirectorySnapshot, OpKind
from sync.engine import planner
from sync.engine.apply import ApplyOutcome, ApplyProgress, apply_plan
from sync.engine.changes import zero_changes
from sync.engine.desired import roster_passwords
from sync.engine.journal import Journal
from sync.engine.plan import CHANGE_KEYS, Plan
from sync.engine.user_ops import REDACTED
from sync.errors import UsageError
from sync.findings import Finding, RunStatus, Severity, status_of
from sync.profile import Profile
from sync.roster.model import Roster, ValidationResult
from sync.roster.source import RosterSource


def open_roster_source(
    folder: str | None, profile: Profile, environ: Mapping[str, str] | None = None
) -> RosterSource:
    """A CSV folder when one is given; otherwise the Clever API when the profile's source says so."""
    if folder:
        from sync.roster.reader import CsvFolderSource

        return CsvFolderSource(folder)
    if profile.source == "clever_api":
        from sync.clever.source import CleverApiSource

        source: RosterSource = CleverApiSource.from_profile(profile, environ or {})
        return source
    raise UsageError(
        f'profile {profile.name!r} reads CSV files (source = "csv"): give the folder that holds them'
    )


def validate(source: RosterSource, profile: Profile) -> ValidationResult:
    from sync.roster.validate import validate_raw

    files, findings = source.read_raw()
    result: ValidationResult = validate_raw(files, findings, profile)
    return result


def make_plan(
    roster: Roster, profile: Profile, snapshot: DirectorySnapshot, today: date, findings: list[Finding]
) -> Plan:
    """Plan the run; the plan's findings are appended to ``findings`` (the run's list)."""
    plan = planner.make_plan(roster, profile, snapshot, today)
    findings.extend(plan.findings)
    return plan


def passwords_for(plan: Plan, roster: Roster, profile: Profile) -> dict[str, str]:
    """The roster passwords of the accounts the plan creates with a password (kept out of the plan)."""
    anchors = frozenset(
        op.target
        for op in plan.operations
        if op.kind is OpKind.CREATE_USER
        and (op.fields.get("passwordProfile") or {}).get("password") == REDACTED
    )
    return roster_passwords(roster, profile, anchors) if anchors else {}


def apply(
    plan: Plan,
    directory: Directory,
    journal: Journal,
    *,
    passwords: Mapping[str, str] | None = None,
    progress: ApplyProgress | None = None,
    plan_id: str | None = None,
    approved: bool = False,
) -> ApplyOutcome:
    """Apply ``plan``; pass ``plan_id`` when known (computing it serialises the whole plan again). A plan the
    guard held needs ``approved=True`` (an operator approved it), else :class:`~sync.errors.PlanHeld`."""
    return apply_plan(
        plan,
        directory,
        journal,
        passwords=passwords,
        progress=progress,
        plan_id=plan_id,
        approved=approved,
    )


def run_status(
    findings: list[Finding], plan: Plan | None, outcome: ApplyOutcome | None, applied: bool
) -> RunStatus:
    """``failed`` on a file-level error or an apply that could not finish; ``held`` when the guard held an
    unapproved plan; else what the findings imply."""
    if plan is None or (outcome is not None and outcome.error is not None):
        return RunStatus.FAILED
    if plan.guard.held and not applied:
        return RunStatus.HELD
    return status_of(findings)


def run_summary(
    *,
    status: RunStatus,
    findings: list[Finding],
    validation: ValidationResult | None = None,
    plan: Plan | None = None,
    outcome: ApplyOutcome | None = None,
    plan_id: str | None = None,
    report_dir: str | None = None,
    error: str | None = None,
    applying: bool = True,
) -> dict[str, Any]:
    """The JSON the CLI prints and the report's ``summary.json`` holds.

    ``changes`` is what the command changed: for a run, what was applied (nothing when the plan was held
    or the run failed before applying); for a plan (``applying=False``), what the plan would change.
    ``planned`` is always the plan's own count; ``users_unmatched`` is the plan's in both."""
    planned = {key: int(plan.changes.get(key, 0)) for key in CHANGE_KEYS} if plan else zero_changes()
    if not applying:
        changes = planned
    else:
        applied = outcome.applied if outcome is not None else {}
        changes = {key: int(applied.get(key, 0)) for key in CHANGE_KEYS}
        changes["users_unmatched"] = planned["users_unmatched"]
    summary: dict[str, Any] = {
        "status": status.value,
        "changes": changes,
        "planned": planned,
        "applied": outcome is not None,
        "findings": {
            "errors": sum(1 for f in findings if f.severity is not Severity.WARNING),
            "warnings": sum(1 for f in findings if f.severity is Severity.WARNING),
        },
        "counts": {
            name: dict(counts) for name, counts in sorted((validation.counts if validation else {}).items())
        },
        "plan_id": plan_id,
        "operations": len(plan.operations) if plan else 0,
        "guard": {"held": plan.guard.held, "reasons": list(plan.guard.reasons)} if plan else None,
        "report_dir": report_dir,
    }
    if outcome is not None:
        summary["apply"] = {"total": outcome.total, "done": outcome.done, "failed": outcome.failed}
    if error is not None:
        summary["error"] = error
    return summary
