"""The Azure Functions app (Python v2 model): triggers only. Every function parses its binding, calls one
function of ``sync.app`` and returns. All logic lives in ``sync/``; this is the only module importing
``azure.functions`` and ``azure.durable_functions``.

Functions:
- ``on_upload`` (blob trigger on ``%UPLOAD_CONTAINER%``, bound to a ``BlobClient``: the host passes a
  reference to the blob, never its content): starts one ``sync_run`` per complete file set, or a
  ``set_deadline`` for a partial one.
- ``nightly`` (timer, ``%SYNC_SCHEDULE%``): re-syncs the last accepted set, or pulls from the Clever API.
- ``start_run`` / ``list_runs`` / ``get_run`` / ``decide_run`` (HTTP, function key).
- ``sync_run`` (orchestrator): validate → claim the tenant's sync slot (``wait_for_slot`` while another run
  holds it) → plan → guard → apply (one ``apply_phase`` per plan phase, each running ``apply_batch``
  sub-orchestrations and continuing as new every few batches) → finish → release the slot.
- activities ``validate_run``, ``claim_slot``, ``plan_run``, ``apply_chunk``, ``finish_run``,
  ``release_slot``, ``check_set_deadline``. An activity returns ``{"error", "permanent": true}`` for an error
  another attempt cannot cure (:mod:`sync.app.permanent`); the run then fails at once instead of retrying.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

from sync.app import (
    activities,
    apply_activity,
    finish_activity,
    http_api,
    nightly_run,
    slot_activities,
    starts,
    uploads,
)
from sync.app.orchestration import (
    APPROVAL_EVENT,
    QUEUE_POLLS_PER_GENERATION,
    RETRY_FIRST_INTERVAL_MS,
    RETRY_MAX_ATTEMPTS,
    ApplyPhase,
    RunInput,
    RunOptions,
    add_totals,
    apply_batch_id,
    apply_phase_id,
    apply_phases,
    decision_of,
    first_line,
    next_queue_poll,
    pause_after_wave,
    queue_gave_up,
    seconds_between,
    waves,
)
from sync.app.permanent import is_permanent_result, run_activity
from sync.app.runtime import Runtime
from sync.settings import Settings, upload_trigger_source

LOG = logging.getLogger("sync.function_app")
RETRY = df.RetryOptions(RETRY_FIRST_INTERVAL_MS, RETRY_MAX_ATTEMPTS)


#: The upload trigger's source is fixed when the functions are registered, at import: an invalid
#: ``UPLOAD_TRIGGER_SOURCE`` falls back to Event Grid here and is reported with every other problem by the
#: start-up check at the end of this module (``Settings.from_env``). Flex Consumption delivers blob events
#: through Event Grid only; Azurite has none, so ``local.settings.json`` switches to container scanning.
UPLOAD_TRIGGER_SOURCE = func.BlobSource(upload_trigger_source(os.environ))

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


@cache
def runtime() -> Runtime:
    """Settings are read and checked once, on first use; a bad configuration fails with every problem."""
    return Runtime.from_settings(Settings.from_env(os.environ), environ=os.environ)


def run_options() -> RunOptions:
    settings = runtime().settings
    return RunOptions.from_settings(
        chunk_operations=settings.apply_chunk_operations,
        quota_scale=settings.graph_quota_scale,
        approval_timeout_hours=settings.approval_timeout_hours,
        queue_poll_seconds=settings.queue_poll_seconds,
        queue_max_hours=settings.queue_max_hours,
    )


async def _start(client: df.DurableOrchestrationClient, start: starts.Start | None) -> str | None:
    """Start the orchestration a trigger decided on; release its claim if the start fails (so a retry may)."""
    if start is None:
        return None
    try:
        await client.start_new(start.orchestrator, start.instance_id, start.input)
    except Exception:
        uploads.release_claim(
            runtime().blobs,
            reports_container=runtime().settings.reports_container,
            instance_id=start.instance_id,
        )
        raise
    LOG.info("started %s %s", start.orchestrator, start.instance_id)
    return start.instance_id


# --- triggers -------------------------------------------------------------------------------------------


@app.blob_trigger(
    arg_name="upload",
    path="%UPLOAD_CONTAINER%/{name}",
    connection="AzureWebJobsStorage",
    source=UPLOAD_TRIGGER_SOURCE,
)
@app.durable_client_input(client_name="client")
async def on_upload(upload: blob.BlobClient, client: df.DurableOrchestrationClient) -> None:
    # An SDK-type binding: the host sends a reference to the blob, never its content (an enrollments.csv
    # of a large district is hundreds of MB). Only the name is needed; the activities read the files.
    start = starts.start_for_upload(
        runtime(), blob_name=upload.blob_name, now=datetime.now(UTC), options=run_options()
    )
    await _start(client, start)


@app.timer_trigger(arg_name="timer", schedule="%SYNC_SCHEDULE%", run_on_startup=False)
@app.durable_client_input(client_name="client")
async def nightly(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    start = nightly_run.start_for_night(runtime(), now=datetime.now(UTC), options=run_options())
    await _start(client, start)


@app.route(route="runs", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    answer = http_api.start_request(
        runtime(), body=req.get_body(), now=datetime.now(UTC), options=run_options()
    )
    if answer.start is not None:
        await _start(client, answer.start)
    return _http(answer)


@app.route(route="runs", methods=["GET"])
def list_runs(req: func.HttpRequest) -> func.HttpResponse:
    return _http(http_api.list_request(runtime(), last=req.params.get("last")))


@app.route(route="runs/{run_id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def get_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    run_id = req.route_params["run_id"]
    if (refused := http_api.not_a_run_id(run_id)) is not None:
        return _http(refused)
    status = await client.get_status(run_id)
    runtime_status = status.runtime_status.value if status and status.runtime_status else None
    return _http(http_api.status_request(runtime(), run_id=run_id, orchestration_status=runtime_status))


@app.route(route="runs/{run_id}/{decision:alpha}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def decide_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    run_id = req.route_params["run_id"]
    answer = http_api.decision_request(runtime(), run_id=run_id, action=req.route_params["decision"])
    if answer.event is not None:
        await client.raise_event(run_id, APPROVAL_EVENT, answer.event)
    return _http(answer)


def _http(answer: http_api.Answer) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(answer.body, indent=2, sort_keys=True),
        status_code=answer.status,
        mimetype="application/json",
    )


# --- orchestrators (deterministic: only context.* calls and pure helpers) -------------------------------


class PermanentFailure(Exception):
    """An activity reported an error another attempt cannot cure; the run ends ``failed`` with it."""


def _call(context: df.DurableOrchestrationContext, activity: str, payload: dict[str, Any]) -> Any:
    """An activity call, retried on failure (transient faults) as ``RETRY`` says; results are JSON objects."""
    return context.call_activity_with_retry(activity, RETRY, payload, expected_type=dict)


def _step(
    context: df.DurableOrchestrationContext, activity: str, payload: dict[str, Any]
) -> Generator[Any, Any, Any]:
    """An activity's result; :class:`PermanentFailure` when it reported a permanent error (no retry)."""
    result = yield _call(context, activity, payload)
    _raise_if_permanent(result)
    return result


