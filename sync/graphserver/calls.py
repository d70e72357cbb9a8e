"""One Graph call as the server sees it — from the socket or from inside a ``$batch`` — and its reply."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sync.graphserver.odata import parse_query

GRAPH_ROOTS = ("https://graph.microsoft.com/v1.0", "http://graph.microsoft.com/v1.0")
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    #: Path below ``/v1.0``, starting with ``/`` and without the query string (``/users/delta``).
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    #: Header names in lower case.
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS

    @property
    def low_priority(self) -> bool:
        return self.headers.get("x-ms-throttle-priority", "").strip().lower() == "low"

    @classmethod
    def from_url(
        cls, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: Any = None
    ) -> Call:
        """``url`` relative to ``/v1.0`` (``/users?$top=5`` or ``users``), or absolute under a Graph root or
        any ``…/v1.0`` base."""
        for root in GRAPH_ROOTS:
            if url.startswith(root):
                url = url[len(root) :]
                break
        else:
            if "://" in url:
                parts = urlsplit(url)
                path = parts.path
                url = (path[len("/v1.0") :] if path.startswith("/v1.0") else path) + (
                    "?" + parts.query if parts.query else ""
                )
        path, _, raw_query = url.partition("?")
        if not path.startswith("/"):
            path = "/" + path
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        return cls(method.upper(), path, parse_query(raw_query), lowered, body)


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def with_headers(self, extra: Mapping[str, str]) -> Reply:
        return Reply(self.status, self.body, {**self.headers, **extra})


def no_content() -> Reply:
    return Reply(204)


def ok(body: Any, status: int = 200) -> Reply:
    return Reply(status, body)
