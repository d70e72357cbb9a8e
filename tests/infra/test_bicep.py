"""Checks of the Bicep templates in infra/, without a Bicep compiler.

Every .bicep file is parsed with pycep and scanned with checkov (both from .venv-infra, see conftest.py); the
security properties a reviewer asks for are then asserted on the parsed templates: no keys, nothing public,
least privilege, identity-based connections, Flex Consumption with Python 3.11.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import INFRA, REPO, bicep_files, require_infra_tool

Template = dict[str, Any]

EXPECTED_FILES = {
    "main.bicep",
    "modules/function-app.bicep",
    "modules/graph-permissions.bicep",
    "modules/identity.bicep",
    "modules/monitoring.bicep",
    "modules/storage-access.bicep",
    "modules/storage.bicep",
    "modules/upload-events.bicep",
    "modules/workbook.bicep",
}
ROLE_STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
ROLE_STORAGE_QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
ROLE_STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
ROLE_STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
ROLE_MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
# Resource types a role assignment may be scoped to: single resources, never a group or subscription.
ROLE_SCOPES = {"Microsoft.Storage/storageAccounts", "Microsoft.Insights/components"}
GRAPH_PERMISSIONS = {
    "EduRoster.ReadWrite.All",
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "AdministrativeUnit.ReadWrite.All",
    "LicenseAssignment.ReadWrite.All",
}
SYNC_RUN_DIMENSIONS = [
    "status",
    "profile",
    "duration_s",
    "schools_created",
    "users_created",
    "users_matched",
    "users_updated",
    "users_disabled",
    "classes_created",
    "classes_expired",
    "members_added",
    "members_removed",
    "findings_errors",
    "findings_warnings",
]
SECRET_PATTERNS = re.compile(
    r"AccountKey=|SharedAccessSignature|SharedAccessKey|sig=|client_?secret|InstrumentationKey=|listKeys\(|"
    r"listAccountSas\(|listServiceSas\(|@secure\(",
    re.IGNORECASE,
)


# --- helpers over pycep's JSON


def body(node: dict[str, Any]) -> dict[str, Any]:
    """The properties of a resource or module, inside the ``for`` loop or ``if`` that pycep wraps around."""
    config: dict[str, Any] = node["config"]
    while "config" in config and ("loop_type" in config or "condition" in config):
        config = config["config"]
    return config


def resources(templates: dict[str, Template], resource_type: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(file, symbol, properties) of every declared (not ``existing``) resource of this type."""
    return [
        (path, symbol, body(resource))
        for path, template in sorted(templates.items())
        for symbol, resource in template.get("resources", {}).items()
        if resource["type"] == resource_type and not resource["existing"]
    ]


def only(found: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    assert len(found) == 1, f"expected exactly one, found {[(path, symbol) for path, symbol, _ in found]}"
    return found[0][2]


def variable(template: Template, name: str) -> Any:
    return template["variables"][name]["value"]


def function(value: Any) -> dict[str, Any] | None:
    """The ``{"type": ..., "parameters": ...}`` of a function call, or None if the value is not one."""
    if isinstance(value, dict) and "function" in value:
        call: dict[str, Any] = value["function"]
        return call
    return None


def description(parameter: dict[str, Any]) -> str:
    texts = [deco["argument"] for deco in parameter.get("decorators", []) if deco["type"] == "description"]
    return texts[0] if texts else ""


# --- parsing and checkov


def test_every_bicep_file_under_infra_is_parsed_by_pycep(parsed: dict[str, dict[str, Any]]) -> None:
    assert set(parsed) == {str(path.relative_to(INFRA)) for path in bicep_files()}
    assert set(parsed) >= EXPECTED_FILES
    failures = {path: result["error"] for path, result in parsed.items() if "error" in result}
    assert failures == {}


def test_only_the_graph_extension_statement_is_hidden_from_pycep(parsed: dict[str, dict[str, Any]]) -> None:
    isolated = {path: result["isolated"] for path, result in parsed.items() if result["isolated"]}
    assert isolated == {"modules/graph-permissions.bicep": ["extension microsoftGraphV1"]}


def test_files_using_the_graph_extension_declare_only_graph_resources(templates: dict[str, Template]) -> None:
    # checkov cannot parse these files (pycep has no `extension`), and it has no checks for Microsoft.Graph
    # types either: nothing checkov could check is left out as long as they hold Graph resources only.
    template = templates["modules/graph-permissions.bicep"]
    types = {resource["type"] for resource in template["resources"].values()}
    assert types == {"Microsoft.Graph/servicePrincipals", "Microsoft.Graph/appRoleAssignedTo"}


def test_checkov_finds_no_failed_check(checkov_report: dict[str, Any]) -> None:
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
        for check in checkov_report["results"]["failed_checks"]
    ]
    assert failed == []
    assert checkov_report["summary"]["failed"] == 0
    assert checkov_report["summary"]["passed"] > 0


