"""Packing requests into full ``$batch`` requests, paced, several in flight, retrying throttled items.

Callers ``await dispatcher.call(request)`` from as many coroutines as they like; the dispatcher queues the
requests, cuts the queue into batches of up to 20, waits for the pacer's tokens, and keeps up to
``concurrency`` batches in flight. A throttled or failed item (``429``, ``5xx``, time-out) is re-queued
**alone** after its own ``Retry-After`` (or an exponential backoff with random jitter); the rest of its
batch is done. A ``429`` also tells the pacer, which pauses every sender and slows down.

A batch that gets no answer as a whole (a time-out, a broken connection, a ``5xx`` gateway error for the
batch) may have been held by one of its items; its items are retried after jittered, so differing, delays
and each may then go in a batch of at most half the size of the one that failed (20, 10, 5, 2, 1): items
that keep failing together are split apart instead of failing together until their attempts are spent.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sync.directory.graph_http import TRANSIENT_STATUSES, GraphHttp, SubRequest, SubResponse
from sync.directory.graph_pacing import Pacer, retry_after_seconds
from sync.directory.graph_stats import Counters
from sync.directory.model import MAX_BATCH

log = logging.getLogger(__name__)


#: A random number in [0, 1), drawn for each backoff (``random.Random(seed).random`` in tests).
Draw = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry. Backoff ``attempt`` (0 first) lies in ``(ceiling × (1 - jitter),
    ceiling]``, where the ceiling starts at ``backoff_s`` and doubles per attempt up to ``max_backoff_s``:
    ``jitter`` 1 is *full jitter* (anywhere up to the ceiling), 0 the bare exponential. Requests that failed
    together so wait different times and do not come back together."""

    #: Attempts per request for transient answers (429, 5xx, time-out).
    attempts: int = 8
    #: First backoff ceiling when the answer gives no ``Retry-After``; doubles per attempt up to the max.
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    #: Share of each backoff that is random (0 to 1).
    jitter: float = 1.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff_s < 0 or self.max_backoff_s < 0 or not 0 <= self.jitter <= 1:
            raise ValueError(f"{self!r}: attempts ≥ 1, backoffs ≥ 0 and jitter between 0 and 1")

    def ceiling(self, attempt: int) -> float:
        """The longest backoff after attempt ``attempt`` (the exponential without jitter)."""
        return min(self.max_backoff_s, self.backoff_s * 2.0**attempt)

    def floor(self, attempt: int) -> float:
        """The shortest backoff after attempt ``attempt``."""
        return self.ceiling(attempt) * (1 - self.jitter)

    def backoff(self, attempt: int, draw: Draw) -> float:
        """A backoff between :meth:`floor` (excluded unless ``jitter`` is 0) and :meth:`ceiling`."""
        return self.ceiling(attempt) * (1 - self.jitter * draw())

    def wait(self, attempt: int, headers: Mapping[str, str], draw: Draw) -> float:
        """How long to wait before the next attempt: the answer's ``Retry-After`` exactly as given (the
        server's word, no jitter), else :meth:`backoff`."""
        given = retry_after_seconds(headers, -1.0)
        return given if given >= 0 else self.backoff(attempt, draw)


#: A batch answered like this as a whole got no usable answer: one held item may have caused it.
_NO_ANSWER = frozenset({0, 500, 502, 504})


@dataclass(slots=True)
class _Queued:
    request: SubRequest
    future: asyncio.Future[SubResponse]
    #: The largest batch this attempt may go in.
    limit: int = MAX_BATCH
    #: Set when the batch it went in got no answer as a whole.
    unanswered: bool = False


#: RU of one batch item as the pacer estimates it before the server says (a write = 1 RU).
ITEM_UNITS = 1


