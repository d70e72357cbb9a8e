"""What happens to every call, from the socket or inside ``$batch``: fault draw, throttling, dispatch.

Order: (1) an injected fault answers before anything else, so a faulted call changes nothing — except an
``applied-timeout``, which lets the call run through (2) and (3), then holds its answer and replaces it with
a ``504``; (2) the throttler charges the call's resource units and write — a refused call changes nothing;
(3) the router runs the handler under the store lock. Every reply carries the throttling headers.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sync.graphserver.calls import WRITE_METHODS, Call, Reply
from sync.graphserver.errors import GraphError, error_body
from sync.graphserver.faults import Fault, FaultInjector
from sync.graphserver.router import Router
from sync.graphserver.stats import Stats
from sync.graphserver.throttle import Throttler, format_retry_after, resource_units

logger = logging.getLogger(__name__)

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _route_shape(path: str) -> str:
    """The path with ids replaced, safe to log (``/groups/{id}/members``)."""
    return _GUID.sub("{id}", path.split("?", 1)[0])


def error_reply(err: GraphError) -> Reply:
    headers = {"Content-Type": "application/json", **err.headers}
    return Reply(err.status, error_body(err.code, err.message, err.details), headers)


class FreshObjects:
    """When each object created through this server was created, for replication-delay faults; entries
    older than the window are dropped as new ones come."""

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._created: dict[str, float] = {}
        self._order: deque[tuple[float, str]] = deque()
        self._lock = threading.Lock()

    def created(self, object_id: str) -> None:
        now = self._clock()
        key = object_id.lower()
        with self._lock:
            self._created[key] = now
            self._order.append((now, key))
            while self._order and self._order[0][0] < now - self.window_s:
                stamp, old = self._order.popleft()
                if self._created.get(old) == stamp:
                    del self._created[old]

    def __len__(self) -> int:
        """How many creation times are remembered."""
        with self._lock:
            return len(self._created)

    def any_fresh(self, ids: Iterable[str]) -> bool:
        now = self._clock()
        with self._lock:
            for object_id in ids:
                stamp = self._created.get(object_id.lower())
                if stamp is not None and now - stamp < self.window_s:
                    return True
        return False


def referenced_ids(call: Call) -> list[str]:
    """Object ids a call names, in its path or in its body (``@odata.bind`` / ``@odata.id``)."""
    ids = _GUID.findall(call.path)
    body = call.body
    if isinstance(body, dict):
        for key, value in body.items():
            if key.endswith("@odata.bind") or key == "@odata.id":
                values = value if isinstance(value, list) else [value]
                for item in values:
                    if isinstance(item, str):
                        ids.extend(_GUID.findall(item))
    return ids


def applied_writes(call: Call, reply: Reply) -> int:
    """How many writes ``reply`` says were carried out: ``call`` itself, or the items of a ``$batch``."""
    if call.path != "/$batch":
        return int(call.is_write and 200 <= reply.status < 300)
    if reply.status != 200 or not isinstance(reply.body, dict) or not isinstance(call.body, dict):
        return 0
    methods = {str(item.get("id")): str(item.get("method", "")).upper() for item in call.body["requests"]}
    return sum(
        1
        for item in reply.body.get("responses", [])
        if 200 <= item["status"] < 300 and methods.get(str(item["id"])) in WRITE_METHODS
    )


class InFlight:
    """How many requests the server is at work on. A client that gave up on a request (a time-out) does
    not stop it: the server finishes it, as Graph may. ``wait_idle`` blocks until none is left."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    @contextmanager
    def request(self) -> Iterator[None]:
        with self._changed:
            self._count += 1
        try:
            yield
        finally:
            with self._changed:
                self._count -= 1
                self._changed.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Whether the server became idle within ``timeout_s``."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count == 0, timeout_s)


