"""Planning benchmark: the first plan of a generated district against an empty tenant, the nightly plan
after 1 % churn against the tenant that first plan produced, and the local tenant's apply rate.

    python3 -m bench.bench_plan --size M [--data DIR] [--apply-rate] [--profile examples/profile.toml]

Targets (issue 3) on XL: first plan ≤ 60 s, nightly plan ≤ 30 s, peak memory ≤ 8 GB. Reading and
validating the CSV files is timed separately (it is not planning). The tenant after the first plan is
built in memory straight from the plan's operations (:func:`converged_snapshot`), so the nightly figure
measures planning only, not a multi-hour apply. ``--apply-rate`` applies the first plan into a fresh
local tenant file and prints operations per second (meant for M). Prints its figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import os
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa

from bench.churn import apply_churn
from bench.district import DistrictSize, generate_district, size_of
from sync.directory.model import (
    MEMBERSHIP_SCHEMA,
    DirectoryClass,
    DirectoryGroup,
    DirectorySchool,
    DirectorySnapshot,
    DirectoryUser,
    OpKind,
)
from sync.engine.plan import Plan
from sync.engine.plan_io import write_plan
from sync.engine.planner import make_plan
from sync.profile import Profile, load_profile
from sync.roster.model import Roster
from sync.roster.validate import validate_folder

TODAY = date(2026, 11, 22)
#: A quarter of XL, to see how time and memory grow between M and XL.
L = DistrictSize(schools=250, students=250_000, teachers=15_000, sections=75_000, enrollments=2_000_000)
_RELATION = {
    OpKind.ADD_CLASS_OWNERS: "owner",
    OpKind.ADD_CLASS_MEMBERS: "member",
    OpKind.ADD_SCHOOL_USERS: "user",
    OpKind.ADD_SCHOOL_CLASSES: "class",
    OpKind.ADD_GROUP_MEMBERS: "member",
}
_USER_KEYS = ("displayName", "givenName", "surname", "middleName", "student", "teacher")


def peak_gb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def converged_snapshot(plan: Plan) -> DirectorySnapshot:
    """The tenant a fully applied first plan leaves (against an empty tenant), built in memory.
    Directory ids are the anchors prefixed with ``id:``."""
    gc.disable()
    try:
        return _converged_snapshot(plan)
    finally:
        gc.enable()


def _converged_snapshot(plan: Plan) -> DirectorySnapshot:
    users: dict[str, dict[str, Any]] = {}
    licenses: dict[str, set[str]] = defaultdict(set)
    schools, classes, groups = [], [], []
    containers: list[str] = []
    members: list[str] = []
    relations: list[str] = []

    def link(container: str, refs: Sequence[str], relation: str) -> None:
        containers.extend(["id:" + container] * len(refs))
        members.extend("id:" + ref for ref in refs)
        relations.extend([relation] * len(refs))

    for op in plan.operations:
        fields = dict(op.fields)
        if op.kind is OpKind.CREATE_USER:
            users[op.target] = fields
        elif op.kind is OpKind.ASSIGN_LICENSES:
            licenses[op.target].update(fields["addLicenses"])
        elif op.kind is OpKind.CREATE_SCHOOL:
            props = {k: v for k, v in fields.items() if k != "displayName"}
            schools.append(DirectorySchool("id:" + op.target, op.target, fields["displayName"], props))
        elif op.kind is OpKind.CREATE_CLASS:
            props = {k: v for k, v in fields.items() if k not in ("displayName", "mailNickname")}
            classes.append(
                DirectoryClass(
                    "id:" + op.target, op.target, fields["displayName"], fields["mailNickname"], props
                )
            )
            link(op.target, op.owners, "owner")
            link(op.target, op.refs, "member")
        elif op.kind is OpKind.CREATE_GROUP:
            groups.append(
                DirectoryGroup("id:" + op.target, op.target, fields["displayName"], fields["mailNickname"])
            )
        elif op.kind in _RELATION:
            link(op.target, op.refs, _RELATION[op.kind])
    directory_users = [
        DirectoryUser(
            id="id:" + anchor,
            user_principal_name=fields["userPrincipalName"],
            mail_nickname=fields.get("mailNickname"),
            usage_location=fields.get("usageLocation"),
            anchor=anchor,
            primary_role=fields["primaryRole"],
            properties={key: fields[key] for key in _USER_KEYS if key in fields},
            licenses=frozenset(licenses.get(anchor, ())),
        )
        for anchor, fields in users.items()
    ]
    memberships = pa.table(
        {"container_id": containers, "member_id": members, "relation": relations}, schema=MEMBERSHIP_SCHEMA
    )
    return DirectorySnapshot(directory_users, schools, classes, groups, memberships)


def release_free_memory() -> None:
    """Give memory freed by earlier steps back to the system (glibc ``malloc_trim``), so the nightly step
    starts from what a nightly process really holds: the roster and the directory snapshot."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    print(f"released freed memory: rss now {rss_gb():.2f} GB", flush=True)


