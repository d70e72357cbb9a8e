"""Fault plans: parsing the command-line spec and drawing at the planned rates."""

from __future__ import annotations

from collections import Counter

import pytest

from sync.graphserver.faults import Fault, FaultInjector, FaultPlan


def test_a_spec_parses_into_a_plan() -> None:
    plan = FaultPlan.parse(
        "429=0.03, 503=0.04,timeout=0.02,replication=0.01,applied-timeout=0.05", timeout_s=0.5
    )
    assert (plan.throttle, plan.unavailable, plan.timeout, plan.replication, plan.applied_timeout) == (
        0.03,
        0.04,
        0.02,
        0.01,
        0.05,
    )
    assert plan.timeout_s == 0.5


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("500=0.1", "kinds are 429, 503, timeout, replication, applied-timeout"),
        ("429=lots", "not a number"),
        ("429=0.7,503=0.7", "more than 1"),
        ("timeout=0.5,applied-timeout=0.6", "more than 1"),
    ],
)
def test_a_bad_spec_is_refused_with_the_part_at_fault(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultPlan.parse(spec)


def test_draws_follow_the_planned_rates() -> None:
    plan = FaultPlan(throttle=0.1, unavailable=0.05, timeout=0.02, applied_timeout=0.03)
    injector = FaultInjector(plan, seed=7)
    counts = Counter(injector.draw() for _ in range(20000))
    assert abs(counts[Fault.THROTTLE] / 20000 - 0.1) < 0.01
    assert abs(counts[Fault.UNAVAILABLE] / 20000 - 0.05) < 0.008
    assert abs(counts[Fault.TIMEOUT] / 20000 - 0.02) < 0.005
    assert abs(counts[Fault.APPLIED_TIMEOUT] / 20000 - 0.03) < 0.006
    assert counts[Fault.REPLICATION] == 0


def test_the_same_seed_draws_the_same_faults() -> None:
    plan = FaultPlan(throttle=0.3, unavailable=0.3)
    a, b = FaultInjector(plan, seed=3), FaultInjector(plan, seed=3)
    draws = [a.draw() for _ in range(50)]
    assert draws == [b.draw() for _ in range(50)]
    assert len(set(draws)) == 3  # both faults and clean answers occur


def test_an_empty_plan_never_faults() -> None:
    injector = FaultInjector(FaultPlan(), seed=1)
    assert {injector.draw() for _ in range(1000)} == {None}
