"""The plan step's memory check: what it says when a plan would not fit, and a run on Azurite that ends
``failed`` at once before planning (or, with ``SYNC_MEMORY_CHECK=off``, plans anyway). The instance's memory
is always injected: nothing here depends on the machine running the tests."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

import function_app
from sync.app.memory_check import (
    FUNCTIONS_HOST_BYTES,
    check_apply_memory,
    check_plan_memory,
    check_roster_memory,
    instance_need,
    plan_memory_problem,
)
from sync.app.permanent import REASON_LIMIT, is_permanent
from sync.app.runtime import Runtime
from sync.engine import plan_memory
from sync.engine.plan_memory import PlanInputSize, estimated_plan_bytes
from sync.errors import NotEnoughMemory
from tests.app.app_functions import orchestrators, user_functions
from tests.app.durable_host import DurableHost
from tests.app.upload_client import fire_upload
from tests.storage.app_runtime import EXAMPLE_SET, FakeDurableClient, RecordingDirectory, azurite_runtime

MIB = 1024**2
START = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
LOG = logging.getLogger("tests.memory_check")

#: District L after its first sync (docs/deployment.md "Sizing"): an estimated 2.1 GB, 2.4 GB with the host.
L_NIGHTLY = PlanInputSize(
    250_000,
    15_000,
    75_000,
    2_000_000,
    directory_users=265_000,
    directory_groups=75_752,
    directory_memberships=3_043_932,
)
#: District XL after its first sync: an estimated 7.4 GB, 7.7 GB with the host.
XL_NIGHTLY = PlanInputSize(
    1_000_000,
    60_000,
    300_000,
    8_000_000,
    directory_users=1_060_000,
    directory_groups=303_002,
    directory_memberships=12_174_670,
)


# --- the check and its message


def test_a_plan_that_fits_in_the_instance_passes() -> None:
    assert plan_memory_problem(L_NIGHTLY, 4096 * MIB) is None
    check_plan_memory(L_NIGHTLY, 4096 * MIB, enabled=True, log=LOG)


def test_an_unknown_instance_memory_skips_the_check() -> None:
    assert plan_memory_problem(XL_NIGHTLY, None) is None
    check_plan_memory(XL_NIGHTLY, None, enabled=True, log=LOG)


def test_a_plan_too_big_for_2048_mb_that_fits_4096_mb_says_to_provision_the_larger_instance() -> None:
    with pytest.raises(NotEnoughMemory) as caught:
        check_plan_memory(L_NIGHTLY, 2048 * MIB, enabled=True, log=LOG)

    assert str(caught.value) == (
        "planning 250,000 students and 2,000,000 enrollments against 3,384,684 directory objects needs about "
        "2.4 GB with the Functions host; this instance has 2.0 GB: run `azd env set INSTANCE_MEMORY_MB 4096` "
        "and `azd provision`, or set the app setting SYNC_MEMORY_CHECK=off to try anyway"
    )


def test_a_plan_too_big_for_any_flex_consumption_instance_says_to_run_from_the_command_line() -> None:
    problem = plan_memory_problem(XL_NIGHTLY, 4096 * MIB)

    assert problem is not None
    assert problem.startswith(
        "planning 1,000,000 students and 8,000,000 enrollments against 13,537,672 directory objects needs "
        "about 7.7 GB with the Functions host; this instance has 4.0 GB, Flex Consumption at most 4 GB: run "
        "the sync from the command line on a machine with more than 7.7 GB "
    )
    assert "`python -m sync run <folder> --profile profile.toml --tenant graph`" in problem
    assert 'docs/deployment.md "Sizing"' in problem
    assert problem.endswith("or set the app setting SYNC_MEMORY_CHECK=off to try anyway")
    assert "INSTANCE_MEMORY_MB" not in problem


def test_an_instance_that_has_about_4096_mb_already_is_not_told_to_take_4096_mb() -> None:
    size = PlanInputSize(700_000, 40_000, 200_000, 5_800_000)  # an estimated 3.9 GB
    assert 3800 * MIB < estimated_plan_bytes(size) <= 4096 * MIB

    problem = plan_memory_problem(size, 3800 * MIB)

    assert problem is not None and "INSTANCE_MEMORY_MB" not in problem and "command line" in problem


def test_the_need_and_the_memory_never_read_the_same_when_they_differ_by_a_little() -> None:
    need = instance_need(L_NIGHTLY)

    problem = plan_memory_problem(L_NIGHTLY, need - 1)

    assert problem is not None
    assert "needs about 2.4 GB with the Functions host; this instance has 2.3 GB" in problem


def test_a_roster_too_big_on_its_own_is_refused_before_the_directory_is_read() -> None:
    roster_only = replace(L_NIGHTLY, directory_users=0, directory_groups=0, directory_memberships=0)
    limit = instance_need(roster_only) - 1

    with pytest.raises(NotEnoughMemory) as caught:
        check_roster_memory(roster_only, limit, enabled=True, log=LOG)

    assert str(caught.value).startswith(
        "planning 250,000 students and 2,000,000 enrollments needs at least 1.9 GB with the Functions host; "
        "this instance has 1.8 GB: run `azd env set INSTANCE_MEMORY_MB 4096`"
    )


def test_a_roster_that_fits_on_its_own_waits_for_the_directory_count() -> None:
    roster_only = replace(L_NIGHTLY, directory_users=0, directory_groups=0, directory_memberships=0)
    limit = instance_need(roster_only)  # the roster fits; with the directory it will not

    check_roster_memory(roster_only, limit, enabled=True, log=LOG)
    check_roster_memory(roster_only, limit - 1, enabled=False, log=LOG)  # the check off: never refused
    with pytest.raises(NotEnoughMemory):
        check_plan_memory(L_NIGHTLY, limit, enabled=True, log=LOG)


def test_the_functions_host_is_counted_beside_the_planning_process() -> None:
    need = estimated_plan_bytes(L_NIGHTLY)
    assert instance_need(L_NIGHTLY) == need + FUNCTIONS_HOST_BYTES

    # Room for the planning process alone is not enough: the host shares the instance.
    assert plan_memory_problem(L_NIGHTLY, need + FUNCTIONS_HOST_BYTES // 2) is not None
    assert plan_memory_problem(L_NIGHTLY, need + FUNCTIONS_HOST_BYTES) is None


def test_the_reason_is_one_line_within_the_run_records_limit_and_permanent() -> None:
    huge = replace(XL_NIGHTLY, students=99_000_000, enrollments=990_000_000, directory_memberships=10**9)
    problem = plan_memory_problem(huge, 512 * MIB)

    assert problem is not None and "\n" not in problem
    assert len(f"plan_run: {problem}") <= REASON_LIMIT
    assert is_permanent(NotEnoughMemory(problem))


def test_with_the_check_off_a_plan_too_big_is_logged_with_counts_only_and_not_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger=LOG.name):
        check_plan_memory(XL_NIGHTLY, 2048 * MIB, enabled=False, log=LOG)

    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        "plan memory: 1000000 students, 8000000 enrollments, 9360000 roster rows, "
        "13537672 directory objects; estimated 7.61 GB, instance 2.00 GB (memory check off)"
    )


def test_a_plan_too_big_for_its_apply_workers_is_refused_saying_so() -> None:
    plan_bytes = 400_000_000  # about a million operations: 2.7 GB to read back in each apply worker

    with pytest.raises(NotEnoughMemory) as caught:
        check_apply_memory(1_000_000, plan_bytes, 2048 * MIB, enabled=True, log=LOG)

    assert str(caught.value).startswith(
        "applying a plan of 1,000,000 operations (400 MB) needs about 3.0 GB with the Functions host; "
        "this instance has 2.0 GB: run `azd env set INSTANCE_MEMORY_MB 4096` and `azd provision`"
    )
    check_apply_memory(1_000_000, plan_bytes, 4096 * MIB, enabled=True, log=LOG)  # fits in the larger size
    check_apply_memory(1_000_000, plan_bytes, None, enabled=True, log=LOG)  # unknown memory: no check
    check_apply_memory(1_000_000, plan_bytes, 2048 * MIB, enabled=False, log=LOG)  # the check off


def test_the_apply_check_logs_its_counts_only(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=LOG.name):
        check_apply_memory(147_072, 57_000_000, 2048 * MIB, enabled=True, log=LOG)

    [record] = caplog.records
    assert record.getMessage() == (
        "apply memory: 147072 operations, 57 MB of plan; estimated 0.91 GB, instance 2.00 GB "
        "(memory check on)"
    )


# --- a run on Azurite


@pytest.fixture
def run_with_memory(
    azurite: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., tuple[Runtime, RecordingDirectory]]]:
    """``(memory limit, **settings)`` → the app's runtime on Azurite, its instance memory injected, and the
    recording (empty) directory it plans against."""

    def build(limit: int | None, **settings: str) -> tuple[Runtime, RecordingDirectory]:
        built, _, directory = azurite_runtime(azurite, **settings)
        runtime = replace(built, memory_limit=lambda: limit)
        monkeypatch.setattr(function_app, "runtime", lambda: runtime)
        return runtime, directory

    yield build


def run_activity(name: str, payload: Any, attempt: int) -> Any:
    return user_functions()[name](payload)


def upload_and_run(runtime: Runtime) -> tuple[str, Any, DurableHost]:
    """Upload the example set (the trigger starts a run) and carry the run out: its id, result and host."""
    client = FakeDurableClient()
    for path in sorted(EXAMPLE_SET.glob("*.csv")):
        name = f"contoso/2026-09-01/{path.name}"
        runtime.blobs.write_bytes(
            runtime.settings.upload_container, name, path.read_bytes(), content_type="text/csv"
        )
        fire_upload(runtime, client, name)
    [start] = client.starts_of("sync_run")
    host = DurableHost(orchestrators(), run_activity, clock=START)
    return start.instance_id, host.run(start.orchestrator, start.instance_id, start.input), host


def test_a_run_whose_plan_would_not_fit_in_the_instance_fails_at_once_saying_what_to_do(
    run_with_memory: Callable[..., tuple[Runtime, RecordingDirectory]], caplog: pytest.LogCaptureFixture
) -> None:
    runtime, directory = run_with_memory(256 * MIB)

    with caplog.at_level(logging.INFO, logger="sync.app"):
        run_id, result, host = upload_and_run(runtime)

    assert result.error is None and result.output["status"] == "failed"
    assert [attempt for name, _, attempt in host.calls if name == "plan_run"] == [1]  # not retried
    assert directory.snapshots == 0 and directory.applied == []  # refused before the directory was read
    record = runtime.runs.get_run(run_id)
    assert record.status == "failed" and record.message is not None
    assert record.message.startswith("plan_run: planning ")
    assert "needs at least 0.6 GB with the Functions host; this instance has 0.2 GB" in record.message
    assert record.message.endswith("SYNC_MEMORY_CHECK=off to try anyway")  # not cut at the reason limit
    assert "SYNC_MEMORY_CHECK=off" in record.message
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("plan memory: ")]
    assert len(logged) == 1 and "before the directory is read" in logged[0]
    assert "instance 0.25 GB (memory check on)" in logged[0]


def test_with_the_memory_check_off_the_same_run_plans_and_applies(
    run_with_memory: Callable[..., tuple[Runtime, RecordingDirectory]],
) -> None:
    runtime, directory = run_with_memory(256 * MIB, SYNC_MEMORY_CHECK="off")

    run_id, result, _ = upload_and_run(runtime)

    assert result.output["status"] == "completed"
    assert directory.applied
    assert runtime.runs.get_run(run_id).status == "completed"


def test_a_run_whose_plan_fits_is_not_held_up_by_the_check(
    run_with_memory: Callable[..., tuple[Runtime, RecordingDirectory]],
) -> None:
    runtime, directory = run_with_memory(2048 * MIB)

    _, result, _ = upload_and_run(runtime)

    assert result.output["status"] == "completed" and directory.applied


def test_a_run_whose_plan_is_too_big_to_apply_fails_after_planning_with_nothing_applied(
    run_with_memory: Callable[..., tuple[Runtime, RecordingDirectory]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The example's plan is small: make reading it back cost far more than the instance has.
    monkeypatch.setattr(plan_memory, "APPLY_BYTES_PER_PLAN_BYTE", 1e5)
    runtime, directory = run_with_memory(2048 * MIB)

    run_id, result, host = upload_and_run(runtime)

    assert result.output["status"] == "failed"
    assert [attempt for name, _, attempt in host.calls if name == "plan_run"] == [1]  # not retried
    assert directory.snapshots == 1 and directory.applied == []
    record = runtime.runs.get_run(run_id)
    assert record.message is not None and record.message.startswith("plan_run: applying a plan of ")
    assert record.message.endswith("SYNC_MEMORY_CHECK=off to try anyway")
