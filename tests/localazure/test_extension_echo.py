"""A cluster extension answered as Azure answers it (issue 29, found with the real `az k8s-extension` CLI): the
system identity echoed with its principal, the cluster scope filled in with the type's release namespace,
`currentVersion` while `Creating`, and `systemData` naming the caller its token names. Real SDK clients over HTTPS;
raw HTTPS only to call as a person (the SDK's credential is the function app's managed identity).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from azure.identity import DefaultAzureCredential
from azure.mgmt.kubernetesconfiguration.v2023_05_01 import SourceControlConfigurationClient
from azure.mgmt.kubernetesconfiguration.v2023_05_01.models import Extension, Identity, Scope, ScopeCluster

from localazure.arm.emulator import ArmEmulator
from localazure.arm.tokens import actor
from localazure.clock import VirtualClock

SUB = "6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01"
RG = "rg-platform"
SCOPE = "https://management.azure.com/.default"
ARC = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Kubernetes/connectedClusters/arc-1"
GUID = r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$"


@pytest.fixture
def emu(clock: VirtualClock) -> Iterator[ArmEmulator]:
    with ArmEmulator(clock, provider_states={}) as running:
        running.add_subscription(SUB)
        running.add_arc_cluster(SUB, RG, "arc-1")
        yield running


@pytest.fixture
def kc(emu: ArmEmulator, credential: DefaultAzureCredential) -> SourceControlConfigurationClient:
    return SourceControlConfigurationClient(
        credential, SUB, base_url=emu.url, connection_verify=emu.ca_path, credential_scopes=[SCOPE])


ON_ARC = (RG, "Microsoft.Kubernetes", "connectedClusters", "arc-1")


def create(kc: SourceControlConfigurationClient, name: str, extension: Extension) -> Extension:
    """The extension as the PUT's answer shows it (still `Creating`)."""
    result: Extension = kc.extensions.begin_create(*ON_ARC, name, extension, polling=False).result()
    return result


def test_a_system_identity_is_echoed_with_its_principal_and_kept_across_updates(
    emu: ArmEmulator, clock: VirtualClock, kc: SourceControlConfigurationClient
) -> None:
    sent = Extension(extension_type="Microsoft.ArgoCD", release_train="preview",
                     identity=Identity(type="SystemAssigned"))
    created = create(kc, "argocd", sent)
    assert created.identity is not None and created.identity.type == "SystemAssigned"
    assert created.identity.tenant_id == emu.tenant_id
    principal = created.identity.principal_id
    assert principal is not None and len(principal) == 36
    clock.advance(emu.extension_install_seconds)
    assert kc.extensions.get(*ON_ARC, "argocd").identity.principal_id == principal
    again = create(kc, "argocd", sent)  # a PUT over it (as `az k8s-extension create` again) keeps the identity
    assert again.identity.principal_id == principal
    assert create(kc, "other", Extension(extension_type="Microsoft.ArgoCD", release_train="preview")).identity is None


def test_the_extensions_system_identity_is_a_principal_roles_can_be_assigned_to(
    emu: ArmEmulator, clock: VirtualClock, kc: SourceControlConfigurationClient, credential: DefaultAzureCredential
) -> None:
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters

    system = Identity(type="SystemAssigned")
    created = create(kc, "argocd", Extension(extension_type="Microsoft.ArgoCD", identity=system))
    auth = AuthorizationManagementClient(credential, SUB, base_url=emu.url, connection_verify=emu.ca_path,
                                         credential_scopes=[SCOPE])
    reader = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/" \
        "7f6c6a51-bcf8-42ba-9220-52d62157d7db"  # Azure Kubernetes Service RBAC Reader (builtin-roles.md)
    body = RoleAssignmentCreateParameters(role_definition_id=reader, principal_id=created.identity.principal_id,
                                          principal_type="ServicePrincipal")
    clock.advance(emu.principal_replication_seconds)  # replicated, as any new principal must be
    assigned = auth.role_assignments.create(ARC, "5f0c2a4e-7b1d-4c3e-9a8f-1e2d3c4b5a69", body)
    assert assigned.principal_id == created.identity.principal_id


def test_an_identity_type_the_spec_does_not_define_is_refused(emu: ArmEmulator) -> None:
    body = {"identity": {"type": "UserAssigned"}, "properties": {"extensionType": "Microsoft.ArgoCD"}}
    answer = as_person(emu, "PUT", f"{ARC}/providers/Microsoft.KubernetesConfiguration/extensions/argocd", body)
    assert answer.status_code == 400 and "SystemAssigned" in answer.json()["error"]["message"]


