"""Benchmark: validating a district against merely reading it.

``python -m bench.bench_validate [--sizes S,M,XL] [--orders id,name] [--repeat N] [--data DIR] [--seed 1]``

For each size the district is generated once and cached in ``<data>/<size>`` (a marker
``<data>/<size>.complete`` says the set was written in full, by which seed). The generator writes every file
in id order; ``--orders name`` also measures a copy ordered as SIS exports usually are, students and teachers
by school and name, each section's enrollments by student name (:mod:`bench.by_name`, cached in
``<data>/<size>-by-name``). Then, each in a fresh
Python process so that the figures do not bleed into each other:

- ``read``: ``pyarrow.csv.read_csv`` of the five files, every column a string: the floor for any reader;
- ``validate``: ``sync.roster.validate.validate_folder(path)``: reading, checks and the roster;
- with ``--reader``, also ``reader``: the validator's own reader alone (``CsvFolderSource.read_raw``, in the
  validator's memory pool), no checks: the floor of the validate/read ratio for any check built on it.

Each child times its own work (imports excluded), wall and CPU (user + system, every thread), and reports its
peak resident memory (``VmHWM``, imports included). With ``--repeat N`` the two run alternately N times and
the table shows the best of each (the ratio of the best times; the median ratio of the pairs is in the JSON),
since a shared machine only ever adds time. The script prints a table and one JSON line
(``{"bench": "validate", ...}``) for tooling.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

FILES = ("schools", "students", "teachers", "sections", "enrollments")
DEFAULT_DATA = Path(__file__).resolve().parent / ".data"
REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------- in the child


def _peak_mb() -> float:
    """Peak resident set size of this process (``VmHWM``), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # not Linux: ru_maxrss is in kB on Linux, bytes on macOS

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """CPU time of this process so far, every thread, user and system."""
    import resource  # microseconds, where os.times() counts clock ticks

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _read_plain(folder: Path) -> dict[str, Any]:
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    cpu = _cpu_seconds()
    start = time.perf_counter()
    rows = 0
    for kind in FILES:
        path = folder / f"{kind}.csv"
        with path.open(encoding="utf-8-sig", newline="") as handle:
            names = next(csv.reader(handle))
        convert = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()))
        rows += pacsv.read_csv(path, convert_options=convert).num_rows
    return {"seconds": time.perf_counter() - start, "cpu_s": _cpu_seconds() - cpu, "rows": rows}


def _validate(folder: Path) -> dict[str, Any]:
    from sync.roster.validate import validate_folder  # written alongside: imported only when measured

    cpu = _cpu_seconds()
    start = time.perf_counter()
    result = validate_folder(folder)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "cpu_s": _cpu_seconds() - cpu,
        "findings": len(result.findings),
        "status": str(result.status),
    }


def _read_raw(folder: Path) -> dict[str, Any]:
    from sync.roster.allocator import validation_pool
    from sync.roster.reader import CsvFolderSource

    cpu = _cpu_seconds()
    start = time.perf_counter()
    with validation_pool():
        files, findings = CsvFolderSource(folder).read_raw()
    seconds = time.perf_counter() - start
    rows = sum(raw.table.num_rows for raw in files.values())
    return {"seconds": seconds, "cpu_s": _cpu_seconds() - cpu, "rows": rows, "findings": len(findings)}


CHILD_OPERATIONS = {"read": _read_plain, "reader": _read_raw, "validate": _validate}


def child(operation: str, folder: Path) -> None:
    figures = CHILD_OPERATIONS[operation](folder)
    figures["peak_mb"] = _peak_mb()
    print(json.dumps(figures))


# ------------------------------------------------------------------------------------------ in the parent


