"""A Clever-compatible Data API server on 127.0.0.1, for tests and local development.

Serves the subset of the Clever API v3.0/v3.1 the sync uses (OpenAPI files in ``shared/reference``):

- ``GET /v3.x/{schools,users,sections,terms,courses}`` — ``{"data": [{"data": {…}, "uri": …}], "links":
  [{"rel": "self", …}, {"rel": "next", "uri": "…&starting_after=<id>"}]}``; records in Clever id order;
  ``limit`` 1–10,000 (default 100); ``starting_after`` / ``ending_before``; ``users`` takes ``role``. The
  ``next`` link is present only when more records follow, so a list of *n* records takes
  ``max(1, ceil(n / limit))`` requests.
- ``GET /v3.x/events`` — events oldest first; ``starting_after=<event id>`` (``404`` when that event is no
  longer held: the window was missed), ``ending_before=last&limit=1`` for the newest event.
- Bearer token required (``401`` otherwise); a rate limit per token (``429`` with ``X-RateLimit-Reset``, Unix
  seconds; ``X-RateLimit-Limit`` / ``X-RateLimit-Remaining`` on every answer); injectable faults.

v3.0 answers leave out the Student fields that only v3.1 has. Events are made by the helpers
(``upsert``, ``delete``, ``emit_event``), which also change the served data.
"""

from __future__ import annotations

import bisect
import copy
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from sync.cleverserver.district import V31_STUDENT_FIELDS, Record, ServedDistrict, load_district
from sync.devserver import BackgroundServer, LocalHTTPServer

COLLECTIONS = ("schools", "users", "sections", "terms", "courses")
VERSIONS = ("v3.0", "v3.1")
DEFAULT_TOKEN = "LOCAL_DISTRICT_TOKEN"
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class Fault:
    """Answer the next ``times`` requests whose path starts with ``path_prefix`` with ``status``."""

    path_prefix: str
    status: int
    times: int = 1


@dataclass
class _ActiveFault:
    path_prefix: str
    status: int
    remaining: int


@dataclass
class _Event:
    id: str
    type: str
    created: float
    object: Record