def rss_gb() -> float:
    """Current resident memory of this process (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 1024**3


class RssSampler(threading.Thread):
    """Samples resident memory every 20 ms while a step runs: its own peak, not the process's so far."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_gb()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, rss_gb())


def timed(label: str, action: Any, *args: Any) -> Any:
    """Run and print wall time, CPU time (the machine may be shared), resident memory before the step and
    its peak during the step."""
    sampler = RssSampler()
    before = sampler.peak
    sampler.start()
    start, times = time.perf_counter(), os.times()
    result = action(*args)
    wall, after = time.perf_counter() - start, os.times()
    cpu, system = (after.user + after.system) - (times.user + times.system), after.system - times.system
    sampler.done.set()
    sampler.join()
    peak = max(sampler.peak, rss_gb())
    print(
        f"{label:<44} {wall:7.1f} s wall {cpu:7.1f} s cpu ({system:4.1f} system)"
        f"   rss {before:5.2f} -> peak {peak:5.2f} GB",
        flush=True,
    )
    return result


def validated(folder: Path, profile: Profile) -> Roster:
    result = validate_folder(folder, profile)
    if result.roster is None:
        raise SystemExit(f"the generated district in {folder} did not validate")
    return result.roster


def apply_rate(plan: Plan, workdir: Path) -> None:
    from sync.directory.local_tenant import LocalTenantDirectory
    from sync.engine.apply import apply_plan
    from sync.engine.journal import SqliteJournal

    directory = LocalTenantDirectory(workdir / "tenant.db")
    journal = SqliteJournal(workdir / "journal.db")
    refs = sum(len(op.refs) + len(op.owners) for op in plan.operations)
    start = time.perf_counter()
    outcome = apply_plan(plan, directory, journal, plan_id="bench")
    elapsed = time.perf_counter() - start
    print(
        f"local tenant apply: {outcome.done} operations ({refs} member refs, {outcome.failed} failed) in "
        f"{elapsed:.1f} s = {outcome.done / elapsed:,.0f} operations/s, {refs / elapsed:,.0f} refs/s"
    )
    start = time.perf_counter()
    snapshot = directory.snapshot()
    print(f"local tenant snapshot: {len(snapshot.users)} users in {time.perf_counter() - start:.1f} s")
    journal.close()
    directory.close()


def write_to_null(plan: Plan) -> str:
    with open(os.devnull, "w", encoding="utf-8") as out:
        return write_plan(plan, out)


def first_plan(folder: Path, profile: Profile) -> Plan:
    roster = timed("read + validate day 1 (not planning)", validated, folder, profile)
    empty = DirectorySnapshot()
    plan: Plan = timed("FIRST PLAN (empty tenant)", make_plan, roster, profile, empty, TODAY)
    print(f"  {len(plan.operations):,} operations; " + _changes(plan))
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="M", help="district size: S, M, L (a quarter of XL) or XL")
    parser.add_argument("--data", type=Path, help="work folder (kept; reused if it holds the district)")
    parser.add_argument("--profile", default="examples/profile.toml")
    parser.add_argument(
        "--apply-rate", action="store_true", help="also apply the first plan to a local tenant"
    )
    args = parser.parse_args(argv)
    profile = load_profile(args.profile)
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as scratch:
        work = args.data or Path(scratch)
        day1, day2 = work / f"{args.size}-day1", work / f"{args.size}-day2"
        if not (day1 / "enrollments.csv").exists():
            size = L if args.size.upper() == "L" else size_of(args.size)
            timed(f"generate district {args.size}", lambda: generate_district(day1, size, seed=1))
        if not (day2 / "enrollments.csv").exists():
            timed("apply 1 % churn", lambda: apply_churn(day1, day2, share=0.01, seed=1))
        first = first_plan(day1, profile)
        timed("plan.json streamed + plan id (write_plan)", write_to_null, first)
        snapshot = timed("build the tenant the first plan leaves", converged_snapshot, first)
        print(f"  {len(snapshot.users):,} users, {snapshot.memberships.num_rows:,} memberships")
        if args.apply_rate:
            apply_rate(first, Path(scratch))
        del first
        release_free_memory()
        roster2 = timed("read + validate day 2 (not planning)", validated, day2, profile)
        nightly = timed("NIGHTLY PLAN (1 % churn)", make_plan, roster2, profile, snapshot, TODAY)
        print(f"  {len(nightly.operations):,} operations; " + _changes(nightly))
        print(f"  guard: {'held' if nightly.guard.held else 'not held'} {list(nightly.guard.reasons)}")
    print(f"peak memory of the whole benchmark (generation and validation included): {peak_gb():.2f} GB")
    return 0


def _changes(plan: Plan) -> str:
    return ", ".join(f"{key} {value:,}" for key, value in plan.changes.items() if value)


if __name__ == "__main__":
    sys.exit(main())
