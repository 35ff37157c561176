"""What real clients expect of ARM, one test per gap found by Microsoft's own `az identity` scenario tests and the
`az k8s-extension extension-types` commands against the local Azure (issue 29): resource group delete (async, with
what the group holds), the providers' operations lists, `listAssociatedResources`, identity properties echoed at
the versions that have them, federated credentials by claims-matching expression, and the extension-types routes
by region and by cluster. The real SDK clients where the SDK has the operation; raw HTTPS otherwise.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.identity import DefaultAzureCredential
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.msi.v2024_11_30.models import Identity
from azure.mgmt.resource.resources import ResourceManagementClient

from localazure.arm.emulator import ArmEmulator
from localazure.clock import VirtualClock
from tests.localazure.arm_clients import SCOPE, SUB, options

RG = "rg-platform"
MSI = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
KC = "Microsoft.KubernetesConfiguration"
REGION = f"/subscriptions/{SUB}/providers/{KC}/locations/eastus/extensionTypes"
ISSUER = "https://token.actions.githubusercontent.com"


@pytest.fixture
def emu(clock: VirtualClock) -> Iterator[ArmEmulator]:
    with ArmEmulator(clock, provider_states={}) as running:
        running.add_subscription(SUB, "Platform")
        running.add_resource_group(SUB, RG)
        yield running


@pytest.fixture
def resources(emu: ArmEmulator, credential: DefaultAzureCredential) -> ResourceManagementClient:
    return ResourceManagementClient(credential, SUB, **options(emu))


@pytest.fixture
def msi(emu: ArmEmulator, credential: DefaultAzureCredential) -> ManagedServiceIdentityClient:
    return ManagedServiceIdentityClient(credential, SUB, **options(emu))


def call(emu: ArmEmulator, credential: DefaultAzureCredential, method: str, path: str, api_version: str,
         body: Any = None) -> requests.Response:
    """Raw HTTPS with the function app's token, for what the installed SDKs have no operation for."""
    token = credential.get_token(SCOPE).token
    return requests.request(method, f"{emu.url}{path}", params={"api-version": api_version}, json=body,
                            headers={"Authorization": f"Bearer {token}"}, verify=emu.ca_path, timeout=10)


# ---------------------------------------------------------------------- resource groups


def test_deleting_a_resource_group_is_an_async_operation_that_deletes_what_it_holds(
    emu: ArmEmulator, clock: VirtualClock, resources: ResourceManagementClient, msi: ManagedServiceIdentityClient,
    credential: DefaultAzureCredential,
) -> None:
    emu.add_aks_cluster(SUB, RG, "aks-1")
    registry = emu.add_registry(SUB, RG, "acrplatform")
    msi.user_assigned_identities.create_or_update(RG, "id-1", Identity(location="eastus"))
    poller = resources.resource_groups.begin_delete(RG, polling=False)
    initial = poller._polling_method._initial_response.http_response  # type: ignore[attr-defined]
    assert initial.status_code == 202
    location = initial.headers["Location"]
    assert location.startswith(f"{emu.url}/subscriptions/{SUB}/operationresults/") and "api-version=" in location
    assert int(initial.headers["Retry-After"]) == emu.resource_group_delete_seconds
    assert resources.resource_groups.get(RG).properties.provisioning_state == "Deleting"
    assert resources.send_request(HttpRequest("GET", location)).status_code == 202  # still running
    with pytest.raises(HttpResponseError) as busy:
        resources.resource_groups.create_or_update(RG, {"location": "eastus"})
    assert busy.value.status_code == 409 and busy.value.error.code == "ResourceGroupBeingDeleted"

    clock.advance(emu.resource_group_delete_seconds)
    assert resources.send_request(HttpRequest("GET", location)).status_code == 200
    with pytest.raises(ResourceNotFoundError) as gone:
        resources.resource_groups.get(RG)
    assert gone.value.error is not None and gone.value.error.code == "ResourceGroupNotFound"
    assert emu.cluster(f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerService/"
                       "managedClusters/aks-1") is None
    assert emu.identities() == []
    assert call(emu, credential, "GET", registry, "2025-05-01-preview").status_code == 404
    assert not resources.resource_groups.check_existence("MC_rg-platform_aks-1_eastus")  # the group AKS managed


