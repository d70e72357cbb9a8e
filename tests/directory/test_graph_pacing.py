"""The token buckets that pace Graph writes to the quota (fake clock, no sleeping)."""

from __future__ import annotations

from collections import deque

import pytest

from sync.directory.graph_pacing import MAX_RETRY_AFTER_S, Pacer, Quota, TokenBucket, retry_after_seconds


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_lends_its_capacity_at_once_then_makes_takers_wait_for_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=20, clock=clock)
    assert bucket.delay(20) == 0
    bucket.take(20)
    assert bucket.delay(20) == pytest.approx(2.0)
    clock.now = 1.0
    assert bucket.delay(20) == pytest.approx(1.0)


def test_a_cost_charged_afterwards_makes_the_balance_negative_and_delays_the_next_taker() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=10, clock=clock)
    bucket.take(30)
    assert bucket.tokens == pytest.approx(-20)
    assert bucket.delay(1) == pytest.approx(2.1)


def test_batches_paced_by_the_pacer_never_exceed_3000_writes_in_any_150_second_window() -> None:
    clock = FakeClock()
    pacer = Pacer(Quota(scale=1.0), clock=clock)
    sent: deque[float] = deque()
    most_in_window = 0
    for _ in range(1200):  # 24,000 writes, 8 windows' worth
        clock.now += pacer.delay(20, 20)
        pacer.take(20, 20)
        sent.append(clock.now)
        while sent and sent[0] <= clock.now - 150.0:
            sent.popleft()
        most_in_window = max(most_in_window, 20 * len(sent))
    assert most_in_window <= 3000
    # ... and the quota is used: the whole run takes at most 3 % longer than 20 writes/s would.
    assert clock.now <= 24_000 / 20 * 1.03


def test_the_quota_scale_multiplies_the_documented_rates() -> None:
    quota = Quota(scale=50)
    assert quota.write_rate == pytest.approx(1000)
    assert quota.ru_rate == pytest.approx(40_000)


def test_a_429_pauses_every_sender_until_retry_after_and_slows_the_rate() -> None:
    clock = FakeClock()
    pacer = Pacer(Quota(), clock=clock)
    rate_before = pacer.writes.rate
    pacer.throttled(7.0)
    assert pacer.delay(0, 1) == pytest.approx(7.0)
    assert pacer.writes.rate < rate_before
    clock.now = 7.0
    assert pacer.delay(0, 1) == 0


def test_a_limit_percentage_over_one_cuts_the_rate_and_quiet_answers_restore_it() -> None:
    pacer = Pacer(Quota(), clock=FakeClock())
    full = pacer.writes.rate
    pacer.observe({"x-ms-throttle-limit-percentage": "1.25"}, estimated_units=20)
    assert pacer.writes.rate == pytest.approx(full / 1.25)
    for _ in range(100):
        pacer.observe({}, estimated_units=20)
    assert pacer.writes.rate == pytest.approx(full)


def test_a_limit_percentage_below_one_is_no_reason_to_slow_down() -> None:
    pacer = Pacer(Quota(), clock=FakeClock())
    full = pacer.writes.rate
    pacer.observe({"x-ms-throttle-limit-percentage": "0.97"}, estimated_units=20)
    assert pacer.writes.rate == pytest.approx(full)


def test_resource_units_reported_above_the_estimate_are_charged_to_the_ru_bucket() -> None:
    pacer = Pacer(Quota(), clock=FakeClock())
    before = pacer.units.tokens
    pacer.observe({"x-ms-resource-unit": "5"}, estimated_units=1)
    assert pacer.units.tokens == pytest.approx(before - 4)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"retry-after": "3"}, 3.0), ({"retry-after": "0.02"}, 0.02), ({"retry-after": "soon"}, 1.5), ({}, 1.5)],
)
def test_retry_after_is_read_as_seconds_including_fractions(headers: dict[str, str], expected: float) -> None:
    assert retry_after_seconds(headers, 1.5) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("inf", 1.5), ("nan", 1.5), ("-2", 1.5), ("1e12", MAX_RETRY_AFTER_S), ("86400", MAX_RETRY_AFTER_S)],
)
def test_a_retry_after_that_is_not_finite_or_far_too_long_cannot_hold_the_run_for_hours(
    value: str, expected: float
) -> None:
    assert retry_after_seconds({"retry-after": value}, 1.5) == expected


@pytest.mark.parametrize("value", ["inf", "nan", "1e308"])
def test_a_garbled_resource_unit_figure_costs_at_most_one_window_of_units(value: str) -> None:
    clock = FakeClock()
    pacer = Pacer(Quota(), clock=clock)
    pacer.observe({"x-ms-resource-unit": value}, estimated_units=1)
    assert pacer.delay(0, 1) <= Quota().ru_window_s * 1.1  # the rate is 2 % under the window's
