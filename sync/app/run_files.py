"""Where a run keeps its files and record, shared by the activities: blob references, the run folder in
``REPORTS_CONTAINER``, findings written as report files, the plan (read once per process), the journal, and
the run record's helpers.

Layout of ``REPORTS_CONTAINER``: ``runs/<run id>/`` (``validation.json``, ``roster/``, ``plan.json``, the
final ``findings.csv`` and ``summary.json``), ``journal/<plan id>/`` (apply results), ``claims/`` (starts).
Beside an upload: ``findings.csv`` and ``summary.json`` of its validation.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync import service
from sync.app.orchestration import RunInput
from sync.app.profile_blob import load_profile_blob
from sync.app.runtime import Runtime
from sync.app.uploads import OUTPUT_FILES, SetRef
from sync.engine.plan import Plan
from sync.engine.plan_io import plan_id_of
from sync.errors import UsageError
from sync.findings import Finding, Severity
from sync.profile import Profile
from sync.report import findings_csv, summary_json
from sync.roster.model import ValidationResult
from sync.roster.validate import validate_raw
from sync.storage.blob_journal import BlobJournal
from sync.storage.blob_store import BlobChanged
from sync.storage.run_records import RunRecord


def run_folder(run_id: str) -> str:
    return f"runs/{run_id}"


def blob_ref(container: str, path: str) -> str:
    return f"{container}/{path}"


def split_ref(ref: str) -> tuple[str, str]:
    container, _, path = ref.partition("/")
    return container, path


def load_profile(rt: Runtime) -> Profile:
    return load_profile_blob(rt.blobs, rt.settings)


def download_set(rt: Runtime, set_ref: SetRef, folder: Path) -> None:
    """Copy the set's files into ``folder``, the five required ones pinned to the ETags that started it."""
    listing = rt.blobs.list_folder(set_ref.container, set_ref.folder)
    for name in sorted(listing):
        if name.lower() in OUTPUT_FILES:
            continue
        data = rt.blobs.read_bytes(set_ref.container, set_ref.path_of(name), etag=set_ref.etags.get(name))
        (folder / name).write_bytes(data)


def validate_set(rt: Runtime, run: RunInput, profile: Profile) -> ValidationResult:
    """Read and validate the run's roster: the set's files (pinned to their ETags) or the Clever API."""
    if run.set_ref is None:
        return _pull_clever(rt, profile)
    with tempfile.TemporaryDirectory(prefix="sync-set-") as folder:
        download_set(rt, run.set_ref, Path(folder))
        source = service.open_roster_source(folder, profile, rt.environ)
        files, read_findings = source.read_raw()
        return validate_raw(files, read_findings, profile)


def _pull_clever(rt: Runtime, profile: Profile) -> ValidationResult:
    """Pull from the Clever API with the profile's delta state, kept as one blob in ``REPORTS_CONTAINER``
    between runs (an instance's disk does not last)."""
    from sync.clever.source import CleverApiSource
    from sync.clever.state_blob import download_state, state_blob_path, upload_state

    container, path = rt.settings.reports_container, state_blob_path(profile.name)
    with tempfile.TemporaryDirectory(prefix="sync-clever-") as folder:
        download_state(rt.blobs, container, path, folder)
        source = CleverApiSource.from_profile(profile, rt.environ, state_dir=folder)
        files, read_findings = source.read_raw()
        upload_state(rt.blobs, container, path, folder)
    return validate_raw(files, read_findings, profile)


def write_findings(
    rt: Runtime, container: str, folder: str, findings: Sequence[Finding], summary: Mapping[str, Any]
) -> str:
    prefix = f"{folder}/" if folder else ""
    rt.blobs.write_text(container, f"{prefix}findings.csv", findings_csv(findings), content_type="text/csv")
    rt.blobs.write_text(
        container, f"{prefix}summary.json", summary_json(dict(summary)), content_type="application/json"
    )
    return blob_ref(container, folder)


def since(clock: float) -> float:
    return round(time.monotonic() - clock, 3)


def findings_counts(findings: Sequence[Finding]) -> dict[str, int]:
    return {
        "findings_errors": sum(1 for f in findings if f.severity is not Severity.WARNING),
        "findings_warnings": sum(1 for f in findings if f.severity is Severity.WARNING),
    }


def new_record(rt: Runtime, run: RunInput, profile_name: str, started_at: datetime) -> RunRecord:
    return RunRecord(
        run_id=run.run_id,
        profile=profile_name,
        trigger=run.trigger,
        source=run.set_ref.location if run.set_ref else "clever_api",
        started_at=started_at,
        set_etags=dict(run.set_ref.etags) if run.set_ref else {},
    )


def current_record(rt: Runtime, run: RunInput, started_at: datetime | None = None) -> RunRecord:
    try:
        return rt.runs.get_run(run.run_id)
    except UsageError:  # the run failed before its record was first written
        return new_record(rt, run, "unknown", started_at or datetime.now(UTC))


def validation_findings(rt: Runtime, run_id: str) -> tuple[list[Finding], dict[str, Any]]:
    path = f"{run_folder(run_id)}/validation.json"
    if not rt.blobs.exists(rt.settings.reports_container, path):
        return [], {}
    data = rt.blobs.read_json(rt.settings.reports_container, path)
    return [Finding.from_json(item) for item in data["findings"]], dict(data["counts"])


def read_plan(rt: Runtime, plan_ref: Mapping[str, Any]) -> Plan:
    """The plan of ``plan_ref``, read once per process (every chunk of a run uses the same one)."""
    key = f"plan:{plan_ref['plan_id']}"
    if key not in rt.cache:
        for stale in [k for k in rt.cache if k.startswith("plan:")]:
            del rt.cache[stale]
        container, path = split_ref(plan_ref["blob"])
        data = rt.blobs.read_bytes(container, path)
        if plan_id_of(hashlib.sha256(data)) != plan_ref["plan_id"]:
            # The plan's id is the hash of its JSON: other bytes are a plan changed or damaged since it was
            # made, which no retry mends (and which must not be applied).
            raise BlobChanged(
                f"{plan_ref['blob']} no longer holds the plan this run made ({plan_ref['plan_id']}): it was "
                "changed or damaged; start the run again to plan afresh"
            )
        rt.cache[key] = Plan.loads(data)
    plan: Plan = rt.cache[key]
    return plan


def journal_of(rt: Runtime, run_id: str) -> BlobJournal:
    """The journal of one run. Keyed by run as well as plan: the same drift on two nights gives the same plan
    id, and the second night must apply it again rather than find it done."""
    return BlobJournal(rt.blobs, rt.settings.reports_container, prefix=f"journal/{run_id}")
