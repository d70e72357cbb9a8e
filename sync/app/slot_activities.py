"""The activities around the tenant's sync slot (see :mod:`sync.storage.sync_slot`): a run claims it after
validation, before it snapshots the directory, and releases it after its report, on every way out.

Both are idempotent: a claim replayed or retried by the run holding the slot is granted again, a release by a
run that does not hold it (any more) changes nothing. A refused claim marks the run record ``queued`` with the
run it waits for, so ``python -m sync runs`` and ``GET /api/runs/{id}`` show it as queued.

A granted claim of a re-sync (nightly, or manual without a folder) says ``superseded_by`` when another set
was accepted since the run picked the last accepted one: the run then ends without planning instead of
putting the older set back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sync.app.nightly_run import superseding_run
from sync.app.orchestration import RunInput
from sync.app.run_files import current_record
from sync.app.runtime import Runtime
from sync.errors import UsageError

QUEUED = "queued"


def _finished(rt: Runtime, run_id: str) -> bool:
    """Whether ``run_id`` has finished; a holder without a record (never started, record store wiped) has no
    run that could still release the slot, so it counts as finished."""
    try:
        return rt.runs.get_run(run_id).finished_at is not None
    except UsageError:
        return True


def claim_slot(rt: Runtime, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Take the sync slot for the run, or record the run as queued behind the one holding it."""
    run = RunInput.from_json(payload["run"])
    claim = rt.sync_slot().claim(
        run.run_id, now=datetime.now(UTC), is_finished=lambda holder: _finished(rt, holder)
    )
    record = current_record(rt, run)
    if claim.granted:
        if claim.took_over is not None:
            rt.log.warning(
                "run %s took the sync slot over from run %s (finished or stale since %s)",
                run.run_id,
                claim.took_over.run_id,
                claim.took_over.taken_at.isoformat(),
            )
        if record.status == QUEUED:
            rt.runs.put_run(replace(record, status="running", stage="plan", message=None))
        newer = superseding_run(rt, run)
        if newer is not None:
            return {"granted": True, "superseded_by": newer.run_id, "source": newer.source}
        return {"granted": True}
    holder = claim.holder
    message = (
        f"queued behind run {holder.run_id}, which holds the sync slot since "
        f"{holder.taken_at:%Y-%m-%d %H:%M} UTC; this run plans once that one has finished"
    )
    if (record.status, record.message) != (QUEUED, message):
        rt.runs.put_run(replace(record, status=QUEUED, stage=QUEUED, message=message))
    rt.log.info("run %s is queued behind run %s", run.run_id, holder.run_id)
    return {"granted": False, "holder": holder.run_id, "since": holder.taken_at.isoformat()}


def release_slot(rt: Runtime, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Free the sync slot if this run holds it (the run's last step, whatever its outcome)."""
    run = RunInput.from_json(payload["run"])
    released = rt.sync_slot().release(run.run_id)
    if released:
        rt.log.info("run %s released the sync slot", run.run_id)
    return {"released": released}
