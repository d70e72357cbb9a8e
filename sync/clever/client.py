"""HTTP client of the Clever Data API v3.x: bearer token, paging, rate limit and retries.

Rules (``sds-behaviour.md`` §6, Clever developer docs):

- Every request carries ``Authorization: Bearer <district token>``. The token is never logged and never
  appears in an error message.
- Lists are paged: the client asks for ``limit`` records (at most 10,000) and follows the ``rel=next`` link
  of each page until a page has no ``next`` link or no records.
- Rate limit (1,200 requests per minute per token): on ``429`` the client waits until the time in
  ``X-RateLimit-Reset`` (Unix seconds; ``Retry-After`` when absent) and tries again; when a response says
  ``X-RateLimit-Remaining: 0`` it waits for the reset *before* the next request. When there is no usable
  wait — neither header, or one that says "now or earlier" because this machine's clock runs ahead of
  Clever's — it backs off exponentially instead (``backoff_s``, doubling, at most ``MAX_RATE_WAIT_S``), so
  a skewed clock never turns into ``MAX_RATE_LIMITED`` requests fired back to back.
- ``5xx`` and connection failures are retried with exponential back-off (``max_retries`` times);
  ``401``/``403`` raise :class:`~sync.errors.SourceError` at once (a refused token does not get better by
  asking again); any other ``4xx`` raises :class:`SourceError` naming the request path.
- On the events endpoint, a ``starting_after`` that Clever no longer knows (``404``/``400``/``410``: the
  30-day window was missed) raises :class:`EventsWindowMissed`, so the caller can fall back to a full pull.

Clock and sleep are injected so tests can run the waits instantly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode, urljoin

import httpx

from sync.errors import SourceError

log = logging.getLogger(__name__)

#: Clever's largest page.
MAX_PAGE_SIZE = 10_000
#: Longest single wait for a rate-limit reset; Clever's window is one minute.
MAX_RATE_WAIT_S = 65.0
#: How many ``429`` answers one request may get before the pull gives up.
MAX_RATE_LIMITED = 20


class EventsWindowMissed(Exception):
    """The last processed event is no longer in Clever's 30-day events window: do a full pull."""


class EventsUnavailable(Exception):
    """The events endpoint is not open to this app (events are opt-in at Clever): full pulls only."""


