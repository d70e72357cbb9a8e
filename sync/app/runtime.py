"""Everything the app's functions share, built once from :class:`~sync.settings.Settings`: storage adapters,
the run store, telemetry and how to open the directory. Tests build one with in-process fakes or Azurite."""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from sync.app.instance_memory import MemoryLimitReader, read_memory_limit
from sync.app.orchestration import RunOptions
from sync.directory.model import Directory
from sync.settings import Settings
from sync.storage.blob_store import BlobStore
from sync.storage.clients import blob_service, table_service
from sync.storage.run_records import RunStore, TableRunStore
from sync.storage.sync_slot import BlobSyncSlot, SyncSlot
from sync.telemetry import Telemetry, configure


class DirectoryOpener(Protocol):
    """Opens the tenant ``SYNC_TENANT`` names; ``low_priority`` marks its Graph requests
    ``x-ms-throttle-priority: low`` (a local tenant has no priorities)."""

    def __call__(self, tenant: str, *, low_priority: bool) -> Directory: ...


def settings_directory_opener(settings: Settings) -> DirectoryOpener:
    """Opens ``SYNC_TENANT``: Graph with its delta cache in the temporary folder (the app's own folder is
    read-only in Azure), or a local tenant file.

    Pacing is per process and up to ``RunOptions.parallel_chunks`` apply activities run at once, possibly on
    different instances; each one paces to its share of the quota so that together they never exceed it."""

    def open_tenant(tenant: str, *, low_priority: bool) -> Directory:
        from sync.directory.factory import is_graph_spec, open_directory

        if is_graph_spec(tenant):
            from sync.directory.graph import open_graph_directory

            cache = Path(tempfile.gettempdir()) / "sync-graph-cache"
            share = settings.graph_quota_scale / RunOptions().parallel_chunks
            return open_graph_directory(tenant, cache_dir=cache, quota_scale=share, low_priority=low_priority)
        return open_directory(tenant)

    return open_tenant


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    blobs: BlobStore
    runs: RunStore
    telemetry: Telemetry
    #: Environment of the app (only the Clever API source reads a token setting from it).
    environ: Mapping[str, str] = field(default_factory=dict)
    open_directory: DirectoryOpener | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("sync.app"))
    #: Per-process cache of expensive objects (the open directory, the last plan read).
    cache: dict[str, Any] = field(default_factory=dict)
    #: The tenant's sync slot; ``None`` = the slot blob in ``REPORTS_CONTAINER``.
    slot: SyncSlot | None = None
    #: The instance's memory limit in bytes (``None``: unknown), read before each plan.
    memory_limit: MemoryLimitReader = read_memory_limit
    _directory_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def sync_slot(self) -> SyncSlot:
        """The tenant's sync slot (one run plans and applies at a time)."""
        if self.slot is not None:
            return self.slot
        stale = timedelta(hours=self.settings.slot_stale_hours)
        return BlobSyncSlot(self.blobs, self.settings.reports_container, stale_after=stale)

    def directory(self, *, low_priority: bool = False) -> Directory:
        """The directory of ``SYNC_TENANT``, opened once per process with the Graph priority of the run that
        asks for it (runs started by the nightly timer: low). A run asking for the other priority closes it
        and opens it again: runs of a tenant never overlap (the sync slot), so that happens between runs."""
        with self._directory_lock:
            directory: Directory | None = self.cache.get("directory")
            if directory is not None and self.cache.get("directory_low_priority") == low_priority:
                return directory
            if directory is not None:
                self.close_directory()
            opener = self.open_directory or settings_directory_opener(self.settings)
            directory = opener(self.settings.tenant, low_priority=low_priority)
            self.cache["directory"], self.cache["directory_low_priority"] = directory, low_priority
            return directory

    def close_directory(self) -> None:
        """Close the open directory, if any (Graph: its connections and delta cache)."""
        directory = self.cache.pop("directory", None)
        self.cache.pop("directory_low_priority", None)
        close = getattr(directory, "close", None)
        if close is not None:
            close()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        environ: Mapping[str, str],
        open_directory: DirectoryOpener | None = None,
    ) -> Runtime:
        return cls(
            settings=settings,
            blobs=BlobStore(blob_service(settings.storage)),
            runs=TableRunStore(table_service(settings.storage), settings.runs_table),
            telemetry=configure(
                settings.app_insights_connection_string, client_id=settings.app_insights_client_id
            ),
            environ=environ,
            open_directory=open_directory,
        )
