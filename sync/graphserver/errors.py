"""OData errors: what every non-2xx answer of the server carries.

Handlers raise :class:`GraphError`; the HTTP layer (and ``$batch``) turns it into the documented body
``{"error": {"code", "message", "innerError": {"request-id", "date"}}}`` with its status.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any


class GraphError(Exception):
    """An answer other than success: HTTP status, OData error code and a message without personal data."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}


def error_body(code: str, message: str, details: list[dict[str, str]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "innerError": {
            "request-id": str(uuid.uuid4()),
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        },
    }
    if details:
        error["details"] = details
    return {"error": error}


def not_found(object_id: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property objects "
        "are not present.",
    )


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphError:
    return GraphError(400, code, message)


def already_exists(prop: str) -> GraphError:
    return GraphError(
        400,
        "Request_BadRequest",
        f"Another object with the same value for property {prop} already exists.",
        details=[{"code": "ObjectConflict", "target": prop}],
    )


def references_exist(prop: str) -> GraphError:
    return GraphError(
        400,
        "Request_BadRequest",
        f"One or more added object references already exist for the following modified properties: '{prop}'.",
    )