def ensure_district(data: Path, size: str, seed: int, order: str = "id") -> tuple[Path, float | None]:
    """The cached district of ``size`` in ``order`` (made now if missing) and the time it took to make if it
    was made (for the name order, generating the district included)."""
    from bench.by_name import reorder_by_name
    from bench.district import generate_district

    if order == "name":
        source, generated = ensure_district(data, size, seed)
        folder = data / f"{size}-by-name"
        marker = data / f"{size}-by-name.complete"
        made = _cached(marker, seed, lambda: reorder_by_name(source, folder), remake=generated is not None)
        return folder, None if made is None else made + (generated or 0.0)
    folder = data / size
    made = _cached(data / f"{size}.complete", seed, lambda: generate_district(folder, size, seed=seed))
    return folder, made


def _cached(marker: Path, seed: int, make: Callable[[], object], *, remake: bool = False) -> float | None:
    """Run ``make`` unless ``marker`` (beside the folder: a file inside would be an ignored_file) says it was
    made in full with ``seed`` (or ``remake``: its source was just made again); its time if it ran."""
    if not remake and marker.exists() and marker.read_text().strip() == f"seed={seed}":
        return None
    marker.unlink(missing_ok=True)
    start = time.perf_counter()
    make()
    marker.write_text(f"seed={seed}\n")
    return time.perf_counter() - start