def test_checkov_scans_every_file_but_the_graph_extension_module(checkov_report: dict[str, Any]) -> None:
    unparsed = {Path(path).resolve() for path in checkov_report["results"]["parsing_errors"]}
    assert unparsed == {(INFRA / "modules/graph-permissions.bicep").resolve()}


def test_every_checkov_skip_names_a_check_and_gives_a_reason(checkov_report: dict[str, Any]) -> None:
    comments = [
        (path.name, line.strip())
        for path in bicep_files()
        for line in path.read_text(encoding="utf-8").splitlines()
        if "checkov:skip" in line
    ]
    assert comments, "expected the documented skips (storage firewall, public app endpoints)"
    for file_name, comment in comments:
        assert re.fullmatch(r"// checkov:skip=CKV2?_AZURE_\d+: \S.{20,}", comment), f"{file_name}: {comment}"
    skipped = checkov_report["results"]["skipped_checks"]
    assert len(skipped) == len(comments)
    assert all(check["check_result"]["suppress_comment"].strip() for check in skipped)


# --- storage


def test_storage_account_refuses_keys_anonymous_access_and_old_tls(templates: dict[str, Template]) -> None:
    properties = only(resources(templates, "Microsoft.Storage/storageAccounts"))["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["supportsHttpsTrafficOnly"] is True
    assert properties["defaultToOAuthAuthentication"] is True


def test_deleted_blobs_and_containers_can_be_restored(templates: dict[str, Template]) -> None:
    properties = only(resources(templates, "Microsoft.Storage/storageAccounts/blobServices"))["properties"]
    assert properties["deleteRetentionPolicy"]["enabled"] is True
    assert properties["containerDeleteRetentionPolicy"]["enabled"] is True
    parameter = templates["modules/storage.bicep"]["parameters"]["softDeleteRetentionDays"]
    assert parameter["default"] >= 7


def test_every_container_is_private(templates: dict[str, Template]) -> None:
    containers = resources(templates, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert containers
    assert all(properties["properties"]["publicAccess"] == "None" for _, _, properties in containers)


def test_main_creates_the_sync_containers_and_the_runs_table(templates: dict[str, Template]) -> None:
    main = templates["main.bicep"]
    names = {name: variable(main, name) for name in main["variables"]}
    assert names["uploadContainer"] == "uploads"
    assert names["reportsContainer"] == "reports"
    assert "runsContainer" not in names, "run files go to the reports container under runs/<run id>/"
    assert names["deploymentContainer"] == "deployments"
    assert names["runsTable"] == "runs"
    storage = body(main["modules"]["storage"])["params"]
    union = function(storage["containerNames"])
    assert union is not None and union["type"] == "union"
    listed = [name for argument in union["parameters"].values() for name in argument]
    assert set(listed) == {
        "uploadContainer",
        "reportsContainer",
        "deploymentContainer",
        "profileContainer",
    }
    assert storage["tableNames"] == ["runsTable"]


# --- roles


def test_role_assignments_are_scoped_to_one_storage_account_or_insights_component(
    templates: dict[str, Template],
) -> None:
    assignments = resources(templates, "Microsoft.Authorization/roleAssignments")
    assert len(assignments) == 3
    for path, symbol, properties in assignments:
        scope = properties.get("scope")
        assert isinstance(scope, str), f"{path} {symbol}: no resource scope (the default is the group)"
        target = templates[path]["resources"].get(scope)
        assert target is not None, f"{path} {symbol}: scope {scope!r} is not a resource of this file"
        assert target["type"] in ROLE_SCOPES, f"{path} {symbol}: scoped to {target['type']}"


def test_role_assignment_names_are_guids_of_scope_principal_and_role(templates: dict[str, Template]) -> None:
    for path, symbol, properties in resources(templates, "Microsoft.Authorization/roleAssignments"):
        name = function(properties["name"])
        assert name is not None and name["type"] == "guid", f"{path} {symbol}: name is not built with guid("
        arguments = list(name["parameters"].values())
        assert len(arguments) == 3, f"{path} {symbol}: guid(scope, principalId, roleDefinitionId) expected"
        scope_id = arguments[0]["operator"]["operands"]
        assert scope_id == {"operand_1": properties["scope"], "operand_2": "id"}
        assert arguments[1] == properties["properties"]["principalId"]


def test_sync_identity_gets_only_the_storage_data_roles_of_the_runtime(
    templates: dict[str, Template],
) -> None:
    template = templates["modules/storage-access.bicep"]
    sync_roles = [variable(template, name) for name in variable(template, "syncRoles")]
    assert sorted(sync_roles) == sorted(
        [
            ROLE_STORAGE_BLOB_DATA_OWNER,
            ROLE_STORAGE_QUEUE_DATA_CONTRIBUTOR,
            ROLE_STORAGE_TABLE_DATA_CONTRIBUTOR,
        ]
    )
    uploader = template["resources"]["uploaderRoleAssignment"]["config"]
    assert uploader["condition"] is not None, "the uploader's role must be optional"
    role = body(template["resources"]["uploaderRoleAssignment"])["properties"]["roleDefinitionId"]
    role_id = variable(template, role["function"]["parameters"]["resource_name_1"])
    assert role_id == ROLE_STORAGE_BLOB_DATA_CONTRIBUTOR


def module_output(value: Any) -> tuple[str, str] | None:
    """``(module, output)`` of a ``<module>.outputs.<output>`` expression, or None."""
    try:
        outer = value["operator"]["operands"]
        inner = outer["operand_2"]["operator"]["operands"]
    except (TypeError, KeyError):
        return None
    if inner["operand_1"] != "outputs":
        return None
    return outer["operand_1"], inner["operand_2"]


def test_the_app_identity_holds_the_queue_and_table_roles_the_durable_task_hub_needs(
    templates: dict[str, Template],
) -> None:
    # storage.bicep declares no runtime queue or table: the task hub creates its own at start-up as the app's
    # identity, so that identity must hold the queue and table data roles on the same storage account.
    main = templates["main.bicep"]
    access = body(main["modules"]["storageAccess"])["params"]
    app = body(main["modules"]["functionApp"])["params"]
    assert module_output(access["principalId"]) == ("identity", "principalId")
    assert module_output(app["identityId"]) == ("identity", "id")
    assert module_output(app["identityClientId"]) == ("identity", "clientId")
    assert module_output(access["storageAccountName"]) == ("storage", "name")
    assert module_output(app["storageAccountName"]) == ("storage", "name")
    assert module_output(app["queueEndpoint"]) == ("storage", "queueEndpoint")
    assert module_output(app["tableEndpoint"]) == ("storage", "tableEndpoint")

    template = templates["modules/storage-access.bicep"]
    loop = template["resources"]["syncRoleAssignments"]["config"]["loop_type"]
    assert loop["detail"] == {"item_name": "roleId", "array_name": "syncRoles"}
    grant = body(template["resources"]["syncRoleAssignments"])
    assert grant["scope"] == "storageAccount"
    assert grant["properties"]["principalId"] == "principalId"
    assert grant["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"] == "roleId"
    roles = {variable(template, name) for name in variable(template, "syncRoles")}
    assert {ROLE_STORAGE_QUEUE_DATA_CONTRIBUTOR, ROLE_STORAGE_TABLE_DATA_CONTRIBUTOR} <= roles

    storage = templates["modules/storage.bicep"]["resources"]
    assert storage["queueService"]["type"] == "Microsoft.Storage/storageAccounts/queueServices"
    assert storage["tableService"]["type"] == "Microsoft.Storage/storageAccounts/tableServices"


# --- function app


def test_function_app_runs_python_311_on_the_flex_consumption_plan(templates: dict[str, Template]) -> None:
    plan = only(resources(templates, "Microsoft.Web/serverfarms"))
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True
    app = only(resources(templates, "Microsoft.Web/sites"))
    config = app["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    deployment = config["deployment"]["storage"]
    assert deployment["type"] == "blobContainer"
    assert deployment["authentication"]["type"] == "UserAssignedIdentity"
    assert app["kind"] == "functionapp,linux"


def test_function_app_runs_as_its_identity_over_https_only(templates: dict[str, Template]) -> None:
    app = only(resources(templates, "Microsoft.Web/sites"))
    assert app["identity"]["type"] == "UserAssigned"
    assert app["properties"]["httpsOnly"] is True
    site = app["properties"]["siteConfig"]
    assert site["minTlsVersion"] == "1.2"
    assert site["ftpsState"] == "Disabled"
    policies = resources(templates, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {properties["name"]: properties["properties"]["allow"] for _, _, properties in policies} == {
        "ftp": False,
        "scm": False,
    }


def test_host_storage_uses_the_identity_based_connection(templates: dict[str, Template]) -> None:
    settings = variable(templates["modules/function-app.bicep"], "runtimeSettings")
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    for service in ("blob", "queue", "table"):
        assert settings[f"AzureWebJobsStorage__{service}ServiceUri"] == f"{service}Endpoint"
    assert "AzureWebJobsStorage" not in settings, "a plain AzureWebJobsStorage would be a connection string"
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"


def test_app_settings_leave_out_what_flex_consumption_rejects(templates: dict[str, Template]) -> None:
    # Flex Consumption sets the runtime in functionAppConfig; these settings are unsupported there.
    settings = set(variable(templates["modules/function-app.bicep"], "runtimeSettings"))
    settings |= set(body(templates["main.bicep"]["modules"]["functionApp"])["params"]["syncSettings"])
    rejected = {
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_EXTENSION_VERSION",
        "WEBSITE_TIME_ZONE",
        "WEBSITE_RUN_FROM_PACKAGE",
    }
    assert settings & rejected == set()


def test_app_settings_come_from_runtime_and_sync_settings(templates: dict[str, Template]) -> None:
    template = templates["modules/function-app.bicep"]
    app = only(resources(templates, "Microsoft.Web/sites"))
    assert app["properties"]["siteConfig"]["appSettings"] == "appSettings"
    loop = variable(template, "appSettings")["loop_type"]
    assert loop["type"] == "object"
    assert "'arg_1': 'runtimeSettings', 'arg_2': 'syncSettings'" in loop["detail"]["object_name"]


def test_every_setting_named_by_the_host_or_triggers_is_provisioned(
    templates: dict[str, Template],
) -> None:
    # host.json and the trigger bindings in function_app.py name app settings as %NAME%.
    sources = [path for path in (REPO / "host.json", REPO / "function_app.py") if path.exists()]
    text = "\n".join(path.read_text(encoding="utf-8") for path in sources)
    referenced = set(re.findall(r"%([A-Za-z][A-Za-z0-9_]*)%", text))
    assert "DURABLE_TASK_HUB" in referenced
    settings = set(variable(templates["modules/function-app.bicep"], "runtimeSettings"))
    settings |= set(body(templates["main.bicep"]["modules"]["functionApp"])["params"]["syncSettings"])
    assert referenced <= settings


def test_no_app_setting_or_template_holds_a_secret(templates: dict[str, Template]) -> None:
    settings = json.dumps(variable(templates["modules/function-app.bicep"], "runtimeSettings"))
    sync_settings = json.dumps(
        body(templates["main.bicep"]["modules"]["functionApp"])["params"]["syncSettings"]
    )
    assert not SECRET_PATTERNS.search(settings)
    assert not SECRET_PATTERNS.search(sync_settings)
    for path in [*bicep_files(), INFRA / "main.parameters.json", REPO / "azure.yaml"]:
        found = SECRET_PATTERNS.search(path.read_text(encoding="utf-8"))
        assert found is None, f"{path.name}: {found.group(0) if found else ''}"


def test_sync_settings_carry_the_names_the_app_reads(templates: dict[str, Template]) -> None:
    main = templates["main.bicep"]
    sync_settings = body(main["modules"]["functionApp"])["params"]["syncSettings"]
    assert sync_settings["SYNC_SCHEDULE"] == "syncSchedule"
    assert sync_settings["SYNC_PROFILE_BLOB"] == "syncProfileBlob"
    assert sync_settings["UPLOAD_CONTAINER"] == "uploadContainer"
    assert sync_settings["REPORTS_CONTAINER"] == "reportsContainer"
    assert sync_settings["RUNS_TABLE"] == "runsTable"
    assert sync_settings["SYNC_TENANT"] == "graph"
    assert function(sync_settings["SET_WAIT_MINUTES"]) == {
        "type": "string",
        "parameters": {"value_to_convert": "setWaitMinutes"},
    }
    assert main["parameters"]["syncSchedule"]["default"] == "0 0 2 * * *"
    assert main["parameters"]["syncProfileBlob"]["default"] == "config/profile.toml"


# --- monitoring


def test_application_insights_takes_telemetry_from_entra_id_only(templates: dict[str, Template]) -> None:
    insights = only(resources(templates, "Microsoft.Insights/components"))["properties"]
    assert insights["DisableLocalAuth"] is True
    assert insights["WorkspaceResourceId"] == {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": "logAnalytics", "operand_2": "id"},
        }
    }
    settings = variable(templates["modules/function-app.bicep"], "runtimeSettings")
    authentication = settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
    assert authentication == "ClientId=${identityClientId};Authorization=AAD"
    monitoring = templates["modules/monitoring.bicep"]
    assert variable(monitoring, "monitoringMetricsPublisher") == ROLE_MONITORING_METRICS_PUBLISHER
    assert body(monitoring["resources"]["publisherRoleAssignment"])["scope"] == "applicationInsights"


def test_workbook_is_loaded_from_its_json_file(templates: dict[str, Template]) -> None:
    workbook = only(resources(templates, "Microsoft.Insights/workbooks"))
    assert workbook["kind"] == "shared"
    data = function(workbook["properties"]["serializedData"])
    assert data is not None and data["type"] == "load_text_content"
    loaded = INFRA / "modules" / data["parameters"]["file_path"]
    assert loaded.resolve() == (INFRA / "workbooks" / "sync-runs.json").resolve()


def test_workbook_charts_every_dimension_of_the_sync_run_event() -> None:
    workbook = json.loads((INFRA / "workbooks" / "sync-runs.json").read_text(encoding="utf-8"))
    assert workbook["version"] == "Notebook/1.0"
    queries = [item["content"]["query"] for item in workbook["items"] if item["type"] == 3]
    assert len(queries) >= 4
    assert all('name == "SyncRunCompleted"' in query for query in queries)
    assert all("{TimeRange}" in query for query in queries)
    every_query = "\n".join(queries)
    missing = [name for name in SYNC_RUN_DIMENSIONS if f"d.{name}" not in every_query]
    assert missing == []


# --- graph


def test_graph_permissions_are_those_of_the_behaviour_spec(templates: dict[str, Template]) -> None:
    template = templates["modules/graph-permissions.bicep"]
    assert set(template["parameters"]["permissions"]["default"]) == GRAPH_PERMISSIONS
    graph = template["resources"]["microsoftGraph"]
    assert graph["existing"] is True
    assert variable(template, "microsoftGraphAppId") == "00000003-0000-0000-c000-000000000000"
    assert graph["config"]["appId"] == "microsoftGraphAppId"
    grant = body(template["resources"]["appRoleAssignments"])
    assert grant["principalId"] == "principalId"
    assert "microsoftGraph" in json.dumps(grant["resourceId"])


def test_graph_permissions_module_can_be_switched_off(templates: dict[str, Template]) -> None:
    main = templates["main.bicep"]
    module = main["modules"]["graphPermissions"]
    assert module["detail"]["path"] == "modules/graph-permissions.bicep"
    assert module["config"]["condition"] == "grantGraphPermissions"
    assert main["parameters"]["grantGraphPermissions"]["type"] == "bool"


def test_graph_permissions_are_granted_after_the_function_app(templates: dict[str, Template]) -> None:
    # Entra ID replicates the identity's new service principal with a delay; granting last (after the slowest
    # module, which waits for the storage roles) gives it time. docs/deployment.md says to provision again.
    main = templates["main.bicep"]["modules"]
    assert "functionApp" in body(main["graphPermissions"]).get("dependsOn", [])
    assert "storageAccess" in body(main["functionApp"]).get("dependsOn", [])
    guide = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    assert "Not a valid reference update" in guide and "azd provision" in guide


def test_bicepconfig_pins_the_graph_extension() -> None:
    text = (INFRA / "bicepconfig.json").read_text(encoding="utf-8")
    config = json.loads("\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//")))
    reference = config["extensions"]["microsoftGraphV1"]
    pinned = r"br:mcr\.microsoft\.com/bicep/extensions/microsoftgraph/v1\.0:\d+\.\d+\.\d+"
    assert re.fullmatch(pinned, reference)


# --- conventions


def test_every_parameter_has_a_description(templates: dict[str, Template]) -> None:
    missing = [
        f"{path}: {name}"
        for path, template in sorted(templates.items())
        for name, parameter in template.get("parameters", {}).items()
        if len(description(parameter)) < 10
    ]
    assert missing == []


def test_parameters_are_lower_camel_case(templates: dict[str, Template]) -> None:
    names = [name for template in templates.values() for name in template.get("parameters", {})]
    assert names
    assert [name for name in names if not re.fullmatch(r"[a-z][a-zA-Z0-9]*", name)] == []


# Variables azd sets itself (azd env new / azd up), which main.parameters.json may use without a default.
AZD_VARIABLES = {"AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_PRINCIPAL_ID", "AZURE_RESOURCE_GROUP"}
AZD_SUBSTITUTION = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?:=([^}]*))?\}")


