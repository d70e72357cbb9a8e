"""What a trigger asks the Durable client to start: an orchestrator, an instance id and its input.

Triggers (blob, timer, HTTP) each call one builder here or in :mod:`sync.app.nightly_run` /
:mod:`sync.app.http_api`; ``function_app.py`` passes the result to ``client.start_new``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.app.orchestration import RunInput, RunOptions
from sync.app.runtime import Runtime
from sync.app.uploads import NothingToDo, StartRun, StartSetDeadline, on_upload

SYNC_ORCHESTRATOR = "sync_run"
SET_DEADLINE_ORCHESTRATOR = "set_deadline"


@dataclass(frozen=True, slots=True)
class Start:
    orchestrator: str
    instance_id: str
    input: Mapping[str, Any]


def sync_start(run: RunInput) -> Start:
    return Start(SYNC_ORCHESTRATOR, run.run_id, run.to_json())


def start_for_upload(runtime: Runtime, *, blob_name: str, now: datetime, options: RunOptions) -> Start | None:
    """The blob trigger's one call: what (if anything) the upload of ``blob_name`` starts."""
    settings = runtime.settings
    decision = on_upload(
        runtime.blobs,
        upload_container=settings.upload_container,
        reports_container=settings.reports_container,
        blob_name=blob_name,
        now=now,
    )
    if isinstance(decision, StartRun):
        return sync_start(RunInput(decision.instance_id, "upload", decision.set_ref, options))
    if isinstance(decision, StartSetDeadline):
        watch = {
            "run_id": decision.instance_id,
            "set": decision.set_ref.to_json(),
            "first_seen": decision.first_seen.isoformat(),
            "wait_minutes": settings.set_wait_minutes,
        }
        return Start(SET_DEADLINE_ORCHESTRATOR, decision.instance_id, watch)
    assert isinstance(decision, NothingToDo)
    runtime.log.debug("upload %s starts nothing: %s", blob_name, decision.reason)
    return None
