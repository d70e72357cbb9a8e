"""Packing requests into full ``$batch`` requests, paced, several in flight, retrying throttled items.

Callers ``await dispatcher.call(request)`` from as many coroutines as they like; the dispatcher queues the
requests, cuts the queue into batches of up to 20, waits for the pacer's tokens, and keeps up to
``concurrency`` batches in flight. A throttled or failed item (``429``, ``5xx``, time-out) is re-queued
**alone** after its own ``Retry-After`` (or an exponential backoff); the rest of its batch is done.
A ``429`` also tells the pacer, which pauses every sender and slows down.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from sync.directory.graph_http import TRANSIENT_STATUSES, GraphHttp, SubRequest, SubResponse
from sync.directory.graph_pacing import Pacer, retry_after_seconds
from sync.directory.graph_stats import Counters
from sync.directory.model import MAX_BATCH

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    #: Attempts per request for transient answers (429, 5xx, time-out).
    attempts: int = 8
    #: First backoff when the answer gives no ``Retry-After``; doubles per attempt up to ``max_backoff_s``.
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0

    def backoff(self, attempt: int) -> float:
        return min(self.max_backoff_s, self.backoff_s * 2.0**attempt)


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
    ) -> None:
        self._http = http
        self._pacer = pacer
        self._counters = counters
        self._retry = retry
        self._linger_s = linger_s
        self._slots = asyncio.Semaphore(concurrency)
        self._queue: deque[tuple[SubRequest, asyncio.Future[SubResponse]]] = deque()
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    @property
    def retry(self) -> RetryPolicy:
        return self._retry

    async def call(self, request: SubRequest) -> SubResponse:
        """Send ``request`` inside a batch; retry transient answers; return the final answer."""
        answer = await self._send_once(request)
        for attempt in range(1, self._retry.attempts):
            if answer.status not in TRANSIENT_STATUSES:
                return answer
            self._counters.retries += 1
            await asyncio.sleep(retry_after_seconds(answer.headers, self._retry.backoff(attempt - 1)))
            answer = await self._send_once(request)
        return answer

    async def call_once(self, request: SubRequest) -> SubResponse:
        """Send ``request`` inside a batch once; a transient answer is returned as it is."""
        return await self._send_once(request)

    async def _send_once(self, request: SubRequest) -> SubResponse:
        future: asyncio.Future[SubResponse] = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        self._wake.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run())
        return await future

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
            taken = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
            if not self._queue:
                self._wake.clear()
            if not taken:
                self._slots.release()
                continue
            writes = sum(1 for request, _ in taken if request.is_write)
            self._pacer.take(writes, len(taken) * ITEM_UNITS)
            task = asyncio.get_running_loop().create_task(self._send(taken))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _wait_for_tokens(self) -> None:
        """Wait until the next batch (as the queue now stands) may go; the queue may grow meanwhile."""
        while True:
            head = [request for request, _ in list(self._queue)[:MAX_BATCH]]
            writes = sum(1 for request in head if request.is_write)
            wait = self._pacer.delay(writes, max(1, len(head)) * ITEM_UNITS)
            if wait <= 0:
                return
            await asyncio.sleep(min(wait, 0.05))

    async def _send(self, taken: list[tuple[SubRequest, asyncio.Future[SubResponse]]]) -> None:
        try:
            answers, headers = await self._http.send_batch([request for request, _ in taken])
        except Exception as err:  # DirectoryUnavailable reaches every caller of this batch
            for _, future in taken:
                if not future.done():
                    future.set_exception(err)
            return
        finally:
            self._slots.release()
        self._pacer.observe(headers, estimated_units=len(taken) * ITEM_UNITS)
        waits = [
            retry_after_seconds(answer.headers, self._retry.backoff(0))
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
        for answer, (_, future) in zip(answers, taken, strict=True):
            if not future.done():
                future.set_result(answer)

    async def aclose(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        await asyncio.gather(*self._inflight, return_exceptions=True)