class CleverClient:
    """One district token against one Clever API base URL (``https://api.clever.com`` or a local server)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        api_version: str = "v3.0",
        page_size: int = MAX_PAGE_SIZE,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        timeout_s: float = 60.0,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}")
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self.page_size = page_size
        self._sleep = sleep
        self._clock = clock
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        self._reset_at: float | None = None
        #: Requests sent (retries included); for benchmarks and tests.
        self.requests = 0
        #: Seconds spent waiting for rate-limit resets and back-offs.
        self.waited_s = 0.0

    # -- context manager ---------------------------------------------------------------------------------
    def __enter__(self) -> CleverClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- lists -------------------------------------------------------------------------------------------
    def list_records(
        self, collection: str, params: Mapping[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every record of ``collection`` (``schools``, ``users`` …), following ``rel=next`` links.
        Yields the inner ``data`` object of each item."""
        query = {**(params or {}), "limit": str(self.page_size)}
        path: str | None = f"/{self.api_version}/{collection}?{urlencode(query)}"
        while path is not None:
            page = self._get(path)
            items = _items(page, path)
            yield from items
            path = _next_link(page) if items else None

    def latest_event_id(self) -> str | None:
        """Id of the newest event (``ending_before=last&limit=1``), ``None`` when there are none. Raises
        :class:`EventsUnavailable` when Clever answers ``403`` or another ``4xx`` (but ``401``/``429``)."""
        try:
            page = self._get(
                f"/{self.api_version}/events?{urlencode({'ending_before': 'last', 'limit': '1'})}"
            )
        except _ClientError as err:
            if err.status == 401:
                raise
            raise EventsUnavailable(str(err)) from err
        items = _items(page, "events")
        return str(items[-1]["id"]) if items else None

    def list_events(self, starting_after: str | None) -> Iterator[dict[str, Any]]:
        """Events after ``starting_after`` (every event in the window when ``None``), oldest first. Raises
        :class:`EventsWindowMissed` when Clever no longer knows that event."""
        query = {"limit": str(self.page_size)}
        if starting_after is not None:
            query["starting_after"] = starting_after
        path: str | None = f"/{self.api_version}/events?{urlencode(query)}"
        first = True
        while path is not None:
            try:
                page = self._get(path)
            except _ClientError as err:
                if first and err.status in (400, 404, 410):  # 401/403 stay errors
                    raise EventsWindowMissed(str(err)) from err
                raise
            first = False
            items = _items(page, path)
            yield from items
            path = _next_link(page) if items else None

    # -- one request -------------------------------------------------------------------------------------
    def _get(self, path: str) -> dict[str, Any]:
        url = urljoin(self.base_url + "/", path)
        failures = 0
        limited = 0
        while True:
            self._wait_for_reset()
            self.requests += 1
            try:
                response = self._http.get(url)
            except httpx.TransportError as err:
                failures += 1
                if failures > self._max_retries:
                    raise SourceError(
                        f"cannot reach the Clever API at {self.base_url} ({type(err).__name__}) after "
                        f"{failures} attempts: check clever.base_url and the network"
                    ) from err
                self._pause(self._backoff_s * 2 ** (failures - 1))
                continue
            self._note_rate_headers(response)
            status = response.status_code
            if status == 200:
                return _json(response, path)
            if status == 429:
                limited += 1
                if limited > MAX_RATE_LIMITED:
                    raise SourceError(
                        f"the Clever API kept answering 429 (rate limited) for {_route(path)}: "
                        "another client may be using the same token; try again later"
                    )
                self._pause(self._rate_wait(response, limited))
                continue
            if status >= 500:
                failures += 1
                if failures > self._max_retries:
                    raise SourceError(
                        f"the Clever API answered {status} for {_route(path)} {failures} times: "
                        "Clever may be down; the next run will try again"
                    )
                self._pause(self._backoff_s * 2 ** (failures - 1))
                continue
            if status in (401, 403):
                raise _ClientError(
                    status,
                    f"the Clever API refused the district token ({status} for {_route(path)}): check "
                    "that the app setting named by clever.token_setting holds a current district token "
                    "for this app",
                )
            raise _ClientError(
                status, f"the Clever API answered {status} for {_route(path)}: {_message(response)}"
            )

    def _note_rate_headers(self, response: httpx.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset = _number(response.headers.get("X-RateLimit-Reset"))
        self._reset_at = reset if remaining is not None and remaining.strip() == "0" and reset else None

    def _wait_for_reset(self) -> None:
        if self._reset_at is None:
            return
        wait = min(self._reset_at - self._clock(), MAX_RATE_WAIT_S)
        self._reset_at = None
        if wait > 0:
            self._pause(wait)

    def _rate_wait(self, response: httpx.Response, attempt: int) -> float:
        """Seconds to wait after the ``attempt``-th ``429`` of one request: until the reset Clever names, or
        the back-off when that is absent or not in the future (clock skew)."""
        self._reset_at = None
        reset = _number(response.headers.get("X-RateLimit-Reset"))
        retry_after = _number(response.headers.get("Retry-After"))
        if reset is not None:
            wait = reset - self._clock()
        elif retry_after is not None:
            wait = retry_after
        else:
            wait = 0.0
        if wait > 0:
            return min(wait, MAX_RATE_WAIT_S)
        return float(min(self._backoff_s * 2 ** (attempt - 1), MAX_RATE_WAIT_S))

    def _pause(self, seconds: float) -> None:
        log.debug("clever: waiting %.2f s", seconds)
        self.waited_s += seconds
        self._sleep(seconds)


class _ClientError(SourceError):
    """A 4xx other than 429: never retried."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def _route(path: str) -> str:
    """The path without its query (the query may hold ids)."""
    return path.split("?", 1)[0]


def _json(response: httpx.Response, path: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as err:
        raise SourceError(f"the Clever API sent a response that is not JSON for {_route(path)}") from err
    if not isinstance(body, dict):
        raise SourceError(f"the Clever API sent an unexpected response for {_route(path)}: not an object")
    return body


def _items(page: Mapping[str, Any], path: str) -> list[dict[str, Any]]:
    data = page.get("data")
    if not isinstance(data, list):
        raise SourceError(f"the Clever API sent an unexpected response for {_route(path)}: no data list")
    items: list[dict[str, Any]] = []
    for entry in data:
        inner = entry.get("data") if isinstance(entry, dict) else None
        if not isinstance(inner, dict) or not isinstance(inner.get("id"), str):
            raise SourceError(f"the Clever API sent a record without an id for {_route(path)}")
        items.append(inner)
    return items


def _next_link(page: Mapping[str, Any]) -> str | None:
    for link in page.get("links") or ():
        if isinstance(link, dict) and link.get("rel") == "next" and isinstance(link.get("uri"), str):
            return str(link["uri"])
    return None


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "no details"
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:200]
    return "no details"


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
