"""Packing requests into $batch, pacing, and retrying only the throttled items (fake Graph transport)."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import pytest

from sync.directory.graph import REPLICATION_RETRY, TRANSIENT_RETRY
from sync.directory.graph_anchors import FRESH_WINDOW_S
from sync.directory.graph_batch import BatchDispatcher, Draw, RetryPolicy
from sync.directory.graph_http import GraphHttp, SubRequest, SubResponse, build_client, failure
from sync.directory.graph_pacing import Pacer, Quota
from sync.directory.graph_stats import Counters
from sync.errors import DirectoryAccessRefused
from tests.directory.graph_fakes import BASE, Answer, FakeGraph, Item, error

FAST = RetryPolicy(attempts=5, backoff_s=0.001, max_backoff_s=0.01)


async def _token() -> str | None:
    return "t"


def _dispatch(
    fake: FakeGraph,
    requests: Sequence[SubRequest],
    *,
    low_priority: bool = False,
    draw: Draw = random.random,
) -> tuple[list[SubResponse], Counters]:
    counters = Counters()

    async def run() -> list[SubResponse]:
        http = GraphHttp(
            build_client(BASE, transport=fake.transport(), timeout_s=5),
            _token,
            counters,
            low_priority=low_priority,
        )
        dispatcher = BatchDispatcher(http, Pacer(Quota(scale=1000)), counters, retry=FAST, draw=draw)
        try:
            return list(await asyncio.gather(*(dispatcher.call(request) for request in requests)))
        finally:
            await dispatcher.aclose()
            await http.aclose()

    return asyncio.run(run()), counters


def _writes(count: int) -> list[SubRequest]:
    return [SubRequest("PATCH", f"/users/u{index}", {"accountEnabled": False}) for index in range(count)]


def test_45_writes_go_in_three_batches_of_20_20_and_5() -> None:
    fake = FakeGraph()
    answers, counters = _dispatch(fake, _writes(45))
    assert [len(batch) for batch in fake.batches] == [20, 20, 5]
    assert all(answer.status == 204 for answer in answers)
    assert (counters.requests, counters.batches, counters.batch_items, counters.writes) == (3, 3, 45, 45)


def test_answers_returned_out_of_order_are_matched_to_their_requests_by_id() -> None:
    fake = FakeGraph(script=lambda item: (200, {"url": item.url}, {}))
    answers, _ = _dispatch(fake, _writes(7))
    assert [answer.body["url"] for answer in answers] == [f"/users/u{index}" for index in range(7)]


def test_only_the_throttled_item_is_sent_again_after_its_retry_after() -> None:
    throttled_once: set[str] = set()

    def script(item: Item) -> Answer | None:
        if item.url == "/users/u3" and item.url not in throttled_once:
            throttled_once.add(item.url)
            return error(429, "TooManyRequests", "slow down", {"Retry-After": "0.01"})
        return None

    fake = FakeGraph(script=script)
    answers, counters = _dispatch(fake, _writes(10))
    assert all(answer.status == 204 for answer in answers)
    assert [item.url for item in fake.batches[1]] == ["/users/u3"]
    assert (counters.throttled, counters.retries, counters.writes) == (1, 1, 11)


def test_a_whole_batch_refused_with_503_is_sent_again_in_full() -> None:
    fake = FakeGraph(batch_faults=[(503, {"Retry-After": "0.01"})])
    answers, counters = _dispatch(fake, _writes(4))
    assert all(answer.status == 204 for answer in answers)
    assert [len(batch) for batch in fake.batches] == [4, 4]
    assert counters.retries == 4


@pytest.mark.parametrize("status", [401, 403])
def test_a_batch_refused_for_the_credentials_raises_access_refused_without_a_retry(status: int) -> None:
    fake = FakeGraph(batch_faults=[(status, {})] * 3)
    with pytest.raises(DirectoryAccessRefused, match=f"HTTP {status}"):
        _dispatch(fake, _writes(2))
    assert len(fake.batch_headers) == 1


def test_a_timed_out_batch_is_retried_and_then_answered() -> None:
    fake = FakeGraph(batch_faults=[(0, {})])
    answers, counters = _dispatch(fake, _writes(3))
    assert all(answer.status == 204 for answer in answers)
    assert counters.retries == 3


def test_a_request_throttled_every_time_gives_up_after_the_policy_attempts_with_the_429() -> None:
    fake = FakeGraph(script=lambda item: error(429, "TooManyRequests", "no", {"Retry-After": "0.001"}))
    answers, counters = _dispatch(fake, _writes(1))
    assert answers[0].status == 429
    assert counters.writes == FAST.attempts


def test_errors_that_are_not_transient_come_back_at_once() -> None:
    fake = FakeGraph(script=lambda item: error(400, "Request_BadRequest", "Invalid request"))
    answers, counters = _dispatch(fake, _writes(2))
    assert [answer.code for answer in answers] == ["Request_BadRequest"] * 2
    assert counters.retries == 0


def test_low_priority_runs_mark_the_batch_and_every_item() -> None:
    fake = FakeGraph()
    _dispatch(fake, _writes(2), low_priority=True)
    assert fake.batch_headers[0]["x-ms-throttle-priority"] == "low"
    assert all(item.headers["x-ms-throttle-priority"] == "low" for item in fake.batches[0])
    assert fake.batch_headers[0]["authorization"] == "Bearer t"


def test_writes_with_a_body_carry_a_json_content_type_inside_the_batch() -> None:
    fake = FakeGraph()
    _dispatch(fake, [SubRequest("PATCH", "/users/a", {"x": 1}), SubRequest("DELETE", "/users/b")])
    patch, delete = fake.batches[0]
    assert patch.headers["Content-Type"] == "application/json"
    assert "Content-Type" not in delete.headers and delete.body is None


def test_the_http_client_has_no_retry_middleware_so_a_429_reaches_the_adapter_after_one_attempt() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(429, headers={"Retry-After": "0"}, json={"error": {"code": "TooManyRequests"}})

    async def run() -> SubResponse:
        http = GraphHttp(
            build_client(BASE, transport=httpx.MockTransport(handler), timeout_s=5), _token, Counters()
        )
        try:
            return await http.get("/users")
        finally:
            await http.aclose()

    answer = asyncio.run(run())
    assert answer.status == 429
    assert len(calls) == 1


def test_a_failure_response_names_its_code_and_message() -> None:
    answer = failure("Timeout", "the read timed out")
    assert (answer.status, answer.code, answer.message) == (0, "Timeout", "the read timed out")


def test_a_batch_refused_as_a_whole_slows_the_pacer_once_not_once_per_item() -> None:
    counters = Counters()
    pacer = Pacer(Quota(scale=1000))
    fake = FakeGraph(batch_faults=[(429, {"Retry-After": "0.01"})])

    async def run() -> None:
        http = GraphHttp(build_client(BASE, transport=fake.transport(), timeout_s=5), _token, counters)
        dispatcher = BatchDispatcher(http, pacer, counters, retry=FAST)
        try:
            await asyncio.gather(*(dispatcher.call(request) for request in _writes(20)))
        finally:
            await dispatcher.aclose()
            await http.aclose()

    asyncio.run(run())
    assert counters.throttled == 20
    assert 0.7 <= pacer.multiplier < 1.0


@pytest.mark.parametrize(
    "policy", [TRANSIENT_RETRY, REPLICATION_RETRY, FAST], ids=["transient", "replication", "fast"]
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_backoffs_drawn_at_random_differ_and_stay_between_the_floor_and_the_ceiling(
    policy: RetryPolicy, seed: int
) -> None:
    draw = random.Random(seed).random
    for attempt in range(policy.attempts):
        delays = [policy.backoff(attempt, draw) for _ in range(50)]
        assert all(policy.floor(attempt) < delay <= policy.ceiling(attempt) for delay in delays)
        assert len(set(delays)) == 50
    assert [policy.ceiling(attempt) for attempt in range(4)] == [policy.backoff_s * 2**n for n in range(4)]
    assert policy.ceiling(100) == policy.max_backoff_s


def test_full_jitter_spans_zero_to_the_ceiling_and_replication_jitter_its_upper_half() -> None:
    assert TRANSIENT_RETRY.backoff(3, lambda: 0.0) == TRANSIENT_RETRY.ceiling(3) == 4.0
    assert TRANSIENT_RETRY.backoff(3, lambda: 0.999) == pytest.approx(0.004)
    assert REPLICATION_RETRY.backoff(2, lambda: 0.0) == 1.0
    assert REPLICATION_RETRY.backoff(2, lambda: 0.999) == pytest.approx(0.5005)
    assert RetryPolicy(jitter=0).backoff(1, lambda: 0.7) == 1.0


def test_the_replication_retries_outlast_the_fresh_window_however_short_their_draws() -> None:
    # A write names a fresh object for FRESH_WINDOW_S; its replication retries must not all be spent before.
    shortest = sum(REPLICATION_RETRY.floor(attempt) for attempt in range(REPLICATION_RETRY.attempts))
    assert shortest >= FRESH_WINDOW_S


def test_a_retry_after_is_waited_exactly_as_given_and_only_its_absence_draws_a_backoff() -> None:
    draws: list[float] = []

    def draw() -> float:
        draws.append(0.5)
        return 0.5

    assert TRANSIENT_RETRY.wait(5, {"retry-after": "7"}, draw) == 7.0
    assert TRANSIENT_RETRY.wait(5, {"Retry-After": "0"}, draw) == 0.0
    assert draws == []
    assert TRANSIENT_RETRY.wait(2, {}, draw) == 1.0
    assert TRANSIENT_RETRY.wait(2, {"retry-after": "soon"}, draw) == 1.0
    assert draws == [0.5, 0.5]


@pytest.mark.parametrize("policy", [{"jitter": 1.5}, {"jitter": -0.1}, {"attempts": 0}, {"backoff_s": -1}])
def test_a_retry_policy_out_of_bounds_is_refused(policy: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="jitter between 0 and 1"):
        RetryPolicy(**policy)  # type: ignore[arg-type]


def test_each_item_of_a_timed_out_batch_draws_its_own_backoff() -> None:
    draws: list[float] = []
    source = random.Random(5)

    def draw() -> float:
        draws.append(source.random())
        return draws[-1]

    fake = FakeGraph(batch_faults=[(0, {})])
    answers, counters = _dispatch(fake, _writes(20), draw=draw)
    assert all(answer.status == 204 for answer in answers)
    assert counters.retries == 20 and len(draws) == 20


HELD = "/users/u7"


@dataclass
class HoldsOneItem(FakeGraph):
    """Times out every ``$batch`` that carries :data:`HELD`, its first ``holds`` times."""

    holds: int = 3

    def handle(self, request: httpx.Request) -> httpx.Response:
        response = super().handle(request)
        if self.holds and HELD in _urls(self.batches[-1]):
            self.holds -= 1
            raise httpx.ReadTimeout("held by one item", request=request)
        return response


def test_a_batch_whose_items_keep_timing_out_together_is_split_until_they_no_longer_do() -> None:
    # Every draw the same: jitter alone would send the 20 items back together each time.
    fake = HoldsOneItem()
    answers, counters = _dispatch(fake, _writes(20), draw=lambda: 0.5)
    assert all(answer.status == 204 for answer in answers)
    # Each time, the items sent again with the held item are some of those that last timed out with it, in
    # a batch at most half as big: 20, 10, 5, 2 (without the split: 20 four times).
    partners = [{item.url for item in batch} - {HELD} for batch in fake.batches if HELD in _urls(batch)]
    assert len(partners) == 4 and len(partners[0]) == 19
    for attempt, (before, after) in enumerate(itertools.pairwise(partners), start=1):
        assert after < before and len(after) + 1 <= 20 >> attempt
    assert counters.retries == 20 + 10 + 5  # without the split: 20 + 20 + 20


def _urls(batch: Sequence[Item]) -> set[str]:
    return {item.url for item in batch}


def test_a_batch_turned_away_unread_is_not_split() -> None:
    fake = FakeGraph(batch_faults=[(503, {}), (429, {"Retry-After": "0.001"})])
    answers, _ = _dispatch(fake, _writes(20), draw=lambda: 0.5)
    assert all(answer.status == 204 for answer in answers)
    assert [len(batch) for batch in fake.batches] == [20, 20, 20]


@pytest.mark.parametrize("status", ["204", None, True, 700, 2.5])
def test_an_item_answered_without_a_usable_status_is_retried_like_a_lost_answer(status: object) -> None:
    """Graph's ``$batch`` gives every answer an integer HTTP status. One without (a string, nothing, a
    boolean, a number out of range) is not taken for a success or a failure: it may or may not have been
    carried out, so it goes again, as an answer left out of the batch does."""
    garbled: set[str] = set()

    def script(item: Item) -> Answer | None:
        if item.url == "/users/u2" and item.url not in garbled:
            garbled.add(item.url)
            return status, None, {}  # type: ignore[return-value]
        return None

    fake = FakeGraph(script=script)
    answers, counters = _dispatch(fake, _writes(4))
    assert [answer.status for answer in answers] == [204] * 4
    assert [item.url for item in fake.batches[1]] == ["/users/u2"]
    assert counters.retries == 1