def _raise_if_permanent(result: Any) -> None:
    if is_permanent_result(result):
        raise PermanentFailure(str(result["error"]))


@app.orchestration_trigger(context_name="context")
def sync_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    run = RunInput.from_json(context.get_input(expected_type=dict))
    base = {"run": run.to_json()}
    try:
        outcome = yield from _run_stages(context, run, base)
    except Exception as err:  # an activity failed for good: the run ends `failed`, with the reason recorded
        outcome = {"error": first_line(err)}
    context.set_custom_status({"stage": "finish"})
    report: Any = None
    failure: Exception | None = None
    try:
        report = yield from _step(context, "finish_run", {**base, **outcome})
    except Exception as err:
        failure = err
    # Every way out frees the tenant's sync slot (a run that never took it changes nothing).
    yield _call(context, "release_slot", base)
    if failure is not None:
        raise failure
    return report


def _run_stages(
    context: df.DurableOrchestrationContext, run: RunInput, base: dict[str, Any]
) -> Generator[Any, Any, dict[str, Any]]:
    context.set_custom_status({"stage": "validate"})
    started = context.current_utc_datetime.isoformat()
    validated = yield from _step(context, "validate_run", {**base, "started_at": started})
    if not validated["accepted"]:
        return {"validated": validated}
    timings: dict[str, float] = {}
    claim = yield from _step(context, "claim_slot", base)
    if not claim["granted"]:
        context.set_custom_status({"stage": "queued", "behind": claim["holder"]})
        queued_at = context.current_utc_datetime
        waited = yield context.call_sub_orchestrator(
            "wait_for_slot",
            {**base, "since": queued_at.isoformat(), "holder": claim["holder"]},
            f"{run.run_id}:queue",
            expected_type=dict,
        )
        timings["queue"] = seconds_between(queued_at, context.current_utc_datetime)
        if not waited["granted"]:
            return {"validated": validated, "error": queue_gave_up(waited["holder"], run.options)}
        claim = waited
    if claim.get("superseded_by"):  # a re-sync of a set older than one accepted meanwhile: nothing to do
        return {"validated": validated, "superseded_by": claim["superseded_by"], "timings": timings}
    context.set_custom_status({"stage": "plan"})
    today = context.current_utc_datetime.date().isoformat()
    planned = yield from _step(context, "plan_run", {**base, "validated": validated, "today": today})
    decision = None
    if planned["held"]:
        context.set_custom_status({"stage": "guard", "held": True, "reasons": planned["reasons"]})
        held_at = context.current_utc_datetime
        approval = context.wait_for_external_event(APPROVAL_EVENT, expected_type=dict)
        deadline = context.create_timer(
            context.current_utc_datetime + timedelta(hours=run.options.approval_timeout_hours)
        )
        winner = yield context.task_any([approval, deadline])
        if winner == approval:
            deadline.cancel()
            decision = decision_of(approval.result)
        else:
            decision = "expired"
        timings["wait"] = seconds_between(held_at, context.current_utc_datetime)
        if decision != "approved":
            return {"validated": validated, "planned": planned, "decision": decision, "timings": timings}
    apply_from = context.current_utc_datetime
    totals: dict[str, int] = {}
    phases = apply_phases(run.run_id, planned["plan"], planned["slices"], run.options)
    for phase in phases:  # in plan order: a phase starts once the one before it is applied
        context.set_custom_status({"stage": "apply", "phase": phase.index + 1, "phases": len(phases)})
        result = yield context.call_sub_orchestrator(
            "apply_phase", phase.to_json(), apply_phase_id(run.run_id, phase.index), expected_type=dict
        )
        totals = add_totals(totals, result)
    timings["apply"] = seconds_between(apply_from, context.current_utc_datetime)
    return {
        "validated": validated,
        "planned": planned,
        "decision": decision,
        "applied": totals,
        "timings": timings,
    }


