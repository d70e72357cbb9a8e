"""Reads: paged ``GET`` with retries on transient answers, delta rounds, and look-ups by natural key."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from sync.directory.graph_batch import Draw, RetryPolicy
from sync.directory.graph_http import TRANSIENT_STATUSES, GraphHttp, SubResponse
from sync.directory.graph_pacing import Pacer, retry_after_seconds
from sync.directory.graph_stats import Counters
from sync.errors import DirectoryAccessRefused, DirectoryUnavailable


class DeltaExpired(Exception):
    """The server no longer knows a delta token (``410``): start that resource over."""


#: Takes each page's objects as the page gives them, in order (an object may appear more than once).
PageSink = Callable[[list[Mapping[str, Any]]], None]


def filter_url(path: str, prop: str, value: str, *, select: str = "id") -> str:
    """``/users?$filter=userPrincipalName eq 'x'&$select=id`` with the value quoted the OData way."""
    literal = quote(value.replace("'", "''"), safe="")
    return f"{path}?$filter={prop}%20eq%20'{literal}'&$select={select}"


class GraphReader:
    def __init__(
        self,
        http: GraphHttp,
        pacer: Pacer,
        counters: Counters,
        *,
        retry: RetryPolicy,
        draw: Draw = random.random,
    ) -> None:
        self._http = http
        self._pacer = pacer
        self._counters = counters
        self._retry = retry
        self._draw = draw

    async def get(self, url: str) -> SubResponse:
        """One page, paced on RU, transient answers retried; ``DirectoryUnavailable`` if it never works."""
        answer = SubResponse(0)
        for attempt in range(self._retry.attempts):
            if attempt:
                self._counters.retries += 1
                await asyncio.sleep(self._retry.wait(attempt - 1, answer.headers, self._draw))
            await self._pacer.acquire(0, 1)
            answer = await self._http.get(url)
            self._pacer.observe(answer.headers, estimated_units=1)
            if answer.status == 429:
                self._counters.throttled += 1
                self._pacer.throttled(retry_after_seconds(answer.headers, self._retry.ceiling(attempt)))
            if answer.status in (401, 403):
                raise DirectoryAccessRefused(
                    f"Microsoft Graph refused the credentials (HTTP {answer.status}, {answer.code}); check "
                    "the app's permissions and AZURE_TENANT_ID"
                )
            if answer.status not in TRANSIENT_STATUSES:
                return answer
        raise DirectoryUnavailable(
            f"Microsoft Graph did not answer a read after {self._retry.attempts} attempts "
            f"(last: {answer.code}); check the network and try again"
        )

    async def delta(self, url: str, on_page: PageSink) -> str:
        """Follow ``@odata.nextLink`` from ``url`` (a first-round query or a stored delta link) to the
        ``@odata.deltaLink`` and return it; each page's objects go to ``on_page`` as the page arrives, so
        a round is never held whole. Raises (``DeltaExpired``, ``DirectoryUnavailable``) part-way: the
        caller must then discard the pages it was given."""
        while True:
            answer = await self.get(url)
            if answer.status == 410:
                raise DeltaExpired(url)
            if not answer.ok:
                raise DirectoryUnavailable(
                    f"Microsoft Graph refused a delta read ({answer.status} {answer.code}: {answer.message})"
                )
            on_page(_values(answer.body, url))
            next_link = answer.body.get("@odata.nextLink")
            if next_link:
                url = str(next_link)
                continue
            delta_link = answer.body.get("@odata.deltaLink")
            if not delta_link:
                raise DirectoryUnavailable("a delta round ended without @odata.deltaLink")
            return str(delta_link)

    async def list_all(self, url: str) -> list[Mapping[str, Any]]:
        items: list[Mapping[str, Any]] = []
        while True:
            answer = await self.get(url)
            if not answer.ok:
                raise DirectoryUnavailable(
                    f"Microsoft Graph refused a read ({answer.status} {answer.code}: {answer.message})"
                )
            items.extend(_values(answer.body, url))
            next_link = answer.body.get("@odata.nextLink")
            if not next_link:
                return items
            url = str(next_link)

    async def find_id(self, path: str, prop: str, value: str) -> str | None:
        """The id of the object of ``path`` whose ``prop`` equals ``value``, or ``None``."""
        items = await self.list_all(filter_url(path, prop, value))
        found = items[0].get("id") if items else None
        return str(found) if found else None


def _values(body: Mapping[str, Any], url: str) -> list[Mapping[str, Any]]:
    """The objects of a page's ``value`` (Graph documents it as a list of objects; anything else in it is
    not an object and is passed over). A page whose ``value`` is not a list stops the read."""
    value = body.get("value", [])
    if not isinstance(value, list):
        route = url.split("?", 1)[0]
        raise DirectoryUnavailable(
            f"Microsoft Graph answered {route} with a value that is not a list; run again, and report it "
            "if it happens again"
        )
    return [item for item in value if isinstance(item, Mapping)]
