"""Issue 24, rows 6, 7, 13 and 14: what the app's identity may do, and where.

Row 6: identity rights (create, federate, delete managed identities) in a role of their own, assigned only at the
identity resource group; row 7: no `subscriptions/resources/read` (every resource of the subscription), the sweep lists
clusters through the cluster types' own reads; row 13: the delegation condition admits the ABAC registries' pull role;
row 14: storage roles on the containers and the table service the app uses, not the whole account.
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from localazure.stack import SUBSCRIPTION, LocalAzure
from tests.infra.arm_actions import is_resource_graph, rbac_action
from tests.infra.bicep import INFRA, MAIN, ROLE_ASSIGNMENT, ROLE_JSON, ROLE_MODULE, parse, role_actions

STORAGE = INFRA / "modules" / "storage.bicep"
IDENTITY_ASSIGNMENT = INFRA / "modules" / "bootstrapper-identity-role-assignment.bicep"


def _role() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(ROLE_JSON.read_text())
    return result


def test_identity_rights_are_a_role_of_their_own_and_nothing_else_is_in_it() -> None:
    role = _role()
    identity = role["identityRole"]["actions"]
    assert identity and all(a.startswith("Microsoft.ManagedIdentity/userAssignedIdentities/") for a in identity)
    assert "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write" in identity
    # The subscription-wide role keeps no identity right; assign/action (the cluster's own control-plane identity,
    # wherever it is) stays with the workload-identity feature, at the subscription.
    assert not [a for a in role["actions"] if a.startswith("Microsoft.ManagedIdentity/userAssignedIdentities")]
    assert role["enableWorkloadIdentityOnClusters"]["actions"] == [
        "Microsoft.ContainerService/managedClusters/write",
        "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"]
    tree = parse(ROLE_MODULE)["resources"]
    granted = json.dumps(tree["identityDefinition"]["config"]["properties"]["permissions"][0]["actions"])
    assert '"identityRole"' in granted and '"actions"' in granted
    assert "role.identityRole.actions" in ROLE_MODULE.read_text()


def test_the_identity_role_is_assigned_at_the_identity_group_and_at_the_subscription_only_without_one() -> None:
    tree = parse(ROLE_ASSIGNMENT)
    (module,) = tree["modules"].values()
    assert (ROLE_ASSIGNMENT.parent / module["detail"]["path"]).resolve() == IDENTITY_ASSIGNMENT.resolve()
    text = ROLE_ASSIGNMENT.read_text()
    assert "module identityRole 'bootstrapper-identity-role-assignment.bicep' = if (assignIdentityRole && !empty(" \
           "identityResourceGroup))" in text
    assert module["config"]["config"]["params"]["roleDefinitionId"] == "identityRoleDefinitionId"
    at_subscription = tree["resources"]["identityRoleAtSubscription"]["config"]
    assert "identityRoleAtSubscription 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (assignIdentityRole " \
           "&& empty(identityResourceGroup))" in text
    assert at_subscription["config"]["properties"]["roleDefinitionId"] == "identityRoleDefinitionId"
    # The cluster role (subscription scope, with constrained delegation) is the other assignment.
    assert tree["resources"]["assignment"]["config"]["properties"]["roleDefinitionId"] == "roleDefinitionId"
    assert parse(IDENTITY_ASSIGNMENT)["globals"]["scope"]["value"] == "resourceGroup"
    assert "IDENTITY_ROLE_DEFINITION_ID" in parse(MAIN)["outputs"]


def test_the_role_cannot_list_every_resource_of_the_subscription() -> None:
    assert "Microsoft.Resources/subscriptions/resources/read" not in role_actions()


@pytest.mark.parametrize("source", ["resource-graph", "arm"])
def test_the_sweep_finds_clusters_with_the_cluster_types_reads_alone(local_azure: LocalAzure, source: str) -> None:
    """Row 7 on the running app: every request a sweep makes is allowed by the role, and it still finds clusters:
    through Resource Graph (no action of its own: it returns the rows the role may read) and, when Resource Graph
    refuses, through ARM's lists per cluster type."""
    az = local_azure
    az.arm.set_permissions(role_actions())
    if source == "arm":
        az.arm.set_resource_graph(refuse=403)
    az.arm.add_aks_cluster(SUBSCRIPTION, "rg-sweep-lp", "aks-unseen")
    az.arm.add_arc_cluster(SUBSCRIPTION, "rg-sweep-lp", "arc-unseen")
    az.arm.clear_log()
    assert az.host is not None
    az.host.run_timer("sweep")
    report = az.services.sweeper.last_report
    enqueued = report.enqueued
    assert report.source == source
    assert {k for k in enqueued if k.endswith(("/aks-unseen", "/arc-unseen"))} and len(
        [k for k in enqueued if "rg-sweep-lp" in k]) == 2, enqueued
    needed = {rbac_action(r.method, r.path) for r in az.arm.requests if not is_resource_graph(r.path)}
    assert needed <= set(role_actions()), needed - set(role_actions())
    assert not [r for r in az.arm.requests if r.path.lower().startswith("/subscriptions/") and
                r.path.lower().endswith("/resources")]


def test_the_app_may_delegate_both_registry_pull_roles() -> None:
    """Row 13: AcrPull, and Container Registry Repository Reader for registries with ABAC repository permissions."""
    delegable = parse(ROLE_ASSIGNMENT)["parameters"]["delegableRoleIds"]["default"]
    assert "b93aa761-3e63-49ed-ac28-beffa264f7ac" in delegable and "7f951dda-4ed3-4680-a7ca-43fe172d538d" in delegable


def test_storage_roles_sit_on_the_containers_and_tables_the_app_uses() -> None:
    """Row 14: Blob Data Owner per container (the package, the host's two), Table Data Contributor on the table
    service; no role on the whole account, none on queues, none on the dead letters for the app."""
    resources = parse(STORAGE)["resources"]
    roles = parse(STORAGE)["variables"]["roles"]["value"]
    app_scopes = {}
    for name, resource in resources.items():
        if resource["type"] != "Microsoft.Authorization/roleAssignments":
            continue
        config = resource["config"].get("config", resource["config"])
        if config["properties"]["principalId"] != "appPrincipalId":
            continue
        role = config["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        app_scopes[name] = (role["operator"]["operands"]["operand_2"], json.dumps(config["scope"]))
    assert {name: role for name, (role, _) in app_scopes.items()} == {
        "appPackageAccess": "blobDataOwner", "appHostAccess": "blobDataOwner",
        "appLedgerAccess": "tableDataContributor"}
    assert app_scopes["appPackageAccess"][1] == '"deploymentContainer"' and app_scopes["appLedgerAccess"][1] == \
        '"tables"'
    assert "hostContainer" in app_scopes["appHostAccess"][1]
    assert "queueDataContributor" not in roles
    host = parse(STORAGE)["variables"]["hostContainers"]["value"]
    assert host == ["azure-webjobs-hosts", "azure-webjobs-secrets"]
