"""The HTTP endpoints' logic (function-key auth is the host's): start a run, list runs, read one, approve or
reject a held one. Each returns an :class:`Answer`; ``function_app.py`` turns it into an ``HttpResponse`` and
performs the Durable call it names (start an orchestration, raise the approval event).

- ``POST /api/runs`` body ``{}`` (the last accepted set, or a Clever API pull) or ``{"folder": "<folder>"}``
  (a set in the upload container) → 202 ``{"run_id", "status_url"}``.
- ``GET /api/runs?last=N`` → 200 ``{"runs": [...]}``.
- ``GET /api/runs/{id}`` → 200 ``{"run", "orchestration"}``.
- ``POST /api/runs/{id}/approve`` | ``/reject`` → 202 when the run is held and waiting (the record takes the
  decision at once; the orchestration gets it as its ``approval`` event); 409 otherwise.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sync.app.nightly_run import resync_input
from sync.app.orchestration import RunInput, RunOptions
from sync.app.runtime import Runtime
from sync.app.starts import Start, sync_start
from sync.app.uploads import missing_files, set_ref_of
from sync.errors import SyncError, UsageError
from sync.profile import ProfileError

MAX_LAST = 1000


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    start: Start | None = None
    #: Payload of the approval event to raise on the run's orchestration.
    event: dict[str, str] | None = None


#: What a run id looks like (``upload-…``, ``manual-…``, ``nightly-…``): anything else is refused before the
#: run store is asked (a Table key cannot hold ``/``, ``\\``, ``#``, ``?`` or control characters).
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: Longest folder path a start request may name (a blob name has at most 1,024 characters).
MAX_FOLDER = 1024


def _error(status: int, message: str) -> Answer:
    return Answer(status, {"error": message})


def start_request(rt: Runtime, *, body: bytes, now: datetime, options: RunOptions) -> Answer:
    try:
        request = json.loads(body.decode("utf-8")) if body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return _error(400, f'the body is not JSON ({err}); send {{}} or {{"folder": "<folder>"}}')
    if not isinstance(request, dict) or set(request) - {"folder"}:
        return _error(400, 'the body may hold only "folder" (a folder of the upload container)')
    folder = request.get("folder")
    stamp = f"{now:%Y%m%dT%H%M%S}"
    if folder is None:
        run_id = f"manual-{stamp}"
        try:
            run = resync_input(rt, run_id=run_id, trigger="manual", options=options)
        except (SyncError, ProfileError) as err:
            return _error(500, f"cannot start a run: {err}")
        if run is None:
            return _error(409, "no accepted file set yet: upload one, or name a folder")
    else:
        if (
            not isinstance(folder, str)
            or folder.startswith("/")
            or ".." in folder.split("/")
            or len(folder) > MAX_FOLDER
            or not folder.isprintable()
        ):
            return _error(
                400, '"folder" must be a folder path inside the upload container, e.g. "2026-09-01"'
            )
        container = rt.settings.upload_container
        listing = rt.blobs.list_folder(container, folder.strip("/"))
        missing = missing_files(listing)
        if missing:
            return _error(
                400, f"folder {folder!r} of {container} lacks {', '.join(missing)}; upload them first"
            )
        set_ref = set_ref_of(container, folder.strip("/"), listing)
        digest = hashlib.sha256(set_ref.location.encode()).hexdigest()[:8]
        run = RunInput(f"manual-{stamp}-{digest}", "manual", set_ref, options)
    return Answer(202, {"run_id": run.run_id, "status_url": f"/api/runs/{run.run_id}"}, start=sync_start(run))


def list_request(rt: Runtime, *, last: str | None) -> Answer:
    limit = 20
    if last is not None:
        if not last.isdigit() or not 1 <= int(last) <= MAX_LAST:
            return _error(400, f"last={last!r}: give a whole number from 1 to {MAX_LAST}")
        limit = int(last)
    return Answer(200, {"runs": [record.to_json() for record in rt.runs.list_runs(limit=limit)]})


def not_a_run_id(run_id: str) -> Answer | None:
    """A 400 for a path segment that cannot be a run id (the run store is not asked about it)."""
    if RUN_ID.fullmatch(run_id):
        return None
    shown = run_id[:40] + ("…" if len(run_id) > 40 else "")
    return _error(400, f"{shown!r} is not a run id: use a run_id given by POST /api/runs or GET /api/runs")


def status_request(rt: Runtime, *, run_id: str, orchestration_status: str | None) -> Answer:
    if (refused := not_a_run_id(run_id)) is not None:
        return refused
    try:
        record = rt.runs.get_run(run_id)
    except UsageError as err:
        if orchestration_status is None:
            return _error(404, str(err))
        return Answer(200, {"run": None, "orchestration": orchestration_status})
    return Answer(200, {"run": record.to_json(), "orchestration": orchestration_status})


def decision_request(rt: Runtime, *, run_id: str, action: str) -> Answer:
    decision = {"approve": "approved", "reject": "rejected"}.get(action)
    if decision is None:
        return _error(404, f"unknown action {action!r}: use approve or reject")
    if (refused := not_a_run_id(run_id)) is not None:
        return refused
    try:
        record = rt.runs.get_run(run_id)
    except UsageError as err:
        return _error(404, str(err))
    if record.status != "held" or record.decision is not None or record.finished_at is not None:
        return _error(409, f"run {run_id} is {record.status}, not waiting for approval")
    approved = decision == "approved"
    rt.runs.put_run(
        replace(
            record,
            decision=decision,
            status="running" if approved else "held",
            stage="apply" if approved else "guard",
        )
    )
    return Answer(202, {"run_id": run_id, "decision": decision}, event={"decision": decision})