def azd_parameters() -> dict[str, tuple[str, str | None]]:
    """``{parameter: (azd variable, default or None)}`` of infra/main.parameters.json."""
    entries = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    found: dict[str, tuple[str, str | None]] = {}
    for name, entry in entries.items():
        match = AZD_SUBSTITUTION.fullmatch(entry["value"])
        assert match is not None, f"{name}: {entry['value']!r} is not ${{VARIABLE}} or ${{VARIABLE=default}}"
        found[name] = (match.group(1), match.group(2))
    return found


def bicep_literal(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_every_azd_parameter_is_a_parameter_of_main(templates: dict[str, Template]) -> None:
    azd = azd_parameters()
    main = templates["main.bicep"]["parameters"]
    assert set(azd) - set(main) == set(), "main.parameters.json names parameters main.bicep lacks"
    required = {name for name, parameter in main.items() if parameter["default"] is None}
    assert required - set(azd) == set(), "azd cannot pass these required parameters"


def test_azd_can_set_every_parameter_of_main_with_the_same_default(templates: dict[str, Template]) -> None:
    azd = azd_parameters()
    main = templates["main.bicep"]["parameters"]
    assert set(main) - set(azd) == set(), "`azd env set` cannot reach these parameters"
    for name, (azd_variable, default) in azd.items():
        bicep_default = main[name]["default"]
        if default is None:
            # No default in the file: azd sets the variable, or an unset one gives main.bicep's empty default.
            assert azd_variable in AZD_VARIABLES or bicep_default == "", f"{name}: ${{{azd_variable}}}"
        else:
            assert default == bicep_literal(bicep_default), f"{name}: {default!r} != {bicep_default!r}"
    variables = [azd_variable for azd_variable, _ in azd.values()]
    assert len(variables) == len(set(variables))


def test_the_deployment_guide_lists_every_azd_parameter_with_its_default(
    templates: dict[str, Template],
) -> None:
    guide = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"(?m)^\| `([A-Z][A-Z0-9_]*)` \| `([a-zA-Z0-9]+)` \|", guide))
    azd = azd_parameters()
    assert rows == {azd_variable: name for name, (azd_variable, _) in azd.items()}
    main = templates["main.bicep"]["parameters"]
    for name, (azd_variable, default) in azd.items():
        if default is not None:
            row = f"| `{azd_variable}` | `{name}` | `{bicep_literal(main[name]['default'])}` |"
            assert row in guide, row


