"""App settings of the Azure Functions app, read once at start-up and injected everywhere else.

:meth:`Settings.from_env` checks every setting and raises one :class:`~sync.errors.SettingsError` that lists
all missing or invalid ones, so an operator fixes the app configuration in one pass.

Storage is reached with an identity in Azure (``AzureWebJobsStorage__blobServiceUri``,
``__queueServiceUri`` and ``__tableServiceUri``, optionally ``AzureWebJobsStorage__clientId`` for a
user-assigned identity) or, for local development against Azurite only, with a connection string in
``AzureWebJobsStorage`` (``UseDevelopmentStorage=true``). No key is ever written in code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sync.directory.factory import tenant_spec_problem
from sync.errors import SettingsError

_CONTAINER = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_TABLE = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")
_TASK_HUB = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,44}$")
_NCRONTAB_FIELDS = 6

DEFAULT_SET_WAIT_MINUTES = 60.0
DEFAULT_GRAPH_QUOTA_SCALE = 1.0
DEFAULT_APPLY_CHUNK_OPERATIONS = 200
DEFAULT_APPROVAL_TIMEOUT_HOURS = 72.0
DEFAULT_QUEUE_POLL_SECONDS = 60.0
DEFAULT_QUEUE_MAX_HOURS = 6.0
DEFAULT_SLOT_STALE_HOURS = 96.0
#: How the upload trigger learns of new blobs: Event Grid (Azure; Flex Consumption has no other way) or
#: scanning the container (Azurite, which has no Event Grid). The values of ``azure.functions.BlobSource``.
UPLOAD_TRIGGER_SOURCES = ("EventGrid", "LogsAndContainerScan")
DEFAULT_UPLOAD_TRIGGER_SOURCE = "EventGrid"
#: ``SYNC_MEMORY_CHECK``: ``on`` fails a run at once when making or applying its plan would not fit in the
#: instance's memory; ``off`` goes on anyway.
MEMORY_CHECK_CHOICES = ("on", "off")
DEFAULT_MEMORY_CHECK = "on"


def upload_trigger_source(environ: Mapping[str, str]) -> str:
    """``UPLOAD_TRIGGER_SOURCE`` as the app registers its upload trigger when it is imported: the setting,
    or the default when it is unset or invalid (:meth:`Settings.from_env` reports an invalid one together
    with every other problem)."""
    value = environ.get("UPLOAD_TRIGGER_SOURCE", "").strip()
    return value if value in UPLOAD_TRIGGER_SOURCES else DEFAULT_UPLOAD_TRIGGER_SOURCE


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """How to reach the storage account: a connection string (local dev) or service URIs + identity."""

    connection_string: str | None = None
    blob_service_uri: str | None = None
    table_service_uri: str | None = None
    #: Client id of a user-assigned managed identity; ``None`` = the default credential chain.
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    upload_container: str
    reports_container: str
    runs_table: str
    #: ``(container, path)`` of the sync profile TOML.
    profile_blob: tuple[str, str]
    #: NCRONTAB expression of the nightly run (the timer trigger reads it as ``%SYNC_SCHEDULE%``).
    schedule: str
    #: How long a partial file set may wait for its other files before it is reported ``missing_file``.
    set_wait_minutes: float
    #: ``graph``, ``graph:<tenant id or domain>``, ``graph:https://…`` (a Graph endpoint; ``http`` only to
    #: the local Graph server on a loopback address) or a local tenant path.
    tenant: str
    #: Share of the Graph write quota (20 writes/s per app and tenant) this app may use: at most 1 against
    #: Microsoft Graph; larger only against the local Graph server, whose quota scales the same way.
    graph_quota_scale: float
    #: Operations per apply activity.
    apply_chunk_operations: int
    #: How long a held run waits for an approval before it ends unapplied.
    approval_timeout_hours: float
    storage: StorageSettings
    #: Durable Functions task hub (host.json reads it as ``%DURABLE_TASK_HUB%``).
    task_hub: str = "SyncHub"
    app_insights_connection_string: str | None = None
    #: Managed identity (client id) for Entra ID-authenticated ingestion, from
    #: ``APPLICATIONINSIGHTS_AUTHENTICATION_STRING`` (``ClientId=<id>;Authorization=AAD``).
    app_insights_client_id: str | None = None
    #: How often a run queued behind another one asks again for the tenant's sync slot.
    queue_poll_seconds: float = DEFAULT_QUEUE_POLL_SECONDS
    #: How long a run waits for the sync slot before it ends ``failed``.
    queue_max_hours: float = DEFAULT_QUEUE_MAX_HOURS
    #: A slot taken longer ago than this is taken over (its holder crashed); longer than any run, including
    #: its wait for an approval.
    slot_stale_hours: float = DEFAULT_SLOT_STALE_HOURS
    #: One of :data:`UPLOAD_TRIGGER_SOURCES`.
    upload_trigger_source: str = DEFAULT_UPLOAD_TRIGGER_SOURCE
    #: Fail a run before planning (or applying) when the estimated memory exceeds the instance's
    #: (``SYNC_MEMORY_CHECK``).
    memory_check: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read and check every setting; raise :class:`SettingsError` listing all problems at once."""
        reader = _Reader(environ)
        upload = reader.container("UPLOAD_CONTAINER")
        reports = reader.container("REPORTS_CONTAINER")
        table = reader.table("RUNS_TABLE")
        profile_blob = reader.blob_path("SYNC_PROFILE_BLOB")
        schedule = reader.schedule("SYNC_SCHEDULE")
        wait = reader.positive_float("SET_WAIT_MINUTES", DEFAULT_SET_WAIT_MINUTES)
        tenant = reader.tenant("SYNC_TENANT")
        scale = reader.positive_float("GRAPH_QUOTA_SCALE", DEFAULT_GRAPH_QUOTA_SCALE)
        chunk = reader.positive_int("APPLY_CHUNK_OPERATIONS", DEFAULT_APPLY_CHUNK_OPERATIONS)
        approval = reader.positive_float("APPROVAL_TIMEOUT_HOURS", DEFAULT_APPROVAL_TIMEOUT_HOURS)
        poll = reader.positive_float("SYNC_QUEUE_POLL_SECONDS", DEFAULT_QUEUE_POLL_SECONDS)
        queue_max = reader.positive_float("SYNC_QUEUE_MAX_HOURS", DEFAULT_QUEUE_MAX_HOURS)
        stale = reader.positive_float("SYNC_SLOT_STALE_HOURS", DEFAULT_SLOT_STALE_HOURS)
        if stale <= approval:
            reader.problems.append(
                (
                    "SYNC_SLOT_STALE_HOURS",
                    f"{stale:g} must be longer than APPROVAL_TIMEOUT_HOURS ({approval:g}): a held run keeps "
                    "the sync slot while it waits for an approval",
                )
            )
        storage = reader.storage("AzureWebJobsStorage")
        task_hub = reader.task_hub("DURABLE_TASK_HUB")
        insights = reader.optional("APPLICATIONINSIGHTS_CONNECTION_STRING")
        insights_client = reader.client_id_of("APPLICATIONINSIGHTS_AUTHENTICATION_STRING")
        trigger_source = reader.choice(
            "UPLOAD_TRIGGER_SOURCE",
            UPLOAD_TRIGGER_SOURCES,
            DEFAULT_UPLOAD_TRIGGER_SOURCE,
            hint="use EventGrid (Azure) or LogsAndContainerScan (Azurite, which has no Event Grid)",
        )
        memory_check = reader.choice(
            "SYNC_MEMORY_CHECK",
            MEMORY_CHECK_CHOICES,
            DEFAULT_MEMORY_CHECK,
            hint="use on (the default: a run whose plan would not fit in the instance's memory fails at "
            "once) or off (plan anyway)",
        )
        if reader.problems:
            raise SettingsError(reader.problems)
        return cls(
            upload_container=upload,
            reports_container=reports,
            runs_table=table,
            profile_blob=profile_blob,
            schedule=schedule,
            set_wait_minutes=wait,
            tenant=tenant,
            graph_quota_scale=scale,
            apply_chunk_operations=chunk,
            approval_timeout_hours=approval,
            storage=storage,
            task_hub=task_hub,
            app_insights_connection_string=insights,
            app_insights_client_id=insights_client,
            queue_poll_seconds=poll,
            queue_max_hours=queue_max,
            slot_stale_hours=stale,
            upload_trigger_source=trigger_source,
            memory_check=memory_check == "on",
        )


