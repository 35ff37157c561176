"""The local ARM against the real Azure SDK clients: what the service relies on must behave like Azure.

Every call goes through the real mgmt clients and `DefaultAzureCredential` (via the emulator's
managed-identity endpoint); raw HTTP appears only where the SDK hides the quirk under test.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import azure.mgmt.core.policies._base as arm_policies
import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.core.rest import HttpRequest
from azure.identity import DefaultAzureCredential
from azure.mgmt.kubernetesconfiguration.v2023_05_01 import SourceControlConfigurationClient
from azure.mgmt.kubernetesconfiguration.v2023_05_01.models import Extension, PatchExtension, Scope, ScopeCluster
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.resource.resources import ResourceManagementClient

from localazure.arm.emulator import ArmEmulator
from localazure.clock import VirtualClock
from tests.localazure.arm_clients import SCOPE, SUB, options

RG = "rg-platform"
AKS = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerService/managedClusters"
ARC = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Kubernetes/connectedClusters"
AKS_AS_RETURNED = f"/subscriptions/{SUB}/resourcegroups/{RG}/providers/Microsoft.ContainerService/managedClusters"
UAMI_AS_RETURNED = (
    f"/subscriptions/{SUB}/resourcegroups/{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
)
ISSUER = "https://eastus.oic.prod-aks.azure.com/tenant/issuer/"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"


# ---------------------------------------------------------------------- fixtures


@pytest.fixture
def emu(clock: VirtualClock) -> Iterator[ArmEmulator]:
    """A subscription whose providers are all registered (the fresh subscription has its own tests), and RG."""
    with ArmEmulator(clock, provider_states={}) as running:
        running.add_subscription(SUB)
        running.add_resource_group(SUB, RG)
        yield running


@pytest.fixture
def resources(emu: ArmEmulator, credential: DefaultAzureCredential) -> ResourceManagementClient:
    return ResourceManagementClient(credential, SUB, **options(emu))


@pytest.fixture
def kc(emu: ArmEmulator, credential: DefaultAzureCredential) -> SourceControlConfigurationClient:
    return SourceControlConfigurationClient(credential, SUB, **options(emu))


@pytest.fixture
def msi(emu: ArmEmulator, credential: DefaultAzureCredential) -> ManagedServiceIdentityClient:
    emu.add_resource_group(SUB, RG)  # identities go into an existing group
    return ManagedServiceIdentityClient(credential, SUB, **options(emu))


def on_aks(name: str) -> tuple[str, str, str, str]:
    """The cluster part of an extension call (resource group, RP, resource type, name)."""
    return (RG, "Microsoft.ContainerService", "managedClusters", name)


def on_arc(name: str) -> tuple[str, str, str, str]:
    return (RG, "Microsoft.Kubernetes", "connectedClusters", name)


def argocd(**settings: str) -> Extension:
    return Extension(
        extension_type="Microsoft.ArgoCD",
        release_train="preview",
        configuration_settings=settings,
        configuration_protected_settings={"secret": "s3cr3t"},
        scope=Scope(cluster=ScopeCluster(release_namespace="argocd")),
    )


def fic(subject: str = "system:serviceaccount:argocd:argocd-repo-server", **overrides: Any) -> dict[str, Any]:
    return {"issuer": ISSUER, "subject": subject, "audiences": ["api://AzureADTokenExchange"], **overrides}


class Captured:
    """A raw_response_hook that keeps the last HTTP response the SDK saw."""

    def __init__(self) -> None:
        self.response: Any = None

    def __call__(self, pipeline_response: Any) -> None:
        self.response = pipeline_response.http_response


# ---------------------------------------------------------------------- identity, auth, api-version


def test_default_credential_gets_a_token_that_arm_accepts(
    emu: ArmEmulator, credential: DefaultAzureCredential, resources: ResourceManagementClient
) -> None:
    assert emu.environ() == {
        "IDENTITY_ENDPOINT": emu.identity_endpoint,
        "IDENTITY_HEADER": emu.identity_header,
        "ARM_ENDPOINT": emu.url,
        "ARM_CA_BUNDLE": emu.ca_path,
        "GRAPH_ENDPOINT": emu.url,
    }
    assert emu.url.startswith("https://127.0.0.1:") and emu.identity_endpoint.endswith("/msi/token")
    token = credential.get_token(SCOPE)
    assert token.token and 86_000 < token.expires_on - time.time() <= 86_400  # a day, as Azure's MI tokens
    assert resources.providers.get("Microsoft.ContainerService").registration_state == "Registered"

    no_secret = requests.get(emu.identity_endpoint, params={"api-version": "2019-08-01", "resource": SCOPE}, timeout=5)
    assert no_secret.status_code == 401

    arm_url = f"{emu.url}/subscriptions/{SUB}/providers/Microsoft.Kubernetes"
    missing = requests.get(arm_url, params={"api-version": "2024-11-01"}, verify=emu.ca_path, timeout=5)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "AuthenticationFailed"

    class Forged:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("forged", int(time.time()) + 3600)

    forged = ResourceManagementClient(Forged(), SUB, **options(emu))  # type: ignore[arg-type]
    with pytest.raises(ClientAuthenticationError) as refused:
        forged.providers.get("Microsoft.Kubernetes")
    assert refused.value.error is not None and refused.value.error.code == "InvalidAuthenticationToken"

    no_version = resources.send_request(HttpRequest("GET", f"/subscriptions/{SUB}/providers/Microsoft.Kubernetes"))
    assert no_version.status_code == 400 and no_version.json()["error"]["code"] == "MissingApiVersionParameter"
    assert no_version.headers["x-ms-request-id"] and no_version.headers["x-ms-correlation-request-id"]
    assert no_version.headers["Content-Type"].startswith("application/json")


# ---------------------------------------------------------------------- providers


def test_provider_registration_is_synchronous_then_completes_on_the_clock(
    emu: ArmEmulator, clock: VirtualClock, resources: ResourceManagementClient
) -> None:
    emu.set_provider(SUB, "Microsoft.KubernetesConfiguration", "NotRegistered")
    provider = resources.providers.get("microsoft.kubernetesconfiguration")
    assert provider.registration_state == "NotRegistered"
    assert provider.namespace == "Microsoft.KubernetesConfiguration"
    assert provider.id == f"/subscriptions/{SUB}/providers/Microsoft.KubernetesConfiguration"
    assert provider.registration_policy == "RegistrationRequired"
    assert "extensions" in {t.resource_type for t in provider.resource_types}

    assert resources.providers.register("Microsoft.KubernetesConfiguration").registration_state == "Registering"
    clock.advance(29)
    assert resources.providers.get("Microsoft.KubernetesConfiguration").registration_state == "Registering"
    clock.advance(1)
    assert resources.providers.get("Microsoft.KubernetesConfiguration").registration_state == "Registered"
    assert resources.providers.register("Microsoft.KubernetesConfiguration").registration_state == "Registered"


def test_unregistered_namespace_409_and_the_sdk_auto_registration(
    emu: ArmEmulator,
    clock: VirtualClock,
    credential: DefaultAzureCredential,
    resources: ResourceManagementClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu.add_aks_cluster(SUB, RG, "aks-1")
    emu.set_provider(SUB, "Microsoft.KubernetesConfiguration", "NotRegistered")
    # Raw HTTP: any SDK pipeline (send_request included) would register the namespace behind our back.
    refused = requests.get(
        f"{emu.url}{AKS}/aks-1/providers/Microsoft.KubernetesConfiguration/extensions?api-version=2023-05-01",
        headers={"Authorization": f"Bearer {credential.get_token(SCOPE).token}"},
        verify=emu.ca_path,
        timeout=5,
    )
    code, namespace = "MissingSubscriptionRegistration", "Microsoft.KubernetesConfiguration"
    message = (
        f"The subscription is not registered to use namespace '{namespace}'. "
        "See https://aka.ms/rps-not-found for how to register subscriptions."
    )
    assert refused.status_code == 409
    assert refused.json() == {
        "error": {
            "code": code,
            "message": message,
            "details": [{"code": code, "target": namespace, "message": message}],
        }
    }

    # azure-mgmt-core registers by itself on that 409 and polls every 10 s: let its sleep move our clock.
    emu.set_provider(SUB, "Microsoft.ContainerService", "NotRegistered")
    monkeypatch.setattr(arm_policies, "time", SimpleNamespace(sleep=clock.advance))
    emu.clear_log()
    cluster = resources.resources.get_by_id(f"{AKS}/aks-1", api_version="2025-10-01")
    assert cluster.name == "aks-1"
    assert [(r.method, r.status) for r in emu.requests] == [
        ("GET", 409),
        ("POST", 200),
        ("GET", 200),
        ("GET", 200),
        ("GET", 200),
        ("GET", 200),
    ]


# ---------------------------------------------------------------------- clusters


def test_aks_cluster_bodies(emu: ArmEmulator, clock: VirtualClock, resources: ResourceManagementClient) -> None:
    event = emu.add_aks_cluster(SUB, RG, "aks-msi", node_counts=(2, 3), tags={"team": "payments"})
    emu.add_aks_cluster(SUB, RG, "aks-spn", identity="None", oidc_issuer=False, workload_identity=False)
    assert event["subject"] == f"{AKS_AS_RETURNED}/aks-msi"
    assert event["eventType"] == "Microsoft.Resources.ResourceWriteSuccess" and "httpRequest" not in event["data"]
    assert event["data"]["operationName"] == "Microsoft.ContainerService/managedClusters/write"

    msi = resources.resources.get_by_id(f"{AKS.upper()}/AKS-MSI", api_version="2025-10-01")
    assert msi.id == f"{AKS_AS_RETURNED}/aks-msi"
    assert msi.type == "Microsoft.ContainerService/ManagedClusters" and msi.tags == {"team": "payments"}
    assert msi.identity.type == "SystemAssigned"
    props = msi.properties
    assert props["servicePrincipalProfile"]["clientId"] == "msi"
    assert [p["count"] for p in props["agentPoolProfiles"]] == [2, 3]
    issuer = props["oidcIssuerProfile"]["issuerURL"]
    assert props["oidcIssuerProfile"]["enabled"] and issuer.startswith("https://eastus.oic.prod-aks.azure.com/")
    assert issuer.endswith("/")
    assert issuer == emu.cluster(f"{AKS}/aks-msi")["properties"]["oidcIssuerProfile"]["issuerURL"]
    assert props["securityProfile"]["workloadIdentity"]["enabled"] is True

    spn = resources.resources.get_by_id(f"{AKS}/aks-spn", api_version="2025-10-01")
    assert spn.identity is None and spn.properties["servicePrincipalProfile"]["clientId"] != "msi"
    assert spn.properties["oidcIssuerProfile"] == {"enabled": False}

    old = resources.resources.get_by_id(f"{AKS}/aks-msi", api_version="2022-04-01")
    assert "oidcIssuerProfile" not in old.properties

    with pytest.raises(ResourceNotFoundError) as missing:
        resources.resources.get_by_id(f"{AKS}/nope", api_version="2025-10-01")
    assert missing.value.error is not None and missing.value.error.code == "ResourceNotFound"
    assert "'Microsoft.ContainerService/managedClusters/nope' under resource group" in missing.value.error.message

    emu.add_aks_cluster(SUB, RG, "aks-new", provisioning_state="Creating", ready_after=300)
    new = resources.resources.get_by_id(f"{AKS}/aks-new", api_version="2025-10-01")
    assert new.properties["provisioningState"] == "Creating"
    clock.advance(300)
    new = resources.resources.get_by_id(f"{AKS}/aks-new", api_version="2025-10-01")
    assert new.properties["provisioningState"] == "Succeeded"


def test_arc_cluster_bodies(emu: ArmEmulator, resources: ResourceManagementClient) -> None:
    event = emu.add_arc_cluster(SUB, RG, "arc-1", node_count=2)
    assert event["data"]["operationName"] == "Microsoft.Kubernetes/connectedClusters/write"

    arc = resources.resources.get_by_id(f"{ARC}/arc-1", api_version="2026-05-01")
    assert arc.id == f"{ARC}/arc-1" and arc.type == "Microsoft.Kubernetes/connectedClusters"
    props = arc.properties
    assert props["totalNodeCount"] == 2 and props["connectivityStatus"] == "Connected"
    assert props["oidcIssuerProfile"]["enabled"] and props["oidcIssuerProfile"]["issuerUrl"].endswith("/")
    assert "issuerURL" not in props["oidcIssuerProfile"]

    pinned_old = resources.resources.get_by_id(f"{ARC}/arc-1", api_version="2024-01-01")
    assert "oidcIssuerProfile" not in pinned_old.properties and "securityProfile" not in pinned_old.properties


def test_delete_cluster_event_and_lists(emu: ArmEmulator, resources: ResourceManagementClient) -> None:
    emu.add_aks_cluster(SUB, RG, "aks-1")
    emu.add_aks_cluster(SUB, "rg-other", "aks-2")
    emu.add_extension(f"{AKS}/aks-1", "argocd")
    every_aks = f"/subscriptions/{SUB}/providers/Microsoft.ContainerService/managedClusters?api-version=2025-10-01"
    listed = resources.send_request(HttpRequest("GET", every_aks))
    assert sorted(c["name"] for c in listed.json()["value"]) == ["aks-1", "aks-2"]

    event = emu.delete_cluster(f"{AKS}/AKS-1")
    assert event["eventType"] == "Microsoft.Resources.ResourceDeleteSuccess"
    assert event["data"]["operationName"] == "Microsoft.ContainerService/managedClusters/delete"
    assert event["data"]["httpRequest"]["method"] == "DELETE"
    assert emu.cluster(f"{AKS}/aks-1") is None and emu.extension(f"{AKS}/aks-1", "argocd") is None


# ---------------------------------------------------------------------- extensions


def test_extension_create_is_async_and_finishes_on_the_clock(
    emu: ArmEmulator, clock: VirtualClock, kc: SourceControlConfigurationClient, resources: ResourceManagementClient
) -> None:
    emu.add_arc_cluster(SUB, RG, "arc-1")
    created = Captured()
    poller = kc.extensions.begin_create(*on_arc("arc-1"), "argocd", argocd(), polling=False, raw_response_hook=created)
    initial = poller.result()
    assert created.response.status_code == 201
    assert initial.provisioning_state == "Creating" and initial.current_version == "1.0.0-preview"  # as Azure's
    assert initial.extension_type == "Microsoft.ArgoCD" and initial.release_train == "preview"  # as sent
    assert initial.configuration_protected_settings == {} and initial.statuses == []
    assert initial.scope.cluster.release_namespace == "argocd"
    assert initial.id == f"{ARC}/arc-1/providers/Microsoft.KubernetesConfiguration/extensions/argocd"

    headers = created.response.headers
    status_url = headers["Azure-AsyncOperation"]
    assert status_url.startswith(f"{emu.url}{ARC.replace('connectedClusters', 'ConnectedClusters')}/arc-1/")
    assert "/extensions/argocd/operations/" in status_url and status_url.endswith("?api-Version=2023-05-01")
    assert headers["Location"].startswith("https://eastus.rp.kubernetesconfiguration.azure.com/subscriptions/")
    assert headers["x-ms-async-operation-timeout"] == "PT48H"
    operation_id = status_url.split("/operations/")[1].split("?")[0]
    assert headers["Operation-Location"] == f"{initial.id}/operations/{operation_id}"  # relative, as the spec's

    status = resources.send_request(HttpRequest("GET", status_url)).json()
    assert status["status"] == "Creating" and status["error"] is None and status["properties"] == {}
    assert status["id"].endswith(f"/operations/{status['name']}")
    clock.advance(emu.extension_install_seconds)
    assert resources.send_request(HttpRequest("GET", status_url)).json()["status"] == "Succeeded"
    done = kc.extensions.get(*on_arc("arc-1"), "ARGOCD")
    assert done.provisioning_state == "Succeeded" and done.current_version == "1.0.0-preview"
    assert emu.extension(f"{ARC}/arc-1", "ArgoCD")["properties"]["configurationProtectedSettings"] == {}


def test_real_poller_uses_azure_async_operation_and_returns_the_resource(
    emu: ArmEmulator, kc: SourceControlConfigurationClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emu, "_clock", time.time)  # this test waits in real time
    emu.extension_install_seconds = 0.2
    emu.add_aks_cluster(SUB, RG, "aks-1")
    poller = kc.extensions.begin_create(*on_aks("aks-1"), "argocd", argocd(), polling_interval=0.02)
    result = poller.result(timeout=10)
    assert result.provisioning_state == "Succeeded" and result.current_version == "1.0.0-preview"
    assert emu.count("GET", r"/extensions/argocd/operations/") >= 2
    assert emu.requests[-1].path == f"{AKS}/aks-1/providers/Microsoft.KubernetesConfiguration/extensions/argocd"

    emu.fail_extension_installs()
    emu.add_aks_cluster(SUB, RG, "aks-2")
    failing = kc.extensions.begin_create(*on_aks("aks-2"), "argocd", argocd(), polling_interval=0.02)
    with pytest.raises(HttpResponseError) as failed:
        failing.result(timeout=10)
    assert failed.value.status_code == 200  # the status of the poll, not of the install
    assert failed.value.error is not None and failed.value.error.code == "ExtensionOperationFailed"
    assert "Helm installation failed" in failed.value.error.message
    body = emu.extension(f"{AKS}/aks-2", "argocd")
    assert body is not None and body["properties"]["provisioningState"] == "Failed"
    assert body["properties"]["errorInfo"]["code"] == "ExtensionOperationFailed"
    assert body["properties"]["statuses"][0]["level"] == "Error"


def test_argocd_ha_fails_on_two_nodes_unless_redis_ha_is_off(
    emu: ArmEmulator, clock: VirtualClock, kc: SourceControlConfigurationClient
) -> None:
    emu.add_aks_cluster(SUB, RG, "small", node_counts=(2,))
    emu.add_aks_cluster(SUB, RG, "small-no-ha", node_counts=(2,))
    kc.extensions.begin_create(*on_aks("small"), "argocd", argocd(), polling=False)
    kc.extensions.begin_create(*on_aks("small-no-ha"), "argocd", argocd(**{"redis-ha.enabled": "false"}), polling=False)
    clock.advance(emu.extension_install_seconds)
    ha = kc.extensions.get(*on_aks("small"), "argocd")
    assert ha.provisioning_state == "Failed" and ha.error_info.code == "ExtensionOperationFailed"
    assert "Helm installation failed : context deadline exceeded" in ha.error_info.message
    no_ha = kc.extensions.get(*on_aks("small-no-ha"), "argocd")
    assert no_ha.provisioning_state == "Succeeded"


def test_put_on_existing_and_patch_200_or_202(
    emu: ArmEmulator, clock: VirtualClock, kc: SourceControlConfigurationClient, resources: ResourceManagementClient
) -> None:
    emu.add_aks_cluster(SUB, RG, "aks-1")
    cluster = (*on_aks("aks-1"), "argocd")
    emu.add_extension(f"{AKS}/aks-1", "argocd", settings={"keep": "1", "drop": "2"})

    # The SDK's PatchExtension defaults releaseTrain to "Stable": leaving it out would switch trains.
    same = Captured()
    unchanged = kc.extensions.begin_update(
        *cluster,
        PatchExtension(release_train="Preview", configuration_settings={"keep": "1"}),
        polling=False,
        raw_response_hook=same,
    ).result()
    assert same.response.status_code == 200 and unchanged.provisioning_state == "Succeeded"

    changed = Captured()
    updating = kc.extensions.begin_update(
        *cluster,
        PatchExtension(release_train="preview", configuration_settings={"drop": None, "new": "3"}),
        polling=False,
        raw_response_hook=changed,
    ).result()
    assert changed.response.status_code == 202 and "Azure-AsyncOperation" in changed.response.headers
    assert updating.provisioning_state == "Updating" and updating.configuration_settings == {"keep": "1", "new": "3"}

    with pytest.raises(ResourceExistsError):  # one operation at a time per extension
        kc.extensions.begin_update(*cluster, PatchExtension(configuration_settings={"x": "y"}), polling=False)
    clock.advance(emu.extension_update_seconds)
    assert kc.extensions.get(*cluster).provisioning_state == "Succeeded"

    immutable = resources.send_request(
        HttpRequest(
            "PATCH",
            f"{AKS}/aks-1/providers/Microsoft.KubernetesConfiguration/extensions/argocd?api-version=2023-05-01",
            json={"properties": {"extensionType": "Microsoft.Flux"}},
        )
    )
    assert immutable.status_code == 400

    replaced = Captured()
    result = kc.extensions.begin_create(*cluster, argocd(only="this"), polling=False, raw_response_hook=replaced)
    result = result.result()
    assert replaced.response.status_code == 200 and result.provisioning_state == "Updating"
    assert result.configuration_settings == {"only": "this"}


def test_delete_async_force_delete_and_absent(
    emu: ArmEmulator, clock: VirtualClock, kc: SourceControlConfigurationClient, resources: ResourceManagementClient
) -> None:
    emu.add_aks_cluster(SUB, RG, "aks-1")
    emu.add_extension(f"{AKS}/aks-1", "argocd")
    emu.add_extension(f"{AKS}/aks-1", "legacy", version="0.0.9-preview")
    path = on_aks("aks-1")
    listed = kc.extensions.list(*path)
    assert sorted(e.name for e in listed) == ["argocd", "legacy"]
    legacy = kc.extensions.get(*path, "legacy")
    assert legacy.current_version == "0.0.9-preview" and legacy.auto_upgrade_minor_version is False

    deleting = Captured()
    kc.extensions.begin_delete(*path, "argocd", polling=False, raw_response_hook=deleting)
    assert deleting.response.status_code == 202 and deleting.response.headers["x-ms-async-operation-timeout"] == "PT1H"
    assert kc.extensions.get(*path, "argocd").provisioning_state == "Deleting"
    clock.advance(emu.extension_delete_seconds)
    with pytest.raises(ResourceNotFoundError):
        kc.extensions.get(*path, "argocd")
    status = resources.send_request(HttpRequest("GET", deleting.response.headers["Azure-AsyncOperation"])).json()
    assert status["status"] == "Succeeded"

    forced = Captured()
    kc.extensions.begin_delete(*path, "legacy", force_delete=True, raw_response_hook=forced).result()
    assert forced.response.status_code == 200 and json.loads(forced.response.text())["reasonPhrase"] == "OK"
    assert list(kc.extensions.list(*path)) == []

    absent = Captured()
    kc.extensions.begin_delete(*path, "argocd", polling=False, raw_response_hook=absent)
    assert absent.response.status_code == 204


def test_extension_writes_refused_while_aks_is_busy_or_missing(
    emu: ArmEmulator, clock: VirtualClock, kc: SourceControlConfigurationClient
) -> None:
    emu.add_aks_cluster(SUB, RG, "aks-1")
    emu.set_cluster_state(f"{AKS}/aks-1", "Updating")
    with pytest.raises(ResourceExistsError) as busy:
        kc.extensions.begin_create(*on_aks("aks-1"), "argocd", argocd(), polling=False)
    assert busy.value.error is not None and busy.value.error.code == "OperationNotAllowed"
    assert "Another operation (Updating) is in progress" in busy.value.error.message

    emu.add_aks_cluster(SUB, RG, "aks-new", provisioning_state="Creating", ready_after=60)
    with pytest.raises(ResourceExistsError):
        kc.extensions.begin_create(*on_aks("aks-new"), "argocd", argocd(), polling=False)
    clock.advance(60)
    kc.extensions.begin_create(*on_aks("aks-new"), "argocd", argocd(), polling=False)

    with pytest.raises(ResourceNotFoundError) as orphan:
        kc.extensions.get(*on_aks("ghost"), "argocd")
    assert orphan.value.error is not None and orphan.value.error.code == "ParentResourceNotFound"


# ---------------------------------------------------------------------- managed identities


def test_identity_lifecycle(emu: ArmEmulator, msi: ManagedServiceIdentityClient) -> None:
    created = Captured()
    identity = msi.user_assigned_identities.create_or_update(
        RG, "argocd-aks-1", {"location": "eastus", "tags": {"owner": "argoboot"}}, raw_response_hook=created
    )
    assert created.response.status_code == 201
    assert created.response.headers["Location"] == identity.id
    assert identity.id == f"{UAMI_AS_RETURNED}/argocd-aks-1"
    assert identity.isolation_scope == "None"  # the client's default api-version is 2024-11-30

    again = Captured()
    same = msi.user_assigned_identities.create_or_update(
        RG, "ARGOCD-AKS-1", {"location": "East US"}, raw_response_hook=again
    )
    assert again.response.status_code == 200
    assert same.client_id == identity.client_id and same.principal_id == identity.principal_id
    assert msi.user_assigned_identities.update(RG, "argocd-aks-1", {"tags": {"a": "b"}}).tags == {"a": "b"}
    assert [i.name for i in msi.user_assigned_identities.list_by_resource_group(RG)] == ["argocd-aks-1"]
    assert emu.identities()[0]["properties"]["clientId"] == identity.client_id

    deleted = Captured()
    msi.user_assigned_identities.delete(RG, "argocd-aks-1", raw_response_hook=deleted)
    assert deleted.response.status_code == 200 and deleted.response.text() == ""
    msi.user_assigned_identities.delete(RG, "argocd-aks-1", raw_response_hook=deleted)
    assert deleted.response.status_code == 204
    with pytest.raises(ResourceNotFoundError):
        msi.user_assigned_identities.get(RG, "argocd-aks-1")


def test_federated_credential_rules(emu: ArmEmulator, msi: ManagedServiceIdentityClient) -> None:
    creds = msi.federated_identity_credentials
    with pytest.raises(ResourceNotFoundError) as orphan:
        creds.create_or_update(RG, "missing", "repo-server", fic())
    assert orphan.value.error is not None
    assert orphan.value.error.message == "The parent user-assigned identity doesn't exist."

    identity = msi.user_assigned_identities.create_or_update(RG, "uami", {"location": "eastus"})
    created = Captured()
    first = creds.create_or_update(RG, "uami", "repo-server", fic(), raw_response_hook=created)
    assert created.response.status_code == 201 and created.response.headers["Location"] == first.id
    assert first.type == "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials"

    def refused(name: str, body: dict[str, Any]) -> str:
        with pytest.raises(HttpResponseError) as error:
            creds.create_or_update(RG, "uami", name, body)
        assert error.value.status_code == 400 and error.value.error is not None
        return str(error.value.error.message)

    assert refused("ab", fic("other")) == "Federated Identity Credential name 'ab' is invalid."
    assert refused("two-audiences", fic("other", audiences=["a", "b"])) == (
        "Federated identity credentials must have exactly one audience."
    )
    assert refused("duplicate", fic()) == "Issuer and subject combination already exists for this Managed Identity."

    updated = Captured()
    creds.create_or_update(
        RG, "uami", "repo-server", fic("system:serviceaccount:argocd:other"), raw_response_hook=updated
    )
    assert updated.response.status_code == 200
    for i in range(19):
        creds.create_or_update(RG, "uami", f"sa-{i:02d}", fic(f"system:serviceaccount:argocd:sa-{i}"))
    assert "maximum of 20" in refused("one-too-many", fic("system:serviceaccount:argocd:extra"))
    assert len(list(creds.list(RG, "uami"))) == 20 == len(emu.federated_credentials(identity.id))

    deleted = Captured()
    creds.delete(RG, "uami", "sa-00", raw_response_hook=deleted)
    assert deleted.response.status_code == 200
    creds.delete(RG, "uami", "sa-00", raw_response_hook=deleted)
    assert deleted.response.status_code == 204
    msi.user_assigned_identities.delete(RG, "uami")
    assert emu.federated_credentials(identity.id) == []


def test_parallel_federated_credential_writes_collide(emu: ArmEmulator, msi: ManagedServiceIdentityClient) -> None:
    emu.fic_write_seconds = 0.3
    msi.user_assigned_identities.create_or_update(RG, "Shared-UAMI", {"location": "eastus"})
    errors: list[HttpResponseError] = []

    def write(name: str) -> None:
        try:
            msi.federated_identity_credentials.create_or_update(RG, "Shared-UAMI", name, fic(f"sa:{name}"))
        except HttpResponseError as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(name,)) for name in ("repo-server", "app-controller")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 1 and errors[0].status_code == 409
    assert errors[0].error is not None
    assert errors[0].error.code == "ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity"
    assert f"'{UAMI_AS_RETURNED.lower()}/shared-uami'" in errors[0].error.message
    time.sleep(0.3)
    msi.federated_identity_credentials.create_or_update(RG, "Shared-UAMI", "later", fic("sa:later"))


# ---------------------------------------------------------------------- faults, throttling, log


def test_injected_faults(
    emu: ArmEmulator, credential: DefaultAzureCredential, resources: ResourceManagementClient
) -> None:
    emu.add_aks_cluster(SUB, RG, "aks-1")
    emu.inject(method="GET", path_regex=r"/MANAGEDCLUSTERS/aks-1$", status=500)
    assert resources.resources.get_by_id(f"{AKS}/aks-1", api_version="2025-10-01").name == "aks-1"
    assert [r.status for r in emu.requests] == [500, 200]  # azure-core retried at once

    strict = ResourceManagementClient(credential, SUB, **options(emu, retry_total=0))
    emu.inject(status=503, code="ServiceUnavailable", message="try later", retry_after=7)
    with pytest.raises(HttpResponseError) as unavailable:
        strict.providers.get("Microsoft.Kubernetes")
    assert unavailable.value.status_code == 503 and unavailable.value.response.headers["Retry-After"] == "7"
    assert unavailable.value.error is not None and unavailable.value.error.code == "ServiceUnavailable"

    emu.clear_log()
    emu.inject(method="GET", drop_connection=True)
    assert resources.providers.get("Microsoft.Kubernetes").registration_state == "Registered"
    assert [r.status for r in emu.requests] == [0, 200]


def test_throttling_token_buckets(emu: ArmEmulator, credential: DefaultAzureCredential) -> None:
    strict = ResourceManagementClient(credential, SUB, **options(emu, retry_total=0))
    msi = ManagedServiceIdentityClient(credential, SUB, **options(emu, retry_total=0))
    emu.add_resource_group(SUB, RG)
    emu.throttle(reads=(2, 0.5), identity_creates=(1, 0.25))
    first = Captured()
    strict.providers.get("Microsoft.Kubernetes", raw_response_hook=first)
    assert first.response.headers["x-ms-ratelimit-remaining-subscription-reads"] == "1"
    strict.providers.get("Microsoft.Kubernetes")
    with pytest.raises(HttpResponseError) as throttled:
        strict.providers.get("Microsoft.Kubernetes")
    assert throttled.value.status_code == 429 and throttled.value.error is not None
    assert throttled.value.error.code == "SubscriptionRequestsThrottled"
    assert throttled.value.error.message.startswith(f"Number of 'read' requests for subscription '{SUB}' actor '")
    assert int(throttled.value.response.headers["Retry-After"]) >= 1

    msi.user_assigned_identities.create_or_update(RG, "one", {"location": "eastus"})
    with pytest.raises(HttpResponseError) as identities:
        msi.user_assigned_identities.create_or_update(RG, "two", {"location": "eastus"})
    assert identities.value.status_code == 429
    assert identities.value.response.headers["Retry-After"] == "4"

    emu.time_scale = 1000.0  # refill runs on real time times time_scale: 10 ms are 10 s of ARM time
    time.sleep(0.01)
    strict.providers.get("Microsoft.Kubernetes")


def test_throttling_on_the_shared_clock(emu: ArmEmulator, clock: VirtualClock,
                                        credential: DefaultAzureCredential) -> None:
    strict = ResourceManagementClient(credential, SUB, **options(emu, retry_total=0))
    emu.throttle(reads=(1, 0.5), on_clock=True)
    strict.providers.get("Microsoft.Kubernetes")
    time.sleep(0.05)  # real time refills nothing: the buckets follow the clock
    with pytest.raises(HttpResponseError) as throttled:
        strict.providers.get("Microsoft.Kubernetes")
    assert throttled.value.status_code == 429 and throttled.value.response.headers["Retry-After"] == "2"
    clock.advance(2)
    strict.providers.get("Microsoft.Kubernetes")


def test_request_log(
    emu: ArmEmulator, clock: VirtualClock, msi: ManagedServiceIdentityClient, resources: ResourceManagementClient
) -> None:
    clock.advance(5)
    msi.user_assigned_identities.create_or_update(RG, "uami", {"location": "eastus", "tags": {"k": "v"}})
    msi.user_assigned_identities.get(RG, "uami")
    msi.user_assigned_identities.delete(RG, "uami")
    put, get, delete = emu.requests
    assert (put.method, put.status, put.kind, put.subscription) == ("PUT", 201, "write", SUB)
    assert put.body == {"location": "eastus", "tags": {"k": "v"}} and put.query == {"api-version": "2024-11-30"}
    assert put.started == clock() and (get.kind, delete.kind) == ("read", "delete")
    assert emu.count("GET") == 1 and emu.count(path_regex="USERASSIGNEDIDENTITIES/uami$") == 3
    widgets = f"/subscriptions/{SUB}/providers/Microsoft.Kubernetes/widgets?api-version=2024-01-01"
    unknown = resources.send_request(HttpRequest("GET", widgets))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "InvalidResourceType"
    emu.clear_log()
    assert emu.requests == [] and emu.count() == 0

    emu.latency = 0.05
    started = time.perf_counter()
    assert list(msi.user_assigned_identities.list_by_resource_group(RG)) == []
    assert time.perf_counter() - started >= 0.05


# ---------------------------------------------------------------------- role assignments, Graph, AKS updates


def test_role_assignment_waits_for_replication_then_is_idempotent(
    emu: ArmEmulator, clock: VirtualClock, credential: DefaultAzureCredential, msi: ManagedServiceIdentityClient
) -> None:
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters

    auth = AuthorizationManagementClient(credential, SUB, **options(emu))
    registry = emu.add_registry(SUB, "rg-shared", "acr1")
    principal = msi.user_assigned_identities.create_or_update(RG, "id-1", {"location": "eastus"}).principal_id
    role = (
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"
    )
    body = RoleAssignmentCreateParameters(
        role_definition_id=role, principal_id=principal, principal_type="ServicePrincipal"
    )
    name = "0b0a6a8e-2b1c-4c55-9d1a-3e2f1a0b9c8d"
    with pytest.raises(HttpResponseError) as early:
        auth.role_assignments.create(registry, name, body)
    assert early.value.error is not None and early.value.error.code == "PrincipalNotFound"
    clock.advance(emu.principal_replication_seconds)
    created = auth.role_assignments.create(registry, name, body)
    assert created.principal_type == "ServicePrincipal" and auth.role_assignments.get(registry, name).id == created.id
    assert auth.role_assignments.create(registry, name, body).id == created.id  # same name: 200, no duplicate
    with pytest.raises(ResourceExistsError):  # same principal, role and scope under another name
        auth.role_assignments.create(registry, "6c7f3a52-1d9e-4b8a-a1f0-2e3d4c5b6a79", body)
    with pytest.raises(ResourceNotFoundError):
        auth.role_assignments.create(registry.replace("acr1", "missing"), name, body)
    auth.role_assignments.delete(registry, name)
    assert emu.role_assignments(registry) == []


def graph(emu: ArmEmulator, credential: DefaultAzureCredential, method: str, path: str, body: Any = None) -> Any:
    token = credential.get_token("https://graph.microsoft.com/.default").token
    return requests.request(
        method,
        f"{emu.url}/v1.0{path}",
        json=body,
        verify=emu.ca_path,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_graph_application_credentials_and_their_limits(emu: ArmEmulator, credential: DefaultAzureCredential) -> None:
    app_id = emu.add_application("argocd-sso")
    found = graph(emu, credential, "GET", f"/applications(appId='{app_id}')")
    assert found.status_code == 200 and found.json()["appId"] == app_id
    assert graph(emu, credential, "GET", "/applications(appId='nope')").json()["error"]["code"] == (
        "Request_ResourceNotFound"
    )
    path = f"/applications/{found.json()['id']}/federatedIdentityCredentials"
    first = {"name": "c0", "issuer": ISSUER, "subject": "s0", "audiences": ["api://AzureADTokenExchange"]}
    created = graph(emu, credential, "POST", path, first)
    assert created.status_code == 201
    assert graph(emu, credential, "POST", path, {**first, "subject": "other"}).status_code == 409  # same name
    assert graph(emu, credential, "POST", path, {**first, "name": "c-dup"}).status_code == 400  # issuer + subject
    for n in range(1, 20):
        assert graph(emu, credential, "POST", path, {**first, "name": f"c{n}", "subject": f"s{n}"}).status_code == 201
    full = graph(emu, credential, "POST", path, {**first, "name": "c20", "subject": "s20"})
    assert full.status_code == 400 and "limit of 20" in full.json()["error"]["message"]
    assert graph(emu, credential, "DELETE", f"{path}/{created.json()['id']}").status_code == 204
    assert len(graph(emu, credential, "GET", path).json()["value"]) == 19
    anonymous = requests.get(f"{emu.url}/v1.0{path}", verify=emu.ca_path, timeout=10)
    assert anonymous.status_code == 401


def put_cluster(resources: ResourceManagementClient, cluster_id: str, body: Any) -> None:
    resources.resources.begin_create_or_update_by_id(
        cluster_id, api_version="2025-10-01", parameters=body, polling=False
    ).result()


def test_aks_update_enables_oidc_and_workload_identity_then_settles(
    emu: ArmEmulator, clock: VirtualClock, resources: ResourceManagementClient
) -> None:
    emu.add_aks_cluster(SUB, RG, "aks-1", oidc_issuer=False, workload_identity=False)
    cluster_id = f"{AKS}/aks-1"
    current = resources.resources.get_by_id(cluster_id, api_version="2025-10-01")
    current.properties["securityProfile"] = {"workloadIdentity": {"enabled": True}}
    with pytest.raises(HttpResponseError, match="requires enabling OIDC issuer"):
        put_cluster(resources, cluster_id, current)
    current.properties["oidcIssuerProfile"] = {"enabled": True}
    put_cluster(resources, cluster_id, current)
    body = emu.cluster(cluster_id)
    assert body is not None and body["properties"]["provisioningState"] == "Updating"
    with pytest.raises(HttpResponseError, match=r"OperationNotAllowed|Another operation"):
        put_cluster(resources, cluster_id, current)
    clock.advance(emu.cluster_update_seconds)
    body = emu.cluster(cluster_id)
    assert body is not None and body["properties"]["provisioningState"] == "Succeeded"
    assert body["properties"]["oidcIssuerProfile"]["issuerURL"].endswith("/")
    assert body["properties"]["securityProfile"]["workloadIdentity"] == {"enabled": True}


def test_aks_automatic_refuses_argocd_containers_without_limits(
    emu: ArmEmulator, clock: VirtualClock, kc: SourceControlConfigurationClient
) -> None:
    emu.add_aks_cluster(SUB, RG, "auto", sku="Automatic")
    emu.add_aks_cluster(SUB, RG, "auto-limited", sku="Automatic")
    limits = {f"{path}.resources.limits.{r}": "1" for path in (
        "controller", "server", "repoServer", "applicationSet", "notifications", "dex", "dex.initImage", "redis",
        "redisSecretInit", "redis-ha.redis", "redis-ha.sentinel", "redis-ha.haproxy") for r in ("cpu", "memory")}
    kc.extensions.begin_create(*on_aks("auto"), "argocd", argocd(), polling=False)
    kc.extensions.begin_create(*on_aks("auto-limited"), "argocd", argocd(**limits), polling=False)
    clock.advance(emu.extension_install_seconds)
    bare = kc.extensions.get(*on_aks("auto"), "argocd")
    assert bare.provisioning_state == "Failed" and "validation.gatekeeper.sh" in bare.error_info.message
    assert "container <argocd-application-controller> has no resource limits" in bare.error_info.message
    assert kc.extensions.get(*on_aks("auto-limited"), "argocd").provisioning_state == "Succeeded"
    assert emu.cluster(f"{AKS}/auto")["sku"] == {"name": "Automatic", "tier": "Standard"}  # type: ignore[index]


def test_arc_agents_away_stall_an_extension_operation_until_they_return(
    emu: ArmEmulator, clock: VirtualClock, kc: SourceControlConfigurationClient
) -> None:
    emu.add_arc_cluster(SUB, RG, "arc-1")
    kc.extensions.begin_create(*on_arc("arc-1"), "argocd", argocd(), polling=False)
    clock.advance(10)
    emu.set_connectivity(f"{ARC}/arc-1", "Offline")
    assert emu.cluster(f"{ARC}/arc-1")["properties"]["connectivityStatus"] == "Offline"  # type: ignore[index]
    clock.advance(emu.extension_install_seconds * 5)
    assert kc.extensions.get(*on_arc("arc-1"), "argocd").provisioning_state == "Creating"
    emu.set_connectivity(f"{ARC}/arc-1", "Connected")
    clock.advance(emu.extension_install_seconds - 11)
    assert kc.extensions.get(*on_arc("arc-1"), "argocd").provisioning_state == "Creating"  # the time it had left
    clock.advance(1)
    assert kc.extensions.get(*on_arc("arc-1"), "argocd").provisioning_state == "Succeeded"


def test_extension_type_versions_by_region_and_pinned_versions(
    emu: ArmEmulator, clock: VirtualClock, kc: SourceControlConfigurationClient, resources: ResourceManagementClient
) -> None:
    def versions(location: str, train: str = "preview") -> Any:
        path = (f"/subscriptions/{SUB}/providers/Microsoft.KubernetesConfiguration/locations/{location}/"
                f"extensionTypes/Microsoft.ArgoCD/versions?releaseTrain={train}&api-version=2024-11-01-preview")
        return resources.send_request(HttpRequest("GET", emu.url + path))

    emu.offer_argocd("1.1.0-preview", unsupported={"managedCluster": [(["AKS"], ["<1.30"])]})
    emu.withdraw_argocd("brazilsouth")
    listed = versions("eastus").json()["value"]
    assert [v["properties"]["version"] for v in listed] == ["1.0.0-preview", "1.1.0-preview"]
    assert listed[1]["properties"]["unsupportedKubernetesVersions"] == {
        "managedCluster": [{"distributions": ["AKS"], "unsupportedVersions": ["<1.30"]}]}
    assert listed[0]["properties"]["supportedClusterTypes"] == ["managedCluster", "connectedCluster"]
    assert versions("eastus", "stable").json()["value"] == []
    missing = versions("brazilsouth")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ExtensionTypeNotFound"

    emu.add_aks_cluster(SUB, RG, "pinned")
    with pytest.raises(HttpResponseError) as refused:
        kc.extensions.begin_create(*on_aks("pinned"), "argocd", Extension(
            extension_type="Microsoft.ArgoCD", release_train="preview", version="9.9.9",
            auto_upgrade_minor_version=False), polling=False)
    assert refused.value.status_code == 400 and refused.value.error.code == "ExtensionTypeVersionNotFound"
    kc.extensions.begin_create(*on_aks("pinned"), "argocd", Extension(
        extension_type="Microsoft.ArgoCD", release_train="preview", version="1.1.0-preview",
        auto_upgrade_minor_version=False), polling=False)
    clock.advance(emu.extension_install_seconds)
    pinned = kc.extensions.get(*on_aks("pinned"), "argocd")
    assert (pinned.version, pinned.current_version, pinned.auto_upgrade_minor_version) == \
        ("1.1.0-preview", "1.1.0-preview", False)


def test_resource_groups_exist_once_something_is_in_them(emu: ArmEmulator, resources: ResourceManagementClient,
                                                         msi: ManagedServiceIdentityClient) -> None:
    emu.add_aks_cluster(SUB, "rg-clusters", "aks-1")
    assert resources.resource_groups.get("rg-clusters").name == "rg-clusters"
    with pytest.raises(HttpResponseError) as missing:
        resources.resource_groups.get("rg-nowhere")
    assert missing.value.status_code == 404 and missing.value.error.code == "ResourceGroupNotFound"
    with pytest.raises(HttpResponseError) as refused:
        msi.user_assigned_identities.create_or_update("rg-nowhere", "uami", {"location": "eastus"})
    assert refused.value.error.code == "ResourceGroupNotFound"


def test_open_source_argocd_makes_the_extension_install_fail_on_immutable_fields(
    emu: ArmEmulator, clock: VirtualClock, kc: SourceControlConfigurationClient
) -> None:
    emu.add_aks_cluster(SUB, RG, "oss")
    emu.add_oss_argocd(f"{AKS}/oss")
    kc.extensions.begin_create(*on_aks("oss"), "argocd", argocd(), polling=False)
    clock.advance(emu.extension_install_seconds)
    failed = kc.extensions.get(*on_aks("oss"), "argocd")
    assert failed.provisioning_state == "Failed" and "spec.selector" in failed.error_info.message
    assert "field is immutable" in failed.error_info.message
