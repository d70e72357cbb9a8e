"""Blob storage as the app uses it: folders of uploaded files with their ETags, small documents (plans,
reports, findings written beside an upload) and create-once claims.

Every method takes a container and a path, so callers pass *references* (strings), never data held
elsewhere. Errors become :class:`~sync.errors.SourceError` with the container and path in the message.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from sync.errors import SourceError

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient


class BlobMissing(SourceError):
    """A blob the run needs does not exist (deleted since the run started): trying again cannot help."""


class BlobChanged(SourceError):
    """A blob changed while the run was reading it: the new version starts its own run."""


@dataclass(frozen=True, slots=True)
class Versioned:
    """A blob's content and the ETag of that version (for a conditional replace or delete)."""

    data: bytes
    etag: str


@dataclass(frozen=True, slots=True)
class BlobInfo:
    name: str
    etag: str
    last_modified: datetime
    size: int


class BlobStore:
    """Thin, typed wrapper over ``BlobServiceClient``."""

    def __init__(self, service: BlobServiceClient) -> None:
        self._service = service
        self._known_containers: set[str] = set()

    def ensure_container(self, container: str) -> None:
        """Create ``container`` if it does not exist (an existing one is fine)."""
        if container in self._known_containers:
            return
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            self._service.create_container(container)
        self._known_containers.add(container)

    def list_folder(self, container: str, folder: str) -> dict[str, BlobInfo]:
        """The blobs directly inside ``folder`` (not in sub-folders), keyed by their file name; empty when the
        container does not exist."""
        from azure.core.exceptions import ResourceNotFoundError
        from azure.storage.blob import BlobPrefix

        prefix = f"{folder}/" if folder else ""
        client = self._service.get_container_client(container)
        found: dict[str, BlobInfo] = {}
        try:
            for item in client.walk_blobs(name_starts_with=prefix or None, delimiter="/"):
                if isinstance(item, BlobPrefix):
                    continue  # a sub-folder
                name = str(item.name)
                found[name[len(prefix) :]] = BlobInfo(
                    name=name, etag=str(item.etag), last_modified=item.last_modified, size=int(item.size)
                )
        except ResourceNotFoundError:
            return {}
        return found

    def list_names(self, container: str, prefix: str) -> list[str]:
        """Names of the blobs under ``prefix``, sorted; empty when the container does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        client = self._service.get_container_client(container)
        try:
            return sorted(str(item.name) for item in client.list_blobs(name_starts_with=prefix))
        except ResourceNotFoundError:
            return []

    def read_bytes(self, container: str, path: str, *, etag: str | None = None) -> bytes:
        """The blob's content. With ``etag``, only that version: a blob changed since is an error."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceModifiedError, ResourceNotFoundError

        blob = self._service.get_blob_client(container, path)
        options: dict[str, Any] = {}
        if etag is not None:
            options = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        try:
            return bytes(blob.download_blob(**options).readall())
        except ResourceNotFoundError as err:
            raise BlobMissing(f"blob {container}/{path} does not exist; upload it and try again") from err
        except ResourceModifiedError as err:
            raise BlobChanged(
                f"blob {container}/{path} changed while the run was reading it; "
                "the new version starts its own run"
            ) from err
        except HttpResponseError as err:
            raise SourceError(f"cannot read blob {container}/{path}: {err.reason}") from err

    def read_text(self, container: str, path: str, *, etag: str | None = None) -> str:
        return self.read_bytes(container, path, etag=etag).decode("utf-8")

    def read_json(self, container: str, path: str) -> Any:
        return json.loads(self.read_bytes(container, path))

    def exists(self, container: str, path: str) -> bool:
        return bool(self._service.get_blob_client(container, path).exists())

    def write_bytes(self, container: str, path: str, data: bytes, *, content_type: str) -> str:
        """Write (or overwrite) a blob; return its new ETag."""
        return self.write_stream(container, path, data, content_type=content_type)

    def write_stream(
        self, container: str, path: str, data: bytes | Iterable[bytes] | IO[bytes], *, content_type: str
    ) -> str:
        """Write (or overwrite) a blob from bytes, chunks of bytes or an open binary file (read from its
        current position); chunks and files go up in blocks as they come, never whole in memory. Return the
        blob's new ETag."""
        from azure.storage.blob import ContentSettings

        self.ensure_container(container)
        blob = self._service.get_blob_client(container, path)
        result = blob.upload_blob(
            data, overwrite=True, content_settings=ContentSettings(content_type=content_type)
        )
        return str(result["etag"])

    def write_text(self, container: str, path: str, text: str, *, content_type: str = "text/plain") -> str:
        return self.write_bytes(
            container, path, text.encode("utf-8"), content_type=f"{content_type}; charset=utf-8"
        )

    def write_json(self, container: str, path: str, data: Mapping[str, Any] | list[Any]) -> str:
        text = json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        return self.write_text(container, path, text, content_type="application/json")

    def create_once(self, container: str, path: str, data: bytes = b"") -> bool:
        """Create ``path`` only if it does not exist: ``True`` for the one caller that created it.

        Storage decides (a conditional ``If-None-Match: *`` write), so concurrent callers in other processes
        agree on a single winner.
        """
        from azure.core.exceptions import ResourceExistsError

        self.ensure_container(container)
        blob = self._service.get_blob_client(container, path)
        try:
            blob.upload_blob(data, overwrite=False)
        except ResourceExistsError:
            return False
        return True

    def read_versioned(self, container: str, path: str) -> Versioned | None:
        """The blob's content with its ETag; ``None`` when it does not exist."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        blob = self._service.get_blob_client(container, path)
        try:
            download = blob.download_blob()
            return Versioned(bytes(download.readall()), str(download.properties.etag))
        except ResourceNotFoundError:
            return None
        except HttpResponseError as err:
            raise SourceError(f"cannot read blob {container}/{path}: {err.reason}") from err

    def replace_if(self, container: str, path: str, data: bytes, *, etag: str) -> bool:
        """Overwrite the blob only if it is still the version ``etag`` (``If-Match``): ``True`` when it was.
        Of concurrent callers holding the same ETag, storage lets exactly one through."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        blob = self._service.get_blob_client(container, path)
        try:
            blob.upload_blob(data, overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    def delete_if(self, container: str, path: str, *, etag: str) -> bool:
        """Delete the blob only if it is still the version ``etag``: ``True`` when this call deleted it."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        blob = self._service.get_blob_client(container, path)
        try:
            blob.delete_blob(etag=etag, match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    def delete(self, container: str, path: str) -> None:
        """Delete a blob; an absent one is fine."""
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            self._service.get_blob_client(container, path).delete_blob()
