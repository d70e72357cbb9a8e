"""How well the Graph adapter spends the write quota: a district's first sync and a nightly 1 % churn,
applied through the local Graph server with the quota scaled.

    python3 -m bench.bench_graph --size M [--quota-scale 20] [--churn 0.01] [--profile examples/profile.toml]
                                 [--license-assignment user|group]
    python3 -m bench.bench_graph --size smoke          # a 600-student district, for a quick look

``--license-assignment`` overrides the profile's: ``group`` licenses All Students / All Teachers once
instead of every user (group-based licensing). ``--leavers`` overrides the profile's deletion policy for
users who leave the roster (``delete`` needs no removal writes: deleting a user drops its memberships).
``--plan-only`` skips the server: it plans both runs against the embedded local tenant (applying the first
there) and prints the minimum writes by kind and their time at the real quota, in seconds rather than
minutes of benchmark.

The server runs in its own process (``python -m sync.graphserver``) so it does not share the adapter's
interpreter. Prints, per run:

- **write efficiency** = writes issued ÷ the fewest writes the Graph rules allow for the plan (target
  ≤ 1.05). The minimum, per operation (``minimum_writes``): 1 for every create / update / delete / enable
  / disable / link / licence assignment (a user's, or a group's: one ``POST /groups/{id}/assignLicense``)
  / group create; 2 for a class (``POST /groups`` carrying the
  owners and the first members — at most 20 together — then ``PATCH /education/classes/{id}`` with the
  education properties: no single documented request does both) plus ⌈extra members / 20⌉; ⌈members / 20⌉
  per member add (``PATCH /groups/{id}`` with up to 20 ``members@odata.bind``); 1 per owner added, per
  school link (user or class) and per removed link (Graph has no multi-reference form for these).
- **quota use** = writes issued ÷ seconds spent in ``apply()`` ÷ the scaled write quota (20 writes/s ×
  scale; target ≥ 0.9), and the same without the pacer's saved-up burst (2 % of a window, 3 s of quota,
  refilled while a run validates and plans), which dominates runs of a few seconds at a scaled quota;
- **429 share** = requests and batch items answered 429 ÷ all of them (target ≤ 1 %);
- **reads** of a no-change nightly snapshot (target: a handful): its snapshot reads back what the previous
  run wrote (delta answers carry every change since the last link, the run's own included); a snapshot
  taken with nothing changed since the last one (``quiet snapshot``) reads one page per resource;
- the **projection at the real quota**: writes issued ÷ (20 writes/s × sustained quota use), in minutes
  (M first sync ≤ 75 min, nightly ≤ 2 min), and the same for the plan's minimum.

Ends with one JSON line ``{"bench": "graph", ...}``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from bench.churn import apply_churn
from bench.district import DistrictSize, generate_district
from sync import service
from sync.directory.graph import GraphDirectory, static_token
from sync.directory.graph_pacing import SAFETY, WRITES_PER_WINDOW
from sync.directory.graph_stats import GraphStats
from sync.directory.local_tenant import LocalTenantDirectory
from sync.directory.model import MAX_BATCH, Operation, OpKind
from sync.engine.journal import MemoryJournal
from sync.engine.plan import Plan
from sync.profile import Profile, load_profile

TODAY = date(2026, 11, 22)
REAL_WRITES_PER_S = 20.0
DATA = Path(__file__).resolve().parent / ".data" / "graph"
SMOKE = DistrictSize(schools=4, students=600, teachers=40, sections=120, enrollments=3000)

_ONE_WRITE = frozenset(
    {
        OpKind.CREATE_SCHOOL,
        OpKind.UPDATE_SCHOOL,
        OpKind.CREATE_USER,
        OpKind.LINK_USER,
        OpKind.UPDATE_USER,
        OpKind.DISABLE_USER,
        OpKind.ENABLE_USER,
        OpKind.DELETE_USER,
        OpKind.UPDATE_CLASS,
        OpKind.EXPIRE_CLASS,
        OpKind.DELETE_CLASS,
        OpKind.CREATE_GROUP,
        OpKind.ASSIGN_LICENSES,
        OpKind.ASSIGN_GROUP_LICENSES,
    }
)
_CHUNKED = frozenset({OpKind.ADD_CLASS_MEMBERS, OpKind.ADD_GROUP_MEMBERS})


def minimum_writes(operation: Operation) -> int:
    """The fewest writes the Graph rules allow for ``operation`` (see the module docstring)."""
    if operation.kind in _ONE_WRITE:
        return 1
    if operation.kind is OpKind.CREATE_CLASS:
        extra = max(0, len(operation.owners) + len(operation.refs) - MAX_BATCH)
        return 2 + math.ceil(extra / MAX_BATCH)
    if operation.kind in _CHUNKED:
        return math.ceil(len(operation.refs) / MAX_BATCH)
    return len(operation.refs)  # owners, school links, removals: one request per reference


@dataclass(frozen=True)
class RunFigures:
    name: str
    operations: int
    minimum: int
    by_kind: dict[str, int]
    failed: int
    stats: GraphStats
    snapshot_requests: int
    plan_seconds: float
    #: Wall-clock seconds of the whole apply (the engine's journal and chunking between calls included).
    wall_seconds: float
    quota_scale: float

    @property
    def efficiency(self) -> float:
        return self.stats.writes / self.minimum if self.minimum else 1.0

    @property
    def quota_use(self) -> float:
        seconds = self.stats.apply_seconds
        return self.stats.writes / seconds / (REAL_WRITES_PER_S * self.quota_scale) if seconds else 0.0

    @property
    def wall_quota_use(self) -> float:
        """Quota use over the whole apply, the engine's time between ``apply()`` calls included."""
        rate = REAL_WRITES_PER_S * self.quota_scale
        return self.stats.writes / self.wall_seconds / rate if self.wall_seconds else 0.0

    @property
    def sustained_quota_use(self) -> float:
        """Quota use without the pacer's saved-up burst (2 % of a window, refilled while the run plans):
        what a run long enough for the burst not to matter achieves."""
        seconds = self.stats.apply_seconds
        burst = (1 - SAFETY) * WRITES_PER_WINDOW * self.quota_scale
        rate = REAL_WRITES_PER_S * self.quota_scale
        return max(0.0, self.stats.writes - burst) / seconds / rate if seconds else 0.0

    def projected_minutes(self, writes: int) -> float:
        rate = REAL_WRITES_PER_S * min(1.0, self.sustained_quota_use or 1.0)
        return writes / rate / 60

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.name,
            "operations": self.operations,
            "failed": self.failed,
            "writes_issued": self.stats.writes,
            "writes_minimum": self.minimum,
            "write_efficiency": round(self.efficiency, 4),
            "quota_use": round(self.quota_use, 4),
            "sustained_quota_use": round(self.sustained_quota_use, 4),
            "throttled_share": round(self.stats.throttled_share, 5),
            "requests": self.stats.requests,
            "batches": self.stats.batches,
            "batch_items": self.stats.batch_items,
            "retries": self.stats.retries,
            "apply_seconds": round(self.stats.apply_seconds, 2),
            "snapshot_requests": self.snapshot_requests,
            "snapshot_seconds": round(self.stats.snapshot_seconds, 2),
            "plan_seconds": round(self.plan_seconds, 2),
            "apply_wall_seconds": round(self.wall_seconds, 2),
            "wall_quota_use": round(self.wall_quota_use, 4),
            "projected_minutes_real_quota": round(self.projected_minutes(self.stats.writes), 1),
            "minimum_writes_by_kind": self.by_kind,
        }