class Pipeline:
    def __init__(
        self,
        router: Router,
        *,
        throttler: Throttler,
        faults: FaultInjector,
        stats: Stats,
        store_lock: threading.RLock,
        fresh: FreshObjects,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.router = router
        self.throttler = throttler
        self.faults = faults
        self.stats = stats
        self.store_lock = store_lock
        self.fresh = fresh
        self.in_flight = InFlight()
        self._sleep = sleep

    def answer(self, call: Call, carry_out: Callable[[], Reply]) -> Reply:
        """Draw a fault for ``call``. A refusing fault (429, 503, timeout, replication) answers instead of
        ``carry_out``, which never runs; ``applied-timeout`` runs ``carry_out``, then holds its answer
        ``timeout_s`` and replaces it with a ``504``; no fault: what ``carry_out`` answers."""
        fault = self.faults.draw(call)
        if self.faults.plan.replication and self.fresh.any_fresh(referenced_ids(call)):
            self.stats.add("fresh_calls")  # what a replication fault could hit: its rate is a share of these
        if fault is Fault.APPLIED_TIMEOUT:
            reply = carry_out()
            self.stats.fault(fault.value)
            self.stats.add("faulted_writes_applied", applied_writes(call, reply))
            self._sleep(self.faults.plan.timeout_s)
            return error_reply(
                GraphError(
                    504,
                    "GatewayTimeout",
                    "The request timed out (injected fault); it may have been carried out.",
                )
            )
        refusal = None if fault is None else self._refusal(fault, call)
        return carry_out() if refusal is None else refusal

    def _refusal(self, fault: Fault, call: Call) -> Reply | None:
        """The answer of a fault that turns ``call`` away (a timeout sleeps first); ``None`` for a replication
        fault on a call that names no fresh object."""
        plan = self.faults.plan
        if fault is Fault.REPLICATION:
            if not self.fresh.any_fresh(referenced_ids(call)):
                return None
            self.stats.fault(fault.value)
            object_id = next(iter(referenced_ids(call)), "")
            return error_reply(
                GraphError(
                    404,
                    "Request_ResourceNotFound",
                    f"Resource '{object_id}' does not exist or one of its queried reference-property "
                    "objects are not present.",
                )
            )
        self.stats.fault(fault.value)
        retry = format_retry_after(1.0 / self.throttler.scale, self.throttler.scale)
        if fault is Fault.THROTTLE:
            return error_reply(
                GraphError(
                    429,
                    "TooManyRequests",
                    "Too many requests (injected fault); retry after the delay in Retry-After.",
                    headers={"Retry-After": retry, "x-ms-throttle-information": "InjectedFault"},
                )
            )
        if fault is Fault.UNAVAILABLE:
            return error_reply(
                GraphError(
                    503,
                    "ServiceUnavailable",
                    "The service is temporarily unavailable (injected fault); retry later.",
                    headers={"Retry-After": retry},
                )
            )
        self._sleep(plan.timeout_s)
        return error_reply(
            GraphError(504, "GatewayTimeout", "The request timed out (injected fault); nothing was changed.")
        )

    def handle(self, call: Call, *, app: str, tenant: str) -> Reply:
        """One call (not a ``$batch`` envelope): fault, throttle, dispatch."""
        return self.answer(call, lambda: self._carry_out(call, app=app, tenant=tenant))

    def _carry_out(self, call: Call, *, app: str, tenant: str) -> Reply:
        """Throttle and dispatch ``call``."""
        ru = resource_units(call.method, call.path, dict(call.query))
        decision = self.throttler.charge(
            app=app, tenant=tenant, ru=ru, writes=1 if call.is_write else 0, low_priority=call.low_priority
        )
        if not decision.allowed:
            assert decision.scope is not None
            self.stats.throttled(decision.scope)
            reply = error_reply(
                GraphError(
                    429,
                    "TooManyRequests",
                    "Too many requests: the application's budget for this tenant is spent; "
                    "retry after the delay in Retry-After.",
                )
            )
            return reply.with_headers(decision.headers())
        self.stats.add("resource_units", ru)
        self.stats.add("writes" if call.is_write else "reads")
        try:
            with self.store_lock:
                reply = self.router.dispatch(call)
        except GraphError as err:
            reply = error_reply(err)
        except Exception as err:  # a bug or a broken tenant file: answer 500, keep serving
            logger.error(
                "graphserver: %s on %s (%s)", type(err).__name__, call.method, _route_shape(call.path)
            )
            logger.debug("graphserver: internal error", exc_info=True)
            reply = error_reply(
                GraphError(500, "InternalServerError", "The local Graph server failed on this request.")
            )
        if call.method == "POST" and reply.status == 201 and isinstance(reply.body, dict):
            created = reply.body.get("id")
            if isinstance(created, str):
                self.fresh.created(created)
        return reply.with_headers(decision.headers())


def json_headers(reply: Reply) -> dict[str, Any]:
    headers = dict(reply.headers)
    if reply.body is not None:
        headers.setdefault("Content-Type", "application/json")
    return headers