def test_the_sdk_waits_a_resource_group_delete_out(
    emu: ArmEmulator, resources: ResourceManagementClient
) -> None:
    emu.resource_group_delete_seconds = 0.0
    resources.resource_groups.begin_delete(RG).result()  # the SDK's own LRO polling, to the 200
    assert not resources.resource_groups.check_existence(RG)
    with pytest.raises(ResourceNotFoundError):
        resources.resource_groups.begin_delete(RG).result()


# ---------------------------------------------------------------------- operations lists


def test_the_managed_identity_provider_lists_its_operations(msi: ManagedServiceIdentityClient) -> None:
    names = {o.name: o for o in msi.operations.list()}
    for name in ("Microsoft.ManagedIdentity/userAssignedIdentities/read",
                 "Microsoft.ManagedIdentity/userAssignedIdentities/listAssociatedResources/action",
                 "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write"):
        assert name in names
    listed = names["Microsoft.ManagedIdentity/userAssignedIdentities/listAssociatedResources/action"]
    assert listed.display.provider == "Microsoft.ManagedIdentity" and listed.display.resource == \
        "userAssignedIdentities" and listed.display.operation == "ListAssociatedResources"


@pytest.mark.parametrize(("namespace", "api_version", "expected"), [
    (KC, "2023-05-01", "Microsoft.KubernetesConfiguration/extensionTypes/read"),
    ("Microsoft.ContainerService", "2025-10-01", "Microsoft.ContainerService/managedClusters/read"),
    ("Microsoft.Kubernetes", "2024-01-01", "Microsoft.Kubernetes/connectedClusters/Read"),
])
def test_each_served_provider_lists_its_operations(
    emu: ArmEmulator, credential: DefaultAzureCredential, namespace: str, api_version: str, expected: str
) -> None:
    answer = call(emu, credential, "GET", f"/providers/{namespace}/operations", api_version)
    assert answer.status_code == 200
    body = answer.json()
    assert body["nextLink"] is None and expected in [o["name"] for o in body["value"]]
    assert all(o["name"].startswith(f"{namespace}/") and o["isDataAction"] is False for o in body["value"])
    assert call(emu, credential, "GET", "/providers/Contoso.Nothing/operations", api_version).status_code == 404
    unpublished = call(emu, credential, "GET", f"/providers/{namespace}/operations", "2019-01-01")
    assert unpublished.status_code == 400 and unpublished.json()["error"]["code"] == "NoRegisteredProviderFound"


# ---------------------------------------------------------------------- identities


def test_list_associated_resources_answers_a_paged_list(
    emu: ArmEmulator, credential: DefaultAzureCredential
) -> None:
    preview = ManagedServiceIdentityClient(credential, SUB, **options(emu, api_version="2022-01-31-preview"))
    node_group = "MC_rg-platform_aks-1_eastus"
    emu.add_aks_cluster(SUB, RG, "aks-1")  # its kubelet identity is `aks-1-agentpool` in the node group
    emu.add_aks_cluster(SUB, RG, "aks-2")
    kubelet = preview.user_assigned_identities.create_or_update(node_group, "aks-1-agentpool", {"location": "eastus"})
    lonely = preview.user_assigned_identities.create_or_update(RG, "id-lonely", {"location": "eastus"})

    found = list(preview.user_assigned_identities.list_associated_resources(node_group, kubelet.name))
    assert [(r.name, r.type, r.resource_group, r.subscription_id, r.subscription_display_name) for r in found] == [
        ("aks-1", "microsoft.containerservice/managedclusters", RG, SUB, "Platform")]
    assert list(preview.user_assigned_identities.list_associated_resources(RG, lonely.name)) == []

    path = f"{MSI}/id-lonely/listAssociatedResources"
    page = call(emu, credential, "POST", path, "2022-01-31-preview").json()
    assert page == {"totalCount": 0, "value": [], "nextLink": None}
    assert call(emu, credential, "POST", path, "2024-11-30").status_code == 400  # not in that version's spec
    missing = call(emu, credential, "POST", f"{MSI}/nobody/listAssociatedResources", "2022-01-31-preview")
    assert missing.status_code == 404


