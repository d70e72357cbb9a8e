"""Activity bodies of the sync orchestration. Each takes the :class:`Runtime` and a JSON-able payload of
references, does one stage through the service layer, records it, and returns a small JSON-able result.

Activities are idempotent (the host retries them): outputs are written to fixed blob paths, run records are
upserts, and applied operations are journaled by plan id, so a repeated call redoes nothing twice.

Blob layout in ``REPORTS_CONTAINER``: ``runs/<run id>/`` (``validation.json``, ``roster/``, ``plan.json``, the
final ``findings.csv`` and ``summary.json``), ``journal/<plan id>/`` (apply results), ``claims/`` (starts).
Beside an upload: ``findings.csv`` and ``summary.json`` of its validation.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sync import service
from sync.app.chunks import ChunkJournal, cut_chunk
from sync.app.orchestration import RunInput
from sync.app.profile_blob import load_profile_blob
from sync.app.roster_blobs import read_roster, write_roster
from sync.app.runtime import Runtime
from sync.app.uploads import OUTPUT_FILES, SetRef, missing_files
from sync.directory.model import Directory, DirectorySnapshot, Operation, OperationResult, OpKind
from sync.engine.apply import ApplyOutcome, apply_plan
from sync.engine.plan import CHANGE_KEYS, Plan
from sync.engine.user_ops import REDACTED
from sync.errors import DirectoryUnavailable, SourceError, UsageError
from sync.findings import Finding, RunStatus, Severity, sort_key, status_of
from sync.profile import Profile, ProfileError
from sync.report import findings_csv, summary_json, validation_summary
from sync.roster.model import ValidationResult
from sync.roster.validate import validate_raw
from sync.storage.blob_journal import BlobJournal
from sync.storage.run_records import RunRecord

# --- references ---------------------------------------------------------------------------------------


def run_folder(run_id: str) -> str:
    return f"runs/{run_id}"


def blob_ref(container: str, path: str) -> str:
    return f"{container}/{path}"


def split_ref(ref: str) -> tuple[str, str]:
    container, _, path = ref.partition("/")
    return container, path


# --- shared steps -------------------------------------------------------------------------------------


def load_profile(rt: Runtime) -> Profile:
    return load_profile_blob(rt.blobs, rt.settings)


def _download_set(rt: Runtime, set_ref: SetRef, folder: Path) -> None:
    """Copy the set's files into ``folder``, the five required ones pinned to the ETags that started it."""
    listing = rt.blobs.list_folder(set_ref.container, set_ref.folder)
    for name in sorted(listing):
        if name.lower() in OUTPUT_FILES:
            continue
        data = rt.blobs.read_bytes(set_ref.container, set_ref.path_of(name), etag=set_ref.etags.get(name))
        (folder / name).write_bytes(data)


def _validate(rt: Runtime, run: RunInput, profile: Profile) -> ValidationResult:
    if run.set_ref is None:
        source = service.open_roster_source(None, profile, rt.environ)
        files, read_findings = source.read_raw()
        return validate_raw(files, read_findings, profile)
    with tempfile.TemporaryDirectory(prefix="sync-set-") as folder:
        _download_set(rt, run.set_ref, Path(folder))
        source = service.open_roster_source(folder, profile, rt.environ)
        files, read_findings = source.read_raw()
        return validate_raw(files, read_findings, profile)


def _write_findings(
    rt: Runtime, container: str, folder: str, findings: Sequence[Finding], summary: Mapping[str, Any]
) -> str:
    prefix = f"{folder}/" if folder else ""
    rt.blobs.write_text(container, f"{prefix}findings.csv", findings_csv(findings), content_type="text/csv")
    rt.blobs.write_text(
        container, f"{prefix}summary.json", summary_json(dict(summary)), content_type="application/json"
    )
    return blob_ref(container, folder)


def _since(clock: float) -> float:
    return round(time.monotonic() - clock, 3)


def _findings_counts(findings: Sequence[Finding]) -> dict[str, int]:
    return {
        "findings_errors": sum(1 for f in findings if f.severity is not Severity.WARNING),
        "findings_warnings": sum(1 for f in findings if f.severity is Severity.WARNING),
    }


