"""Errors of the local tenant store, shaped as Microsoft Graph answers them.

Every refusal of :class:`~sync.directory.tenant_store.TenantStore` is a :class:`TenantError` carrying the
Graph error ``code``, its HTTP ``status`` and Graph's ``message``, so the local Graph server can turn it
into an OData error body as it is, and the local directory into an ``OperationResult`` failure. Messages
hold directory ids and property names only, never names, emails or SIS ids.
"""

from __future__ import annotations


class TenantError(Exception):
    """A request the tenant refuses. ``target`` names the property at fault (``ObjectConflict`` detail)."""

    def __init__(self, code: str, message: str, status: int, *, target: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.target = target


def not_found(object_id: str) -> TenantError:
    return TenantError(
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property objects "
        "are not present.",
        404,
    )


def already_exists(prop: str) -> TenantError:
    return TenantError(
        "Request_BadRequest",
        f"Another object with the same value for property {prop} already exists.",
        400,
        target=prop,
    )


def references_exist(relation: str) -> TenantError:
    prop = {"owner": "owners", "member": "members", "user": "members", "class": "members"}[relation]
    return TenantError(
        "Request_BadRequest",
        f"One or more added object references already exist for the following modified properties: '{prop}'.",
        400,
    )


def bad_request(message: str) -> TenantError:
    return TenantError("Request_BadRequest", f"Invalid request: {message}", 400)


def owner_required() -> TenantError:
    return TenantError(
        "Request_BadRequest",
        "A group created by an application must have at least one owner; a class cannot lose its last owner.",
        400,
    )


def invalid_usage_location() -> TenantError:
    return TenantError(
        "InvalidUserUsageLocation",
        "License assignment cannot be done for user with invalid usage location.",
        400,
    )


def invalid_license(sku_id: str) -> TenantError:
    return TenantError(
        "InvalidLicense", f"License {sku_id} does not correspond to a valid company License.", 400
    )