def _diff(after: GraphStats, before: GraphStats) -> GraphStats:
    return GraphStats(
        **{
            name: getattr(after, name) - getattr(before, name)
            for name in GraphStats.__dataclass_fields__  # a flat dataclass of numbers
        }
    )


def _district(size: str) -> Path:
    folder = DATA / size
    marker = DATA / f"{size}.complete"
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        generate_district(folder, SMOKE if size == "smoke" else size, seed=1)
        marker.touch()
    return folder


def _churned(size: str, district: Path, share: float) -> Path:
    folder = DATA / f"{size}-churn-{share}"
    marker = DATA / f"{size}-churn-{share}.complete"
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        apply_churn(district, folder, share=share, seed=1)
        marker.touch()
    return folder


class LocalGraphServer:
    """``python -m sync.graphserver`` in a child process."""

    def __init__(self, tenant: Path, quota_scale: float) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "sync.graphserver", "--port", "0", "--tenant", str(tenant),
             "--quota-scale", str(quota_scale)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self._process.stdout is not None
        self.base_url = self._process.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            self.stop()
            raise SystemExit("the local Graph server did not start")

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=30)


def _sync(
    name: str, directory: GraphDirectory, folder: Path, profile: Profile, quota_scale: float
) -> tuple[RunFigures, Plan]:
    before = directory.stats()
    validation = service.validate(service.open_roster_source(str(folder), profile), profile)
    if validation.roster is None:
        raise SystemExit(f"{folder}: the district does not validate")
    snapshot = directory.snapshot()
    after_snapshot = directory.stats()
    started = time.monotonic()
    plan = service.make_plan(validation.roster, profile, snapshot, TODAY, [])
    plan_seconds = time.monotonic() - started
    passwords = service.passwords_for(plan, validation.roster, profile)
    started = time.monotonic()
    # A benchmark applies what it plans: a plan the guard would hold is applied as if approved.
    outcome = service.apply(plan, directory, MemoryJournal(), passwords=passwords, approved=True)
    wall_seconds = time.monotonic() - started
    stats = _diff(directory.stats(), before)
    by_kind = _minimum_by_kind(plan)
    figures = RunFigures(
        name=name,
        operations=len(plan.operations),
        minimum=sum(by_kind.values()),
        by_kind=dict(sorted(by_kind.items())),
        failed=outcome.failed,
        stats=stats,
        snapshot_requests=after_snapshot.requests - before.requests,
        plan_seconds=plan_seconds,
        wall_seconds=wall_seconds,
        quota_scale=quota_scale,
    )
    return figures, plan


