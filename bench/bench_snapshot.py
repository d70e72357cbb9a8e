"""The Graph adapter's snapshot at district scale: time, peak memory and requests of a full read.

    python3 -m bench.bench_snapshot --size S           # S, M or M2 (twice M); a tenant is filled once
    python3 -m bench.bench_snapshot --size M --code /tmp/before   # the adapter of another checkout

Fills a local tenant with the district's first sync once (applied straight into the tenant store through
the embedded local tenant, no HTTP; cached in ``bench/.data/snapshot/<size>/``), serves it with the local
Graph server (``python -m sync.graphserver``, its own process), then in a fresh interpreter opens a
``GraphDirectory`` on an empty cache and times

- a **full snapshot**: every delta round from scratch into the SQLite cache, then ``build_snapshot``;
- a **quiet snapshot** right after (nothing changed: one page per resource, the snapshot rebuilt).

Peak memory is reported after the imports, after the delta reads (just before ``build_snapshot``, which
the child wraps to look) and after the full snapshot.

The child reports its peak resident memory (``VmHWM``, interpreter and imports included), the requests
and a digest of the snapshot (users, schools, classes, groups, memberships), so two checkouts can be
compared: ``--code DIR`` runs the child with ``DIR`` first on ``PYTHONPATH`` (e.g. a ``git worktree`` of
an older commit). Prints figures and one JSON line ``{"bench": "snapshot", ...}``; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
DATA = REPO / "bench" / ".data"
TODAY = date(2026, 11, 22)
#: Sizes beyond the presets: twice M (~90 s to fill), to see how the figures grow. (The child imports
#: nothing of ``bench``: its memory is the adapter's.)
SIZES = {
    "M2": {"schools": 120, "students": 100_000, "teachers": 6_000, "sections": 32_000, "enrollments": 800_000}
}


# ------------------------------------------------------------------------------------------- in the child


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _digest(snapshot: Any) -> str:
    import hashlib

    import pyarrow.compute as pc

    digest = hashlib.sha256()
    for items in (snapshot.users, snapshot.schools, snapshot.classes, snapshot.groups):
        for item in sorted(items, key=lambda item: item.id):
            digest.update(repr(item).encode())
    table = snapshot.memberships
    order = pc.sort_indices(table, [(name, "ascending") for name in table.column_names])
    for column in table.take(order).columns:
        for chunk in column.chunks:
            digest.update("\n".join(chunk.to_pylist()).encode())
    return digest.hexdigest()[:16]


def child(base_url: str, cache_dir: Path) -> None:
    import sync.directory.graph as graph
    from sync.directory.graph import GraphDirectory, static_token

    figures: dict[str, Any] = {"peak_mb_imports": _peak_mb()}
    build = vars(graph)["build_snapshot"]

    def measured_build(*args: Any) -> Any:  # the peak of the delta reads, before the snapshot is built
        figures.setdefault("peak_mb_reads", _peak_mb())
        return build(*args)

    vars(graph)["build_snapshot"] = measured_build
    with GraphDirectory(
        base_url, cache_dir=cache_dir, token=static_token("bench"), quota_scale=1000.0
    ) as directory:
        start, cpu = time.perf_counter(), time.process_time()
        snapshot = directory.snapshot()
        figures["full_seconds"] = time.perf_counter() - start
        figures["full_cpu_seconds"] = time.process_time() - cpu
        figures["full_requests"] = directory.stats().requests
        figures["peak_mb_full"] = _peak_mb()
        figures["users"] = len(snapshot.users)
        figures["classes"] = len(snapshot.classes)
        figures["memberships"] = snapshot.memberships.num_rows
        del snapshot
        start = time.perf_counter()
        snapshot = directory.snapshot()
        figures["quiet_seconds"] = time.perf_counter() - start
        figures["quiet_requests"] = directory.stats().requests - figures["full_requests"]
        figures["digest"] = _digest(snapshot)
    figures["peak_mb"] = _peak_mb()
    figures["cpu_seconds"] = time.process_time()
    figures["cache_mb"] = sum(path.stat().st_size for path in cache_dir.iterdir()) / 1e6
    print(json.dumps(figures))


# ------------------------------------------------------------------------------------------ in the parent


def ensure_tenant(size: str) -> Path:
    """A tenant file holding the district's first sync (made once, ~1 min for M)."""
    from bench.bench_validate import ensure_district
    from sync import service
    from sync.directory.local_tenant import LocalTenantDirectory
    from sync.directory.model import DirectorySnapshot
    from sync.engine.apply import apply_plan
    from sync.engine.journal import MemoryJournal
    from sync.profile import load_profile

    folder = DATA / "snapshot" / size
    tenant = folder / "tenant.db"
    marker = DATA / "snapshot" / f"{size}.complete"
    if marker.exists():
        return tenant
    if size in SIZES:
        from bench.district import DistrictSize, generate_district

        district = DATA / "snapshot" / f"{size}-district"
        generate_district(district, DistrictSize(**SIZES[size]), seed=1)
    else:
        district, _ = ensure_district(DATA, size, 1)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("tenant.db*"):
        stale.unlink()
    profile = load_profile(REPO / "examples" / "profile.toml")
    start = time.perf_counter()
    validation = service.validate(service.open_roster_source(str(district), profile), profile)
    if validation.roster is None:
        raise SystemExit(f"{district}: the district does not validate")
    plan = service.make_plan(validation.roster, profile, DirectorySnapshot(), TODAY, [])
    passwords = service.passwords_for(plan, validation.roster, profile)
    with LocalTenantDirectory(tenant) as directory:
        outcome = apply_plan(plan, directory, MemoryJournal(), plan_id="bench", passwords=passwords)
    print(
        f"tenant {size}: {outcome.done:,} operations applied in {time.perf_counter() - start:.0f} s"
        + (f" ({outcome.failed} failed: read as it is, filled again next time)" if outcome.failed else "")
    )
    if not outcome.failed:
        marker.touch()
    return tenant


