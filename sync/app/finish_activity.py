"""The last step of every run: the report, the finished run record and the run event; and the deadline check
that reports a set still incomplete after ``SET_WAIT_MINUTES``."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sync import service
from sync.app.orchestration import RunInput
from sync.app.run_files import (
    blob_ref,
    current_record,
    findings_counts,
    journal_of,
    load_profile,
    read_plan,
    run_folder,
    since,
    validation_findings,
    write_findings,
)
from sync.app.runtime import Runtime
from sync.app.uploads import SetRef, missing_files
from sync.directory.model import Directory, DirectorySnapshot, Operation, OperationResult
from sync.engine.apply import ApplyOutcome, apply_plan
from sync.engine.plan import Plan
from sync.errors import DirectoryUnavailable, SourceError
from sync.findings import Finding, RunStatus, Severity, sort_key, status_of
from sync.profile import ProfileError
from sync.roster.model import ValidationResult
from sync.storage.run_records import RunRecord


class _NoDirectory:
    """Stands in for the directory when a finished plan's journal is only read back."""

    max_batch = 20
    identity = "report-read-back"

    def snapshot(self) -> DirectorySnapshot:
        raise DirectoryUnavailable("the report step does not read the directory")

    def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        raise DirectoryUnavailable("operations of this plan were not applied")


def _read_back(rt: Runtime, run_id: str, plan: Plan, plan_id: str, *, approved: bool) -> ApplyOutcome:
    """What was applied, from the journal, through the engine (no directory call: everything is recorded)."""
    directory: Directory = _NoDirectory()
    return apply_plan(
        plan,
        directory,
        journal_of(rt, run_id),
        plan_id=plan_id,
        retry_delays=(),
        sleep=lambda _: None,
        approved=approved,
    )


def finish_run(rt: Runtime, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Write the run's report, finish its record, send the run event. Always the orchestration's last step.
    A repeated call for a run already finished (the host retried the activity) changes nothing."""
    run = RunInput.from_json(payload["run"])
    clock = time.monotonic()
    with rt.telemetry.stage("report", run_id=run.run_id):
        record = current_record(rt, run)
        if record.finished_at is not None:
            return {"status": record.status, "counts": dict(record.counts), "report": record.report}
        findings, file_counts = validation_findings(rt, run.run_id)
        planned = payload.get("planned")
        plan: Plan | None = None
        outcome: ApplyOutcome | None = None
        plan_id = None
        if planned:
            plan = read_plan(rt, planned["plan"])
            plan_id = str(planned["plan"]["plan_id"])
            findings = [*findings, *plan.findings]
            approved = payload.get("decision") == "approved"
            applying = "applied" in payload or "error" in payload  # what was applied, even by a failed run
            if applying and (approved or not plan.guard.held):  # a held plan nobody approved applied nothing
                outcome = _read_back(rt, run.run_id, plan, plan_id, approved=approved)
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
        write_findings(rt, reports, run_folder(run.run_id), findings, summary)
        counts = {key: int(value) for key, value in summary["changes"].items()}
        counts.update(findings_counts(findings))
        if outcome is not None:
            counts.update(applied=outcome.done - outcome.failed, failed=outcome.failed)
        message = error or (f"held plan {decision}" if status is RunStatus.HELD else None)
        if not error and outcome is not None and outcome.error:
            message = outcome.error
        superseded_by = payload.get("superseded_by")
        set_etags = record.set_etags
        if superseded_by and not error:
            message = (
                f"nothing re-synced: run {superseded_by} completed a newer set while this run waited for the "
                "sync slot"
            )
            set_etags = {}  # so the next re-sync picks that newer set, not this run's older one
        finished = record.finish(
            status.value,
            at=datetime.now(UTC),
            stage="report",
            counts=counts,
            report=report,
            decision=decision,
            message=message,
            set_etags=set_etags,
            timings={**record.timings, **dict(payload.get("timings") or {}), "report": since(clock)},
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
    report = write_findings(rt, set_ref.container, set_ref.folder, findings, summary)
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
        counts=findings_counts(findings),
        report=report,
        message=f"incomplete set: {', '.join(missing)} missing",
    )
    rt.runs.put_run(finished)
    rt.telemetry.run_completed(finished)
    return {"status": RunStatus.FAILED.value, "missing": missing}
