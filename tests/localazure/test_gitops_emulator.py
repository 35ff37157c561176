"""The local Azure's side of GitOps: the argo-cd chart's CRD ordering trap and value typing, and the local Key Vault.

Driven by the real SDK clients (SourceControlConfigurationClient, SecretClient) over HTTPS, as the service is.
"""
from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError, ServiceRequestError
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient
from azure.mgmt.kubernetesconfiguration.v2023_05_01 import SourceControlConfigurationClient
from azure.mgmt.kubernetesconfiguration.v2023_05_01.models import PatchExtension

from localazure.arm import argocd_chart
from localazure.arm.emulator import ArmEmulator
from localazure.clock import VirtualClock
from localazure.keyvault import LocalKeyVault
from tests.localazure.test_arm_emulator import AKS, RG, SUB, argocd, emu, kc, on_aks  # noqa: F401 (clock, credential: conftest)

APPLICATION = """apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: root, namespace: argocd}
spec: {project: default, source: {repoURL: 'https://example.com/fleet', path: apps}}
"""


def test_a_first_install_holding_an_application_fails_with_helms_crd_message_and_a_later_patch_succeeds(
    emu: ArmEmulator, clock: VirtualClock, kc: SourceControlConfigurationClient  # noqa: F811
) -> None:
    emu.add_aks_cluster(SUB, RG, "aks-crd")
    emu.add_aks_cluster(SUB, RG, "aks-ordered")
    kc.extensions.begin_create(*on_aks("aks-crd"), "argocd", argocd(**{"extraObjects[0]": APPLICATION}),
                               polling=False)
    kc.extensions.begin_create(*on_aks("aks-ordered"), "argocd", argocd(), polling=False)
    clock.advance(emu.extension_install_seconds)
    refused = kc.extensions.get(*on_aks("aks-crd"), "argocd")
    assert refused.provisioning_state == "Failed" and refused.error_info.code == "ExtensionOperationFailed"
    assert 'resource mapping not found for name: "root" namespace: "argocd"' in refused.error_info.message
    assert 'no matches for kind "Application" in version "argoproj.io/v1alpha1"' in refused.error_info.message
    assert "ensure CRDs are installed first" in refused.error_info.message

    assert kc.extensions.get(*on_aks("aks-ordered"), "argocd").provisioning_state == "Succeeded"
    kc.extensions.begin_update(*on_aks("aks-ordered"), "argocd",
                               PatchExtension(release_train="preview",
                                              configuration_settings={"extraObjects[0]": APPLICATION}),
                               polling=False)
    clock.advance(emu.extension_update_seconds)
    patched = kc.extensions.get(*on_aks("aks-ordered"), "argocd")
    assert patched.provisioning_state == "Succeeded"
    assert patched.configuration_settings["extraObjects[0]"] == APPLICATION
    # Re-installing the failed one (PUT again) still fails: its release never installed the CRDs.
    kc.extensions.begin_create(*on_aks("aks-crd"), "argocd", argocd(**{"extraObjects[0]": APPLICATION}),
                               polling=False)
    clock.advance(emu.extension_install_seconds)
    assert kc.extensions.get(*on_aks("aks-crd"), "argocd").provisioning_state == "Failed"


def test_a_repository_value_helm_types_as_a_boolean_fails_the_release_like_b64enc_does(
    emu: ArmEmulator, clock: VirtualClock, kc: SourceControlConfigurationClient  # noqa: F811
) -> None:
    emu.add_aks_cluster(SUB, RG, "aks-typed")
    settings = {"configs.repositories.root.url": "https://example.com/fleet",
                "configs.repositories.root.useAzureWorkloadIdentity": "true"}
    kc.extensions.begin_create(*on_aks("aks-typed"), "argocd", argocd(**settings), polling=False)
    clock.advance(emu.extension_install_seconds)
    failed = kc.extensions.get(*on_aks("aks-typed"), "argocd")
    assert failed.provisioning_state == "Failed"
    assert "error calling b64enc: wrong type for value; expected string; got bool" in failed.error_info.message


def test_the_values_tree_follows_helm_set_paths() -> None:
    values = argocd_chart.values_tree({
        "configs.cm.admin\\.enabled": "false", "server.replicas": "2", "extraObjects[1]": "x: 1",
        "configs.clusterCredentials.c1.server": "https://kubernetes.default.svc",
        "configs.clusterCredentials.c1.config.tlsClientConfig.insecure": "false",
        "configs.clusterCredentials.c1.labels.example\\.com/team": "payments",
        "configs.clusterCredentials.c1.annotations.enabled": "true"})
    assert values["configs"]["cm"] == {"admin.enabled": False} and values["server"]["replicas"] == 2
    assert values["extraObjects"] == [None, "x: 1"]
    [secret] = argocd_chart.cluster_secrets(values)
    assert secret["metadata"]["name"] == "argocd-cluster-c1"
    assert secret["metadata"]["labels"]["example.com/team"] == "payments"
    assert secret["metadata"]["annotations"] == {"enabled": "true"}  # the chart quotes annotations
    assert secret["stringData"]["config"] == '{"tlsClientConfig": {"insecure": false}}'


@pytest.fixture
def vault(emu: ArmEmulator, credential: DefaultAzureCredential,  # noqa: F811
          monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalKeyVault]:
    with LocalKeyVault(emu, time.time) as running:
        for name, value in running.environ().items():
            monkeypatch.setenv(name, value)
        yield running


def test_the_local_vault_challenges_then_serves_the_latest_version_to_the_real_secret_client(
    emu: ArmEmulator, vault: LocalKeyVault, credential: DefaultAzureCredential  # noqa: F811
) -> None:
    name = f"kv-{secrets.token_hex(4)}"  # the SDK caches a vault's challenge per process: a vault it has not seen
    first = vault.set_secret(name, "repo-token", "one")
    vault.set_secret(name, "repo-token", "two")
    client = SecretClient(f"https://{name}.vault.localhost", credential, connection_verify=emu.ca_path)
    latest = client.get_secret("repo-token")
    assert latest.value == "two" and latest.id.startswith(f"https://{name}.vault.localhost/secrets/repo-token/")
    assert client.get_secret("repo-token", first).value == "one"
    assert [(r.vault, r.status) for r in vault.requests][:2] == [(name, 401), (name, 200)]
    with pytest.raises(ResourceNotFoundError, match=r"SecretNotFound|was not found"):
        client.get_secret("missing")


def test_the_local_vault_refuses_an_arm_token_and_other_hosts(
    emu: ArmEmulator, vault: LocalKeyVault, credential: DefaultAzureCredential  # noqa: F811
) -> None:
    vault.set_secret("kv-fleet", "repo-token", "one")
    arm_token = credential.get_token("https://management.azure.com/.default").token
    client = SecretClient("https://kv-fleet.vault.localhost", _Fixed(arm_token), connection_verify=emu.ca_path,
                          verify_challenge_resource=True)
    with pytest.raises(ClientAuthenticationError):
        client.get_secret("repo-token")
    elsewhere = SecretClient("https://kv-fleet.vault.example.com", credential, connection_verify=emu.ca_path,
                             retry_total=0)
    with pytest.raises(ServiceRequestError):
        elsewhere.get_secret("repo-token")  # the proxy resolves *.vault.localhost only


class _Fixed:
    """A credential that always answers with one token (whatever scope is asked for)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: object) -> object:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + 3600)