@app.orchestration_trigger(context_name="context")
def wait_for_slot(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """A queued run: ask for the sync slot every ``queue_poll_seconds`` until it is granted or
    ``queue_max_hours`` after ``since`` have passed. Continues as new every few polls (bounded history)."""
    wait = context.get_input(expected_type=dict)
    run = RunInput.from_json(wait["run"])
    since = datetime.fromisoformat(wait["since"])
    holder = str(wait["holder"])
    for _ in range(QUEUE_POLLS_PER_GENERATION):
        poll_at = next_queue_poll(context.current_utc_datetime, since, run.options)
        if poll_at is None:
            return {"granted": False, "holder": holder}
        context.set_custom_status({"stage": "queued", "behind": holder})
        yield context.create_timer(poll_at)
        claim = yield from _step(context, "claim_slot", {"run": wait["run"]})
        if claim["granted"]:
            return claim
        holder = str(claim["holder"])
    context.continue_as_new({**wait, "holder": holder})
    return None


@app.orchestration_trigger(context_name="context")
def apply_phase(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """One plan phase: its apply batches one after another, ``batches_per_generation`` per generation, then
    continues as new with the next batch and the running totals (bounded history)."""
    phase = ApplyPhase.from_json(context.get_input(expected_type=dict))
    totals = dict(phase.totals)
    for batch in phase.generation():
        context.set_custom_status(
            {"stage": "apply", "phase": phase.index + 1, "batch": batch + 1, "batches": phase.batch_count}
        )
        result = yield context.call_sub_orchestrator(
            "apply_batch",
            phase.batch_input(batch),
            apply_batch_id(phase.run_id, phase.index, batch),
            expected_type=dict,
        )
        totals = add_totals(totals, result)
    following = phase.continued(totals)
    if following is not None:
        context.continue_as_new(following.to_json())
        return None
    return totals


@app.orchestration_trigger(context_name="context")
def apply_batch(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    batch = context.get_input(expected_type=dict)
    options = RunOptions.from_json(batch["options"])
    totals: dict[str, int] = {}
    for wave in waves(batch["chunks"], options.parallel_chunks):
        started = context.current_utc_datetime
        results = yield context.task_all(
            [
                _call(
                    context,
                    "apply_chunk",
                    {
                        "run_id": batch["run_id"],
                        "plan": batch["plan"],
                        "start": start,
                        "end": end,
                        "low_priority": options.low_priority,
                    },
                )
                for start, end in wave
            ]
        )
        for result in results:
            _raise_if_permanent(result)
        wave_totals: dict[str, int] = {}
        for result in results:
            wave_totals = add_totals(wave_totals, result)
        totals = add_totals(totals, wave_totals)
        pause = pause_after_wave(
            wave_totals.get("writes", 0), context.current_utc_datetime - started, options.writes_per_second
        )
        if pause > timedelta(0):
            yield context.create_timer(context.current_utc_datetime + pause)
    return totals


@app.orchestration_trigger(context_name="context")
def set_deadline(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    watch = context.get_input(expected_type=dict)
    yield context.create_timer(context.current_utc_datetime + timedelta(minutes=float(watch["wait_minutes"])))
    return (yield from _step(context, "check_set_deadline", watch))


# --- activities (idempotent; retried by the orchestrators unless they report a permanent error) ------------


@app.activity_trigger(input_name="payload")
def validate_run(payload: dict[str, Any]) -> dict[str, Any]:
    return run_activity("validate_run", lambda p: activities.validate_run(runtime(), p), payload)


@app.activity_trigger(input_name="payload")
def claim_slot(payload: dict[str, Any]) -> dict[str, Any]:
    return run_activity("claim_slot", lambda p: slot_activities.claim_slot(runtime(), p), payload)


@app.activity_trigger(input_name="payload")
def plan_run(payload: dict[str, Any]) -> dict[str, Any]:
    return run_activity("plan_run", lambda p: activities.plan_run(runtime(), p), payload)


@app.activity_trigger(input_name="payload")
def apply_chunk(payload: dict[str, Any]) -> dict[str, Any]:
    return run_activity("apply_chunk", lambda p: apply_activity.apply_chunk(runtime(), p), payload)


@app.activity_trigger(input_name="payload")
def finish_run(payload: dict[str, Any]) -> dict[str, Any]:
    return run_activity("finish_run", lambda p: finish_activity.finish_run(runtime(), p), payload)


@app.activity_trigger(input_name="payload")
def release_slot(payload: dict[str, Any]) -> dict[str, Any]:
    return run_activity("release_slot", lambda p: slot_activities.release_slot(runtime(), p), payload)


@app.activity_trigger(input_name="payload")
def check_set_deadline(payload: dict[str, Any]) -> dict[str, Any]:
    return run_activity(
        "check_set_deadline", lambda p: finish_activity.check_set_deadline(runtime(), p), payload
    )


if os.environ.get("FUNCTIONS_WORKER_RUNTIME"):
    # In the Functions host: check every setting at start-up and list all problems at once.
    Settings.from_env(os.environ)
