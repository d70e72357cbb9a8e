"""Storage clients built from :class:`~sync.settings.StorageSettings`.

In Azure the app reaches storage with its managed identity (``DefaultAzureCredential``, or
``ManagedIdentityCredential(client_id=…)`` for a user-assigned identity); locally a connection string for
Azurite. SDK imports stay inside the functions so that importing this module costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sync.errors import SettingsError
from sync.settings import StorageSettings

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient


def _credential(settings: StorageSettings) -> Any:
    if settings.client_id:
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=settings.client_id)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def blob_service(settings: StorageSettings) -> BlobServiceClient:
    from azure.storage.blob import BlobServiceClient

    if settings.connection_string:
        return BlobServiceClient.from_connection_string(settings.connection_string)
    if not settings.blob_service_uri:
        raise SettingsError([("AzureWebJobsStorage__blobServiceUri", "missing")])
    return BlobServiceClient(settings.blob_service_uri, credential=_credential(settings))


def table_service(settings: StorageSettings) -> TableServiceClient:
    from azure.data.tables import TableServiceClient

    if settings.connection_string:
        return TableServiceClient.from_connection_string(settings.connection_string)
    if not settings.table_service_uri:
        raise SettingsError([("AzureWebJobsStorage__tableServiceUri", "missing")])
    return TableServiceClient(settings.table_service_uri, credential=_credential(settings))