def _print(figures: RunFigures) -> None:
    stats = figures.stats
    print(f"\n== {figures.name}: {figures.operations:,} operations ({figures.failed} failed)")
    print(f"  snapshot            {figures.snapshot_requests:,} requests, {stats.snapshot_seconds:.1f} s")
    print(f"  plan                {figures.plan_seconds:.1f} s")
    print(
        f"  writes issued       {stats.writes:,} in {stats.batches:,} batches "
        f"({stats.batch_items / max(1, stats.batches):.1f} items each), {stats.retries:,} retries"
    )
    print(f"  minimum writes      {figures.minimum:,}")
    print(f"  write efficiency    {figures.efficiency:.3f}   (issued ÷ minimum, target ≤ 1.05)")
    rate = stats.writes / max(stats.apply_seconds, 1e-9)
    print(
        f"  apply time          {stats.apply_seconds:.1f} s inside apply() at {rate:,.0f} writes/s; "
        f"{figures.wall_seconds:.1f} s in all (quota use {figures.wall_quota_use:.3f})"
    )
    print(
        f"  quota use           {figures.quota_use:.3f}   (achieved ÷ scaled quota, target ≥ 0.9); "
        f"without the saved-up burst {figures.sustained_quota_use:.3f}"
    )
    print(
        f"  429 share           {stats.throttled_share:.4%}   ({stats.throttled} answered 429, target ≤ 1 %)"
    )
    print(
        f"  at the real quota   {figures.projected_minutes(stats.writes):.1f} min "
        f"(minimum writes alone: {figures.minimum / REAL_WRITES_PER_S / 60:.1f} min)"
    )
    top = sorted(figures.by_kind.items(), key=lambda item: -item[1])[:6]
    print("  minimum by kind     " + ", ".join(f"{kind} {count:,}" for kind, count in top))


def _minimum_by_kind(plan: Plan) -> Counter[str]:
    by_kind: Counter[str] = Counter()
    for operation in plan.operations:
        by_kind[operation.kind.value] += minimum_writes(operation)
    return by_kind


