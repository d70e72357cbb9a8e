"""The upload trigger's argument as the Functions worker builds it, and a client that shows it is never read.

``on_upload`` is an SDK-type binding: the host sends a *reference* to the blob (``model_binding_data``:
connection name, container, blob name) and the worker's blob extension turns it into an
``azure.storage.blob.BlobClient``. :func:`worker_blob_client` does that step exactly as the worker does;
:class:`ReferenceOnlyBlobClient` is a real client on Azurite that records every request it makes and refuses
to download, for the tests that fire the trigger.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import azurefunctions.extensions.bindings.blob as blob
from azure.core.pipeline.transport import HttpRequest, HttpResponse, RequestsTransport
from azure.storage.blob import BlobClient
from azurefunctions.extensions.base import Datum

from sync.app.runtime import Runtime
from tests.app.app_functions import user_functions


@dataclass(frozen=True, slots=True)
class ModelBindingData:
    """The host's reference to a blob for an SDK-type binding (the fields the worker reads)."""

    version: str
    source: str
    content_type: str
    content: str


def host_reference(container: str, blob_name: str, *, connection: str = "AzureWebJobsStorage") -> Datum:
    """What the host sends for the trigger's ``upload`` parameter: names only, no content."""
    content = json.dumps({"Connection": connection, "ContainerName": container, "BlobName": blob_name})
    data = ModelBindingData("1.0", "AzureStorageBlobs", "application/json", content)
    return Datum(data, "model_binding_data")


def worker_blob_client(reference: Datum) -> BlobClient:
    """The object the worker passes for a ``blob.BlobClient`` parameter (its connection read from the
    environment, as in the host)."""
    client: BlobClient = blob.BlobClientConverter.decode(
        reference, trigger_metadata={}, pytype=blob.BlobClient
    )
    return client


class RecordingTransport(RequestsTransport):
    """The usual HTTP transport, remembering each request's method and URL."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str]] = []

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        self.requests.append((request.method, request.url))
        return super().send(request, **kwargs)


class ReferenceOnlyBlobClient(BlobClient):
    """A real ``BlobClient`` on Azurite whose downloads fail and whose requests are recorded."""

    recorder: RecordingTransport

    @classmethod
    def on(cls, connection_string: str, container: str, blob_name: str) -> ReferenceOnlyBlobClient:
        recorder = RecordingTransport()
        client = cls.from_connection_string(connection_string, container, blob_name, transport=recorder)
        client.recorder = recorder
        return client

    def download_blob(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the upload trigger downloaded {self.container_name}/{self.blob_name}")

    def content_reads(self) -> list[str]:
        """URLs of the requests that read the blob's content: a GET of the blob itself (a GET with ``comp=``
        reads metadata, tags or the block list; a HEAD reads properties)."""
        reads = []
        for method, url in self.recorder.requests:
            parts = urlsplit(url)
            if method == "GET" and parts.path == urlsplit(self.url).path and "comp=" not in parts.query:
                reads.append(url)
        return reads


def fire_upload(runtime: Runtime, durable: Any, path: str) -> ReferenceOnlyBlobClient:
    """Fire the app's blob trigger for ``path`` (already in the upload container), as the host would after
    an upload; returns the client it was handed."""
    connection_string = runtime.settings.storage.connection_string
    assert connection_string is not None, "the tests run the app on Azurite, with a connection string"
    upload = ReferenceOnlyBlobClient.on(connection_string, runtime.settings.upload_container, path)
    asyncio.run(user_functions()["on_upload"].client_function(upload=upload, client=durable))
    return upload
