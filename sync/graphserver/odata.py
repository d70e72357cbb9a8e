"""The OData query options the server understands: ``$select``, ``$filter`` (one ``eq``), ``$top`` and
``Prefer: odata.maxpagesize``; and the opaque tokens inside ``@odata.nextLink`` / ``@odata.deltaLink``."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from sync.graphserver.errors import GraphError

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 999

_FILTER = re.compile(r"^\s*([A-Za-z][A-Za-z0-9/]*)\s+eq\s+'((?:[^']|'')*)'\s*$")
_MAXPAGESIZE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)")


def parse_query(raw: str) -> dict[str, str]:
    """``a=1&$select=x,y`` → ``{"a": "1", "$select": "x,y"}`` (the last value of a repeated key wins)."""
    return dict(parse_qsl(raw, keep_blank_values=True))


def unsupported(message: str) -> GraphError:
    return GraphError(400, "Request_UnsupportedQuery", message)


@dataclass(frozen=True, slots=True)
class Query:
    select: tuple[str, ...] | None
    filter: tuple[str, str] | None
    page_size: int

    @classmethod
    def from_request(cls, query: Mapping[str, str], headers: Mapping[str, str]) -> Query:
        select = None
        if query.get("$select"):
            select = tuple(p.strip() for p in query["$select"].split(",") if p.strip())
        where = None
        if "$filter" in query:
            match = _FILTER.match(query["$filter"])
            if match is None:
                raise unsupported(
                    "Unsupported $filter: the local server supports one clause of the form "
                    "property eq 'value'."
                )
            where = (match.group(1), match.group(2).replace("''", "'"))
        page_size = DEFAULT_PAGE_SIZE
        prefer = _MAXPAGESIZE.search(headers.get("prefer", ""))
        if prefer:
            page_size = int(prefer.group(1))
        if "$top" in query:
            top = query["$top"]
            if not top.isdigit() or not 1 <= int(top) <= MAX_PAGE_SIZE:
                raise unsupported(f"Invalid $top value '{top}': use an integer from 1 to {MAX_PAGE_SIZE}.")
            page_size = int(top)
        page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        return cls(select=select, filter=where, page_size=page_size)


def project(obj: Mapping[str, Any], select: tuple[str, ...] | None) -> dict[str, Any]:
    """The selected properties of ``obj`` (``id`` always; a selected property it lacks is ``null``, as Graph
    answers). Navigation properties (``members``, ``owners``) are left to the caller."""
    if select is None:
        return dict(obj)
    out: dict[str, Any] = {"id": obj["id"]}
    for name in select:
        if name in ("members", "owners"):
            continue
        out[name] = obj.get(name)
    return out


def encode_token(state: Mapping[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    """The state inside a ``$skiptoken`` / ``$deltatoken``; a token this server did not make → ``410``."""
    try:
        padded = token + "=" * (-len(token) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        state = None
    if not isinstance(state, dict):
        raise GraphError(
            410,
            "SyncStateNotFound",
            "The sync state in the token is not valid; start a new round without a token.",
        )
    return state