def _record(rt: Runtime, run: RunInput, profile_name: str, started_at: datetime) -> RunRecord:
    return RunRecord(
        run_id=run.run_id,
        profile=profile_name,
        trigger=run.trigger,
        source=run.set_ref.location if run.set_ref else "clever_api",
        started_at=started_at,
        set_etags=dict(run.set_ref.etags) if run.set_ref else {},
    )


def _current_record(rt: Runtime, run: RunInput, started_at: datetime | None = None) -> RunRecord:
    try:
        return rt.runs.get_run(run.run_id)
    except UsageError:  # the run failed before its record was first written
        return _record(rt, run, "unknown", started_at or datetime.now(UTC))


# --- activities ---------------------------------------------------------------------------------------


def validate_run(rt: Runtime, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the set (or pull from the Clever API); write the findings beside the upload at once."""
    run = RunInput.from_json(payload["run"])
    started_at = datetime.fromisoformat(payload["started_at"])
    clock = time.monotonic()
    with rt.telemetry.stage("validate", run_id=run.run_id):
        profile = load_profile(rt)
        rt.runs.put_run(_record(rt, run, profile.name, started_at))
        result = _validate(rt, run, profile)
        findings = sorted(result.findings, key=sort_key)
        reports = rt.settings.reports_container
        if run.set_ref is not None:
            _write_findings(
                rt, run.set_ref.container, run.set_ref.folder, findings, validation_summary(result)
            )
        rt.blobs.write_json(
            reports,
            f"{run_folder(run.run_id)}/validation.json",
            {
                "findings": [f.to_json() for f in findings],
                "counts": {name: dict(counts) for name, counts in result.counts.items()},
            },
        )
        roster = None
        if result.roster is not None:
            roster = blob_ref(
                reports, write_roster(rt.blobs, reports, f"{run_folder(run.run_id)}/roster", result.roster)
            )
        rt.runs.put_run(
            replace(
                _record(rt, run, profile.name, started_at),
                stage="validate",
                counts=_findings_counts(findings),
                timings={"validate": _since(clock)},
            )
        )
    return {
        "accepted": roster is not None,
        "status": result.status.value,
        "roster": roster,
        **_findings_counts(findings),
    }


def _validation_findings(rt: Runtime, run_id: str) -> tuple[list[Finding], dict[str, Any]]:
    path = f"{run_folder(run_id)}/validation.json"
    if not rt.blobs.exists(rt.settings.reports_container, path):
        return [], {}
    data = rt.blobs.read_json(rt.settings.reports_container, path)
    return [Finding.from_json(item) for item in data["findings"]], dict(data["counts"])


def plan_run(rt: Runtime, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Snapshot the directory and plan; store the plan as a blob; hold the run when the guard says so."""
    run = RunInput.from_json(payload["run"])
    today = date.fromisoformat(payload["today"])
    clock = time.monotonic()
    with rt.telemetry.stage("plan", run_id=run.run_id):
        profile = load_profile(rt)
        container, prefix = split_ref(payload["validated"]["roster"])
        roster = read_roster(rt.blobs, container, prefix)
        findings, _ = _validation_findings(rt, run.run_id)
        with rt.telemetry.stage("snapshot", run_id=run.run_id):
            snapshot = rt.directory().snapshot()
        plan = service.make_plan(roster, profile, snapshot, today, findings)
        reports = rt.settings.reports_container
        path = f"{run_folder(run.run_id)}/plan.json"
        rt.blobs.write_text(reports, path, plan.dumps(), content_type="application/json")
        plan_id = plan.plan_id
        record = _current_record(rt, run)
        counts = {**record.counts, **{key: int(plan.changes.get(key, 0)) for key in CHANGE_KEYS}}
        status = RunStatus.HELD.value if plan.guard.held else "running"
        message = "; ".join(plan.guard.reasons) if plan.guard.held else None
        rt.runs.put_run(
            replace(
                record,
                stage="guard" if plan.guard.held else "plan",
                status=status,
                counts=counts,
                message=message,
                timings={**record.timings, "plan": _since(clock)},
            )
        )
    return {
        "plan": {"blob": blob_ref(reports, path), "plan_id": plan_id},
        "operations": len(plan.operations),
        "slices": [list(piece) for piece in plan.phase_slices()],
        "held": plan.guard.held,
        "reasons": list(plan.guard.reasons),
    }


def _plan(rt: Runtime, plan_ref: Mapping[str, Any]) -> Plan:
    """The plan of ``plan_ref``, read once per process (every chunk of a run uses the same one)."""
    key = f"plan:{plan_ref['plan_id']}"
    if key not in rt.cache:
        for stale in [k for k in rt.cache if k.startswith("plan:")]:
            del rt.cache[stale]
        container, path = split_ref(plan_ref["blob"])
        rt.cache[key] = Plan.from_json(rt.blobs.read_json(container, path))
    plan: Plan = rt.cache[key]
    return plan


def _journal(rt: Runtime) -> BlobJournal:
    return BlobJournal(rt.blobs, rt.settings.reports_container, prefix="journal")


def _with_roster_password(operations: Sequence[Operation]) -> frozenset[str]:
    return frozenset(
        op.target
        for op in operations
        if op.kind is OpKind.CREATE_USER
        and (op.fields.get("passwordProfile") or {}).get("password") == REDACTED
    )


def _passwords(rt: Runtime, run_id: str, plan: Plan, start: int, end: int) -> dict[str, str]:
    """Roster passwords of the accounts the plan creates, read from the run's set once per process and only
    when operations ``start..end-1`` need them. They stay in memory: never in a blob, a log or a result."""
    if not _with_roster_password(plan.operations[start:end]):
        return {}
    key = f"passwords:{run_id}"
    if key not in rt.cache:
        for stale in [k for k in rt.cache if k.startswith("passwords:")]:
            del rt.cache[stale]
        rt.cache[key] = _read_passwords(rt, run_id, _with_roster_password(plan.operations))
    passwords: dict[str, str] = rt.cache[key]
    return passwords


def _read_passwords(rt: Runtime, run_id: str, wanted: frozenset[str]) -> dict[str, str]:
    record = rt.runs.get_run(run_id)
    container, _, folder = record.source.partition("/")
    if record.source == "clever_api":
        return {}
    run = RunInput(run_id, record.trigger, SetRef(container, folder, record.set_etags))
    profile = load_profile(rt)
    result = _validate(rt, run, profile)
    if result.roster is None:
        raise SourceError(f"the set in {record.source} no longer validates; upload it again")
    from sync.engine.desired import roster_passwords

    return roster_passwords(result.roster, profile, wanted)


def apply_chunk(rt: Runtime, payload: Mapping[str, Any]) -> dict[str, int]:
    """Apply operations ``start..end-1`` of the plan; journaled, so a retry skips what is done."""
    run_id = str(payload["run_id"])
    start, end = int(payload["start"]), int(payload["end"])
    with rt.telemetry.stage("apply", run_id=run_id):
        plan = _plan(rt, payload["plan"])
        plan_id = str(payload["plan"]["plan_id"])
        journal = _journal(rt)
        chunk = cut_chunk(plan, start, end, journal, plan_id)
        chunk_journal = ChunkJournal(chunk, journal, plan_id)
        passwords = _passwords(rt, run_id, plan, start, end)
        outcome = apply_plan(chunk.plan, rt.directory(), chunk_journal, passwords=passwords, plan_id=plan_id)
        if outcome.error is not None:
            raise SourceError(outcome.error)  # transient: the orchestrator retries the chunk
    window = {i: r for i, r in chunk.known.items() if chunk.global_index[i] >= start}
    done = {**{chunk.global_index[i]: r for i, r in window.items()}, **chunk_journal.recorded}
    return {
        "applied": sum(1 for r in done.values() if r.ok),
        "failed": sum(1 for r in done.values() if not r.ok),
        "writes": sum(1 for r in chunk_journal.recorded.values() if r.code != "Skipped"),
    }


class _NoDirectory:
    """Stands in for the directory when a finished plan's journal is only read back."""

    max_batch = 20

    def snapshot(self) -> DirectorySnapshot:
        raise DirectoryUnavailable("the report step does not read the directory")

    def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        raise DirectoryUnavailable("operations of this plan were not applied")


def _read_back(rt: Runtime, plan: Plan, plan_id: str) -> ApplyOutcome:
    """What was applied, from the journal, through the engine (no directory call: everything is recorded)."""
    directory: Directory = _NoDirectory()
    return apply_plan(plan, directory, _journal(rt), plan_id=plan_id, retry_delays=(), sleep=lambda _: None)


def finish_run(rt: Runtime, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Write the run's report, finish its record, send the run event. Always the orchestration's last step."""
    run = RunInput.from_json(payload["run"])
    clock = time.monotonic()
    with rt.telemetry.stage("report", run_id=run.run_id):
        record = _current_record(rt, run)
        findings, file_counts = _validation_findings(rt, run.run_id)
        planned = payload.get("planned")
        plan: Plan | None = None
        outcome: ApplyOutcome | None = None
        plan_id = None
        if planned:
            plan = _plan(rt, planned["plan"])
            plan_id = str(planned["plan"]["plan_id"])
            findings = [*findings, *plan.findings]
            if "applied" in payload:
                outcome = _read_back(rt, plan, plan_id)
                findings = [*findings, *outcome.findings]
        error = payload.get("error")
        decision = payload.get("decision")
        validated = payload.get("validated") or {}
        if error or (validated and not validated.get("accepted")) or (outcome and not outcome.complete):
            status = RunStatus.FAILED
        elif decision in ("rejected", "expired"):
            status = RunStatus.HELD
        else:
            status = status_of(findings)
        findings = sorted(findings, key=sort_key)
        reports = rt.settings.reports_container
        report = blob_ref(reports, run_folder(run.run_id))
        validation = ValidationResult(None, findings, file_counts)
        summary = service.run_summary(
            status=status,
            findings=findings,
            validation=validation,
            plan=plan,
            outcome=outcome,
            plan_id=plan_id,
            report_dir=report,
            error=error,
        )
        if decision is not None:
            summary["decision"] = decision
        _write_findings(rt, reports, run_folder(run.run_id), findings, summary)
        counts = {key: int(value) for key, value in summary["changes"].items()}
        counts.update(_findings_counts(findings))
        if outcome is not None:
            counts.update(applied=outcome.done - outcome.failed, failed=outcome.failed)
        message = error or (f"held plan {decision}" if status is RunStatus.HELD else None)
        if not error and outcome is not None and outcome.error:
            message = outcome.error
        finished = record.finish(
            status.value,
            at=datetime.now(UTC),
            stage="report",
            counts=counts,
            report=report,
            decision=decision,
            message=message,
            timings={**record.timings, **dict(payload.get("timings") or {}), "report": _since(clock)},
        )
        rt.runs.put_run(finished)
        rt.telemetry.run_completed(finished)
    return {"status": status.value, "counts": counts, "report": report}


def check_set_deadline(rt: Runtime, payload: Mapping[str, Any]) -> dict[str, Any]:
    """After the wait: a set still missing files gets ``missing_file`` findings beside it and a failed run."""
    set_ref = SetRef.from_json(payload["set"])
    missing = missing_files(rt.blobs.list_folder(set_ref.container, set_ref.folder))
    if not missing:
        return {"status": "complete", "missing": []}
    wait = float(payload["wait_minutes"])
    findings = [
        Finding(
            name,
            None,
            None,
            None,
            Severity.FILE_ERROR,
            "missing_file",
            f"{name} is missing: the set in {set_ref.location} is still incomplete {wait:g} minutes after "
            "its first file arrived; upload all five files into the folder",
        )
        for name in missing
    ]
    summary = {"status": RunStatus.FAILED.value, "counts": {}, "findings": [f.to_dict() for f in findings]}
    report = _write_findings(rt, set_ref.container, set_ref.folder, findings, summary)
    try:
        profile_name = load_profile(rt).name
    except (SourceError, ProfileError):
        profile_name = "unknown"
    first_seen = datetime.fromisoformat(payload["first_seen"])
    run_id = str(payload["run_id"])
    record = RunRecord(
        run_id, profile_name, "upload", set_ref.location, stage="validate", started_at=first_seen
    )
    finished = record.finish(
        RunStatus.FAILED.value,
        at=datetime.now(UTC),
        counts=_findings_counts(findings),
        report=report,
        message=f"incomplete set: {', '.join(missing)} missing",
    )
    rt.runs.put_run(finished)
    rt.telemetry.run_completed(finished)
    return {"status": RunStatus.FAILED.value, "missing": missing}
