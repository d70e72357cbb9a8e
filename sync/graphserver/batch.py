"""``POST /$batch``: up to 20 calls in one envelope, each faulted, charged and answered on its own.

Items run one after the other in request order (``dependsOn`` is honoured: an item whose dependency did
not succeed answers ``424``); responses come back in request order, though clients must match them by
``id``. The envelope answers ``200`` unless it is malformed (``400``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync.graphserver.calls import Call, Reply
from sync.graphserver.errors import GraphError, bad_request
from sync.graphserver.pipeline import Pipeline, error_reply, json_headers

MAX_ITEMS = 20
METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})


def _items(body: Any) -> list[Mapping[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise bad_request('Invalid batch payload: the body must be {"requests": [ ... ]}.')
    items = body["requests"]
    if not items:
        raise bad_request("Invalid batch payload: 'requests' is empty.")
    if len(items) > MAX_ITEMS:
        raise bad_request(f"Invalid batch payload: {len(items)} requests, at most {MAX_ITEMS} are allowed.")
    seen: set[str] = set()
    for position, item in enumerate(items):
        where = f"requests[{position}]"
        if not isinstance(item, dict):
            raise bad_request(f"Invalid batch payload: {where} is not an object.")
        item_id = item.get("id")
        if not isinstance(item_id, str) or not item_id:
            raise bad_request(f"Invalid batch payload: {where} needs a non-empty string 'id'.")
        if item_id in seen:
            raise bad_request(f"Invalid batch payload: the request id '{item_id}' is used twice.")
        seen.add(item_id)
        if str(item.get("method", "")).upper() not in METHODS:
            raise bad_request(f"Invalid batch payload: {where} has no valid 'method'.")
        if not isinstance(item.get("url"), str) or not item["url"]:
            raise bad_request(f"Invalid batch payload: {where} needs a 'url'.")
        depends = item.get("dependsOn", [])
        if not isinstance(depends, list) or any(d not in seen or d == item_id for d in depends):
            raise bad_request(
                f"Invalid batch payload: {where} 'dependsOn' must name ids of earlier requests."
            )
        if item.get("headers") is not None and not isinstance(item["headers"], dict):
            raise bad_request(f"Invalid batch payload: {where} 'headers' must be an object.")
    return [item for item in items if isinstance(item, dict)]


def run_batch(pipeline: Pipeline, envelope: Call, *, app: str, tenant: str) -> Reply:
    items = _items(envelope.body)
    pipeline.stats.add("batches")
    responses: list[dict[str, Any]] = []
    status_by_id: dict[str, int] = {}
    worst_percentage = 0.0
    total_ru = 0
    for item in items:
        pipeline.stats.add("batch_items")
        headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
        if "x-ms-throttle-priority" in envelope.headers:
            headers.setdefault("x-ms-throttle-priority", envelope.headers["x-ms-throttle-priority"])
        call = Call.from_url(str(item["method"]), str(item["url"]), headers=headers, body=item.get("body"))
        failed = [d for d in item.get("dependsOn", []) if not 200 <= status_by_id.get(d, 0) < 300]
        if failed:
            reply = error_reply(
                GraphError(
                    424, "FailedDependency", f"The request depends on request '{failed[0]}', which failed."
                )
            )
        elif call.path == "/$batch":
            reply = error_reply(bad_request("A $batch request cannot contain another $batch."))
        else:
            reply = pipeline.handle(call, app=app, tenant=tenant)
        status_by_id[str(item["id"])] = reply.status
        total_ru += int(reply.headers.get("x-ms-resource-unit", "0"))
        worst_percentage = max(
            worst_percentage, float(reply.headers.get("x-ms-throttle-limit-percentage", 0))
        )
        responses.append(
            {"id": item["id"], "status": reply.status, "headers": json_headers(reply), "body": reply.body}
        )
    headers = {"x-ms-resource-unit": str(total_ru)}
    if worst_percentage > 0:
        headers["x-ms-throttle-limit-percentage"] = f"{worst_percentage:.2f}"
    return Reply(200, {"responses": responses}, headers)
