"""The upload trigger is bound to a ``BlobClient`` (SDK-type binding): the host sends the worker a reference
to the uploaded blob, never its content, so a district's several-hundred-MB enrollments.csv neither fills
the instance's memory nor hits gRPC's message limit. Checked here in process: the metadata the worker sends
the host, the client the worker builds from the host's reference (Azurite locally, the user-assigned identity
in Azure), and the trigger run with a client that fails on any content read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
from typing import Any, NamedTuple

import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob
import pytest
from azure.storage.blob import BlobClient
from azurefunctions.extensions.base import get_binding_registry

import function_app
from sync.app.runtime import Runtime
from sync.app.uploads import set_ref_of, set_run_id
from sync.settings import UPLOAD_TRIGGER_SOURCES, upload_trigger_source
from tests.app.app_functions import indexed_functions
from tests.app.upload_client import ReferenceOnlyBlobClient, fire_upload, host_reference, worker_blob_client
from tests.storage.app_runtime import EXAMPLE_SET, ROOT, FakeDurableClient, azurite_runtime

#: The identity-based storage settings infra/modules/function-app.bicep gives the app (checked by
#: tests/infra/test_bicep.py::test_host_storage_uses_the_identity_based_connection): no key anywhere.
IDENTITY_CLIENT_ID = "00000000-0000-0000-0000-00000000c11d"
BLOB_ENDPOINT = "https://stsynctest.blob.core.windows.net/"
DEPLOYED_STORAGE_SETTINGS = {
    "AzureWebJobsStorage__credential": "managedidentity",
    "AzureWebJobsStorage__clientId": IDENTITY_CLIENT_ID,
    "AzureWebJobsStorage__blobServiceUri": BLOB_ENDPOINT,
    "AzureWebJobsStorage__queueServiceUri": "https://stsynctest.queue.core.windows.net/",
    "AzureWebJobsStorage__tableServiceUri": "https://stsynctest.table.core.windows.net/",
}


class ParamTypeInfo(NamedTuple):
    """The worker's record of one parameter (binding type, annotation) that the bindings are built from."""

    binding_name: str | None
    pytype: Any


def bindings_sent_to_the_host(name: str) -> dict[str, dict[str, Any]]:
    """The function's bindings as the worker reports them to the host: annotations resolved with
    ``typing.get_type_hints`` and the raw bindings built by the SDK-type registry, which marks each binding
    whose parameter is an SDK type with ``SupportsDeferredBinding``."""
    function = indexed_functions()[name]
    hints = typing.get_type_hints(function.get_user_function())
    input_types = {b.name: ParamTypeInfo(b.type, hints.get(b.name)) for b in function.get_bindings()}
    raw, _ = get_binding_registry().get_raw_bindings(function, input_types)
    return {binding["name"]: binding for binding in map(json.loads, raw)}


@pytest.fixture
def app_runtime(azurite: str, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    runtime, _, _ = azurite_runtime(azurite)
    monkeypatch.setattr(function_app, "runtime", lambda: runtime)
    return runtime


def put_upload(runtime: Runtime, path: str, data: bytes) -> None:
    runtime.blobs.write_bytes(runtime.settings.upload_container, path, data, content_type="text/csv")


def test_the_upload_trigger_asks_the_host_for_a_reference_to_the_blob_not_its_content() -> None:
    bindings = bindings_sent_to_the_host("on_upload")

    assert bindings["upload"] == {
        "direction": "IN",
        "type": "blobTrigger",
        "name": "upload",
        "path": "%UPLOAD_CONTAINER%/{name}",
        "connection": "AzureWebJobsStorage",
        "source": "EventGrid",
        "properties": {"SupportsDeferredBinding": True},
    }
    assert bindings["client"]["type"] == "durableClient"
    assert bindings["client"]["properties"] == {"SupportsDeferredBinding": False}


def test_the_worker_accepts_the_trigger_parameter_as_a_blob_client_of_the_blob_extension() -> None:
    function = indexed_functions()["on_upload"]
    annotation = typing.get_type_hints(function.get_user_function())["upload"]

    registry = get_binding_registry()
    assert annotation is blob.BlobClient
    assert registry.check_supported_type(annotation)
    converter = registry.get("blobTrigger")
    assert converter is blob.BlobClientConverter
    assert converter.check_input_type_annotation(annotation)


@pytest.mark.parametrize(
    ("setting", "source"),
    [
        (None, func.BlobSource.EVENT_GRID),
        ("LogsAndContainerScan", func.BlobSource.LOGS_AND_CONTAINER_SCAN),
        ("Polling", func.BlobSource.EVENT_GRID),  # invalid: registered as the default, reported at start-up
    ],
)
def test_the_trigger_source_is_event_grid_unless_the_local_settings_choose_container_scanning(
    setting: str | None, source: func.BlobSource
) -> None:
    environ = {} if setting is None else {"UPLOAD_TRIGGER_SOURCE": setting}

    assert func.BlobSource(upload_trigger_source(environ)) == source


def test_the_trigger_sources_the_settings_accept_are_the_ones_the_functions_library_knows() -> None:
    assert set(UPLOAD_TRIGGER_SOURCES) == {source.value for source in func.BlobSource}


def test_the_host_starting_the_app_with_a_bad_trigger_source_gets_one_error_listing_every_problem() -> None:
    """The Functions host imports ``function_app``: with ``UPLOAD_TRIGGER_SOURCE`` invalid and the other
    settings missing, the import fails once, with a single settings error that names all of them."""
    environ = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "TMPDIR", "LANG")}
    code = "import function_app"
    answer = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**environ, "FUNCTIONS_WORKER_RUNTIME": "python", "UPLOAD_TRIGGER_SOURCE": "Polling"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert answer.returncode != 0
    [error] = [line for line in answer.stderr.splitlines() if line.startswith("sync.errors.SettingsError")]
    assert (
        "UPLOAD_TRIGGER_SOURCE: 'Polling' is not a choice: use EventGrid (Azure) or LogsAndContainerScan"
        in error
    )
    assert "UPLOAD_CONTAINER: missing" in error and "SYNC_TENANT: missing" in error


