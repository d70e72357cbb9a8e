"""The memory checks of the plan step: before planning, compare the estimated need
(:func:`~sync.engine.plan_memory.estimated_plan_bytes`, plus an allowance for the Functions host that shares
the instance) with the instance's memory; once the plan is written, the need of the apply workers that will
read it (:func:`~sync.engine.plan_memory.estimated_apply_bytes`). A run that would not fit fails for good —
with what to do — instead of letting the host kill a worker half way (which Durable Functions would retry, to
be killed again), and before anything is applied. ``SYNC_MEMORY_CHECK=off`` goes on anyway. Counts only are
logged.
"""

from __future__ import annotations

import logging
import math

from sync.engine.plan_memory import GB, PlanInputSize, estimated_apply_bytes, estimated_plan_bytes
from sync.errors import NotEnoughMemory

#: What the Functions host and the Python worker's own start-up hold beside the plan, in the same instance
#: (an allowance, not a measurement: the host cannot run on a development machine; the docs' "a few hundred
#: MB"). The plan's estimate covers only the worker process that plans.
FUNCTIONS_HOST_BYTES = 256 * 1024**2
#: The largest instance Flex Consumption offers (``INSTANCE_MEMORY_MB=4096``).
LARGEST_INSTANCE_BYTES = 4096 * 1024**2
#: An instance below this is a smaller size (2048 or 512 MB) that the largest one could replace; at or above
#: it, the instance is taken to be the largest already (its cgroup limit may read a little under 4096 MB).
SMALLER_INSTANCE_BYTES = 3072 * 1024**2


def check_plan_memory(size: PlanInputSize, limit: int | None, *, enabled: bool, log: logging.Logger) -> None:
    """Log the estimate and the limit; raise :class:`NotEnoughMemory` when the check is on and the estimate
    (with the Functions host's share) exceeds a known limit."""
    need = instance_need(size)
    log.info(
        "plan memory: %d students, %d enrollments, %d roster rows, %d directory objects; "
        "estimated %.2f GB, instance %s (memory check %s)",
        size.students,
        size.enrollments,
        size.roster_rows,
        size.directory_objects,
        need / GB,
        _memory(limit),
        "on" if enabled else "off",
    )
    problem = plan_memory_problem(size, limit)
    if enabled and problem is not None:
        raise NotEnoughMemory(problem)


def check_roster_memory(
    size: PlanInputSize, limit: int | None, *, enabled: bool, log: logging.Logger
) -> None:
    """Before the directory is read: raise :class:`NotEnoughMemory` when the roster alone (``size`` without
    directory objects, the least a plan of it needs) already exceeds a known limit, so that a run that
    cannot fit does not first spend the directory's snapshot (minutes of Graph reads, and memory)."""
    problem = plan_memory_problem(size, limit, directory_read=False)
    if enabled and problem is not None:
        log.info(
            "plan memory: %d students, %d enrollments, %d roster rows before the directory is read; "
            "estimated at least %.2f GB, instance %s (memory check on)",
            size.students,
            size.enrollments,
            size.roster_rows,
            instance_need(size) / GB,
            _memory(limit),
        )
        raise NotEnoughMemory(problem)


def instance_need(size: PlanInputSize) -> int:
    """Memory an instance needs to plan ``size``: the planning process and the Functions host beside it."""
    return estimated_plan_bytes(size) + FUNCTIONS_HOST_BYTES


def plan_memory_problem(size: PlanInputSize, limit: int | None, *, directory_read: bool = True) -> str | None:
    """Why a plan of this size does not fit in ``limit`` bytes and what to do, on one line; ``None`` when it
    fits or the limit is unknown. ``directory_read=False``: the directory is not read yet (``size`` counts the
    roster only, and the need is a least)."""
    need = instance_need(size)
    if limit is None or need <= limit:
        return None
    against = f"against {size.directory_objects:,} directory objects " if directory_read else ""
    about = "about" if directory_read else "at least"
    what = f"planning {size.students:,} students and {size.enrollments:,} enrollments {against}needs {about}"
    return _too_big(what, need, limit)


def check_apply_memory(
    operations: int, plan_bytes: int, limit: int | None, *, enabled: bool, log: logging.Logger
) -> None:
    """Once the plan is written (``plan_bytes`` of JSON): raise :class:`NotEnoughMemory` when the check is on
    and an apply worker, which reads the whole plan, would not fit in a known limit."""
    need = estimated_apply_bytes(plan_bytes) + FUNCTIONS_HOST_BYTES
    log.info(
        "apply memory: %d operations, %.0f MB of plan; estimated %.2f GB, instance %s (memory check %s)",
        operations,
        plan_bytes / 1e6,
        need / GB,
        _memory(limit),
        "on" if enabled else "off",
    )
    if not enabled or limit is None or need <= limit:
        return
    what = f"applying a plan of {operations:,} operations ({plan_bytes / 1e6:,.0f} MB) needs about"
    raise NotEnoughMemory(_too_big(what, need, limit))


def _memory(limit: int | None) -> str:
    """The instance's memory as the log lines give it."""
    return "unknown" if limit is None else f"{limit / GB:.2f} GB"


def _too_big(what: str, need: int, limit: int) -> str:
    """``what`` (ending in "needs about") completed with the need, the instance's memory and what to do."""
    # The need rounded up and the memory down, so the two never read the same.
    need_gb, have_gb = f"{math.ceil(need * 10 / GB) / 10:.1f}", f"{math.floor(limit * 10 / GB) / 10:.1f}"
    text = f"{what} {need_gb} GB with the Functions host; this instance has {have_gb} GB"
    if need <= LARGEST_INSTANCE_BYTES and limit < SMALLER_INSTANCE_BYTES:
        advice = "run `azd env set INSTANCE_MEMORY_MB 4096` and `azd provision`"
    else:
        text += ", Flex Consumption at most 4 GB"
        advice = (
            f"run the sync from the command line on a machine with more than {need_gb} GB (`python -m sync "
            'run <folder> --profile profile.toml --tenant graph`, docs/deployment.md "Sizing")'
        )
    return f"{text}: {advice}, or set the app setting SYNC_MEMORY_CHECK=off to try anyway"