def measure(operation: str, folder: Path) -> dict[str, Any]:
    """Run ``operation`` on ``folder`` in a fresh interpreter and return its figures."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_validate", "--child", operation, str(folder)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"{operation} failed: {last}"}
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _best(runs: Sequence[dict[str, Any]], operation: str) -> dict[str, Any]:
    """The fastest run of ``operation`` among ``runs`` (an error when none succeeded)."""
    done = [r for r in runs if r.get("operation") == operation and "seconds" in r]
    if not done:
        failed = [r for r in runs if r.get("operation") == operation]
        return failed[0] if failed else {"error": f"{operation} did not run"}
    return min(done, key=lambda r: r["seconds"])


def _peak(runs: Sequence[dict[str, Any]], operation: str) -> float | None:
    """The highest peak memory of the successful runs of ``operation``."""
    peaks = [r["peak_mb"] for r in runs if r.get("operation") == operation and "peak_mb" in r]
    return _round(max(peaks), 0) if peaks else None


ORDERS = ("id", "name")


def run(
    sizes: Sequence[str],
    data: Path,
    seed: int,
    repeat: int = 1,
    orders: Sequence[str] = ("id",),
    *,
    reader: bool = False,
) -> list[dict[str, Any]]:
    results = []
    for size, order in ((size, order) for size in sizes for order in orders):
        folder, generated = ensure_district(data, size, seed, order)
        megabytes = sum((folder / f"{k}.csv").stat().st_size for k in FILES) / 1e6
        runs = []
        for _ in range(repeat):  # alternate, so that a busy spell of the machine hits both sides
            runs.append({"operation": "read", **measure("read", folder)})
            runs.append({"operation": "validate", **measure("validate", folder)})
            if reader:
                runs.append({"operation": "reader", **measure("reader", folder)})
        read, validate = _best(runs, "read"), _best(runs, "validate")
        ratio = (
            validate["seconds"] / read["seconds"] if "seconds" in validate and read.get("seconds") else None
        )
        reads = [r for r in runs if r["operation"] == "read"]
        validations = [r for r in runs if r["operation"] == "validate"]
        pairs = [
            v["seconds"] / r["seconds"]
            for r, v in zip(reads, validations, strict=True)
            if "seconds" in r and "seconds" in v and r["seconds"]
        ]
        cpu_ratio = validate["cpu_s"] / read["cpu_s"] if read.get("cpu_s") and "cpu_s" in validate else None
        results.append(
            {
                "size": size,
                "order": order,
                "megabytes": round(megabytes, 1),
                "rows": read.get("rows"),
                "generate_s": None if generated is None else round(generated, 2),
                "runs": repeat,
                "read_s": _round(read.get("seconds")),
                "validate_s": _round(validate.get("seconds")),
                "ratio": _round(ratio),
                "median_pair_ratio": _round(statistics.median(pairs)) if pairs else None,
                "read_cpu_s": _round(read.get("cpu_s"), 3),
                "validate_cpu_s": _round(validate.get("cpu_s"), 3),
                "cpu_ratio": _round(cpu_ratio),
                "read_peak_mb": _peak(runs, "read"),
                "validate_peak_mb": _peak(runs, "validate"),
                "findings": validate.get("findings"),
                "status": validate.get("status"),
                "errors": sorted({r["error"] for r in runs if "error" in r}) or None,
                **(_reader_figures(runs, read) if reader else {}),
            }
        )
    return results


def _reader_figures(runs: Sequence[dict[str, Any]], read: dict[str, Any]) -> dict[str, Any]:
    """The reader side's best time and its ratio to the plain read's best."""
    best = _best(runs, "reader")
    seconds = best.get("seconds")
    ratio = seconds / read["seconds"] if seconds is not None and read.get("seconds") else None
    cpu = _round(best.get("cpu_s"), 3)
    return {"reader_s": _round(seconds), "reader_ratio": _round(ratio), "reader_cpu_s": cpu}


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _cpu_cell(result: dict[str, Any]) -> str | None:
    read, validate = result.get("read_cpu_s"), result.get("validate_cpu_s")
    return None if read is None or validate is None else f"{read} / {validate}"


#: Table columns of the ``--reader`` side.
READER_COLUMNS = (("reader s", "reader_s"), ("reader ratio", "reader_ratio"))


def table(results: Sequence[dict[str, Any]]) -> str:
    columns = (
        ("size", "size"),
        ("order", "order"),
        ("MB", "megabytes"),
        ("rows", "rows"),
        ("read s", "read_s"),
        ("validate s", "validate_s"),
        ("ratio", "ratio"),
        *(READER_COLUMNS if any("reader_s" in r for r in results) else ()),
        ("CPU s read/validate", "cpu"),
        ("read peak MB", "read_peak_mb"),
        ("validate peak MB", "validate_peak_mb"),
        ("findings", "findings"),
    )
    cells = [[label for label, _ in columns]]
    results = [{**r, "cpu": _cpu_cell(r)} for r in results]
    cells += [
        [
            "-" if r[key] is None else f"{r[key]:,}" if isinstance(r[key], int) else str(r[key])
            for _, key in columns
        ]
        for r in results
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    notes = [f"{r['size']} ({r['order']}): {e}" for r in results for e in (r["errors"] or [])]
    notes += [
        f"{r['size']} ({r['order']}): generated in {r['generate_s']} s"
        for r in results
        if r["generate_s"] is not None
    ]
    return "\n".join(lines + notes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_validate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--sizes", default="S,M", help="comma-separated presets (default S,M; XL writes ~1 GB)"
    )
    parser.add_argument(
        "--orders",
        default="id",
        help="comma-separated row orders: id (as generated, the default) and/or name (as SIS exports list)",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="cache of generated districts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each side, alternating; the best is shown (default 1)"
    )
    parser.add_argument(
        "--reader",
        action="store_true",
        help="also time the validator's reader alone (no checks): the floor of the ratio",
    )
    parser.add_argument("--child", nargs=2, metavar=("OPERATION", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0
    sizes = [s.strip().upper() for s in args.sizes.split(",") if s.strip()]
    from bench.district import SIZES

    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        print(f"error: unknown size {', '.join(unknown)}: use {', '.join(SIZES)}", file=sys.stderr)
        return 2
    orders = [o.strip().lower() for o in args.orders.split(",") if o.strip()]
    if not orders or any(o not in ORDERS for o in orders):
        print(f"error: --orders takes {', '.join(ORDERS)} (comma-separated)", file=sys.stderr)
        return 2
    if args.repeat < 1:
        print("error: --repeat must be at least 1", file=sys.stderr)
        return 2
    results = run(sizes, args.data, args.seed, repeat=args.repeat, orders=orders, reader=args.reader)
    print(table(results))
    print(json.dumps({"bench": "validate", "seed": args.seed, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
