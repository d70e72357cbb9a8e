"""A validated roster kept between activities as Arrow IPC blobs (one per table), without passwords.

The plan activity reads it instead of validating the set a second time; passwords stay only in the upload
(an apply activity that creates accounts with roster passwords reads them from the set itself).
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from sync.roster.model import Roster
from sync.storage.blob_store import BlobStore

SECRET_COLUMNS = frozenset({"Password"})


def _without_secrets(table: pa.Table) -> pa.Table:
    return table.drop_columns([name for name in table.column_names if name in SECRET_COLUMNS])


def write_roster(blobs: BlobStore, container: str, prefix: str, roster: Roster) -> str:
    """Store every table of ``roster`` under ``prefix``; return the prefix (the roster's reference)."""
    for item in dataclasses.fields(Roster):
        table = _without_secrets(getattr(roster, item.name))
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        blobs.write_bytes(
            container,
            f"{prefix}/{item.name}.arrow",
            sink.getvalue().to_pybytes(),
            content_type="application/vnd.apache.arrow.stream",
        )
    return prefix


def read_roster(blobs: BlobStore, container: str, prefix: str) -> Roster:
    tables = {}
    for item in dataclasses.fields(Roster):
        data = blobs.read_bytes(container, f"{prefix}/{item.name}.arrow")
        tables[item.name] = pa.ipc.open_stream(pa.BufferReader(data)).read_all()
    return Roster(**tables)