def measure(base_url: str, code: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-snapshot-") as cache:
        env = {**os.environ, "PYTHONPATH": str(code)}
        done = subprocess.run(
            [sys.executable, str(HERE), "--child", base_url, cache],
            cwd=code, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the child failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="S", help="S, M or M2 (default S)")
    parser.add_argument("--code", type=Path, default=REPO, help="checkout whose adapter the child runs")
    parser.add_argument("--runs", type=int, default=1, help="children to run (default 1)")
    parser.add_argument("--child", nargs=2, metavar=("URL", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    sys.path.insert(0, str(REPO))
    from bench.bench_graph import LocalGraphServer

    tenant = ensure_tenant(args.size)
    server = LocalGraphServer(tenant, quota_scale=1000.0)
    try:
        runs = [measure(server.base_url, args.code.resolve()) for _ in range(args.runs)]
    finally:
        server.stop()
    for figures in runs:
        print(
            f"{args.size} ({figures['users']:,} users, {figures['classes']:,} classes, "
            f"{figures['memberships']:,} memberships) code={args.code}\n"
            f"  full snapshot   {figures['full_seconds']:.1f} s "
            f"({figures['full_cpu_seconds']:.1f} s CPU in the adapter), "
            f"{figures['full_requests']:,} requests, "
            f"peak {figures['peak_mb_full']:.0f} MB (imports {figures['peak_mb_imports']:.0f} MB, "
            f"delta reads {figures['peak_mb_reads']:.0f} MB)\n"
            f"  quiet snapshot  {figures['quiet_seconds']:.1f} s, {figures['quiet_requests']} requests; "
            f"cache file {figures['cache_mb']:.0f} MB; digest {figures['digest']}"
        )
    print(json.dumps({"bench": "snapshot", "size": args.size, "code": str(args.code), "runs": runs}))


if __name__ == "__main__":
    main()
