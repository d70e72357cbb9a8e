"""Hand-written fakes for the Clever tests: a clock whose sleeps take no time, and a scripted Clever API at
the transport level (``httpx.MockTransport``) that records every request it gets."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class FakeClock:
    """``now`` advances only when the code under test sleeps; every sleep is recorded."""

    now: float = 1_800_000_000.0
    sleeps: list[float] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


Answer = tuple[int, dict[str, str], Any]


@dataclass
class ScriptedClever:
    """Answers requests from a script: ``answers`` are used in order; when they run out, ``fallback``
    answers (by default ``200`` with an empty list). ``requests`` holds every request received."""

    answers: list[Answer] = field(default_factory=list)
    fallback: Callable[[httpx.Request], Answer] | None = None
    requests: list[httpx.Request] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.answers:
            status, headers, body = self.answers.pop(0)
        elif self.fallback is not None:
            status, headers, body = self.fallback(request)
        else:
            status, headers, body = 200, {}, page([])
        return httpx.Response(status, headers=headers, content=json.dumps(body).encode())


def page(records: list[dict[str, Any]], next_uri: str | None = None) -> dict[str, Any]:
    """A list answer in Clever's shape."""
    links = [{"rel": "self", "uri": "/v3.0/x"}]
    if next_uri is not None:
        links.append({"rel": "next", "uri": next_uri})
    return {
        "data": [{"data": record, "uri": f"/v3.0/x/{record['id']}"} for record in records],
        "links": links,
    }
