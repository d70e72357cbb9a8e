"""The wire: one ``httpx.AsyncClient`` built by msgraph-core **without** its retry handler, a bearer
token, ``POST /$batch`` and paged ``GET``.

msgraph-sdk's default middleware retries ``429`` by itself, silently and without regard for the quota;
the adapter decides every retry itself (:mod:`sync.directory.graph_batch`), so the client is built with
``GraphClientFactory.create_with_custom_middleware`` and a middleware list that has no ``RetryHandler``.

Nothing here retries. Failures that are not an answer (time-out, connection refused) come back as a
:class:`SubResponse` with ``status`` 0 and ``code`` ``Timeout`` / ``TransportError`` so the caller treats
them like a ``503``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from kiota_http.middleware import ParametersNameDecodingHandler, RedirectHandler, UserAgentHandler
from msgraph_core import GraphClientFactory

from sync.directory.graph_stats import Counters
from sync.errors import DirectoryAccessRefused

#: Gives a bearer token (``None``: send no Authorization header).
TokenProvider = Callable[[], Awaitable[str | None]]

GRAPH_ROOT = "https://graph.microsoft.com/v1.0"
TRANSIENT_STATUSES = frozenset({0, 429, 500, 502, 503, 504})
#: Page size asked for on reads (Graph's maximum for directory objects).
PAGE_SIZE = 999


@dataclass(frozen=True, slots=True)
class SubRequest:
    """One request of a ``$batch``; ``url`` is relative to ``/v1.0`` and starts with ``/``."""

    method: str
    url: str
    body: Mapping[str, Any] | None = None

    @property
    def is_write(self) -> bool:
        return self.method != "GET"


@dataclass(frozen=True, slots=True)
class SubResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> str:
        error = self.body.get("error") if isinstance(self.body, Mapping) else None
        if isinstance(error, Mapping) and error.get("code"):
            return str(error["code"])
        return f"HTTP{self.status}"

    @property
    def message(self) -> str:
        error = self.body.get("error") if isinstance(self.body, Mapping) else None
        if isinstance(error, Mapping) and error.get("message"):
            return str(error["message"])
        return f"Graph answered HTTP {self.status}"


def failure(code: str, message: str) -> SubResponse:
    """A response standing for a request that got no answer."""
    return SubResponse(0, {}, {"error": {"code": code, "message": message}})


def build_client(
    base_url: str, *, transport: httpx.AsyncBaseTransport | None, timeout_s: float
) -> httpx.AsyncClient:
    """An async client with msgraph-core's Graph transport and no retry middleware."""
    client = httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
        transport=transport,
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
    )
    middleware = [RedirectHandler(), ParametersNameDecodingHandler(), UserAgentHandler()]
    graph_client: httpx.AsyncClient = GraphClientFactory.create_with_custom_middleware(
        middleware, client=client
    )
    return graph_client


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(key).lower(): str(value) for key, value in headers.items()}


def _json(response: httpx.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        data = response.json()
    except (ValueError, json.JSONDecodeError):
        return {"error": {"code": f"HTTP{response.status_code}", "message": "Graph answered non-JSON"}}
    return data if isinstance(data, dict) else {"value": data}


class GraphHttp:
    """Sends batches and GETs; counts them. Runs on the adapter's event loop."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        token: TokenProvider,
        counters: Counters,
        *,
        low_priority: bool = False,
    ) -> None:
        self._client = client
        self._token = token
        self._counters = counters
        self._extra: dict[str, str] = {"x-ms-throttle-priority": "low"} if low_priority else {}

    async def _headers(self) -> dict[str, str]:
        headers = dict(self._extra)
        token = await self._token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def send_batch(self, requests: Sequence[SubRequest]) -> tuple[list[SubResponse], Mapping[str, str]]:
        """``POST /$batch``; one response per request, in order, and the batch's own headers. A batch
        refused as a whole (``429``, ``5xx``, time-out) gives every item that answer."""
        items = []
        for index, request in enumerate(requests):
            item: dict[str, Any] = {"id": str(index + 1), "method": request.method, "url": request.url}
            headers = dict(self._extra)
            if request.body is not None:
                item["body"] = dict(request.body)
                headers["Content-Type"] = "application/json"
            if headers:
                item["headers"] = headers
            items.append(item)
        self._counters.requests += 1
        self._counters.batches += 1
        self._counters.batch_items += len(requests)
        self._counters.writes += sum(1 for request in requests if request.is_write)
        self._counters.reads += sum(1 for request in requests if not request.is_write)
        try:
            response = await self._client.post(
                "/$batch", json={"requests": items}, headers=await self._headers()
            )
        except httpx.TimeoutException:
            return [failure("Timeout", "the $batch request timed out")] * len(requests), {}
        except httpx.TransportError as err:
            return [failure("TransportError", f"Graph unreachable: {type(err).__name__}")] * len(requests), {}
        headers = _lower(response.headers)
        body = _json(response)
        if response.status_code in (401, 403):
            raise DirectoryAccessRefused(
                f"Microsoft Graph refused the credentials (HTTP {response.status_code}, "
                f"{SubResponse(response.status_code, headers, body).code}); check the app's permissions "
                "and AZURE_TENANT_ID"
            )
        if response.status_code != 200 or not isinstance(body.get("responses"), list):
            whole = SubResponse(response.status_code or 500, headers, body)
            return [whole] * len(requests), headers
        by_id: dict[str, SubResponse] = {}
        for answer in body["responses"]:
            if not isinstance(answer, Mapping):
                continue
            answer_body = answer.get("body")
            status = answer.get("status")
            answer_headers = answer.get("headers")
            by_id[str(answer.get("id"))] = (
                SubResponse(
                    status,
                    _lower(answer_headers) if isinstance(answer_headers, Mapping) else {},
                    answer_body if isinstance(answer_body, Mapping) else {},
                )
                if type(status) is int and 100 <= status <= 599
                # Like an answer left out: the request may or may not have been carried out, so it is
                # retried the way a lost answer is.
                else failure("MalformedAnswer", "the $batch answer for this request has no HTTP status")
            )
        missing = failure("Timeout", "the $batch answer left this request out")
        return [by_id.get(str(index + 1), missing) for index in range(len(requests))], headers

    async def get(self, url: str) -> SubResponse:
        """One ``GET`` (``url`` absolute, e.g. a nextLink, or relative to ``/v1.0``)."""
        self._counters.requests += 1
        self._counters.reads += 1
        headers = await self._headers()
        headers["Prefer"] = f"odata.maxpagesize={PAGE_SIZE}"
        try:
            response = await self._client.get(url, headers=headers)
        except httpx.TimeoutException:
            return failure("Timeout", "the read timed out")
        except httpx.TransportError as err:
            return failure("TransportError", f"Graph unreachable: {type(err).__name__}")
        return SubResponse(response.status_code, _lower(response.headers), _json(response))

    async def aclose(self) -> None:
        await self._client.aclose()