def test_main_outputs_the_app_the_storage_account_and_the_upload_url(templates: dict[str, Template]) -> None:
    outputs = templates["main.bicep"]["outputs"]
    assert {"AZURE_FUNCTION_APP_NAME", "AZURE_STORAGE_ACCOUNT_NAME", "UPLOAD_CONTAINER_URL"} <= set(outputs)


# Variables azd itself puts in a hook's environment, besides the outputs of main.bicep.
AZD_HOOK_VARIABLES = {
    "AZURE_ENV_NAME",
    "AZURE_LOCATION",
    "AZURE_SUBSCRIPTION_ID",
    "AZURE_TENANT_ID",
    "AZURE_PRINCIPAL_ID",
    "AZURE_RESOURCE_GROUP",
}


def environment_reads(script: str) -> set[str]:
    """Variables a POSIX shell script reads before (or without) assigning them: those it takes from the
    environment. An assignment's right-hand side is read before its name is assigned."""
    assigned: set[str] = set()
    read: set[str] = set()
    for line in script.splitlines():
        code = line.strip()
        if not code or code.startswith("#"):
            continue
        read |= set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", code)) - assigned
        assignment = re.match(r"([A-Za-z_][A-Za-z0-9_]*)=", code)
        if assignment:
            assigned.add(assignment.group(1))
    return read


