"""Local tenant throughput: apply rate (operations/s, memberships/s) and snapshot time.

    python3 -m bench.local_tenant [--students 5000] [--teachers 250] [--sections 1000] [--per-section 25]

Prints its figures; writes a temporary tenant file that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from sync.directory.local_tenant import LocalTenantDirectory
from sync.directory.model import MAX_BATCH, Operation, OpKind


def _chunks(items: Sequence[str], size: int) -> Iterator[tuple[str, ...]]:
    for start in range(0, len(items), size):
        yield tuple(items[start : start + size])


def _operations(args: argparse.Namespace) -> list[list[Operation]]:
    """Phases of operations, each phase independent inside (as the engine sends them)."""
    rng = random.Random(7)
    students = [f"Student_{i}" for i in range(args.students)]
    teachers = [f"Teacher_{i}" for i in range(args.teachers)]
    users = [
        Operation(
            OpKind.CREATE_USER,
            anchor,
            {
                "userPrincipalName": f"{anchor.lower()}@contoso.edu",
                "displayName": anchor,
                "usageLocation": "US",
            },
        )
        for anchor in (*students, *teachers)
    ]
    school = [Operation(OpKind.CREATE_SCHOOL, "School_1", {"displayName": "School 1"})]
    school_links = [
        Operation(OpKind.ADD_SCHOOL_USERS, "School_1", refs=c) for c in _chunks(students, MAX_BATCH)
    ]
    classes, members = [], []
    for n in range(args.sections):
        owner = teachers[n % len(teachers)]
        anchor = f"Section_{n}"
        classes.append(Operation(OpKind.CREATE_CLASS, anchor, {"displayName": anchor}, owners=(owner,)))
        enrolled = [owner, *rng.sample(students, args.per_section)]
        members += [Operation(OpKind.ADD_CLASS_MEMBERS, anchor, refs=c) for c in _chunks(enrolled, MAX_BATCH)]
    return [school + users, school_links + classes, members]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=5000)
    parser.add_argument("--teachers", type=int, default=250)
    parser.add_argument("--sections", type=int, default=1000)
    parser.add_argument("--per-section", type=int, default=25)
    args = parser.parse_args(argv)
    phases = _operations(args)
    with tempfile.TemporaryDirectory() as folder, LocalTenantDirectory(Path(folder) / "t.db") as tenant:
        total_ops = total_links = 0
        started = time.perf_counter()
        for phase in phases:
            for start in range(0, len(phase), tenant.max_batch):
                batch = phase[start : start + tenant.max_batch]
                results = tenant.apply(batch)
                assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
                total_ops += len(batch)
                total_links += sum(len(op.refs) + len(op.owners) for op in batch)
        applied = time.perf_counter() - started
        started = time.perf_counter()
        snapshot = tenant.snapshot()
        read = time.perf_counter() - started
        started = time.perf_counter()
        again = sum(
            1 for p in phases for s in range(0, len(p), 500) for r in tenant.apply(p[s : s + 500]) if r.ok
        )
        replay = time.perf_counter() - started
    print(f"users {args.students + args.teachers}, classes {args.sections}, links {total_links}")
    print(
        f"apply: {total_ops} operations in {applied:.2f} s = {total_ops / applied:,.0f} ops/s, "
        f"{total_links / applied:,.0f} links/s"
    )
    print(
        f"snapshot: {len(snapshot.users)} users, {snapshot.memberships.num_rows} memberships in {read:.2f} s"
    )
    print(f"idempotent replay: {again} operations in {replay:.2f} s = {again / replay:,.0f} ops/s")


if __name__ == "__main__":
    main()