class CleverServer:
    """``with CleverServer(folder) as server: server.base_url …`` or ``start()`` / ``stop()``."""

    def __init__(
        self,
        district: str | Path | ServedDistrict,
        *,
        token: str = DEFAULT_TOKEN,
        port: int = 0,
        rate_limit_per_min: int = 1200,
        rate_window_s: float = 60.0,
        faults: Iterable[Fault] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.district = district if isinstance(district, ServedDistrict) else load_district(district)
        self.token = token
        self.rate_limit = rate_limit_per_min
        self.rate_window_s = rate_window_s
        self.clock = clock
        self._port = port
        self._faults = [_ActiveFault(f.path_prefix, f.status, f.times) for f in faults]
        self._events: list[_Event] = []
        self._event_seq = 0
        self._lock = threading.Lock()
        self._window: tuple[float, int] = (0.0, 0)
        self._stats: Counter[str] = Counter()
        self._sorted: dict[str, list[str]] = {}
        self._serving: BackgroundServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> str:
        handler = type("Handler", (_Handler,), {"server_state": self})
        httpd = LocalHTTPServer(("127.0.0.1", self._port), handler)
        self._serving = BackgroundServer(httpd, name="clever-server")
        return self.base_url

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    def __enter__(self) -> CleverServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._serving is None:
            raise RuntimeError("the Clever server is not running: call start() first")
        return f"http://127.0.0.1:{self._serving.httpd.server_address[1]}"

    # -- test helpers ------------------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        """``requests`` (all), ``rate_limited``, ``faults``, ``unauthorized`` and one count per route."""
        with self._lock:
            return {"requests": 0, "rate_limited": 0, "faults": 0, "unauthorized": 0, **self._stats}

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(_ActiveFault(fault.path_prefix, fault.status, fault.times))

    def emit_event(self, event_type: str, record: Mapping[str, Any]) -> str:
        """Append an event (``users.updated`` …) carrying ``record``; returns its id. Data is unchanged."""
        with self._lock:
            self._event_seq += 1
            event_id = f"{0x65000000 + self._event_seq:08x}{self._event_seq:016x}"
            self._events.append(_Event(event_id, event_type, self.clock(), copy.deepcopy(dict(record))))
            return event_id

    def upsert(self, collection: str, record: Mapping[str, Any]) -> str:
        """Create or replace a record and emit ``<collection>.created`` / ``.updated``."""
        records = self.district.collection(collection)
        with self._lock:
            existed = record["id"] in records
            records[str(record["id"])] = copy.deepcopy(dict(record))
            self._sorted.pop(collection, None)
        return self.emit_event(f"{collection}.{'updated' if existed else 'created'}", record)

    def delete(self, collection: str, record_id: str) -> str:
        """Remove a record and emit ``<collection>.deleted``."""
        records = self.district.collection(collection)
        with self._lock:
            record = records.pop(record_id)
            self._sorted.pop(collection, None)
        return self.emit_event(f"{collection}.deleted", record)

    def get(self, collection: str, record_id: str) -> Record:
        """A copy of a served record (to change and ``upsert``)."""
        return copy.deepcopy(self.district.collection(collection)[record_id])

    def forget_events(self, *, older_than_s: float | None = None) -> int:
        """Drop events as the 30-day window does (all of them by default); returns how many."""
        with self._lock:
            cutoff = float("inf") if older_than_s is None else self.clock() - older_than_s
            kept = [event for event in self._events if event.created >= cutoff]
            dropped = len(self._events) - len(kept)
            self._events = kept
            return dropped

    # -- request handling (called from the handler threads) ----------------------------------------------
    def handle(self, path: str, authorization: str | None) -> tuple[int, dict[str, str], Any]:
        split = urlsplit(path)
        query = {key: values[-1] for key, values in parse_qs(split.query).items()}
        parts = split.path.strip("/").split("/")
        with self._lock:
            self._stats["requests"] += 1
            if authorization != f"Bearer {self.token}":
                self._stats["unauthorized"] += 1
                return 401, {}, {"message": "invalid or missing bearer token"}
            headers, limited = self._rate(self.clock())
            if limited:
                self._stats["rate_limited"] += 1
                return 429, headers, {"message": "rate limit exceeded"}
            fault = self._fault(split.path)
            if fault is not None:
                self._stats["faults"] += 1
                return fault, headers, {"message": f"injected fault {fault}"}
            if len(parts) != 2 or parts[0] not in VERSIONS:
                return 404, headers, {"message": f"no route {split.path}"}
            version, collection = parts
            self._stats[f"{version}/{collection}"] += 1
            limit = _limit(query.get("limit"))
            if limit is None:
                return 400, headers, {"message": f"limit must be between 1 and {MAX_LIMIT}"}
            if collection == "events":
                status, body = self._events_page(version, query, limit)
                return status, headers, body
            if collection not in COLLECTIONS:
                return 404, headers, {"message": f"no route {split.path}"}
            return 200, headers, self._page(version, collection, query, limit)

    def _rate(self, now: float) -> tuple[dict[str, str], bool]:
        start, count = self._window
        if now >= start + self.rate_window_s:
            start, count = now - (now % self.rate_window_s), 0
        reset = start + self.rate_window_s
        limited = count >= self.rate_limit
        if not limited:
            count += 1
        self._window = (start, count)
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - count)),
            "X-RateLimit-Reset": f"{reset:.3f}",
        }
        return headers, limited

    def _fault(self, path: str) -> int | None:
        for fault in self._faults:
            if path.startswith(fault.path_prefix) and fault.remaining > 0:
                fault.remaining -= 1
                return fault.status
        return None

    def _ids(self, collection: str) -> list[str]:
        ids = self._sorted.get(collection)
        if ids is None:
            ids = self._sorted[collection] = sorted(self.district.collection(collection))
        return ids

    def _page(self, version: str, collection: str, query: Mapping[str, str], limit: int) -> dict[str, Any]:
        records = self.district.collection(collection)
        ids = self._ids(collection)
        role = query.get("role") if collection == "users" else None
        if role is not None:
            ids = [i for i in ids if isinstance((records[i].get("roles") or {}).get(role), dict)]
        if "ending_before" in query:
            end = bisect.bisect_left(ids, query["ending_before"])
            chosen = ids[max(0, end - limit) : end]
            more = False
        else:
            begin = bisect.bisect_right(ids, query["starting_after"]) if "starting_after" in query else 0
            chosen = ids[begin : begin + limit]
            more = begin + limit < len(ids)
        data = [
            {"data": _versioned(version, records[i]), "uri": f"/{version}/{collection}/{i}"} for i in chosen
        ]
        return {"data": data, "links": _links(version, collection, query, chosen, more)}

    def _events_page(self, version: str, query: Mapping[str, str], limit: int) -> tuple[int, dict[str, Any]]:
        events = self._events
        if query.get("ending_before") == "last":
            chosen = events[-limit:]
            more = False
        else:
            begin = 0
            after = query.get("starting_after")
            if after is not None:
                positions = [n for n, event in enumerate(events) if event.id == after]
                if not positions:
                    return 404, {"message": "starting_after: no such event (it may be older than 30 days)"}
                begin = positions[0] + 1
            chosen = events[begin : begin + limit]
            more = begin + limit < len(events)
        data = [
            {
                "data": {
                    "id": event.id,
                    "type": event.type,
                    "created": datetime.fromtimestamp(event.created, UTC).isoformat().replace("+00:00", "Z"),
                    "data": {"object": _versioned(version, event.object)},
                },
                "uri": f"/{version}/events/{event.id}",
            }
            for event in chosen
        ]
        ids = [event.id for event in chosen]
        return 200, {"data": data, "links": _links(version, "events", query, ids, more)}


def _limit(value: str | None) -> int | None:
    if value is None:
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        return None
    return limit if 1 <= limit <= MAX_LIMIT else None


def _links(
    version: str, collection: str, query: Mapping[str, str], ids: list[str], more: bool
) -> list[dict[str, str]]:
    links = [{"rel": "self", "uri": f"/{version}/{collection}?{urlencode(query)}"}]
    if more and ids:
        following = {k: v for k, v in query.items() if k not in ("starting_after", "ending_before")}
        following["starting_after"] = ids[-1]
        links.append({"rel": "next", "uri": f"/{version}/{collection}?{urlencode(following)}"})
    return links


def _versioned(version: str, record: Record) -> Record:
    """The record as ``version`` shows it: v3.0 has no v3.1-only Student fields."""
    if version != "v3.0":
        return record
    student = (record.get("roles") or {}).get("student")
    if not isinstance(student, dict) or not any(key in student for key in V31_STUDENT_FIELDS):
        return record
    trimmed = {key: value for key, value in student.items() if key not in V31_STUDENT_FIELDS}
    return {**record, "roles": {**record["roles"], "student": trimmed}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: CleverServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle delay per answer

    def do_GET(self) -> None:
        status, headers, body = self.server_state.handle(self.path, self.headers.get("Authorization"))
        payload = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # no request logging (paths hold ids)
        return
