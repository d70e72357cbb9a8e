"""Settings.from_env: every setting checked at once, clear messages, identity-based storage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync.errors import SettingsError
from sync.settings import DEFAULT_APPLY_CHUNK_OPERATIONS, DEFAULT_SET_WAIT_MINUTES, Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "local.settings.example.json"

VALID = {
    "UPLOAD_CONTAINER": "uploads",
    "REPORTS_CONTAINER": "reports",
    "RUNS_TABLE": "runs",
    "SYNC_PROFILE_BLOB": "config/profile.toml",
    "SYNC_SCHEDULE": "0 0 2 * * *",
    "SYNC_TENANT": "graph",
    "DURABLE_TASK_HUB": "SyncHub",
    "AzureWebJobsStorage__blobServiceUri": "https://acct.blob.core.windows.net/",
    "AzureWebJobsStorage__queueServiceUri": "https://acct.queue.core.windows.net/",
    "AzureWebJobsStorage__tableServiceUri": "https://acct.table.core.windows.net/",
    "AzureWebJobsStorage__clientId": "00000000-0000-0000-0000-000000000001",
}


def problems_of(environ: dict[str, str]) -> dict[str, str]:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ)
    return dict(caught.value.problems)


def test_an_empty_environment_lists_every_required_setting_in_one_error() -> None:
    problems = problems_of({})

    assert set(problems) == {
        "UPLOAD_CONTAINER",
        "REPORTS_CONTAINER",
        "RUNS_TABLE",
        "SYNC_PROFILE_BLOB",
        "SYNC_SCHEDULE",
        "SYNC_TENANT",
        "AzureWebJobsStorage",
        "DURABLE_TASK_HUB",
    }
    assert "UseDevelopmentStorage=true" in problems["AzureWebJobsStorage"]
    assert "AzureWebJobsStorage__blobServiceUri" in problems["AzureWebJobsStorage"]


def test_invalid_values_are_named_with_what_to_set_instead() -> None:
    problems = problems_of(
        {
            **VALID,
            "UPLOAD_CONTAINER": "Uploads_2026",
            "RUNS_TABLE": "1runs",
            "SYNC_PROFILE_BLOB": "profile.toml",
            "SYNC_SCHEDULE": "0 2 * * *",
            "SYNC_TENANT": "graph:ftp://x",
            "SET_WAIT_MINUTES": "soon",
            "APPLY_CHUNK_OPERATIONS": "0",
            "GRAPH_QUOTA_SCALE": "-1",
        }
    )

    assert set(problems) == {
        "UPLOAD_CONTAINER",
        "RUNS_TABLE",
        "SYNC_PROFILE_BLOB",
        "SYNC_SCHEDULE",
        "SYNC_TENANT",
        "SET_WAIT_MINUTES",
        "APPLY_CHUNK_OPERATIONS",
        "GRAPH_QUOTA_SCALE",
    }
    assert "container name" in problems["UPLOAD_CONTAINER"]
    assert "6 fields" in problems["SYNC_SCHEDULE"]
    assert "config/profile.toml" in problems["SYNC_PROFILE_BLOB"]


def test_a_valid_identity_based_configuration_is_read_with_defaults_for_the_tunables() -> None:
    settings = Settings.from_env(VALID)

    assert settings.storage.connection_string is None
    assert settings.storage.blob_service_uri == "https://acct.blob.core.windows.net/"
    assert settings.storage.client_id == "00000000-0000-0000-0000-000000000001"
    assert settings.profile_blob == ("config", "profile.toml")
    assert settings.set_wait_minutes == DEFAULT_SET_WAIT_MINUTES
    assert settings.apply_chunk_operations == DEFAULT_APPLY_CHUNK_OPERATIONS
    assert settings.app_insights_connection_string is None


def test_an_account_name_alone_gives_both_service_uris() -> None:
    environ = {k: v for k, v in VALID.items() if "ServiceUri" not in k}
    settings = Settings.from_env({**environ, "AzureWebJobsStorage__accountName": "acct"})

    assert settings.storage.blob_service_uri == "https://acct.blob.core.windows.net"
    assert settings.storage.table_service_uri == "https://acct.table.core.windows.net"


@pytest.mark.parametrize("service", ["blob", "queue", "table"])
def test_an_identity_based_connection_missing_one_service_endpoint_names_it(service: str) -> None:
    environ = {k: v for k, v in VALID.items() if k != f"AzureWebJobsStorage__{service}ServiceUri"}
    problems = problems_of(environ)

    assert set(problems) == {f"AzureWebJobsStorage__{service}ServiceUri"}
    assert f"the {service} endpoint" in problems[f"AzureWebJobsStorage__{service}ServiceUri"]


def test_azurite_is_reached_with_the_development_storage_connection_string() -> None:
    environ = {k: v for k, v in VALID.items() if not k.startswith("AzureWebJobsStorage")}
    settings = Settings.from_env({**environ, "AzureWebJobsStorage": "UseDevelopmentStorage=true"})

    assert settings.storage.connection_string == "UseDevelopmentStorage=true"


def test_application_insights_with_entra_id_authentication_names_the_managed_identity() -> None:
    settings = Settings.from_env(
        {
            **VALID,
            "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=abc;IngestionEndpoint=https://x/",
            "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "ClientId=1234;Authorization=AAD",
        }
    )

    assert settings.app_insights_client_id == "1234"


@pytest.mark.parametrize(
    "tenant",
    ["Graph", "GRAPH", "grpah:https://graph.microsoft.com/v1.0", "https://graph.microsoft.com/v1.0"],
)
def test_a_mistyped_graph_tenant_is_refused_instead_of_becoming_a_local_tenant_file(tenant: str) -> None:
    problems = problems_of({**VALID, "SYNC_TENANT": tenant})

    assert set(problems) == {"SYNC_TENANT"}
    assert "neither 'graph' nor 'graph:https://<endpoint>/v1.0'" in problems["SYNC_TENANT"]


def test_a_graph_tenant_over_plain_http_to_a_host_other_than_the_local_server_is_refused() -> None:
    problems = problems_of({**VALID, "SYNC_TENANT": "graph:http://graph.microsoft.us/v1.0"})

    assert set(problems) == {"SYNC_TENANT"}
    assert "plain http is only for the local Graph server" in problems["SYNC_TENANT"]
    assert Settings.from_env({**VALID, "SYNC_TENANT": "graph:https://graph.microsoft.us/v1.0"}).tenant


@pytest.mark.parametrize("tenant", ["/home/site/data/tenant.db", ".sync/tenant.db", "C:\\sync\\tenant.db"])
def test_a_local_tenant_path_is_accepted(tenant: str) -> None:
    assert Settings.from_env({**VALID, "SYNC_TENANT": tenant}).tenant == tenant


@pytest.mark.parametrize("raw", ["inf", "Infinity", "nan"])
def test_an_endless_or_undefined_number_is_refused(raw: str) -> None:
    problems = problems_of({**VALID, "APPROVAL_TIMEOUT_HOURS": raw, "SET_WAIT_MINUTES": raw})

    assert set(problems) == {"APPROVAL_TIMEOUT_HOURS", "SET_WAIT_MINUTES"}
    assert f"{raw!r} is not a number greater than 0" in problems["APPROVAL_TIMEOUT_HOURS"]


@pytest.mark.parametrize(
    "tenant", ["graph", "graph:https://graph.microsoft.com/v1.0", "graph:http://127.0.0.1:8765/v1.0"]
)
def test_graph_and_a_graph_endpoint_are_accepted_as_the_tenant(tenant: str) -> None:
    assert Settings.from_env({**VALID, "SYNC_TENANT": tenant}).tenant == tenant


def test_the_sync_slot_settings_default_to_a_minute_six_hours_and_four_days() -> None:
    settings = Settings.from_env(VALID)

    assert (settings.queue_poll_seconds, settings.queue_max_hours, settings.slot_stale_hours) == (60, 6, 96)


def test_the_sync_slot_settings_are_read_and_bad_ones_listed_together() -> None:
    settings = Settings.from_env(
        {
            **VALID,
            "SYNC_QUEUE_POLL_SECONDS": "30",
            "SYNC_QUEUE_MAX_HOURS": "1.5",
            "SYNC_SLOT_STALE_HOURS": "100",
        }
    )
    assert (settings.queue_poll_seconds, settings.queue_max_hours, settings.slot_stale_hours) == (
        30,
        1.5,
        100,
    )

    problems = problems_of({**VALID, "SYNC_QUEUE_POLL_SECONDS": "0", "SYNC_QUEUE_MAX_HOURS": "a while"})
    assert set(problems) == {"SYNC_QUEUE_POLL_SECONDS", "SYNC_QUEUE_MAX_HOURS"}
    assert "'a while' is not a number greater than 0" in problems["SYNC_QUEUE_MAX_HOURS"]


def test_a_stale_limit_shorter_than_the_approval_wait_is_refused() -> None:
    problems = problems_of({**VALID, "APPROVAL_TIMEOUT_HOURS": "72", "SYNC_SLOT_STALE_HOURS": "48"})

    assert set(problems) == {"SYNC_SLOT_STALE_HOURS"}
    assert "longer than APPROVAL_TIMEOUT_HOURS (72)" in problems["SYNC_SLOT_STALE_HOURS"]


def test_the_example_local_settings_are_valid_settings_for_azurite_and_the_local_graph_server() -> None:
    values = json.loads(EXAMPLE.read_text(encoding="utf-8"))["Values"]

    settings = Settings.from_env(values)

    assert settings.storage.connection_string == "UseDevelopmentStorage=true"
    assert settings.upload_trigger_source == "LogsAndContainerScan"
    assert settings.tenant == "graph:http://127.0.0.1:8765/v1.0"
    assert settings.app_insights_connection_string is None
    assert settings.memory_check is True
    assert (settings.upload_container, settings.reports_container, settings.runs_table) == (
        "uploads",
        "reports",
        "runs",
    )


def test_the_upload_trigger_source_defaults_to_event_grid() -> None:
    assert Settings.from_env(VALID).upload_trigger_source == "EventGrid"


def test_an_unknown_upload_trigger_source_is_listed_with_the_other_problems_naming_the_choices() -> None:
    environ = {key: value for key, value in VALID.items() if key != "UPLOAD_CONTAINER"}

    problems = problems_of({**environ, "UPLOAD_TRIGGER_SOURCE": "Polling"})

    assert set(problems) == {"UPLOAD_CONTAINER", "UPLOAD_TRIGGER_SOURCE"}
    assert "EventGrid" in problems["UPLOAD_TRIGGER_SOURCE"]
    assert "LogsAndContainerScan" in problems["UPLOAD_TRIGGER_SOURCE"]


def test_the_memory_check_is_on_unless_set_off() -> None:
    assert Settings.from_env(VALID).memory_check is True
    assert Settings.from_env({**VALID, "SYNC_MEMORY_CHECK": "on"}).memory_check is True
    assert Settings.from_env({**VALID, "SYNC_MEMORY_CHECK": "off"}).memory_check is False


@pytest.mark.parametrize("value", ["false", "0", "Off", "disabled"])
def test_a_memory_check_other_than_on_or_off_is_listed_with_the_other_problems_naming_both(
    value: str,
) -> None:
    environ = {k: v for k, v in VALID.items() if k != "RUNS_TABLE"}

    problems = problems_of({**environ, "SYNC_MEMORY_CHECK": value})

    assert set(problems) == {"RUNS_TABLE", "SYNC_MEMORY_CHECK"}
    assert f"{value!r} is not a choice" in problems["SYNC_MEMORY_CHECK"]
    assert "use on (the default" in problems["SYNC_MEMORY_CHECK"]
    assert "or off (plan anyway)" in problems["SYNC_MEMORY_CHECK"]
