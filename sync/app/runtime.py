"""Everything the app's functions share, built once from :class:`~sync.settings.Settings`: storage adapters,
the run store, telemetry and how to open the directory. Tests build one with in-process fakes or Azurite."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sync.directory.model import Directory
from sync.settings import Settings
from sync.storage.blob_store import BlobStore
from sync.storage.clients import blob_service, table_service
from sync.storage.run_records import RunStore, TableRunStore
from sync.telemetry import Telemetry, configure

DirectoryOpener = Callable[[str], Directory]


def default_directory_opener(tenant: str) -> Directory:
    from sync.directory.factory import open_directory

    return open_directory(tenant)


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    blobs: BlobStore
    runs: RunStore
    telemetry: Telemetry
    #: Environment of the app (only the Clever API source reads a token setting from it).
    environ: Mapping[str, str] = field(default_factory=dict)
    open_directory: DirectoryOpener = default_directory_opener
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("sync.app"))
    #: Per-process cache of expensive objects (the open directory, the last plan read).
    cache: dict[str, Any] = field(default_factory=dict)

    def directory(self) -> Directory:
        """The directory of ``SYNC_TENANT``, opened once per process."""
        if "directory" not in self.cache:
            self.cache["directory"] = self.open_directory(self.settings.tenant)
        directory: Directory = self.cache["directory"]
        return directory

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        environ: Mapping[str, str],
        open_directory: DirectoryOpener = default_directory_opener,
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
