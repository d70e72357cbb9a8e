"""The body of ``POST /users/{id}/assignLicense`` and ``POST /groups/{id}/assignLicense`` (the same)."""

from __future__ import annotations

from typing import Any

from sync.graphserver.errors import bad_request


def license_change(body: Any) -> tuple[list[str], list[str]]:
    """``(SKU ids to add, SKU ids to remove)`` from ``{"addLicenses": [{"skuId": …, "disabledPlans": []}],
    "removeLicenses": ["…"]}``; both lists are required, as Graph requires them."""
    if not isinstance(body, dict) or "addLicenses" not in body or "removeLicenses" not in body:
        raise bad_request("Invalid request: the body needs both addLicenses and removeLicenses.")
    return _sku_ids(body["addLicenses"], objects=True), _sku_ids(body["removeLicenses"], objects=False)


def _sku_ids(value: Any, *, objects: bool) -> list[str]:
    if not isinstance(value, list):
        raise bad_request("Invalid request: addLicenses and removeLicenses must be lists.")
    ids: list[str] = []
    for item in value:
        sku = item.get("skuId") if objects and isinstance(item, dict) else item
        if not isinstance(sku, str) or not sku:
            what = '{"skuId": …, "disabledPlans": []}' if objects else "a skuId string"
            raise bad_request(f"Invalid request: each licence to {'add' if objects else 'remove'} is {what}.")
        ids.append(sku)
    return ids
