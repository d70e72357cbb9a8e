"""``python -m sync runs [--store DIR | --table-url URL] [--last N] [--format text|json]``: the last runs.

- ``--store DIR`` (default ``.sync/runs``): run records in a local folder, and the report folders that
  ``python -m sync run`` writes there.
- ``--table-url URL``: the Function App's run records in Azure Table storage, e.g.
  ``https://<account>.table.core.windows.net/runs``, read with your Azure sign-in (``az login``); with
  ``AZURE_STORAGE_CONNECTION_STRING`` set (Azurite), that connection is used and the URL names the table.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from sync.errors import UsageError
from sync.storage.run_records import FolderRunStore, RunRecord, RunStore, TableRunStore

DEFAULT_STORE = Path(".sync") / "runs"
_TEXT_COUNTS = ("users_created", "users_updated", "classes_created", "members_added", "members_removed")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("runs", help="list the last sync runs and their state")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--store", metavar="DIR", help=f"folder of run records (default: {DEFAULT_STORE})")
    where.add_argument("--table-url", metavar="URL", help="Azure Table of the Function App's run records")
    parser.add_argument("--last", metavar="N", type=_positive, default=10, help="how many runs (default: 10)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number greater than 0")
    return int(text)


def open_store(args: argparse.Namespace) -> RunStore:
    if args.table_url:
        return _table_store(args.table_url, os.environ.get("AZURE_STORAGE_CONNECTION_STRING"))
    if not args.store:
        return FolderRunStore(DEFAULT_STORE)  # nothing run here yet: "no runs yet"
    folder = Path(args.store)
    if not folder.exists():
        raise UsageError(
            f"--store {folder}: the folder does not exist; give the folder that `python -m sync run` "
            "writes its reports into (<tenant folder>/runs)"
        )
    if not folder.is_dir():
        raise UsageError(f"--store {folder} is a file, not a folder; give the folder of the run reports")
    return FolderRunStore(folder)


def _table_store(url: str, connection_string: str | None) -> RunStore:
    endpoint, _, table = url.rstrip("/").rpartition("/")
    if not url.startswith(("https://", "http://")) or not endpoint or not table:
        raise UsageError(
            f"--table-url {url!r}: give the table's URL, e.g. https://<account>.table.core.windows.net/runs"
        )
    from azure.data.tables import TableServiceClient

    if connection_string:
        return TableRunStore(TableServiceClient.from_connection_string(connection_string), table)
    if url.startswith("http://"):  # Azure sign-in only goes over HTTPS; plain HTTP is Azurite
        raise UsageError(
            f"--table-url {url!r}: an http:// table is read with a connection string; set "
            "AZURE_STORAGE_CONNECTION_STRING (UseDevelopmentStorage=true for Azurite) "
            "or give the https:// URL"
        )
    from azure.identity import DefaultAzureCredential

    return TableRunStore(TableServiceClient(endpoint, credential=DefaultAzureCredential()), table)


def run(args: argparse.Namespace) -> int:
    try:
        records = open_store(args).list_runs(limit=args.last)
    except UsageError:
        raise
    except Exception as err:  # the SDK's errors: say where, not a traceback
        raise UsageError(
            f"cannot read run records: {type(err).__name__}: {str(err).splitlines()[0]}"
        ) from err
    if args.format == "json":
        print(json.dumps([record.to_json() for record in records], indent=2, sort_keys=True))
    else:
        print(format_text(records))
    return 0


def format_text(records: list[RunRecord]) -> str:
    if not records:
        return "no runs yet"
    header = ["started (UTC)", "status", "trigger", "duration", *_TEXT_COUNTS, "errors", "warnings", "run"]
    rows = [header]
    for record in records:
        duration = f"{record.duration_s:.0f} s" if record.duration_s is not None else "-"
        rows.append(
            [
                record.started_at.strftime("%Y-%m-%d %H:%M"),
                record.status,
                record.trigger,
                duration,
                *(str(record.counts.get(key, 0)) for key in _TEXT_COUNTS),
                str(record.counts.get("findings_errors", 0)),
                str(record.counts.get("findings_warnings", 0)),
                record.run_id,
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )
