"""``python -m sync <command>``: the command line. Each command lives in ``sync/commands/<name>.py`` and
exposes ``register(subparsers)`` which adds its parser with ``set_defaults(handler=...)``; a handler takes
the parsed arguments and returns the exit status (0 ok, 1 records dropped, 2 failed or bad usage)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from sync.errors import SyncError
from sync.profile import ProfileError
from sync.telemetry import URL_LOGGERS

COMMAND_MODULES = (
    "sync.commands.validate",
    "sync.commands.sync_run",
    "sync.commands.runs",
)
#: Exit status of a command whose output pipe was closed (128 + SIGPIPE), as the shell reports it.
SIGPIPE_STATUS = 141


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m sync", description="Clever roster → Microsoft Entra ID / Microsoft 365.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        status: int = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's flush at exit
    except BrokenPipeError:
        return _stdout_closed()
    except (SyncError, ProfileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return status


def configure_logging(verbose: int) -> None:
    """``-v`` INFO, ``-vv`` DEBUG. The loggers of request URLs (:data:`sync.telemetry.URL_LOGGERS`) stay at
    WARNING below ``-vv``: a Graph look-up's URL holds a student's UPN, and nothing above DEBUG may."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for name in URL_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)


def _stdout_closed() -> int:
    """The reader of stdout went away (``python -m sync runs | head``): stop quietly, as a command killed
    by SIGPIPE would (status 141), with stdout pointed at devnull so the flush at exit does not fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor behind stdout (an embedding, a test)
        pass
    return SIGPIPE_STATUS
