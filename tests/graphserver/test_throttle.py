"""The token-bucket model of the identity & access limits, with a hand-driven clock."""

from __future__ import annotations

import pytest

from sync.graphserver.throttle import Throttler, format_retry_after, resource_units


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def charge_writes(throttler: Throttler, count: int, *, app: str = "app", low: bool = False) -> list[bool]:
    return [
        throttler.charge(app=app, tenant="t", ru=1, writes=1, low_priority=low).allowed for _ in range(count)
    ]


def test_app_write_budget_at_a_small_scale_allows_its_share_then_refuses() -> None:
    throttler = Throttler(0.002, clock=Clock())  # 3,000 × 0.002 = 6 writes
    assert charge_writes(throttler, 7) == [True] * 6 + [False]


def test_refusal_names_the_write_scope_and_an_integer_retry_after_at_scale_below_one() -> None:
    throttler = Throttler(0.002, clock=Clock())
    charge_writes(throttler, 6)
    refused = throttler.charge(app="app", tenant="t", ru=1, writes=1)
    headers = refused.headers()
    assert headers["x-ms-throttle-scope"] == "Tenant_Application/Write/app/t"
    assert headers["x-ms-throttle-information"] == "WriteLimitExceeded"
    # refill rate 3,000 × 0.002 / 150 s = 0.04 writes/s: one write in 25 s
    assert headers["Retry-After"] == "25"


def test_the_bucket_refills_with_time() -> None:
    clock = Clock()
    throttler = Throttler(0.002, clock=clock)
    charge_writes(throttler, 6)
    clock.now += 25.0
    assert charge_writes(throttler, 2) == [True, False]


def test_a_refused_request_is_not_charged() -> None:
    clock = Clock()
    throttler = Throttler(0.002, clock=clock)
    charge_writes(throttler, 6)
    charge_writes(throttler, 50)
    clock.now += 25.0
    assert charge_writes(throttler, 1) == [True]


def test_apps_have_separate_write_buckets_but_share_the_tenant_bucket() -> None:
    throttler = Throttler(0.001, clock=Clock())  # app: 3 writes, tenant: 18 writes
    results = [charge_writes(throttler, 4, app=f"app{n}") for n in range(7)]
    assert results[0] == [True, True, True, False]
    assert sum(sum(r) for r in results) == 18
    refused = throttler.charge(app="app9", tenant="t", ru=1, writes=1)
    assert refused.scope == "Tenant/Write/app9/t"


def test_resource_units_are_limited_for_reads() -> None:
    throttler = Throttler(0.001, clock=Clock())  # 8 RU
    allowed = [throttler.charge(app="a", tenant="t", ru=2, writes=0).allowed for _ in range(5)]
    assert allowed == [True] * 4 + [False]
    refused = throttler.charge(app="a", tenant="t", ru=2, writes=0)
    assert refused.information == "ResourceUnitLimitExceeded"
    assert refused.scope == "Tenant_Application/ReadWrite/a/t"


def test_low_priority_requests_are_refused_first_near_the_limit() -> None:
    throttler = Throttler(0.01, clock=Clock())  # 30 writes; low priority keeps 6 in reserve
    assert sum(charge_writes(throttler, 30, low=True)) == 24
    assert charge_writes(throttler, 1) == [True]


def test_limit_percentage_appears_only_above_eighty_percent() -> None:
    throttler = Throttler(0.01, clock=Clock())
    first = throttler.charge(app="a", tenant="t", ru=1, writes=1).headers()
    assert "x-ms-throttle-limit-percentage" not in first
    charge_writes(throttler, 24, app="a")
    late = throttler.charge(app="a", tenant="t", ru=1, writes=1).headers()
    assert float(late["x-ms-throttle-limit-percentage"]) > 0.8


def test_a_large_scale_refills_fast_and_sends_fractional_retry_after() -> None:
    clock = Clock()
    throttler = Throttler(50, clock=clock)  # bucket 3,000 writes, 1,000 writes/s
    assert all(charge_writes(throttler, 3000))
    refused = throttler.charge(app="app", tenant="t", ru=1, writes=1)
    assert refused.retry_after == "0.02"
    clock.now += 0.5
    assert sum(charge_writes(throttler, 600)) == 500


@pytest.mark.parametrize(
    ("wait", "scale", "expected"),
    [(0.05, 1.0, "1"), (2.2, 1.0, "3"), (0.001, 50.0, "0.02"), (0.05, 50.0, "0.06"), (0.5, 3.0, "0.667")],
)
def test_retry_after_is_formatted_for_the_scale(wait: float, scale: float, expected: str) -> None:
    assert format_retry_after(wait, scale) == expected


@pytest.mark.parametrize(
    ("method", "path", "query", "cost"),
    [
        ("GET", "/users", {}, 2),
        ("GET", "/users/delta", {"$select": "id"}, 1),
        ("GET", "/groups/g1/members", {}, 3),
        ("GET", "/subscribedSkus", {}, 3),
        ("GET", "/education/classes", {"$top": "5"}, 1),
        ("POST", "/education/users", {}, 1),
    ],
)
def test_resource_unit_costs_follow_the_documented_table(
    method: str, path: str, query: dict[str, str], cost: int
) -> None:
    assert resource_units(method, path, query) == cost
