"""The validate and plan activities of the sync orchestration. Each takes the :class:`Runtime` and a JSON-able
payload of references, does its stage through the service layer, records it, and returns a small JSON-able
result. Activities are idempotent (the host retries them): outputs go to fixed blob paths and run records
are upserts. Applying is in :mod:`sync.app.apply_activity`, the report in :mod:`sync.app.finish_activity`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from sync import service
from sync.app.memory_check import check_apply_memory, check_plan_memory, check_roster_memory
from sync.app.orchestration import RunInput
from sync.app.roster_blobs import read_roster, write_roster
from sync.app.run_files import (
    blob_ref,
    current_record,
    findings_counts,
    load_profile,
    new_record,
    run_folder,
    since,
    split_ref,
    validate_set,
    validation_findings,
    write_findings,
)
from sync.app.runtime import Runtime
from sync.engine.plan import CHANGE_KEYS, Plan
from sync.engine.plan_io import encoded_plan, plan_id_of
from sync.engine.plan_memory import plan_input_size, roster_input_size
from sync.findings import RunStatus, sort_key
from sync.report import validation_summary


def validate_run(rt: Runtime, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the set (or pull from the Clever API); write the findings beside the upload at once."""
    run = RunInput.from_json(payload["run"])
    started_at = datetime.fromisoformat(payload["started_at"])
    clock = time.monotonic()
    with rt.telemetry.stage("validate", run_id=run.run_id):
        profile = load_profile(rt)
        rt.runs.put_run(new_record(rt, run, profile.name, started_at))
        result = validate_set(rt, run, profile)
        findings = sorted(result.findings, key=sort_key)
        reports = rt.settings.reports_container
        if run.set_ref is not None:
            write_findings(
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
                new_record(rt, run, profile.name, started_at),
                stage="validate",
                counts=findings_counts(findings),
                timings={"validate": since(clock)},
            )
        )
    return {
        "accepted": roster is not None,
        "status": result.status.value,
        "roster": roster,
        **findings_counts(findings),
    }


def plan_run(rt: Runtime, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Snapshot the directory and plan; store the plan as a blob; hold the run when the guard says so. A plan
    that would not fit in the instance's memory, to make or to apply, fails the run for good before anything
    is applied (:mod:`sync.app.memory_check`)."""
    run = RunInput.from_json(payload["run"])
    today = date.fromisoformat(payload["today"])
    clock = time.monotonic()
    with rt.telemetry.stage("plan", run_id=run.run_id):
        profile = load_profile(rt)
        container, prefix = split_ref(payload["validated"]["roster"])
        roster = read_roster(rt.blobs, container, prefix)
        findings, _ = validation_findings(rt, run.run_id)
        memory, check = rt.memory_limit(), rt.settings.memory_check
        check_roster_memory(roster_input_size(roster), memory, enabled=check, log=rt.log)
        with rt.telemetry.stage("snapshot", run_id=run.run_id):
            snapshot = rt.directory(low_priority=run.options.low_priority).snapshot()
        check_plan_memory(plan_input_size(roster, snapshot), memory, enabled=check, log=rt.log)
        plan = service.make_plan(roster, profile, snapshot, today, findings)
        reports = rt.settings.reports_container
        path = f"{run_folder(run.run_id)}/plan.json"
        plan_id, plan_bytes = _store_plan(rt, reports, path, plan)
        check_apply_memory(len(plan.operations), plan_bytes, memory, enabled=check, log=rt.log)
        record = current_record(rt, run)
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
                timings={**record.timings, "plan": since(clock)},
            )
        )
    return {
        "plan": {"blob": blob_ref(reports, path), "plan_id": plan_id},
        "operations": len(plan.operations),
        "slices": [list(piece) for piece in plan.phase_slices()],
        "held": plan.guard.held,
        "reasons": list(plan.guard.reasons),
    }


def _store_plan(rt: Runtime, container: str, path: str, plan: Plan) -> tuple[str, int]:
    """Write the plan's canonical JSON to a blob; return its id and its size in bytes. The JSON is made and
    uploaded a block at a time, hashed on the way: held whole, a first sync of a large district would need
    gigabytes more than planning itself (:meth:`Plan.dumps`, twice with :attr:`Plan.plan_id`)."""
    digest = hashlib.sha256()
    size = 0

    def chunks() -> Iterator[bytes]:
        nonlocal size
        for data in encoded_plan(plan, digest):
            size += len(data)
            yield data

    rt.blobs.write_stream(container, path, chunks(), content_type="application/json; charset=utf-8")
    return plan_id_of(digest), size