class _Reader:
    """Collects problems instead of raising at the first one; returns a placeholder for a bad value."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[tuple[str, str]] = []

    def optional(self, key: str) -> str | None:
        value = self.environ.get(key, "").strip()
        return value or None

    def required(self, key: str, what: str) -> str | None:
        value = self.optional(key)
        if value is None:
            self.problems.append((key, f"missing; set it to {what}"))
        return value

    def task_hub(self, key: str) -> str:
        value = self.required(key, "a Durable Functions task hub name, e.g. SyncHub")
        if value is not None and not _TASK_HUB.match(value):
            self.problems.append(
                (key, f"{value!r} is not a task hub name (3-45 letters and digits, a letter first)")
            )
        return value or ""

    def client_id_of(self, key: str) -> str | None:
        raw = self.optional(key)
        if raw is None:
            return None
        parts = dict(part.split("=", 1) for part in raw.split(";") if "=" in part)
        if parts.get("Authorization") != "AAD":
            self.problems.append((key, "expected 'ClientId=<client id>;Authorization=AAD'"))
        return parts.get("ClientId")

    def container(self, key: str) -> str:
        value = self.required(key, "a blob container name")
        if value is not None and not _CONTAINER.match(value):
            self.problems.append(
                (
                    key,
                    f"{value!r} is not a container name (3-63 lowercase letters, digits and single hyphens)",
                )
            )
        return value or ""

    def table(self, key: str) -> str:
        value = self.required(key, "a table name")
        if value is not None and not _TABLE.match(value):
            self.problems.append(
                (key, f"{value!r} is not a table name (3-63 letters and digits, a letter first)")
            )
        return value or ""

    def blob_path(self, key: str) -> tuple[str, str]:
        value = self.required(key, "<container>/<path> of the sync profile TOML, e.g. config/profile.toml")
        if value is None:
            return ("", "")
        container, _, path = value.partition("/")
        if not _CONTAINER.match(container) or not path or path.endswith("/"):
            self.problems.append((key, f"{value!r} is not <container>/<path>, e.g. config/profile.toml"))
        return (container, path)

    def schedule(self, key: str) -> str:
        value = self.required(key, "an NCRONTAB expression, e.g. '0 0 2 * * *' for 02:00 every day")
        if value is not None and len(value.split()) != _NCRONTAB_FIELDS:
            self.problems.append(
                (
                    key,
                    f"{value!r} is not an NCRONTAB expression of 6 fields "
                    "(second minute hour day month weekday)",
                )
            )
        return value or ""

    def tenant(self, key: str) -> str:
        value = self.required(
            key,
            "'graph', 'graph:<tenant id or domain>', 'graph:https://<endpoint>/v1.0' or a local tenant path",
        )
        problem = tenant_spec_problem(value) if value is not None else None
        if problem is not None:  # a typo would otherwise sync into a local tenant file named after it
            self.problems.append((key, problem))
        return value or ""

    def positive_float(self, key: str, default: float, *, maximum: float | None = None) -> float:
        raw = self.optional(key)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not 0 < value < math.inf or (maximum is not None and value > maximum):
            limit = f" and at most {maximum:g}" if maximum is not None else ""
            self.problems.append((key, f"{raw!r} is not a number greater than 0{limit}"))
            return default
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str, *, hint: str) -> str:
        value = self.optional(key)
        if value is None:
            return default
        if value not in choices:
            self.problems.append((key, f"{value!r} is not a choice: {hint}"))
            return default
        return value

    def positive_int(self, key: str, default: int) -> int:
        raw = self.optional(key)
        if raw is None:
            return default
        if not raw.isdigit() or int(raw) == 0:
            self.problems.append((key, f"{raw!r} is not a whole number greater than 0"))
            return default
        return int(raw)

    def storage(self, key: str) -> StorageSettings:
        connection = self.optional(key)
        # The app uses the blobs and tables, the Durable task hub the queues too.
        uris = {
            service: self.optional(f"{key}__{service}ServiceUri") for service in ("blob", "queue", "table")
        }
        account = self.optional(f"{key}__accountName")
        if account is not None:
            uris = {
                service: uri or f"https://{account}.{service}.core.windows.net"
                for service, uri in uris.items()
            }
        if connection is not None:
            return StorageSettings(connection_string=connection)
        if all(uri is None for uri in uris.values()):
            self.problems.append(
                (
                    key,
                    f"missing; set {key}__blobServiceUri, {key}__queueServiceUri and {key}__tableServiceUri "
                    f"(or {key}__accountName) for an identity-based connection, or "
                    f"{key}=UseDevelopmentStorage=true for Azurite",
                )
            )
            return StorageSettings()
        for service, uri in uris.items():
            name = f"{key}__{service}ServiceUri"
            if uri is None:
                self.problems.append((name, f"missing; the {service} endpoint of the storage account"))
            elif not re.match(r"^https?://\S+$", uri):
                self.problems.append((name, f"{uri!r} is not an http(s) URL"))
        return StorageSettings(
            blob_service_uri=uris["blob"],
            table_service_uri=uris["table"],
            client_id=self.optional(f"{key}__clientId"),
        )
