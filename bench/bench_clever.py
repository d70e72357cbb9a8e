"""Benchmark: pulling a district from the (local) Clever API, against the fewest requests paging allows.

``python -m bench.bench_clever [--size M] [--data DIR] [--seed 1] [--page-size 10000] [--changes 1000]``

The district is generated once and cached in ``<data>/<size>`` (shared with ``bench_validate``; the marker
``<data>/<size>.complete`` names the seed). The local Clever server (``sync.cleverserver``) serves it on
127.0.0.1 in this process (its threads share the machine with the client: the times are an upper bound of
the client's own work and include the server's JSON encoding). Then:

- ``full``: ``CleverApiSource.read_raw()`` with no delta state: newest event id, every page of schools,
  students, teachers, sections, terms and courses, the delta state saved (Parquet), the raw tables mapped;
- ``http``: the same pages with the bare client (no state, no mapping): the HTTP share of ``full``;
- ``map`` / ``validate``: the mapping of the pulled records and the shared validator, alone;
- ``delta``: after ``--changes`` student updates plus a few creations and deletions on the server, the
  next ``read_raw()`` (events only, applied to the saved state, mapped);
- ``client``: a full pull (``read_raw``) in a child process, for the client's own peak memory (the figure
  ``peak_mb`` of this process includes the server's copy of the district).

The minimum number of requests is ``1`` (newest event id) ``+ Σ max(1, ⌈n / page size⌉)`` over the lists;
for the delta ``⌈events / page size⌉``. Prints a table and one JSON line (``{"bench": "clever", ...}``).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.district import generate_district
from sync.clever.client import CleverClient
from sync.clever.mapping import to_raw_files
from sync.clever.pull import full_pull
from sync.clever.source import CleverApiSource
from sync.clever.state import StateStore
from sync.cleverserver import DEFAULT_TOKEN, CleverServer
from sync.profile import CleverApiSettings, Profile
from sync.roster.validate import validate_raw

DEFAULT_DATA = Path(__file__).resolve().parent / ".data"
REPO = Path(__file__).resolve().parent.parent


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _district_folder(data: Path, size: str, seed: int) -> tuple[Path, float]:
    folder, marker = data / size, data / f"{size}.complete"
    if marker.exists() and marker.read_text().strip() == f"seed={seed}":
        return folder, 0.0
    start = time.perf_counter()
    generate_district(folder, size, seed=seed)
    marker.write_text(f"seed={seed}\n")
    return folder, time.perf_counter() - start


def _minimum(counts: dict[str, int], page_size: int) -> int:
    return 1 + sum(max(1, math.ceil(n / page_size)) for n in counts.values())


def run(size: str, data: Path, seed: int, page_size: int, changes: int) -> dict[str, Any]:
    folder, generated_s = _district_folder(data, size, seed)
    start = time.perf_counter()
    server = CleverServer(folder)
    load_s = time.perf_counter() - start
    users = server.district.users
    counts = {
        "schools": len(server.district.schools),
        "students": sum(1 for u in users.values() if "student" in u["roles"]),
        "teachers": sum(1 for u in users.values() if "teacher" in u["roles"]),
        "sections": len(server.district.sections),
        "terms": len(server.district.terms),
        "courses": len(server.district.courses),
    }
    result: dict[str, Any] = {"bench": "clever", "size": size, "page_size": page_size, "records": counts}
    result["generate_s"], result["server_load_s"] = round(generated_s, 2), round(load_s, 2)
    with server, tempfile.TemporaryDirectory() as state:
        settings = CleverApiSettings(base_url=server.base_url, api_version="v3.1")
        profile = Profile(name=f"bench-{size}", source="clever_api", clever=settings)
        env = {"CLEVER_TOKEN": DEFAULT_TOKEN}

        source = CleverApiSource.from_profile(profile, env, state_dir=state, page_size=page_size)
        start = time.perf_counter()
        files, _ = source.read_raw()
        full_s = time.perf_counter() - start
        assert source.last_pull is not None
        result["full"] = {
            "seconds": round(full_s, 2),
            "requests": source.last_pull.requests,
            "minimum": _minimum(counts, page_size),
            "waited_s": source.last_pull.waited_s,
        }

        start = time.perf_counter()
        with CleverClient(server.base_url, DEFAULT_TOKEN, api_version="v3.1", page_size=page_size) as client:
            client.latest_event_id()
            district = full_pull(client.list_records, roles=("student", "teacher"))
            result["http"] = {"seconds": round(time.perf_counter() - start, 2), "requests": client.requests}

        start = time.perf_counter()
        loaded = StateStore(state).load()
        result["state_load_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        files = to_raw_files(loaded.district if loaded else district)
        result["map_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        validation = validate_raw(files, [], profile)
        result["validate_s"] = round(time.perf_counter() - start, 2)
        result["findings"] = len(validation.findings)

        result["client"] = _client_in_child(server.base_url, page_size)

        events = _churn(server, changes)
        source = CleverApiSource.from_profile(profile, env, state_dir=state, page_size=page_size)
        start = time.perf_counter()
        source.read_raw()
        assert source.last_pull is not None
        result["delta"] = {
            "seconds": round(time.perf_counter() - start, 2),
            "mode": source.last_pull.mode,
            "events": events,
            "requests": source.last_pull.requests,
            "minimum": max(1, math.ceil(events / page_size)),
        }
    result["peak_mb"] = round(_peak_mb(), 1)
    return result


def _client_in_child(base_url: str, page_size: int) -> dict[str, Any]:
    """A full pull in a fresh process: its time and peak resident memory."""
    command = [sys.executable, "-m", "bench.bench_clever", "--child", base_url, "--page-size", str(page_size)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
    child: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return child


def _child(base_url: str, page_size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as state:
        profile = Profile(
            name="bench-child",
            source="clever_api",
            clever=CleverApiSettings(base_url=base_url, api_version="v3.1"),
        )
        source = CleverApiSource.from_profile(
            profile, {"CLEVER_TOKEN": DEFAULT_TOKEN}, state_dir=state, page_size=page_size
        )
        start = time.perf_counter()
        source.read_raw()
        seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 2), "peak_mb": round(_peak_mb(), 1)}


def _churn(server: CleverServer, changes: int) -> int:
    """``changes`` grade updates, 10 new students and 10 leavers; returns the number of events."""
    students = sorted(i for i, u in server.district.users.items() if "student" in u["roles"])
    for clever_id in students[:changes]:
        user = server.get("users", clever_id)
        user["roles"]["student"]["grade"] = "Ungraded"
        server.upsert("users", user)
    for n in range(10):
        user = server.get("users", students[-1 - n])
        server.delete("users", user["id"])
        user["id"] = f"{n:024x}"
        user["roles"]["student"]["sis_id"] = f"NEW{n:05d}"
        server.upsert("users", user)
    return changes + 20


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_clever", description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="M", help="district size preset (S, M, XL)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="cache folder of generated districts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--page-size", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=1000, help="student updates before the delta run")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.page_size)))
        return 0
    result = run(args.size.upper(), args.data, args.seed, args.page_size, args.changes)
    full, delta = result["full"], result["delta"]
    print(f"district {result['size']}: {result['records']}")
    http = result["http"]
    print(f"  full pull (read_raw)  {full['seconds']:>7.2f} s  {full['requests']:>4} requests", end="")
    print(f" (minimum {full['minimum']})")
    print(f"    of which HTTP only  {http['seconds']:>7.2f} s  {http['requests']:>4} requests")
    print(f"  map to raw tables     {result['map_s']:>7.2f} s   (state load {result['state_load_s']:.2f} s)")
    print(f"  validate              {result['validate_s']:>7.2f} s   ({result['findings']} findings)")
    print(
        f"  delta ({delta['events']} events)  {delta['seconds']:>7.2f} s  {delta['requests']:>4} requests "
        f"(minimum {delta['minimum']}, mode {delta['mode']})"
    )
    client = result["client"]
    print(
        f"  full pull, own process {client['seconds']:>6.2f} s  peak {client['peak_mb']:.1f} MB (client only)"
    )
    print(f"  peak memory           {result['peak_mb']:>7.1f} MB (server and client in this process)")
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