def test_list_associated_resources_pages_by_top_and_skiptoken(
    emu: ArmEmulator, credential: DefaultAzureCredential
) -> None:
    preview = ManagedServiceIdentityClient(credential, SUB, **options(emu, api_version="2022-01-31-preview"))
    for name in ("aks-a", "aks-b", "aks-c"):
        emu.add_aks_cluster(SUB, RG, name, identity="UserAssigned")  # control plane: `{name}-identity` here
    shared = f"{MSI}/aks-b-identity"
    preview.user_assigned_identities.create_or_update(RG, "aks-b-identity", {"location": "eastus"})
    first = call(emu, credential, "POST", f"{shared}/listAssociatedResources?$top=0", "2022-01-31-preview").json()
    assert first["totalCount"] == 1 and first["value"] == [] and "skiptoken=0" in first["nextLink"]
    listed = list(preview.user_assigned_identities.list_associated_resources(RG, "aks-b-identity", top=1))
    assert [r.name for r in listed] == ["aks-b"]


def test_isolation_scope_and_assignment_restrictions_are_echoed_where_the_version_has_them(
    emu: ArmEmulator, credential: DefaultAzureCredential, msi: ManagedServiceIdentityClient
) -> None:
    made = msi.user_assigned_identities.create_or_update(RG, "id-1", Identity(location="eastus",
                                                                                isolation_scope="Regional"))
    assert made.isolation_scope == "Regional"
    assert msi.user_assigned_identities.get(RG, "id-1").isolation_scope == "Regional"

    body = {"location": "eastus", "properties": {"isolationScope": "Regional",
                                                 "assignmentRestrictions": {"providers": ["Microsoft.Compute"]}}}
    newest = call(emu, credential, "PUT", f"{MSI}/id-2", "2025-05-31-preview", body).json()["properties"]
    assert newest["isolationScope"] == "Regional"
    assert newest["assignmentRestrictions"] == {"providers": ["Microsoft.Compute"]}
    older = call(emu, credential, "GET", f"{MSI}/id-2", "2025-01-31-preview").json()["properties"]
    assert "assignmentRestrictions" not in older and older["isolationScope"] == "Regional"
    dropped = call(emu, credential, "PUT", f"{MSI}/id-3", "2023-01-31", body).json()["properties"]
    assert "isolationScope" not in dropped and "assignmentRestrictions" not in dropped
    bad = call(emu, credential, "PUT", f"{MSI}/id-4", "2024-11-30",
               {"location": "eastus", "properties": {"isolationScope": "Galactic"}})
    assert bad.status_code == 400


def test_a_federated_credential_can_match_claims_instead_of_a_subject(
    emu: ArmEmulator, credential: DefaultAzureCredential, msi: ManagedServiceIdentityClient
) -> None:
    msi.user_assigned_identities.create_or_update(RG, "id-1", Identity(location="eastus"))
    expression = {"value": "claims['sub'] matches 'repo:contoso/*'", "languageVersion": 1}
    path = f"{MSI}/id-1/federatedIdentityCredentials"
    body = {"properties": {"issuer": ISSUER, "audiences": ["api://AzureADTokenExchange"],
                           "claimsMatchingExpression": expression}}
    made = call(emu, credential, "PUT", f"{path}/by-claims", "2025-01-31-preview", body)
    assert made.status_code == 201
    assert made.json()["properties"]["claimsMatchingExpression"] == expression
    assert "subject" not in made.json()["properties"]
    listed = call(emu, credential, "GET", path, "2025-05-31-preview").json()["value"]
    assert [c["properties"]["claimsMatchingExpression"] for c in listed] == [expression]

    both = {"properties": dict(body["properties"], subject="repo:contoso/app:ref:refs/heads/main")}
    refused = call(emu, credential, "PUT", f"{path}/both", "2025-01-31-preview", both)
    assert refused.status_code == 400 and "not both" in refused.json()["error"]["message"]
    neither = {"properties": {"issuer": ISSUER, "audiences": ["api://AzureADTokenExchange"]}}
    assert call(emu, credential, "PUT", f"{path}/neither", "2025-01-31-preview", neither).status_code == 400
    # Before 2025-01-31-preview the expression is not in the contract: a subject is required.
    assert call(emu, credential, "PUT", f"{path}/older", "2024-11-30", body).status_code == 400


