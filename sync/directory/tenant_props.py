"""Graph properties ↔ SQLite column values of the local tenant (the maps are in ``tenant_schema``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sync.directory.tenant_errors import TenantError, bad_request
from sync.directory.tenant_schema import PropType

PropMap = Mapping[str, tuple[str, PropType]]


def encode_props(props: Mapping[str, Any], allowed: PropMap, kind: str) -> dict[str, Any]:
    """Graph properties → column values; a ``TenantError`` for unknown, read-only or mistyped ones."""
    values: dict[str, Any] = {}
    for key, value in props.items():
        if key == "id":
            raise bad_request("property 'id' is read-only")
        if key not in allowed:
            raise bad_request(f"property '{key}' does not exist on {kind}")
        column, prop_type = allowed[key]
        if value is None:
            values[column] = None
        elif prop_type == "text":
            if not isinstance(value, str):
                raise bad_request(f"property '{key}' must be a string")
            values[column] = value
        elif prop_type == "bool":
            if not isinstance(value, bool):
                raise bad_request(f"property '{key}' must be true or false")
            values[column] = int(value)
        else:
            if not isinstance(value, dict | list):
                raise bad_request(f"property '{key}' must be an object or a list")
            values[column] = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return values


def decode_row(row: Sequence[Any], props: PropMap) -> dict[str, Any]:
    """``(id, *columns)`` → Graph properties; unset ones are left out."""
    result: dict[str, Any] = {"id": row[0]}
    for (key, (_, prop_type)), value in zip(props.items(), row[1:], strict=True):
        if value is None:
            continue
        if prop_type == "bool":
            result[key] = bool(value)
        elif prop_type == "json":
            result[key] = json.loads(value)
        else:
            result[key] = value
    return result


_CASELESS = frozenset({"userPrincipalName", "mail", "mailNickname"})


def filter_clause(props: PropMap, prop: str, value: str, kind: str) -> tuple[str, tuple[Any, ...]]:
    if prop == "id":
        return "WHERE id = ? ORDER BY seq", (value,)
    if prop not in props or props[prop][1] != "text":
        raise TenantError(
            "Request_UnsupportedQuery", f"Unsupported filter on property '{prop}' of {kind}.", 400
        )
    column = props[prop][0]
    if prop == "userPrincipalName" and column == "upn":
        return "WHERE upn_lc = ? ORDER BY seq", (value.lower(),)
    if prop in _CASELESS:
        return f"WHERE lower({column}) = ? ORDER BY seq", (value.lower(),)
    return f"WHERE {column} = ? ORDER BY seq", (value,)
