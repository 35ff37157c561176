"""GitOps-ready means syncing: the root Application, repository access and the cluster Secret's metadata.

Everything is read back from the local Azure: the ARM request log (what the service sent, in which order), the
extension's configuration rendered the way the argo-cd chart renders it (`localazure.arm.argocd_chart`), the
replies, the status API and the ledger. Profiles: `gitops-bridge` (shipped) and tests/profiles/gitops-keyvault.
"""
from __future__ import annotations

import base64
import io
import json
import logging
import secrets
from dataclasses import asdict
from typing import Any

import pytest
from azure.identity import DefaultAzureCredential
from azure.mgmt.kubernetesconfiguration.v2023_05_01 import SourceControlConfigurationClient
from azure.mgmt.kubernetesconfiguration.v2023_05_01.models import PatchExtension

from argoboot_cli.commands.plan import _document, _show
from argoboot_cli.output import Output
from localazure.arm import argocd_chart
from localazure.stack import SUBSCRIPTION, LocalAzure
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.planning import make_plan
from tests.e2e.azure_state import assert_removed
from tests.e2e.helpers import RG, aks_id, arc_id, record, replies, send_request

TAGS = {"environment": "prod", "team": "Payments & Cards", "costCenter": "4711"}
WRITES = ("PUT", "PATCH", "DELETE", "POST")


def new_cluster(az: LocalAzure, kind: str, name: str, **options: Any) -> str:
    if kind == "aks":
        az.arm.add_aks_cluster(SUBSCRIPTION, RG, name, **options)
        return aks_id(name)
    az.arm.add_arc_cluster(SUBSCRIPTION, RG, name, **options)
    return arc_id(name)


def extension_writes(az: LocalAzure) -> list[tuple[str, dict[str, Any]]]:
    return [(r.method, (r.body or {}).get("properties") or {}) for r in az.arm.requests
            if r.method in WRITES and r.path.lower().endswith("/extensions/argocd")]


def rendered(az: LocalAzure, cluster_id: str) -> dict[str, Any]:
    ext = az.arm.extension(cluster_id, "argocd")
    assert ext is not None
    return argocd_chart.values_tree(ext["properties"]["configurationSettings"])


def converge(az: LocalAzure, cluster_id: str, profile: str, message_id: str = "m-1") -> None:
    send_request(az, cluster_id, message_id=message_id, profile=profile, requestId=message_id)
    az.drain()
    assert record(az, cluster_id).phase == "succeeded", record(az, cluster_id).last_error_message