@pytest.mark.parametrize("scope", [None, Scope(cluster=ScopeCluster())], ids=["no scope", "empty cluster scope"])
def test_the_cluster_scope_is_filled_with_the_types_release_namespace(
    kc: SourceControlConfigurationClient, scope: Scope | None
) -> None:
    created = create(kc, "argocd", Extension(extension_type="Microsoft.ArgoCD", release_train="preview", scope=scope))
    assert created.scope is not None and created.scope.cluster is not None
    assert created.scope.cluster.release_namespace == "argocd"
    other = create(kc, "flux-like", Extension(extension_type="Contoso.Thing", release_train="stable", scope=scope))
    assert other.scope.cluster.release_namespace == "flux-like"  # no default known: the extension's name
    pinned = Scope(cluster=ScopeCluster(release_namespace="gitops"))
    assert create(kc, "mine", Extension(extension_type="Microsoft.ArgoCD", scope=pinned)
                  ).scope.cluster.release_namespace == "gitops"


def test_current_version_shows_while_creating(
    emu: ArmEmulator, clock: VirtualClock, kc: SourceControlConfigurationClient
) -> None:
    emu.offer_argocd("1.1.0-preview")
    created = create(kc, "argocd", Extension(extension_type="Microsoft.ArgoCD", release_train="preview"))
    assert created.provisioning_state == "Creating" and created.current_version == "1.0.0-preview"
    pinned = create(kc, "pinned", Extension(extension_type="Microsoft.ArgoCD", release_train="preview",
                                            auto_upgrade_minor_version=False, version="1.1.0-preview"))
    assert pinned.provisioning_state == "Creating" and pinned.current_version == "1.1.0-preview"
    assert kc.extensions.get(*ON_ARC, "pinned").current_version == "1.1.0-preview"
    clock.advance(emu.extension_install_seconds)
    assert kc.extensions.get(*ON_ARC, "pinned").provisioning_state == "Succeeded"


def as_person(emu: ArmEmulator, method: str, path: str, body: Any, upn: str = "dana@contoso.com"
              ) -> requests.Response:
    """A call as a person signed in with `az login` (a user token), not as the function app."""
    return requests.request(method, f"{emu.url}{path}?api-version=2023-05-01", data=json.dumps(body),
                            headers={"Authorization": f"Bearer {emu.user_token(upn)}",
                                     "Content-Type": "application/json"}, verify=emu.ca_path, timeout=10)


def test_system_data_names_the_caller_from_its_token(
    emu: ArmEmulator, clock: VirtualClock, kc: SourceControlConfigurationClient
) -> None:
    created = create(kc, "argocd", Extension(extension_type="Microsoft.ArgoCD", release_train="preview"))
    data = created.system_data  # the function app's managed identity: its client id (the token's appid)
    assert data.created_by_type == "ManagedIdentity" and data.last_modified_by_type == "ManagedIdentity"
    assert data.created_by == data.last_modified_by and re.match(GUID, data.created_by)
    clock.advance(emu.extension_install_seconds)

    path = f"{ARC}/providers/Microsoft.KubernetesConfiguration/extensions/argocd"
    patched = as_person(emu, "PATCH", path, {"properties": {"configurationSettings": {"x": "y"}}})
    assert patched.status_code == 202
    system_data = patched.json()["systemData"]
    assert system_data["createdBy"] == data.created_by and system_data["createdByType"] == "ManagedIdentity"
    assert system_data["lastModifiedBy"] == "dana@contoso.com" and system_data["lastModifiedByType"] == "User"
    clock.advance(emu.extension_update_seconds)
    put = as_person(emu, "PUT", f"{ARC}/providers/Microsoft.KubernetesConfiguration/extensions/by-hand",
                    {"properties": {"extensionType": "Microsoft.ArgoCD"}}, upn="lee@contoso.com")
    assert put.status_code == 201
    assert put.json()["systemData"]["createdBy"] == "lee@contoso.com"
    assert put.json()["systemData"]["createdByType"] == "User"


def test_who_system_data_names_follows_the_kind_of_token() -> None:
    """The three kinds of caller ARM tells apart (the spec's createdByType enum; a `Key` caller is never ours)."""
    person = {"idtyp": "user", "upn": "dana@contoso.com", "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46"}
    managed = {"idtyp": "app", "appid": "1111", "oid": "2222", "xms_mirid": "/subscriptions/s/.../sites/app"}
    application = {"idtyp": "app", "appid": "3333", "oid": "4444"}
    assert actor(person) == ("dana@contoso.com", "User")
    assert actor(managed) == ("1111", "ManagedIdentity")
    assert actor(application) == ("3333", "Application")
