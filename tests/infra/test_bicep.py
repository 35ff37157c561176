"""infra/ parses, passes checkov, and says what the code and the other files say (event filter, queue, security)."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shared.bootstrap.cluster_ids import CLUSTER_TYPES
from shared.pipeline.event_grid import _KINDS
from shared.settings import Settings
from tests.infra.bicep import (
    CLUSTER_EVENTS,
    FUNCTION_APP,
    INFRA,
    MAIN,
    ONBOARD,
    ROLE_ASSIGNMENT,
    ROLE_JSON,
    ROLE_MODULE,
    ROOT,
    app_settings,
    bicep_files,
    declared_resources,
    module_paths,
    one_resource,
    parse,
)

CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses_and_keeps_every_resource(path: Path) -> None:
    tree = parse(path)
    # pycep 0.5.1 silently dropped some nested child resources: count the declarations against what it kept.
    assert sorted(tree.get("resources", {}).keys()) == sorted(declared_resources(path)), (
        f"{path.relative_to(ROOT)}: the parser lost a resource (declare children at top level with `parent:`)")


def test_entry_points_and_every_module_is_used() -> None:
    assert parse(MAIN)["globals"]["scope"]["value"] == "subscription"
    assert parse(ONBOARD)["globals"]["scope"]["value"] == "subscription"
    # The hooks deploy modules too (the role assignment, the event subscription once the code is published).
    by_hooks = {(ROOT / path).resolve() for script in (INFRA / "scripts").glob("*.sh")
                for path in re.findall(r"--template-file\s+(\S+\.bicep)", script.read_text())}
    assert ROLE_ASSIGNMENT.resolve() in by_hooks
    used = module_paths(MAIN) | module_paths(ONBOARD) | by_hooks | module_paths(ROLE_ASSIGNMENT)
    modules = {p.resolve() for p in (INFRA / "modules").glob("*.bicep")}
    assert modules - used == set(), "modules no deployment uses"
    assert used - modules == set(), "modules referenced but missing"
    assert ROLE_MODULE.resolve() in module_paths(MAIN) & module_paths(ONBOARD)
    assert CLUSTER_EVENTS.resolve() in module_paths(MAIN) & module_paths(ONBOARD)


def test_checkov_reports_no_failed_check_and_every_skip_is_inline_with_a_reason() -> None:
    assert CHECKOV.exists(), f"{CHECKOV} is missing: run ./dev test, which installs requirements-tools.txt there"
    result = subprocess.run(
        [str(CHECKOV), "--framework", "bicep", "-d", str(INFRA), "--compact", "--skip-download", "-o", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"})
    assert result.stdout.strip().startswith("{"), f"no checkov report:\n{result.stdout}\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    summary, results = report["summary"], report["results"]
    failed = [f"{c['check_id']} {c['check_name']}: {c['file_path']}:{c['file_line_range']}"
              for c in results["failed_checks"]]
    assert failed == [], "checkov failed checks (fix them, or skip one inline with a one-line reason):\n" + \
        "\n".join(failed)
    assert summary["parsing_errors"] == 0, f"checkov could not parse: {results.get('parsing_errors')}"
    assert summary["passed"] >= 15 and summary["resource_count"] >= 20, f"checkov checked too little: {summary}"
    skipped = {(c["check_id"], c["file_path"].lstrip("/")) for c in results["skipped_checks"]}
    comments = set()
    for path in bicep_files():
        for match in re.finditer(r"//\s*checkov:skip=(\w+):(.*)$", path.read_text(), re.MULTILINE):
            check_id, reason = match.group(1), match.group(2).strip()
            assert len(reason) >= 20, f"{path.name}: skip of {check_id} needs a real one-line reason"
            comments.add((check_id, str(path.relative_to(INFRA))))
    assert skipped == comments, (
        f"skips checkov applied {sorted(skipped - comments)} without an inline comment, or inline skips of checks "
        f"that no longer fire (delete them): {sorted(comments - skipped)}")


def _cluster_events_subscription() -> dict[str, Any]:
    found = one_resource(CLUSTER_EVENTS, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    properties: dict[str, Any] = found["config"]["properties"]
    return properties


def _event_grid_functions() -> set[str]:
    """Names given with @bp.function_name(...) to functions that carry an event_grid_trigger decorator."""
    names = set()
    for path in (ROOT / "handlers").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            calls = [d for d in node.decorator_list if isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)]
            kinds = {c.func.attr for c in calls if isinstance(c.func, ast.Attribute)}
            for call in calls:
                if isinstance(call.func, ast.Attribute) and call.func.attr == "function_name" and \
                        "event_grid_trigger" in kinds and isinstance(call.args[0], ast.Constant):
                    names.add(str(call.args[0].value))
    return names


def test_event_grid_subscription_sends_exactly_the_cluster_events_the_handler_consumes() -> None:
    props = _cluster_events_subscription()
    expected_ops = {f"{ns}/{rtype}/{verb}".lower() for ns, rtype in CLUSTER_TYPES.values()
                    for verb in ("write", "delete")}
    (operation_filter,) = props["filter"]["advancedFilters"]
    assert operation_filter["key"] == "data.operationName" and operation_filter["operatorType"] == "StringIn"
    assert {v.lower() for v in operation_filter["values"]} == expected_ops
    assert {t.lower() for t in props["filter"]["includedEventTypes"]} == set(_KINDS)
    destination = props["destination"]
    assert destination["endpointType"] == "AzureFunction"
    function = destination["properties"]["resourceId"].rsplit("/functions/", 1)[1]
    assert function in _event_grid_functions(), f"{function} is not an Event Grid function in handlers/"
    assert destination["properties"]["maxEventsPerBatch"] == 1
    assert props["retryPolicy"]["maxDeliveryAttempts"] >= 1 and props["retryPolicy"]["eventTimeToLiveInMinutes"] >= 60
    dead_letter = props["deadLetterWithResourceIdentity"]
    assert dead_letter["deadLetterDestination"]["endpointType"] == "StorageBlob"
    assert dead_letter["identity"]["type"] == "UserAssigned"
    declared = one_resource(CLUSTER_EVENTS, "Microsoft.EventGrid/systemTopics")["config"]
    # Created only where the subscription has no system topic yet (Azure allows one per source); else reused.
    assert declared["condition"] == {"operator": {"type": "not", "operands": {"bool_value": "reuseExistingTopic"}}}
    topic = declared["config"]
    assert topic["properties"]["topicType"] == "Microsoft.Resources.Subscriptions"
    assert topic["identity"]["userAssignedIdentities"] == {"'${eventsIdentityId}'": {}}


def test_request_queue_matches_the_trigger_and_host_json() -> None:
    servicebus = INFRA / "modules" / "servicebus.bicep"
    namespace = one_resource(servicebus, "Microsoft.ServiceBus/namespaces")["config"]
    assert namespace["properties"]["disableLocalAuth"] is True
    assert namespace["sku"]["name"] in ("Standard", "Premium"), "sessions and duplicate detection need Standard"
    assert "Microsoft.ServiceBus/namespaces/authorizationRules" not in servicebus.read_text(), "no SAS rules"
    queues = [r["config"] for r in parse(servicebus)["resources"].values()
              if r["type"] == "Microsoft.ServiceBus/namespaces/queues"]
    renewal = json.loads((ROOT / "host.json").read_text())["extensions"]["serviceBus"]["maxAutoLockRenewalDuration"]
    hours, minutes, seconds = (int(x) for x in renewal.split(":"))
    for name in ("installQueueName", "workQueueName"):  # both triggers have is_sessions_enabled=True
        queue = next(q for q in queues if q["name"] == name)["properties"]
        assert queue["requiresSession"] is True
        assert queue["requiresDuplicateDetection"] is True  # message ids are deterministic
        assert queue["deadLetteringOnMessageExpiration"] is True and 3 <= queue["maxDeliveryCount"] <= 20
        assert queue["lockDuration"] == f"PT{hours * 60 + minutes}M" and seconds == 0


# main.bicep parameter -> the Settings field whose default it must repeat.
DEFAULTS = {
    "providerPollSeconds": "provider_poll_seconds", "clusterPollSeconds": "cluster_poll_seconds",
    "extensionPollSeconds": "extension_poll_seconds", "providerCacheSeconds": "provider_cache_seconds",
    "maxWaitPolls": "max_wait_polls", "identityRetrySeconds": "identity_retry_seconds",
    "maxInstallAttempts": "max_install_attempts", "providerRegistrationTimeoutSeconds": "provider_registration_timeout",
    "stuckAfterSeconds": "stuck_after_seconds", "optTag": "opt_tag", "defaultProfile": "default_profile",
    "installQueueName": "queue_name", "workQueueName": "work_queue_name", "ledgerTablePrefix": "ledger_table_prefix",
    "requestRetentionDays": "request_retention_days",
}


def test_defaults_in_bicep_are_the_codes_defaults() -> None:
    params = parse(MAIN)["parameters"]
    wrong = {name: (params[name].get("default"), getattr(Settings, field)) for name, field in DEFAULTS.items()
             if params[name].get("default") != getattr(Settings, field)}
    assert wrong == {}, "main.bicep default != shared/settings.py default: " + repr(wrong)
    assert params["optDefault"]["default"] == ("in" if Settings.opt_in_by_default else "out")
    template = json.loads((ROOT / "local.settings.json.template").read_text())["Values"]
    assert params["sweepSchedule"]["default"] == template["SWEEP_SCHEDULE"]  # no code default: the template's
    # Unset in the code (the cluster's own group); the deployment's empty default means rg-<env>-argocd-identities
    # on purpose (least privilege, tests/infra/test_identity_group.py).
    assert params["identityResourceGroup"]["default"] == "" and Settings.identity_resource_group is None


def test_no_keys_or_connection_strings_anywhere() -> None:
    storage = one_resource(INFRA / "modules" / "storage.bicep", "Microsoft.Storage/storageAccounts")["config"]
    assert storage["properties"]["allowSharedKeyAccess"] is False
    assert storage["properties"]["allowBlobPublicAccess"] is False
    insights = one_resource(INFRA / "modules" / "monitoring.bicep", "Microsoft.Insights/components")["config"]
    assert insights["properties"]["DisableLocalAuth"] is True
    assert "WorkspaceResourceId" in insights["properties"]
    site = one_resource(FUNCTION_APP, "Microsoft.Web/sites")["config"]
    storage_auth = site["properties"]["functionAppConfig"]["deployment"]["storage"]["authentication"]
    assert storage_auth["type"] == "UserAssignedIdentity"
    assert site["properties"]["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    assert site["identity"]["type"] == "UserAssigned"
    text = "\n".join(p.read_text() for p in bicep_files()).lower()
    for forbidden in ("listkeys(", "listconnectionstrings(", "accountkey=", "sharedaccesskey", "@secure()"):
        assert forbidden not in text, f"{forbidden} in infra/: identities only"


def test_role_module_deploys_the_json_actions_and_the_assignment_constrained_delegation() -> None:
    tree = parse(ROLE_MODULE)
    loaded = tree["variables"]["role"]["value"]["function"]
    assert loaded["type"] == "load_json_content"
    assert (ROLE_MODULE.parent / loaded["parameters"]["file_path"]).resolve() == ROLE_JSON.resolve()
    definition = parse(ROLE_MODULE)["resources"]["definition"]["config"]["properties"]
    (permissions,) = definition["permissions"]
    assert permissions["actions"] == "actions" and permissions["dataActions"] == []
    # actions: the JSON's list, plus the workload-identity feature's only when the parameter turns it on.
    chosen = tree["variables"]["actions"]["value"]["operator"]
    assert chosen["type"] == "conditional"
    assert chosen["operands"]["condition"] == "enableWorkloadIdentityOnClusters"
    assert tree["parameters"]["enableWorkloadIdentityOnClusters"]["default"] is False
    accessor = {"operator": {"type": "property_accessor", "operands": {"operand_1": "role", "operand_2": "actions"}}}
    assert chosen["operands"]["false_value"] == accessor
    assert "role.enableWorkloadIdentityOnClusters.actions" in ROLE_MODULE.read_text()
    role = json.loads(ROLE_JSON.read_text())
    optional = (role["enableWorkloadIdentityOnClusters"]["actions"], role["identityRole"]["actions"])
    for actions in (role["actions"], *optional):
        assert not [a for a in actions if "*" in a], "no wildcards in the custom role"
    assert set(role["actions"]).isdisjoint(role["enableWorkloadIdentityOnClusters"]["actions"])
    assignment_tree = parse(ROLE_ASSIGNMENT)
    assert "Microsoft.Authorization/roleAssignments" not in ROLE_MODULE.read_text()  # definitions only
    assignment = assignment_tree["resources"]["assignment"]["config"]["properties"]
    assert assignment["conditionVersion"] == "2.0" and assignment["condition"] == "delegationCondition"
    condition = assignment_tree["variables"]["delegationCondition"]["value"].replace("\\'", "'")  # Bicep's \' escapes
    for action in ("roleAssignments/write", "roleAssignments/delete"):
        assert f"ActionMatches{{'Microsoft.Authorization/{action}'}}" in condition
    # Exactly the two pull roles (AcrPull, and Container Registry Repository Reader for registries with ABAC) and the
    # three AKS RBAC roles a hub's identity may get on a spoke (Cluster Admin, Admin, Writer).
    assert assignment_tree["parameters"]["delegableRoleIds"]["default"] == [
        "7f951dda-4ed3-4680-a7ca-43fe172d538d", "b93aa761-3e63-49ed-ac28-beffa264f7ac",
        "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b", "3498e952-d568-435e-9b2c-8d77e338d7f7",
        "a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb"]
    # The definitions' names are the environment's own (roleKey); the assignment takes the ids main.bicep outputs.
    assert "guid(subscription().id, 'argoboot-cluster-bootstrapper', roleKey)" in ROLE_MODULE.read_text()
    assert assignment_tree["parameters"]["roleDefinitionId"]["default"] is None


def test_main_and_onboarding_pass_the_workload_identity_switch_to_the_role() -> None:
    for entry in (MAIN, ONBOARD):
        tree = parse(entry)
        assert tree["parameters"]["enableWorkloadIdentityOnClusters"]["default"] is False
        (role,) = [m for m in tree["modules"].values() if (entry.parent / m["detail"]["path"]).resolve() ==
                   ROLE_MODULE.resolve()]
        assert role["config"]["params"] == {"roleKey": "deploymentSuffix",
                                            "enableWorkloadIdentityOnClusters": "enableWorkloadIdentityOnClusters"}

SERVICE_BUS_ROLES = {"090c5cfd-751d-490a-894a-3ce6f1109419": "Azure Service Bus Data Owner",
                     "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
                     "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender"}


def test_app_owns_its_two_queues_for_target_based_scaling_and_sends_only_to_reply_entities() -> None:
    servicebus = INFRA / "modules" / "servicebus.bicep"
    variables = {name: v["value"] for name, v in parse(servicebus)["variables"].items()}
    granted = set()
    for resource in parse(servicebus)["resources"].values():
        if resource["type"] != "Microsoft.Authorization/roleAssignments" or "loop_type" in resource["config"]:
            continue  # the loops: the operator's (optional) access, other senders', other reply entities'
        config = resource["config"]
        role = config["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        assert config["properties"]["principalId"] == "appPrincipalId"
        granted.add((SERVICE_BUS_ROLES[variables[role]], config["scope"]))
    # Scaling reads each queue's message count (Manage); receive on both, send to the work queue; reply only where
    # allowed. Nothing on the namespace: no confused deputy.
    assert granted == {("Azure Service Bus Data Owner", "installQueue"), ("Azure Service Bus Data Owner", "workQueue"),
                       ("Azure Service Bus Data Sender", "repliesQueue")}
    text = servicebus.read_text()
    loops = {name: r["config"] for name, r in parse(servicebus)["resources"].items()
             if r["type"] == "Microsoft.Authorization/roleAssignments" and "loop_type" in r["config"]}
    assert set(loops) == {"appOtherReplyAccess", "requestSenderAccess", "operatorAccess", "operatorSendAccess",
                          "rolloutOperatorAccess"}, text
    assert "scope: installQueue" in text.split("resource requestSenderAccess")[1].split("]")[0]  # senders: one queue
    # Rollout operators: Data Sender (the built-in id), on the work queue only, and nobody unless the deployment
    # names them (the boundary rollout-resume and -abort rely on; the request queue refuses them).
    rollout = loops["rolloutOperatorAccess"]["config"]
    assert loops["rolloutOperatorAccess"]["loop_type"]["detail"]["array_name"] == "rolloutOperatorPrincipalIds"
    assert rollout["scope"] == "workQueue"
    role = rollout["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
    assert SERVICE_BUS_ROLES[variables[role]] == "Azure Service Bus Data Sender"
    assert parse(servicebus)["parameters"]["rolloutOperatorPrincipalIds"]["default"] == []
    assert "rolloutOperatorPrincipalIds: rolloutOperatorPrincipalIds" in MAIN.read_text()


def test_the_status_api_is_behind_entra_id_and_needs_its_app_role() -> None:
    auth = one_resource(INFRA / "modules" / "status-auth.bicep", "Microsoft.Web/sites/config")["config"]
    assert auth["name"] == "authsettingsV2"
    validation = auth["properties"]["globalValidation"]
    assert (validation["requireAuthentication"], validation["unauthenticatedClientAction"]) == (True, "Return401")
    assert "/runtime/webhooks/EventGrid" in validation["excludedPaths"]  # Event Grid keeps its system key
    entra = auth["properties"]["identityProviders"]["azureActiveDirectory"]
    assert entra["enabled"] is True and "api://${clientId}" in entra["validation"]["allowedAudiences"]
    assert entra["registration"]["openIdIssuer"].endswith("${tenant().tenantId}/v2.0")
    assert auth["properties"]["login"]["tokenStore"]["enabled"] is False  # an API: no sessions kept
    module = parse(MAIN)["modules"]["statusAuth"]["config"]
    assert module["config"]["params"]["clientId"] == "statusApiClientId"
    # The functions check the role only where App Service authentication puts the caller's claims in front of them.
    app = parse(MAIN)["modules"]["app"]["config"]["params"]
    assert "statusApiRole" in app and "Status.Read" in json.dumps(app["statusApiRole"])
    assert app_settings()["STATUS_API_ROLE"] == "statusApiRole"
    script = (INFRA / "scripts" / "create-status-api-app.sh").read_text()
    assert '"value":"Status.Read"' in script and "appRoleAssignmentRequired=true" in script