def test_environment_reads_of_a_script_leave_out_its_own_variables() -> None:
    script = 'a=1\n# ${B}\necho "$a ${C:-x} $D"\nC="${C:-y}"\nE=$(f "$E")\necho "$C $E"\n'
    assert environment_reads(script) == {"C", "D", "E"}


def test_every_variable_the_hook_reads_is_an_output_of_main_or_set_by_azd(
    templates: dict[str, Template],
) -> None:
    hook = (INFRA / "hooks" / "postdeploy.sh").read_text(encoding="utf-8")
    read = environment_reads(hook)
    assert {"AZURE_FUNCTION_APP_NAME", "UPLOAD_EVENTS_TOPIC", "UPLOAD_CONTAINER"} <= read
    outputs = set(templates["main.bicep"]["outputs"])
    assert read - outputs - AZD_HOOK_VARIABLES == set()
    assert templates["main.bicep"]["outputs"]["UPLOAD_CONTAINER"]["value"] == "uploadContainer"


def test_azd_finds_the_function_app_by_its_service_tag_and_runs_the_hook(
    templates: dict[str, Template],
) -> None:
    app = only(resources(templates, "Microsoft.Web/sites"))
    tags = function(app["tags"])
    assert tags is not None and tags["parameters"]["arg_2"] == {"'azd-service-name'": "sync"}
    azure_yaml = (REPO / "azure.yaml").read_text(encoding="utf-8")
    assert re.search(r"(?m)^services:\n  sync:\n(?:    .*\n)*?    host: function$", azure_yaml)
    hooks = re.findall(r"(?m)^\s+run: (\S+)$", azure_yaml)
    assert hooks == ["./infra/hooks/postdeploy.sh"]
    assert os.access(REPO / hooks[0], os.X_OK)


def test_every_infra_file_starts_with_a_comment_saying_what_it_provisions() -> None:
    for path in bicep_files():
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("// ") and len(first) > 30, path.name
    hook = (INFRA / "hooks" / "postdeploy.sh").read_text(encoding="utf-8").splitlines()
    assert hook[0].startswith("#!") and hook[1].startswith("# ")
    assert (REPO / "azure.yaml").read_text(encoding="utf-8").startswith("# ")
    assert (INFRA / "bicepconfig.json").read_text(encoding="utf-8").startswith("// ")


def test_a_missing_infra_environment_fails_with_the_command_to_run(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"run `make install-dev`"):
        require_infra_tool(tmp_path / ".venv-infra", "checkov")
