"""The nightly timer's one call: re-sync the last accepted file set (so drift in the directory is repaired),
or pull from the Clever API when the profile's source says so. One run per night: the instance id is the
date, claimed once. Its Graph requests carry ``x-ms-throttle-priority: low`` (``RunOptions.low_priority``):
nobody waits for a nightly run, so the tenant throttles it before interactive work."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sync.app.orchestration import RunInput, RunOptions
from sync.app.profile_blob import load_profile_blob
from sync.app.runtime import Runtime
from sync.app.starts import Start, sync_start
from sync.app.uploads import CLAIMS_PREFIX, SetRef, missing_files, set_ref_of
from sync.storage.run_records import RunRecord

ACCEPTED = frozenset({"completed", "completed_with_warnings", "completed_with_errors"})
_HISTORY = 200


def last_accepted_record(rt: Runtime) -> RunRecord | None:
    """The record of the newest run that completed a file set (``None`` if none)."""
    return next((r for r in rt.runs.list_runs(limit=_HISTORY) if r.status in ACCEPTED and r.set_etags), None)


def superseding_run(rt: Runtime, run: RunInput) -> RunRecord | None:
    """For a re-sync of the last accepted set: the run that completed another set (or another version of it)
    since this run picked its set, so re-syncing it now would undo that run; ``None`` otherwise."""
    if not run.resync or run.set_ref is None:
        return None
    record = last_accepted_record(rt)
    if record is None or record.run_id == run.run_id:
        return None
    if (record.source, dict(record.set_etags)) == (run.set_ref.location, dict(run.set_ref.etags)):
        return None
    return record


def last_accepted_set(rt: Runtime) -> SetRef | None:
    """The newest file set whose run completed, as it is in the upload container now (``None`` if none, or
    if its folder no longer holds all five files)."""
    record = last_accepted_record(rt)
    if record is None:
        return None
    container, _, folder = record.source.partition("/")
    listing = rt.blobs.list_folder(container, folder)
    if missing_files(listing):
        rt.log.warning("the last accepted set %s is no longer complete; nothing to re-sync", record.source)
        return None
    return set_ref_of(container, folder, listing)


def resync_input(rt: Runtime, *, run_id: str, trigger: str, options: RunOptions) -> RunInput | None:
    """What a run that was not started by an upload syncs: the Clever API or the last accepted set."""
    profile = load_profile_blob(rt.blobs, rt.settings)
    if profile.source == "clever_api":
        return RunInput(run_id, trigger, None, options)
    set_ref = last_accepted_set(rt)
    if set_ref is None:
        return None
    return RunInput(run_id, trigger, set_ref, options, resync=True)


def start_for_night(rt: Runtime, *, now: datetime, options: RunOptions) -> Start | None:
    run_id = f"nightly-{now:%Y-%m-%d}"
    run = resync_input(rt, run_id=run_id, trigger="nightly", options=replace(options, low_priority=True))
    if run is None:
        rt.log.warning("nightly run: no accepted file set yet; upload one first")
        return None
    if not rt.blobs.create_once(rt.settings.reports_container, f"{CLAIMS_PREFIX}{run_id}"):
        rt.log.info("nightly run %s was already started", run_id)
        return None
    return sync_start(run)