# ---------------------------------------------------------------------- extension types


def test_extension_types_by_region_answer_the_types_and_one_version(
    emu: ArmEmulator, credential: DefaultAzureCredential
) -> None:
    listed = call(emu, credential, "GET", f"{REGION}?releaseTrain=preview", "2024-11-01-preview").json()
    assert [t["name"] for t in listed["value"]] == ["Microsoft.ArgoCD"] and listed["nextLink"] is None
    assert call(emu, credential, "GET", REGION, "2024-11-01-preview").json()["value"] == []  # stable by default
    one = call(emu, credential, "GET", f"{REGION}/Microsoft.ArgoCD", "2024-11-01-preview").json()
    assert one["id"] == f"{REGION}/Microsoft.ArgoCD" and one["properties"]["supportedScopes"] == {
        "defaultScope": "cluster", "clusterScopeSettings": {"properties": {"defaultReleaseNamespace": "argocd"}}}
    assert one["properties"]["supportedClusterTypes"] == ["managedCluster", "connectedCluster"]
    version = call(emu, credential, "GET", f"{REGION}/Microsoft.ArgoCD/versions/1.0.0-preview", "2023-05-01-preview")
    assert version.status_code == 200 and version.json()["properties"]["version"] == "1.0.0-preview"
    assert call(emu, credential, "GET", f"{REGION}/Microsoft.ArgoCD/versions/9.9.9", "2024-11-01-preview"
                ).status_code == 404
    assert call(emu, credential, "GET", f"{REGION}/Contoso.Nothing", "2024-11-01-preview").status_code == 404
    emu.withdraw_argocd("eastus")
    assert call(emu, credential, "GET", f"{REGION}?releaseTrain=preview", "2024-11-01-preview").json()["value"] == []


def test_extension_types_by_cluster_answer_what_the_cluster_can_take(
    emu: ArmEmulator, credential: DefaultAzureCredential
) -> None:
    emu.add_arc_cluster(SUB, RG, "arc-1")
    emu.offer_argocd("1.1.0-preview")
    emu.offer_argocd("2.0.0-aks-only", cluster_types=["managedCluster"])  # a version Arc clusters are not offered
    cluster = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Kubernetes/connectedClusters/arc-1"
    base = f"{cluster}/providers/{KC}/extensionTypes"
    listed = call(emu, credential, "GET", f"{base}?releaseTrain=preview", "2024-11-01-preview").json()["value"]
    assert [(t["id"], t["properties"]["supportedClusterTypes"]) for t in listed] == [
        (f"{base}/Microsoft.ArgoCD", ["connectedCluster"])]
    versions = call(emu, credential, "GET", f"{base}/Microsoft.ArgoCD/versions?releaseTrain=preview",
                    "2024-11-01-preview").json()
    assert [v["name"] for v in versions["value"]] == ["1.0.0-preview", "1.1.0-preview"]
    latest = call(emu, credential, "GET", f"{base}/Microsoft.ArgoCD/versions?releaseTrain=preview&showLatest=true",
                  "2024-11-01-preview").json()
    assert [v["name"] for v in latest["value"]] == ["1.1.0-preview"]
    unpublished = call(emu, credential, "GET", f"{base}/Microsoft.ArgoCD/versions", "2026-04-01")
    assert unpublished.status_code == 400 and unpublished.json()["error"]["code"] == "NoRegisteredProviderFound"
    one = call(emu, credential, "GET", f"{base}/Microsoft.ArgoCD/versions/1.1.0-preview", "2024-11-01-preview")
    assert one.json()["id"] == f"{base}/Microsoft.ArgoCD/versions/1.1.0-preview"
    assert call(emu, credential, "GET", f"{base}/Microsoft.ArgoCD/versions/2.0.0-aks-only", "2024-11-01-preview"
                ).status_code == 404
    missing = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Kubernetes/connectedClusters/nope"
    assert call(emu, credential, "GET", f"{missing}/providers/{KC}/extensionTypes", "2024-11-01-preview"
                ).status_code == 404
