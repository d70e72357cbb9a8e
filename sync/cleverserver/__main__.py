"""``python -m sync.cleverserver --district DIR [--port N] [--token T] [--rate-limit N]``.

Serves the Clever CSV set in ``DIR`` (e.g. ``examples/district`` or one made by ``python -m bench.district``)
as the Clever Data API on 127.0.0.1, prints the base URL, and runs until interrupted. Point a profile's
``clever.base_url`` at it and put the token in the app setting its ``clever.token_setting`` names.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from sync.cleverserver.server import DEFAULT_TOKEN, CleverServer
from sync.errors import SyncError

MAX_PORT = 65535


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, exit 2 (argparse's own adds the usage)."""
        self.exit(2, f"error: {message} (see --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="python -m sync.cleverserver", description=__doc__.split("\n")[0])
    parser.add_argument("--district", required=True, metavar="DIR", help="folder of Clever CSV files")
    parser.add_argument("--port", type=_port, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument(
        "--token", default=DEFAULT_TOKEN, help=f"bearer token to accept (default {DEFAULT_TOKEN})"
    )
    parser.add_argument(
        "--rate-limit", type=_positive, default=1200, metavar="N", help="requests per minute (at least 1)"
    )
    args = parser.parse_args(argv)
    folder = Path(args.district)
    if not (folder / "schools.csv").is_file():
        print(f"error: {folder} holds no schools.csv: give a folder of Clever CSV files", file=sys.stderr)
        return 2
    try:
        server = CleverServer(folder, token=args.token, port=args.port, rate_limit_per_min=args.rate_limit)
        url = server.start()
    except SyncError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: cannot serve on 127.0.0.1:{args.port}: {err.strerror or err}", file=sys.stderr)
        return 2
    print(url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > MAX_PORT:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number from 0 to {MAX_PORT}")
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number greater than 0")
    return int(text)


if __name__ == "__main__":
    raise SystemExit(main())
