"""Stress script (not a test): run ``python -m sync validate`` many times and count crashes at exit.

``python3 -m tests.roster.stress_validate [--runs 150] [--data /tmp/roster-stress] [--size S] [--extra DIR]…``

A few small districts are generated once (a clean one and defective ones: ``missing_header``,
``malformed_row``, ``invalid_encoding``, ``line_break_in_value``), then validated round-robin, each in a
fresh process. A run that ends by a signal (``terminate called without an active exception`` is SIGABRT,
exit 134) counts as a crash; its stderr tail is printed. The script prints one JSON line with the counts.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SETS: dict[str, tuple[str, ...]] = {
    "clean": (),
    "missing_header": ("missing_header=2",),
    "malformed": ("malformed_row=5", "line_break_in_value=3"),
    "encoding": ("invalid_encoding=1", "missing_value=4"),
}


def generate(data: Path, size: str) -> list[Path]:
    folders = []
    for name, defects in SETS.items():
        folder = data / f"{size}-{name}"
        marker = data / f"{size}-{name}.complete"
        if not marker.exists():
            args = [sys.executable, "-m", "bench.district", str(folder), "--size", size]
            for defect in defects:
                args += ["--defect", defect]
            subprocess.run(args, cwd=REPO, check=True, capture_output=True)
            marker.write_text("ok\n")
        folders.append(folder)
    return folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=150)
    parser.add_argument("--data", type=Path, default=Path("/tmp/roster-stress"))
    parser.add_argument("--size", default="S")
    parser.add_argument("--extra", type=Path, action="append", default=[], help="another set to validate")
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    folders = [*generate(args.data, args.size), *args.extra]
    codes: collections.Counter[int] = collections.Counter()
    crashes = 0
    start = time.perf_counter()
    for run in range(args.runs):
        folder = folders[run % len(folders)]
        done = subprocess.run(
            [sys.executable, "-m", "sync", "validate", str(folder), "--format", "json"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        code = done.returncode if done.returncode >= 0 else 128 - done.returncode
        codes[code] += 1
        if code >= 128:
            crashes += 1
            tail = done.stderr.strip().splitlines()[-3:]
            print(f"run {run} ({folder.name}): exit {code}: {' | '.join(tail)}", flush=True)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "runs": args.runs,
                "crashes": crashes,
                "exit_codes": dict(sorted(codes.items())),
                "seconds": round(seconds, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
