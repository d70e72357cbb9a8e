"""A hand-written fake of Microsoft Graph at the transport level (``httpx.MockTransport``), for the Graph
adapter's unit tests: it answers delta reads from seeded objects, look-ups from a table, and each ``$batch``
item from a script the test writes, and records everything it was sent."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

BASE = "http://graph.test/v1.0"


@dataclass
class Item:
    """One request as the fake received it (a ``$batch`` item or a direct GET)."""

    method: str
    url: str
    body: Any
    headers: Mapping[str, str]
    batch: int | None  # index of the $batch request that carried it, None for a direct request


#: ``(status, body, headers)`` for one batch item; ``None`` = the default answer.
Answer = tuple[int, Any, Mapping[str, str]]
Script = Callable[[Item], Answer | None]


def error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Answer:
    return status, {"error": {"code": code, "message": message}}, dict(headers or {})


@dataclass
class FakeGraph:
    #: Objects the first delta round of each path lists (``"/users/delta"`` → [...]).
    seed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: What the next delta round of a path lists, after the first.
    changes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: ``(path, property, value)`` → id, for look-ups by natural key.
    lookups: dict[tuple[str, str, str], str] = field(default_factory=dict)
    script: Script = lambda item: None
    #: Answer whole ``$batch`` requests with this (status, headers) while it has entries.
    batch_faults: list[tuple[int, Mapping[str, str]]] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    batches: list[list[Item]] = field(default_factory=list)
    batch_headers: list[Mapping[str, str]] = field(default_factory=list)
    page_size: int = 2
    #: Answer direct GETs with this (status, headers) while it has entries.
    get_faults: list[tuple[int, Mapping[str, str]]] = field(default_factory=list)
    #: Delta paths whose stored token the fake no longer knows (answers 410 once).
    expired: set[str] = field(default_factory=set)
    #: Single objects a direct GET of their path answers (``"/education/classes/c1"`` → the object).
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    @property
    def writes(self) -> list[Item]:
        return [item for item in self.items if item.method != "GET"]

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1.0")
        if request.method == "POST" and path == "/$batch":
            return self._batch(request)
        item = Item("GET", str(request.url), None, dict(request.headers), None)
        self.items.append(item)
        if self.get_faults:
            status, headers = self.get_faults.pop(0)
            return httpx.Response(status, json={"error": {"code": "Fault", "message": "x"}}, headers=headers)
        return self._get(request)

    # -- reads -------------------------------------------------------------------------------------------

    def _get(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1.0")
        query = parse_qs(urlsplit(str(request.url)).query)
        if path.endswith("/delta"):
            resource = path
            token = query.get("$deltatoken", [None])[0]
            skip = int(query.get("$skiptoken", ["0"])[0])
            if token is not None and resource in self.expired:
                self.expired.discard(resource)
                return httpx.Response(410, json={"error": {"code": "SyncStateNotFound", "message": "gone"}})
            objects = self.seed.get(resource, []) if token is None else []
            if token == "1":
                objects = self.changes.pop(resource, [])
            page = objects[skip : skip + self.page_size]
            body: dict[str, Any] = {"value": page}
            if skip + self.page_size < len(objects):
                round_ = "&$deltatoken=1" if token == "1" else ""
                body["@odata.nextLink"] = f"{BASE}{resource}?$skiptoken={skip + self.page_size}{round_}"
            else:
                body["@odata.deltaLink"] = f"{BASE}{resource}?$deltatoken=1"
            return httpx.Response(200, json=body)
        if path == "/subscribedSkus":
            return httpx.Response(200, json={"value": [{"skuId": "sku-1", "skuPartNumber": "X"}]})
        if "$filter" in query:
            prop, _, literal = query["$filter"][0].partition(" eq ")
            value = unquote(literal.strip("'")).replace("''", "'")
            found = self.lookups.get((path, prop, value))
            return httpx.Response(200, json={"value": [{"id": found}] if found else []})
        if path in self.objects:
            return httpx.Response(200, json=self.objects[path])
        return httpx.Response(404, json={"error": {"code": "Request_ResourceNotFound", "message": "no"}})

    # -- writes ------------------------------------------------------------------------------------------

    def _batch(self, request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        number = len(self.batches)
        carried = [
            Item(raw["method"], raw["url"], raw.get("body"), raw.get("headers", {}), number)
            for raw in payload["requests"]
        ]
        self.batches.append(carried)
        self.batch_headers.append(dict(request.headers))
        self.items.extend(carried)
        if self.batch_faults:
            status, headers = self.batch_faults.pop(0)
            if status == 0:
                raise httpx.ReadTimeout("injected", request=request)
            return httpx.Response(status, json={"error": {"code": "Fault", "message": "x"}}, headers=headers)
        responses = []
        for raw, item in zip(payload["requests"], carried, strict=True):
            status, body, headers = self.script(item) or self._default(item)
            responses.append({"id": raw["id"], "status": status, "headers": dict(headers), "body": body})
        responses.reverse()  # any order: the adapter must match by id
        return httpx.Response(200, json={"responses": responses})

    def _default(self, item: Item) -> Answer:
        if item.method == "POST" and item.url in ("/groups", "/education/users", "/education/schools"):
            return 201, {"id": f"new-{next(self._ids)}", **(item.body or {})}, {}
        if item.method == "GET":
            return 200, {"value": []}, {}
        return 204, None, {}
