"""``python -m sync.graphserver --port 0 --tenant PATH [--quota-scale F] [--faults SPEC] [--seed N]``."""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from pathlib import Path

from sync.errors import SyncError
from sync.graphserver.faults import FaultPlan
from sync.graphserver.server import GraphServer


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sync.graphserver",
        description="A Microsoft Graph-compatible server on 127.0.0.1 backed by a local tenant file.",
    )
    parser.add_argument("--tenant", required=True, type=Path, help="local tenant file (created if missing)")
    parser.add_argument("--port", type=_port, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--quota-scale", type=float, default=1.0, help="throttling budgets × F (default 1)")
    parser.add_argument(
        "--faults",
        default="",
        help="fault shares, e.g. 429=0.03,503=0.03,timeout=0.02,replication=0.02,applied-timeout=0.01 "
        "(applied-timeout: carried out, then answered as a timeout)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
    parser.add_argument(
        "--timeout-s", type=float, default=2.0, help="how long a timeout or applied-timeout fault holds (s)"
    )
    parser.add_argument(
        "--replication-ms", type=float, default=2000.0, help="age below which an object can be 'not found'"
    )
    return parser.parse_args(argv)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a TCP port: give 1 to 65535, or 0 for any free port"
        )
    return int(text)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        plan = FaultPlan.parse(args.faults, timeout_s=args.timeout_s, replication_ms=args.replication_ms)
        if not math.isfinite(args.quota_scale) or args.quota_scale <= 0:
            raise ValueError(f"--quota-scale must be positive, got {args.quota_scale}")
        if args.tenant.is_dir():
            raise ValueError(f"--tenant {args.tenant} is a folder: give the path of a tenant file in it")
        if not args.tenant.parent.is_dir():
            raise ValueError(f"--tenant {args.tenant}: the folder {args.tenant.parent} does not exist")
        server = GraphServer(
            args.tenant, quota_scale=args.quota_scale, faults=plan, seed=args.seed, port=args.port
        )
    except (ValueError, OSError) as err:
        print(f"graphserver: {err}", file=sys.stderr)
        return 2
    try:
        url = server.start()  # opens the tenant, then listens
    except SyncError as err:
        print(f"graphserver: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(
            f"graphserver: cannot listen on 127.0.0.1:{args.port}: {err.strerror or err}; "
            "give another --port, or 0 for any free port",
            file=sys.stderr,
        )
        return 2
    print(url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
