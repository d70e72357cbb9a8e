"""How store objects are shown on each path, and how references in request bodies are read.

A user is one record shown two ways: ``/users/{id}`` (directory properties) and ``/education/users/{id}``
(the same plus ``primaryRole``, ``middleName``, ``externalSource…``, ``student``, ``teacher``). A class is
a group shown through ``/education/classes``; a school is also an administrative unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync.graphserver.errors import GraphError, bad_request

EDUCATION_ONLY = frozenset(
    {"primaryRole", "middleName", "externalSource", "externalSourceDetail", "student", "teacher"}
)
USER_TYPE = "#microsoft.graph.user"
GROUP_TYPE = "#microsoft.graph.group"
#: Most owners + members one request may bind (Graph's limit).
MAX_BINDS = 20


def user_view(user: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in user.items() if key not in EDUCATION_ONLY}


def education_user_view(user: Mapping[str, Any]) -> dict[str, Any]:
    view = dict(user)
    view.setdefault("primaryRole", "none")
    return view


def writable(body: Any) -> dict[str, Any]:
    """The properties of a request body, without OData annotations (``@odata.type``) and binds."""
    if not isinstance(body, dict):
        raise bad_request("Invalid request: the body must be a JSON object.")
    return {key: value for key, value in body.items() if not key.startswith("@") and "@odata." not in key}


def ref_id(url: Any) -> str:
    """The object id at the end of a reference URL (``https://graph.microsoft.com/v1.0/users/{id}``)."""
    if not isinstance(url, str) or not url.strip("/"):
        raise bad_request("Invalid request: an object reference must be a URL ending with the object id.")
    object_id = url.rstrip("/").rsplit("/", 1)[-1]
    if object_id.startswith("$") or "(" in object_id:
        raise bad_request(f"Invalid request: the reference '{url}' does not end with an object id.")
    return object_id


def bound_ids(body: Mapping[str, Any], relation: str) -> list[str]:
    """Ids in ``<relation>@odata.bind`` (``members``/``owners``), in order, without repeats."""
    value = body.get(f"{relation}@odata.bind", [])
    if not isinstance(value, list):
        raise bad_request(f"Invalid request: {relation}@odata.bind must be a list of object URLs.")
    return list(dict.fromkeys(ref_id(url) for url in value))


def check_bind_limit(count: int) -> None:
    if count > MAX_BINDS:
        raise GraphError(
            400,
            "Request_BadRequest",
            f"Invalid request: {count} object references in one request; at most {MAX_BINDS} are allowed.",
        )


def odata_id(body: Any) -> str:
    if not isinstance(body, dict) or "@odata.id" not in body:
        raise bad_request('Invalid request: the body must be {"@odata.id": "<object URL>"}.')
    return ref_id(body["@odata.id"])


def sku_view(sku_id: str, part_number: str, tenant_id: str) -> dict[str, Any]:
    return {
        "id": f"{tenant_id}_{sku_id}",
        "skuId": sku_id,
        "skuPartNumber": part_number,
        "capabilityStatus": "Enabled",
        "appliesTo": "User",
    }