def test_the_worker_builds_a_working_client_on_azurite_from_the_hosts_reference(
    app_runtime: Runtime, azurite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", azurite)  # local.settings.json's value, here Azurite's
    data = (EXAMPLE_SET / "enrollments.csv").read_bytes()
    put_upload(app_runtime, "term/enrollments.csv", data)

    client = worker_blob_client(host_reference(app_runtime.settings.upload_container, "term/enrollments.csv"))

    assert isinstance(client, BlobClient)
    assert (client.container_name, client.blob_name) == (
        app_runtime.settings.upload_container,
        "term/enrollments.csv",
    )
    assert client.get_blob_properties().size == len(data)


class RecordingManagedIdentityCredential:
    """Stands in for ``azure.identity.ManagedIdentityCredential`` (which would call the instance's identity
    endpoint); remembers which identity was asked for."""

    def __init__(self, *, client_id: str | None = None) -> None:
        self.client_id = client_id

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise AssertionError("building the client must not ask for a token")


def test_in_azure_the_worker_reaches_the_blob_with_the_apps_user_assigned_identity_and_no_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    for name, value in DEPLOYED_STORAGE_SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(blob.utils, "ManagedIdentityCredential", RecordingManagedIdentityCredential)

    client = worker_blob_client(host_reference("uploads", "2026-09-01/students.csv"))

    assert client.url == f"{BLOB_ENDPOINT}uploads/2026-09-01/students.csv"
    assert isinstance(client.credential, RecordingManagedIdentityCredential)
    assert client.credential.client_id == IDENTITY_CLIENT_ID


def test_a_set_uploaded_file_by_file_starts_one_run_and_the_trigger_reads_no_file(
    app_runtime: Runtime,
) -> None:
    durable = FakeDurableClient()
    uploads = []
    for path in sorted(EXAMPLE_SET.glob("*.csv")):
        put_upload(app_runtime, f"district/{path.name}", path.read_bytes())
        uploads.append(fire_upload(app_runtime, durable, f"district/{path.name}"))

    [run] = durable.starts_of("sync_run")
    container = app_runtime.settings.upload_container
    listing = app_runtime.blobs.list_folder(container, "district")
    assert run.instance_id == set_run_id(set_ref_of(container, "district", listing))
    assert [upload.content_reads() for upload in uploads] == [[]] * len(uploads)


def test_the_first_file_of_a_set_starts_its_deadline_without_being_read(app_runtime: Runtime) -> None:
    durable = FakeDurableClient()
    put_upload(app_runtime, "partial/students.csv", (EXAMPLE_SET / "students.csv").read_bytes())

    upload = fire_upload(app_runtime, durable, "partial/students.csv")

    assert [call.orchestrator for call in durable.started] == ["set_deadline"]
    assert upload.content_reads() == []


def test_a_content_read_through_the_reference_only_client_is_caught(
    app_runtime: Runtime, azurite: str
) -> None:
    put_upload(app_runtime, "probe/schools.csv", b"School_id\n1\n")
    upload = ReferenceOnlyBlobClient.on(azurite, app_runtime.settings.upload_container, "probe/schools.csv")

    with pytest.raises(AssertionError, match="downloaded"):
        upload.download_blob()
    upload.get_blob_properties()
    assert upload.content_reads() == []
    content = BlobClient.download_blob(upload).readall()  # the SDK's own download, past the refusal

    assert content == b"School_id\n1\n"
    assert len(upload.content_reads()) >= 1