def _plan_only(district: Path, nightly: Path, profile: Profile, churn: float) -> None:
    """Both plans against the embedded tenant (the first applied there): the floor of each run."""
    # The guard would hold a nightly that removes a large share; the floor is what applying it costs.
    profile = replace(profile, deletion=replace(profile.deletion, guard_threshold=1.0))
    floors = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-graph-plan-") as work,
        LocalTenantDirectory(Path(work) / "tenant.db") as local,
    ):
        for name, folder in (("first sync", district), (f"nightly {churn:.0%} churn", nightly)):
            validation = service.validate(service.open_roster_source(str(folder), profile), profile)
            if validation.roster is None:
                raise SystemExit(f"{folder}: the district does not validate")
            plan = service.make_plan(validation.roster, profile, local.snapshot(), TODAY, [])
            by_kind = _minimum_by_kind(plan)
            total = sum(by_kind.values())
            floors[name] = {
                "writes_minimum": total,
                "minimum_writes_by_kind": dict(sorted(by_kind.items())),
            }
            print(f"{name}: {len(plan.operations):,} operations, minimum writes {total:,} "
                  f"= {total / REAL_WRITES_PER_S / 60:.1f} min at 20 writes/s")  # fmt: skip
            for kind, count in by_kind.most_common():
                print(f"  {kind:26} {count:>9,}")
            passwords = service.passwords_for(plan, validation.roster, profile)
            service.apply(plan, local, MemoryJournal(), passwords=passwords, approved=True)
    print(json.dumps({"bench": "graph-floor", "license_assignment": profile.license_assignment,
                      "leavers": profile.deletion.users, "runs": floors}))  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="M", help="S, M, XL or smoke (default M)")
    parser.add_argument("--quota-scale", type=float, default=20.0, help="server and adapter quota × F")
    parser.add_argument("--churn", type=float, default=0.01, help="nightly churn share (default 0.01)")
    parser.add_argument("--profile", default="examples/profile.toml")
    parser.add_argument(
        "--license-assignment",
        choices=("user", "group"),
        help="licences per user or on the All Students / All Teachers groups (default: the profile's)",
    )
    parser.add_argument(
        "--leavers",
        choices=("keep", "disable", "delete"),
        help="what happens to the account of a user who leaves (default: the profile's)",
    )
    parser.add_argument(
        "--plan-only", action="store_true", help="only the minimum writes of both plans (no server)"
    )
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # figures as each run ends
    profile = load_profile(args.profile)
    if args.license_assignment is not None:
        profile = replace(profile, license_assignment=args.license_assignment)
    if args.leavers is not None:
        profile = replace(profile, deletion=replace(profile.deletion, users=args.leavers))
    print(f"licence assignment: {profile.license_assignment}; leavers: {profile.deletion.users}")
    district = _district(args.size)
    nightly = _churned(args.size, district, args.churn)
    if args.plan_only:
        _plan_only(district, nightly, profile, args.churn)
        return
    results: list[RunFigures] = []
    quiet: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-graph-") as work:
        server = LocalGraphServer(Path(work) / "tenant.db", args.quota_scale)
        try:
            runs: Iterable[tuple[str, Path, bool]] = (
                ("first sync", district, False),
                (f"nightly {args.churn:.0%} churn", nightly, True),
                ("nightly, no change", nightly, True),
            )
            for name, folder, low_priority in runs:
                with GraphDirectory(
                    server.base_url, cache_dir=Path(work) / "cache", token=static_token("bench"),
                    quota_scale=args.quota_scale, low_priority=low_priority,
                ) as directory:  # fmt: skip
                    figures, _ = _sync(name, directory, folder, profile, args.quota_scale)
                    if figures.operations == 0:  # nothing written since this run's snapshot
                        before = directory.stats().requests
                        directory.snapshot()
                        quiet[name] = directory.stats().requests - before
                _print(figures)
                if name in quiet:
                    print(
                        f"  quiet snapshot      {quiet[name]} requests (nothing changed since the last one)"
                    )
                results.append(figures)
        finally:
            server.stop()
    print(json.dumps({"bench": "graph", "size": args.size, "quota_scale": args.quota_scale,
                      "license_assignment": profile.license_assignment,
                      "runs": [{**figures.to_json(), "quiet_snapshot_requests": quiet.get(figures.name)}
                               for figures in results]}))  # fmt: skip


if __name__ == "__main__":
    main()