class BatchDispatcher:
    def __init__(
        self,
        http: GraphHttp,
        pacer: Pacer,
        counters: Counters,
        *,
        concurrency: int = 6,
        retry: RetryPolicy = RetryPolicy(),
        linger_s: float = 0.002,
        draw: Draw = random.random,
    ) -> None:
        self._http = http
        self._pacer = pacer
        self._counters = counters
        self._retry = retry
        self._linger_s = linger_s
        self._draw = draw
        self._slots = asyncio.Semaphore(concurrency)
        self._queue: deque[_Queued] = deque()
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    @property
    def retry(self) -> RetryPolicy:
        return self._retry

    async def call(self, request: SubRequest) -> SubResponse:
        """Send ``request`` inside a batch; retry transient answers; return the final answer."""
        sent = await self._send_once(request, MAX_BATCH)
        for attempt in range(1, self._retry.attempts):
            answer = sent.future.result()
            if answer.status not in TRANSIENT_STATUSES:
                return answer
            self._counters.retries += 1
            await asyncio.sleep(self._retry.wait(attempt - 1, answer.headers, self._draw))
            limit = max(1, sent.limit // 2) if sent.unanswered else sent.limit
            sent = await self._send_once(request, limit)
        return sent.future.result()

    async def call_once(self, request: SubRequest) -> SubResponse:
        """Send ``request`` inside a batch once; a transient answer is returned as it is."""
        sent = await self._send_once(request, MAX_BATCH)
        return sent.future.result()

    async def _send_once(self, request: SubRequest, limit: int) -> _Queued:
        queued = _Queued(request, asyncio.get_running_loop().create_future(), limit)
        self._queue.append(queued)
        self._wake.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run())
        await queued.future
        return queued

    def _next_batch_size(self) -> int:
        """How many items from the head of the queue go in the next batch: as many as fit the smallest
        limit among them (an item limited to 5 closes a batch at 5, or starts one of at most 5)."""
        size = limit = 0
        for queued in self._queue:
            limit = min(limit or MAX_BATCH, queued.limit)
            if size >= limit:
                break
            size += 1
        return size

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if len(self._queue) < MAX_BATCH and self._inflight:
                await asyncio.sleep(self._linger_s)  # let the answers in flight add to this batch
            await self._slots.acquire()
            try:
                await self._wait_for_tokens()
            except BaseException:
                self._slots.release()
                raise
            taken = [self._queue.popleft() for _ in range(self._next_batch_size())]
            if not self._queue:
                self._wake.clear()
            if not taken:
                self._slots.release()
                continue
            writes = sum(1 for queued in taken if queued.request.is_write)
            self._pacer.take(writes, len(taken) * ITEM_UNITS)
            task = asyncio.get_running_loop().create_task(self._send(taken))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _wait_for_tokens(self) -> None:
        """Wait until the next batch (as the queue now stands) may go; the queue may grow meanwhile."""
        while True:
            head = [queued.request for queued in list(self._queue)[: self._next_batch_size()]]
            writes = sum(1 for request in head if request.is_write)
            wait = self._pacer.delay(writes, max(1, len(head)) * ITEM_UNITS)
            if wait <= 0:
                return
            await asyncio.sleep(min(wait, 0.05))

    async def _send(self, taken: list[_Queued]) -> None:
        try:
            answers, headers = await self._http.send_batch([queued.request for queued in taken])
        except Exception as err:  # DirectoryUnavailable reaches every caller of this batch
            for queued in taken:
                if not queued.future.done():
                    queued.future.set_exception(err)
            return
        finally:
            self._slots.release()
        self._pacer.observe(headers, estimated_units=len(taken) * ITEM_UNITS)
        waits = [
            retry_after_seconds(answer.headers, self._retry.ceiling(0))
            for answer in answers
            if answer.status == 429
        ]
        if waits:  # one signal per answer, however many of its items were refused
            self._counters.throttled += len(waits)
            self._pacer.throttled(max(waits))
            log.info(
                "Graph throttled %d of %d batch items; pausing %.2f s, pacing at %.0f %% of the quota",
                len(waits), len(taken), max(waits), 100 * self._pacer.multiplier,
            )  # fmt: skip
        unanswered = len(taken) > 1 and all(answer.status in _NO_ANSWER for answer in answers)
        for answer, queued in zip(answers, taken, strict=True):
            queued.unanswered = unanswered
            if not queued.future.done():
                queued.future.set_result(answer)

    async def aclose(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        await asyncio.gather(*self._inflight, return_exceptions=True)