@pytest.mark.parametrize("kind", ["aks", "arc"])
def test_a_new_cluster_gets_argo_cd_then_the_root_application_and_its_metadata(platform_azure: LocalAzure,
                                                                                kind: str) -> None:
    az = platform_azure
    name = f"{kind}-fleet-01"
    cluster_id = new_cluster(az, kind, name, tags=TAGS)
    converge(az, cluster_id, "gitops-bridge")

    # Two operations, in that order: the install with the cluster Secret but without the Application, then a PATCH
    # of just that key.
    writes = extension_writes(az)
    assert [method for method, _ in writes] == ["PUT", "PATCH"]
    assert [k for k in writes[0][1]["configurationSettings"] if k.startswith("extraObjects")] == ["extraObjects[0]"]
    assert not any(k.startswith("configs.clusterCredentials") for k in writes[0][1]["configurationSettings"])
    assert set(writes[1][1]["configurationSettings"]) == {"extraObjects[1]"}
    steps = [h["step"] for h in record(az, cluster_id).history]
    assert any("root Application follows once Argo CD and its CRDs are installed" in s for s in steps)
    assert any(s.startswith("root Application added (extraObjects[1])") for s in steps)

    values = rendered(az, cluster_id)
    [app] = argocd_chart.custom_resources(values)
    assert app["kind"] == "Application" and app["metadata"] == {"name": "root", "namespace": "argocd"}
    assert app["spec"]["source"] == {"repoURL": "https://dev.azure.com/contoso/platform/_git/fleet",
                                     "path": f"clusters/{kind}/{name}", "targetRevision": "main"}
    assert app["spec"]["destination"] == {"server": "https://kubernetes.default.svc", "namespace": "argocd"}
    assert app["spec"]["syncPolicy"] == {"automated": {"prune": True, "selfHeal": True}}

    [secret] = argocd_chart.cluster_secrets(values)
    cluster = az.arm.cluster(cluster_id)
    [identity] = az.arm.identities()
    assert secret["stringData"]["server"] == "https://kubernetes.default.svc"
    assert argocd_chart.invalid_labels(secret) == []
    assert secret["metadata"]["labels"] == {
        "cluster_name": name, "cluster_kind": kind, "location": "eastus", "environment": "prod",
        "team": "Payments---Cards", "argocd.argoproj.io/secret-type": "cluster",
        "enable_cert_manager": "true", "enable_external_secrets": "true", "enable_metrics_server": "true",
        "cert_manager_chart_version": "v1.16.2"}
    kubelet = {"kubelet_identity_client_id": cluster["properties"]["identityProfile"]["kubeletidentity"][
        "clientId"]} if kind == "aks" else {}  # Arc clusters have no kubelet identity in ARM
    assert secret["metadata"]["annotations"] == {
        "cluster_name": name, "cluster_kind": kind, "subscription_id": SUBSCRIPTION, "resource_group": RG,
        "location": "eastus", "tenant_id": cluster["identity"]["tenantId"],
        "workload_identity_client_id": identity["properties"]["clientId"],
        "akspe_identity_id": identity["properties"]["clientId"], **kubelet,
        "addons_repo_url": "https://dev.azure.com/contoso/platform/_git/fleet", "addons_repo_basepath": "",
        "addons_repo_path": "bootstrap/control-plane/addons", "addons_repo_revision": "main",
        "cert_manager_namespace": "cert-manager", "external_secrets_namespace": "external-secrets",
        "workload_repo_url": "https://dev.azure.com/contoso/platform/_git/fleet", "workload_repo_basepath": "",
        "workload_repo_path": "workloads", "workload_repo_revision": "main",
        "team": "Payments & Cards",  # the label had to be sanitised: the exact value stays as an annotation
        "environment": "prod", "cost_center": "4711"}
    repository = {s["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in s["data"].items()}
                  for s in argocd_chart.repository_secrets(values)}
    assert repository["argocd-repo-creds-root"] == {"url": "https://dev.azure.com/contoso/platform/_git/fleet",
                                                    "useAzureWorkloadIdentity": "true"}
    assert repository["argocd-repo-root"]["url"] == "https://dev.azure.com/contoso/platform/_git/fleet"
    assert values["server"]["service"] == {
        "type": "LoadBalancer", "annotations": {"service.beta.kubernetes.io/azure-load-balancer-internal": True}}

    root = {"repoURL": "https://dev.azure.com/contoso/platform/_git/fleet", "path": f"clusters/{kind}/{name}",
            "targetRevision": "main", "applied": True}
    [reply] = replies(az)
    assert reply["outcome"] == "succeeded" and reply["gitopsRoot"] == root
    status = az.http("GET", f"/api/clusters{cluster_id}")
    assert json.loads(status.get_body())["gitopsRoot"] == root

    # A second reconcile writes nothing.
    az.arm.clear_log()
    send_request(az, cluster_id, message_id="m-2", profile="gitops-bridge", requestId="m-2")
    az.drain()
    assert [r.method for r in az.arm.requests if r.method in WRITES] == []
    assert record(az, cluster_id).phase == "succeeded"


def test_someone_deleting_the_root_application_key_gets_it_back_with_one_patch_of_that_key(
        platform_azure: LocalAzure) -> None:
    az = platform_azure
    cluster_id = new_cluster(az, "aks", "aks-drift", tags=TAGS)
    converge(az, cluster_id, "gitops-bridge")
    application = az.arm.extension(cluster_id, "argocd")["properties"]["configurationSettings"]["extraObjects[1]"]

    by_hand = SourceControlConfigurationClient(DefaultAzureCredential(), SUBSCRIPTION, base_url=az.arm.url,
                                               connection_verify=az.arm.ca_path,
                                               credential_scopes=["https://management.azure.com/.default"])
    ref = parse_cluster_id(cluster_id)
    by_hand.extensions.begin_update(ref.resource_group, ref.namespace, ref.resource_type, ref.name, "argocd",
                                    PatchExtension(release_train="preview",
                                                   configuration_settings={"extraObjects[1]": None}),
                                    polling=False).result()
    az.clock.advance(az.arm.extension_update_seconds)
    assert "extraObjects[1]" not in az.arm.extension(cluster_id, "argocd")["properties"]["configurationSettings"]

    az.arm.clear_log()
    report = az.services.sweeper.run()
    assert report.enqueued == {cluster_id.lower(): "extension settings drifted from the profile"}
    az.drain()
    [(method, body)] = extension_writes(az)
    assert method == "PATCH" and body["configurationSettings"] == {"extraObjects[1]": application}
    assert "configurationProtectedSettings" not in body
    assert record(az, cluster_id).gitops_root["applied"] is True  # type: ignore[index]


def test_an_extension_with_the_former_layout_moves_to_the_new_one_in_one_patch(platform_azure: LocalAzure) -> None:
    """Before: the cluster Secret in configs.clusterCredentials.* and the root Application in extraObjects[0]. One
    PATCH removes those keys and writes the Secret to extraObjects[0] and the Application to extraObjects[1]."""
    az = platform_azure
    cluster_id = new_cluster(az, "aks", "aks-former", tags=TAGS)
    converge(az, cluster_id, "gitops-bridge")
    now = dict(az.arm.extension(cluster_id, "argocd")["properties"]["configurationSettings"])
    prefix = "configs.clusterCredentials.aks-former"
    former = {"extraObjects[0]": now["extraObjects[1]"], "extraObjects[1]": None,
              f"{prefix}.server": "https://kubernetes.default.svc",
              f"{prefix}.config.tlsClientConfig.insecure": "false", f"{prefix}.labels.cluster_name": "aks-former",
              f"{prefix}.annotations.addons_repo_path": "clusters/aks/aks-former"}
    by_hand = SourceControlConfigurationClient(DefaultAzureCredential(), SUBSCRIPTION, base_url=az.arm.url,
                                               connection_verify=az.arm.ca_path,
                                               credential_scopes=["https://management.azure.com/.default"])
    ref = parse_cluster_id(cluster_id)
    by_hand.extensions.begin_update(ref.resource_group, ref.namespace, ref.resource_type, ref.name, "argocd",
                                    PatchExtension(release_train="preview", configuration_settings=former),
                                    polling=False).result()
    az.clock.advance(az.arm.extension_update_seconds)

    az.arm.clear_log()
    az.services.sweeper.run()
    az.drain()
    [(method, body)] = extension_writes(az)
    assert method == "PATCH" and body["configurationSettings"] == {
        "extraObjects[0]": now["extraObjects[0]"], "extraObjects[1]": now["extraObjects[1]"],
        **{k: None for k in former if k.startswith(prefix)}}
    ext = az.arm.extension(cluster_id, "argocd")
    assert ext["properties"]["provisioningState"] == "Succeeded"
    assert ext["properties"]["configurationSettings"] == now
    assert record(az, cluster_id).phase == "succeeded"


def test_uninstall_removes_the_extension_and_with_it_the_root_application(platform_azure: LocalAzure) -> None:
    az = platform_azure
    cluster_id = new_cluster(az, "aks", "aks-gone", tags=TAGS)
    converge(az, cluster_id, "gitops-bridge")
    send_request(az, cluster_id, message_id="m-uninstall", action="uninstall", requestId="m-uninstall")
    az.drain()
    assert_removed(az, cluster_id)
    assert record(az, cluster_id).gitops_root is None
    assert replies(az)[-1]["outcome"] == "uninstalled" and "gitopsRoot" not in replies(az)[-1]


def test_a_key_vault_secret_reaches_protected_settings_and_nowhere_else_and_a_rotation_is_reapplied(
        platform_azure: LocalAzure, caplog: pytest.LogCaptureFixture) -> None:
    az = platform_azure
    caplog.set_level(logging.DEBUG)
    token = f"ghp_{secrets.token_hex(16)}"
    az.keyvault.set_secret("kv-fleet", "fleet-token", token)
    cluster_id = new_cluster(az, "aks", "aks-private", tags=TAGS)
    converge(az, cluster_id, "gitops-keyvault")

    [(put, put_body), (patch, patch_body)] = extension_writes(az)
    assert (put, patch) == ("PUT", "PATCH")
    assert put_body["configurationProtectedSettings"] == {"configs.credentialTemplates.root.password": token}
    assert put_body["configurationSettings"]["configs.credentialTemplates.root.username"] == "argocd-bot"
    # The root Application's PATCH sends the secret again: Azure deletes protected settings an update leaves out.
    assert patch_body["configurationProtectedSettings"] == put_body["configurationProtectedSettings"]
    carrying = [r for r in az.arm.requests if token in json.dumps(r.body)]
    assert [(r.method, r.path.lower().endswith("/extensions/argocd")) for r in carrying] == [("PUT", True),
                                                                                            ("PATCH", True)]
    assert token not in json.dumps(put_body["configurationSettings"])
    assert token not in json.dumps(az.arm.extension(cluster_id, "argocd"))  # Azure never returns it

    reconciler, profile = az.services.processor.reconciler, az.services.processor.profiles.resolve("gitops-keyvault")
    plan = make_plan(reconciler.api, reconciler.directory, az.services.settings, parse_cluster_id(cluster_id),
                     profile, reconciler.secrets)
    text = io.StringIO()
    _show(plan, "the local Azure", Output("text", stdout=text))
    document = json.dumps(_document(plan))
    new_cluster(az, "aks", "aks-planned")
    fresh = make_plan(reconciler.api, reconciler.directory, az.services.settings,
                      parse_cluster_id(aks_id("aks-planned")), profile, reconciler.secrets)
    _show(fresh, "the local Azure", Output("text", stdout=text))
    assert "<from Key Vault: fleet-token>" in text.getvalue() and "extraObjects[0]" in text.getvalue()
    document += json.dumps(_document(fresh))
    assert "<from Key Vault: fleet-token>" in document

    rows = [json.dumps(asdict(r), default=str) for r in az.services.ledger.list_clusters()]
    rows += [json.dumps(asdict(az.services.ledger.get_request(rid)), default=str) for rid in ("m-1",)]
    seen = {"log lines": [r.getMessage() for r in caplog.records], "replies": [json.dumps(replies(az))],
            "ledger rows": rows, "plan output": [text.getvalue(), document],
            "status API": [az.http("GET", f"/api/clusters{cluster_id}").get_body().decode()]}
    assert all(seen.values())
    leaks = {where: [t for t in texts if token in t] for where, texts in seen.items()}
    assert leaks == {where: [] for where in seen}
    assert record(az, cluster_id).protected_hash not in (None, token)

    # Rotation: a new version in Key Vault; the sweep notices it (Azure shows nothing) and one PATCH re-applies.
    rotated = f"ghp_{secrets.token_hex(16)}"
    az.keyvault.set_secret("kv-fleet", "fleet-token", rotated)
    az.arm.clear_log()
    report = az.services.sweeper.run()
    assert report.enqueued == {cluster_id.lower(): "repository secret changed in Key Vault since it was applied",
                               aks_id("aks-planned").lower(): "never bootstrapped (its event was missed)"}
    az.drain()
    rotation = [b for m, b in extension_writes(az) if m == "PATCH" and "configurationProtectedSettings" in b]
    assert [b["configurationProtectedSettings"] for b in rotation] == [
        {"configs.credentialTemplates.root.password": rotated}]
    assert "configurationSettings" not in rotation[0]  # nothing else drifted: only the secret goes
    assert az.services.sweeper.run().enqueued == {}
    assert all(rotated not in r.getMessage() for r in caplog.records)


def test_a_missing_key_vault_secret_fails_the_cluster_with_the_fix_and_installs_nothing(
        platform_azure: LocalAzure) -> None:
    az = platform_azure
    cluster_id = new_cluster(az, "aks", "aks-nosecret")
    send_request(az, cluster_id, message_id="m-1", profile="gitops-keyvault", requestId="m-1")
    az.drain()
    failed = record(az, cluster_id)
    assert failed.phase == "failed" and failed.last_error_code == "KeyVaultSecretNotFound"
    assert "https://kv-fleet.vault.localhost/secrets/fleet-token" in (failed.last_error_message or "")
    assert "Key Vault Secrets User" in (failed.last_error_message or "")
    assert extension_writes(az) == []
    assert replies(az)[-1]["error"]["code"] == "KeyVaultSecretNotFound"


def test_argoboot_status_shows_the_root_application(platform_azure: LocalAzure) -> None:
    from argoboot_cli.commands.status import _show_cluster, cluster_document

    az = platform_azure
    cluster_id = new_cluster(az, "aks", "aks-status", tags=TAGS)
    converge(az, cluster_id, "gitops-bridge")
    text = io.StringIO()
    _show_cluster(record(az, cluster_id), Output("text", stdout=text))
    assert ("root app      https://dev.azure.com/contoso/platform/_git/fleet clusters/aks/aks-status@main (applied)"
            in text.getvalue())
    assert cluster_document(record(az, cluster_id))["gitopsRoot"]["applied"] is True
