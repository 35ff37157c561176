"""End to end: workload identity, Entra SSO, RBAC, ACR and profile changes, through the real entry points.

Profiles come from tests/profiles (the `platform_azure` fixture); every assertion reads the emulator's
Azure state (identities, credentials, role assignments, the SSO application, the extension) or its
request log, never the service's own account of what it did.
"""
from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
import yaml

from localazure.functions_host import as_cloud_event
from localazure.stack import QUEUE, SUBSCRIPTION, LocalAzure
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.workload_identity import identity_for
from tests.conftest import SSO_CLIENT_ID
from tests.e2e.helpers import MARKER, RG, aks_id, arc_id, record, replies, send_request

REGISTRY = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-shared/providers/"
            "Microsoft.ContainerRegistry/registries/platformacr")
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
AUDIENCE = "api://AzureADTokenExchange"


def writes(az: LocalAzure) -> list[str]:
    return [f"{r.method} {r.path}" for r in az.arm.requests if r.method != "GET"]


def the_identity(az: LocalAzure, cluster_id: str) -> dict[str, Any]:
    name = identity_for(parse_cluster_id(cluster_id), None).name
    [identity] = [i for i in az.arm.identities() if i["name"] == name]
    return identity


def credentials(az: LocalAzure, identity: dict[str, Any]) -> dict[str, tuple[str, str, list[str]]]:
    return {c["name"]: (c["properties"]["issuer"], c["properties"]["subject"], c["properties"]["audiences"])
            for c in az.arm.federated_credentials(identity["id"])}


def settings(az: LocalAzure, cluster_id: str) -> dict[str, str]:
    ext = az.arm.extension(cluster_id, "argocd")
    assert ext is not None and ext["properties"]["provisioningState"] == "Succeeded", ext
    return dict(ext["properties"]["configurationSettings"])


def bootstrap(az: LocalAzure, cluster_id: str, request_id: str, **fields: Any) -> dict[str, Any]:
    send_request(az, cluster_id, message_id=request_id, **fields)
    az.drain()
    [reply] = [r for r in replies(az) if r["requestId"] == request_id]
    return reply


def expected_platform_settings(client_id: str, ha: str = "true") -> dict[str, str]:
    return {
        "redis-ha.enabled": ha,
        "azure.workloadIdentity.enabled": "true",
        "azure.workloadIdentity.clientId": client_id,
        "azure.workloadIdentity.entraSSOClientId": SSO_CLIENT_ID,
        "configs.cm.url": "https://argocd.platform.example/",
        "configs.rbac.policy\\.default": "role:readonly",
        "configs.rbac.policy\\.csv": "p, role:org-admin, applications, *, */*, allow\n"
                                     "g, 0b1f6a2e-4c3d-4e5f-8a9b-1c2d3e4f5a6b, role:org-admin\n",
        "configs.params.application\\.namespaces": "argocd, team-*",
        "configs.cm.admin\\.enabled": "false",
        "server.replicas": "2",
    }


@pytest.mark.parametrize("kind", ["aks", "arc"])
def test_platform_profile_sets_up_identity_credentials_sso_and_settings(platform_azure: LocalAzure,
                                                                        kind: str) -> None:
    az = platform_azure
    if kind == "aks":
        az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-pay", location="westeurope", node_counts=(2, 2))
        cluster_id = aks_id("aks-pay")
        issuer = az.arm.cluster(cluster_id)["properties"]["oidcIssuerProfile"]["issuerURL"]
    else:
        az.arm.add_arc_cluster(SUBSCRIPTION, RG, "arc-store", location="westeurope", node_count=4)
        cluster_id = arc_id("arc-store")
        issuer = az.arm.cluster(cluster_id)["properties"]["oidcIssuerProfile"]["issuerUrl"]
    assert issuer.endswith("/")

    reply = bootstrap(az, cluster_id, "r-platform", profile="platform")

    assert reply["outcome"] == "succeeded", reply
    identity = the_identity(az, cluster_id)
    assert identity["location"] == "westeurope"
    assert identity["tags"]["managed-by"] == "argoboot"
    assert credentials(az, identity) == {
        "argoboot-argocd-repo-server": (issuer, "system:serviceaccount:argocd:argocd-repo-server", [AUDIENCE]),
        "argoboot-argocd-application-controller": (
            issuer, "system:serviceaccount:argocd:argocd-application-controller", [AUDIENCE]),
    }
    [app_credential] = az.arm.application_credentials(SSO_CLIENT_ID)
    assert (app_credential["issuer"], app_credential["subject"], app_credential["audiences"]) == \
        (issuer, "system:serviceaccount:argocd:argocd-server", [AUDIENCE])
    app = az.arm.application(SSO_CLIENT_ID)  # Argo CD's two redirect URIs, as Microsoft's AKS blog (2026) sets them
    assert app["web"]["redirectUris"] == ["https://argocd.platform.example/auth/callback"]
    assert app["publicClient"]["redirectUris"] == ["http://localhost:8085/auth/callback"]
    [assignment] = az.arm.role_assignments(REGISTRY)
    assert assignment["properties"]["principalId"] == identity["properties"]["principalId"]
    assert assignment["properties"]["roleDefinitionId"].endswith("/7f951dda-4ed3-4680-a7ca-43fe172d538d")
    assert assignment["properties"]["principalType"] == "ServicePrincipal"

    installed = settings(az, cluster_id)
    oidc = yaml.safe_load(installed.pop("configs.cm.oidc\\.config"))
    assert installed == {**expected_platform_settings(identity["properties"]["clientId"]), **MARKER}
    assert oidc == {"name": "Azure", "issuer": f"https://login.microsoftonline.com/{TENANT}/v2.0",
                    "clientID": SSO_CLIENT_ID, "azure": {"useWorkloadIdentity": True},
                    "requestedIDTokenClaims": {"groups": {"essential": True}},
                    "requestedScopes": ["openid", "profile", "email"]}

    rec = record(az, cluster_id)
    assert rec.phase == "succeeded" and rec.profile == "platform" and rec.config_hash
    assert identity["id"] in rec.created and assignment["id"] in rec.created
    assert az.arm.count(None, r"/federatedIdentityCredentials/") == 2  # written once each
    assert az.bus.errors == [] and az.bus.dead_letters(QUEUE) == []


def test_role_assignment_waits_for_the_new_principal_to_replicate(platform_azure: LocalAzure) -> None:
    az = platform_azure
    az.arm.principal_replication_seconds = 25
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-acr")
    assert bootstrap(az, aks_id("aks-acr"), "r-acr", profile="platform")["outcome"] == "succeeded"
    attempts = [r for r in az.arm.requests if r.method == "PUT" and "/roleAssignments/" in r.path]
    statuses = [r.status for r in attempts]
    assert statuses[-1] == 201 and set(statuses[:-1]) == {400}  # PrincipalNotFound until Entra replicated it
    # Retried soon and then less often (the poll schedule's back-off, 0.5 s doubling), never further apart than
    # IDENTITY_RETRY_SECONDS: noticed within that of the principal being there.
    gaps = [b.started - a.started for a, b in itertools.pairwise(attempts)]
    assert gaps == sorted(gaps) and max(gaps) <= az.services.settings.identity_retry_seconds, gaps
    assert 25 <= attempts[-1].started - attempts[0].started <= 25 + az.services.settings.identity_retry_seconds
    assert len(az.arm.role_assignments(REGISTRY)) == 1
    assert record(az, aks_id("aks-acr")).last_error_code is None


def test_small_cluster_under_auto_gets_no_redis_ha(platform_azure: LocalAzure) -> None:
    az = platform_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-dev", node_counts=(2,))
    assert bootstrap(az, aks_id("aks-dev"), "r-dev", profile="platform")["outcome"] == "succeeded"
    assert settings(az, aks_id("aks-dev"))["redis-ha.enabled"] == "false"


def test_profile_change_is_one_patch_of_exactly_the_changed_keys_and_a_rerun_writes_nothing(
        platform_azure: LocalAzure) -> None:
    az = platform_azure
    cluster_id = aks_id("aks-drift")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-drift")
    bootstrap(az, cluster_id, "r-1", profile="platform")
    az.arm.clear_log()

    new_csv = "p, role:org-admin, applications, *, */*, allow\ng, team-sre, role:org-admin\n"
    reply = bootstrap(az, cluster_id, "r-2", profile="platform", overrides={"rbac": {"policyCsv": new_csv}})

    assert reply["outcome"] == "succeeded", reply
    patches = [r for r in az.arm.requests if r.method == "PATCH"]
    assert len(patches) == 1
    assert patches[0].body["properties"]["configurationSettings"] == {"configs.rbac.policy\\.csv": new_csv}
    assert "releaseTrain" not in patches[0].body["properties"]  # the extension keeps its train
    assert writes(az) == [f"PATCH {patches[0].path}"]
    assert settings(az, cluster_id)["configs.rbac.policy\\.csv"] == new_csv

    az.arm.clear_log()
    assert bootstrap(az, cluster_id, "r-3")["outcome"] == "succeeded"  # no profile: keeps platform + override
    assert writes(az) == []
    assert settings(az, cluster_id)["configs.rbac.policy\\.csv"] == new_csv
    assert az.arm.count("GET") > 0

    az.arm.clear_log()
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-other")  # an unrelated event meanwhile
    az.deliver_event(event)
    az.deliver_event(as_cloud_event({**event, "id": "late-write", "subject": cluster_id,
                                     "data": {**event["data"], "resourceUri": cluster_id}}))
    az.drain()
    assert not [w for w in writes(az) if "aks-drift" in w]  # a cluster update event never undoes a request


def test_setting_removed_from_the_profile_is_removed_from_the_extension(platform_azure: LocalAzure) -> None:
    az = platform_azure
    cluster_id = aks_id("aks-manual")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-manual")
    # The service's (its marker), with a key added by hand since: drift, removed. (An adoption would keep it.)
    az.arm.add_extension(cluster_id, "argocd", settings={"redis-ha.enabled": "true", "server.replicas": "5", **MARKER})
    reply = bootstrap(az, cluster_id, "r-1")
    [patch] = [r for r in az.arm.requests if r.method == "PATCH"]
    assert patch.body["properties"]["configurationSettings"] == {"server.replicas": None}
    assert settings(az, cluster_id) == {"redis-ha.enabled": "true", **MARKER}
    assert any("drifted from the profile; patched server.replicas" in step for step in reply["steps"]), reply


def test_concurrent_credential_writes_are_never_made_and_a_forced_409_is_recovered(
        platform_azure: LocalAzure) -> None:
    az = platform_azure
    az.arm.fic_write_seconds = 0.05  # each credential write holds the identity briefly, as Azure does
    for name in ("aks-a", "aks-b", "aks-c"):
        az.arm.add_aks_cluster(SUBSCRIPTION, RG, name)
        send_request(az, aks_id(name), message_id=f"r-{name}", profile="workload-identity")
    az.drain(workers=3)
    assert az.arm.count(None, r"/federatedIdentityCredentials/") == 6
    assert not [r for r in az.arm.requests if r.status == 409]

    az.arm.inject(method="PUT", path_regex=r"/federatedIdentityCredentials/", status=409,
                  code="ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity",
                  message="Too many Federated Identity Credentials are written concurrently")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-d")
    assert bootstrap(az, aks_id("aks-d"), "r-aks-d", profile="workload-identity")["outcome"] == "succeeded"
    identity = the_identity(az, aks_id("aks-d"))
    assert len(credentials(az, identity)) == 2
    assert any("ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity" in h["step"]
               for h in record(az, aks_id("aks-d")).history)


def test_legacy_installation_is_reinstalled_only_when_the_request_asks(platform_azure: LocalAzure) -> None:
    az = platform_azure
    cluster_id = aks_id("aks-old")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-old")
    az.arm.add_extension(cluster_id, "argocd", version="0.0.9-preview", settings={
        "deployWithHighAvailability": "false", "config-maps.argocd-cm.data.url": "https://old.example/"})

    refused = bootstrap(az, cluster_id, "r-no", profile="workload-identity", adopt=True)  # installed by hand
    assert refused["error"]["code"] == "LegacyExtensionNeedsReinstall", refused
    assert "every Application" in refused["error"]["message"] and '"reinstall": true' in refused["error"]["message"]
    assert not [w for w in writes(az) if "/extensions/" in w]

    reply = bootstrap(az, cluster_id, "r-migrate", profile="workload-identity", adopt=True, reinstall=True)

    assert reply["outcome"] == "succeeded", reply
    ext_writes = [w.split(" ")[0] for w in writes(az) if w.endswith("/extensions/argocd")]
    assert ext_writes == ["DELETE", "PUT"]
    installed = settings(az, cluster_id)
    assert not [k for k in installed if k.startswith("config-maps") or k == "deployWithHighAvailability"]
    assert installed["azure.workloadIdentity.enabled"] == "true"
    assert any("legacy Argo CD extension found (version 0.0.9-preview)" in s and "every Application" in s
               for s in reply["steps"])


def test_aks_without_workload_identity_fails_with_the_flags_that_fix_it(platform_azure: LocalAzure) -> None:
    az = platform_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-nowi", oidc_issuer=False, workload_identity=False)
    reply = bootstrap(az, aks_id("aks-nowi"), "r-nowi", profile="workload-identity")
    assert reply["outcome"] == "failed" and reply["error"]["code"] == "ClusterWorkloadIdentityDisabled"
    assert "az aks update -g rg-platform -n aks-nowi --enable-oidc-issuer --enable-workload-identity" in \
        reply["error"]["message"]
    assert writes(az) == [] and az.arm.identities() == []


def test_profile_may_let_the_service_enable_workload_identity(platform_azure: LocalAzure) -> None:
    az = platform_azure
    cluster_id = aks_id("aks-enable")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-enable", oidc_issuer=False, workload_identity=False)
    reply = bootstrap(az, cluster_id, "r-enable", profile="enable-wi")
    assert reply["outcome"] == "succeeded", reply
    [update] = [r for r in az.arm.requests if r.method == "PUT" and r.path.endswith("/managedClusters/aks-enable")]
    assert update.body["properties"]["oidcIssuerProfile"]["enabled"] is True
    assert update.body["properties"]["securityProfile"]["workloadIdentity"] == {"enabled": True}
    issuer = az.arm.cluster(cluster_id)["properties"]["oidcIssuerProfile"]["issuerURL"]
    identity = the_identity(az, cluster_id)
    assert {c[0] for c in credentials(az, identity).values()} == {issuer}
    first_identity_write = next(r.started for r in az.arm.requests if "userAssignedIdentities" in r.path
                                and r.method == "PUT")
    assert first_identity_write >= update.started + az.arm.cluster_update_seconds  # after AKS finished updating


def test_sso_without_graph_access_reports_the_exact_credential_to_add(platform_azure: LocalAzure) -> None:
    az = platform_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-manual-sso")
    reply = bootstrap(az, aks_id("aks-manual-sso"), "r-manual", profile="manual-sso")
    assert reply["outcome"] == "succeeded"
    issuer = az.arm.cluster(aks_id("aks-manual-sso"))["properties"]["oidcIssuerProfile"]["issuerURL"]
    [action, redirects] = reply["actionsRequired"]
    assert action.startswith("add federated credential")
    assert "web redirect URI https://argocd.manual.example/auth/callback" in redirects, redirects
    assert "public client) redirect URI http://localhost:8085/auth/callback" in redirects
    parameters = json.loads(action.split("--parameters '", 1)[1].rstrip("'"))
    assert parameters["issuer"] == issuer and parameters["audiences"] == [AUDIENCE]
    assert parameters["subject"] == "system:serviceaccount:argocd:argocd-server"
    assert f"--id {SSO_CLIENT_ID}" in action
    assert az.arm.application_credentials(SSO_CLIENT_ID) == []
    assert az.arm.count(None, r"^/v1\.0/") == 0


def test_sso_application_at_its_credential_limit_fails_clearly(platform_azure: LocalAzure) -> None:
    az = platform_azure
    for n in range(20):
        az.arm.add_application_credential(SSO_CLIENT_ID, f"other-{n}", "https://issuer.example/", f"sub-{n}")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-full")
    reply = bootstrap(az, aks_id("aks-full"), "r-full", profile="platform")
    assert reply["outcome"] == "failed" and reply["error"]["code"] == "SsoApplicationCredentialLimit"
    assert "20" in reply["error"]["message"] and SSO_CLIENT_ID in reply["error"]["message"]
    assert az.arm.count("POST", r"^/v1\.0/") == 0


def test_an_identity_the_service_did_not_create_is_never_used(platform_azure: LocalAzure) -> None:
    az = platform_azure
    ref = identity_for(parse_cluster_id(aks_id("aks-taken")), None)
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-taken")
    foreign = az.arm.add_identity(SUBSCRIPTION, RG, ref.name, tags={"owner": "someone"})
    reply = bootstrap(az, aks_id("aks-taken"), "r-taken", profile="workload-identity")
    assert reply["outcome"] == "failed" and reply["error"]["code"] == "IdentityNotOwned"
    assert az.arm.federated_credentials(foreign) == [] and not az.arm.extension(aks_id("aks-taken"), "argocd")


@pytest.mark.parametrize(("fields", "reason", "text"), [
    ({"profile": "platform", "overrides": {"rbac": {"policyDefault": "role:admin"}}}, "OverrideNotAllowed",
     "rbac.policyDefault"),
    ({"profile": "platform", "overrides": {"sso": {"clientId": "x"}}}, "OverrideNotAllowed", "sso.clientId"),
    ({"profile": "platform", "overrides": {"rbac": {"policyCsv": "x, y"}}}, "InvalidOverride", "policyCsv"),
    ({"profile": "platform", "overrides": {"helmValues": {"server.replicas": [1]}}}, "InvalidOverride",
     "server.replicas"),
    ({"profile": "platform", "overrides": ["ha"]}, "InvalidOverride", "overrides"),
    ({"profile": "default", "overrides": {"ha": "on"}}, "OverrideNotAllowed", "nothing"),
    ({"profile": "no-such-profile"}, "UnknownProfile", "platform"),
])
def test_refused_overrides_and_profiles_are_dead_lettered_and_answered(platform_azure: LocalAzure,
                                                                       fields: dict[str, Any], reason: str,
                                                                       text: str) -> None:
    az = platform_azure
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-refuse")
    send_request(az, aks_id("aks-refuse"), message_id="r-refused", **fields)
    az.drain()
    [dead] = az.bus.dead_letters(QUEUE)
    assert dead.reason == reason and text in dead.description
    [reply] = replies(az)
    assert reply["outcome"] == "rejected" and reply["error"]["code"] == reason
    assert az.arm.requests == []


def test_a_registry_with_abac_repository_permissions_gets_container_registry_repository_reader(
        platform_azure: LocalAzure) -> None:
    az = platform_azure
    abac = az.arm.add_registry(SUBSCRIPTION, "rg-shared", "abacacr", role_mode="AbacRepositoryPermissions")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-abac")
    reply = bootstrap(az, aks_id("aks-abac"), "r-abac", profile="acr-abac")  # lists abacacr and platformacr
    assert reply["outcome"] == "succeeded", (reply["error"], reply["steps"])
    [reader] = az.arm.role_assignments(abac)
    assert reader["properties"]["roleDefinitionId"].endswith("/b93aa761-3e63-49ed-ac28-beffa264f7ac")
    [pull] = [a for a in az.arm.role_assignments(REGISTRY)
              if a["properties"]["principalId"] == reader["properties"]["principalId"]]
    assert pull["properties"]["roleDefinitionId"].endswith("/7f951dda-4ed3-4680-a7ca-43fe172d538d")
    assert any("granted Container Registry Repository Reader on registry abacacr to the identity (roleAssignmentMode "
               "AbacRepositoryPermissions)" in s for s in reply["steps"]), reply["steps"]
    assert any("granted AcrPull on registry platformacr to the identity (roleAssignmentMode "
               "LegacyRegistryPermissions)" in s for s in reply["steps"]), reply["steps"]
    reads = [r for r in az.arm.requests if r.method == "GET" and r.path.lower().endswith("/registries/abacacr")]
    assert reads and {r.query["api-version"] for r in reads} == {"2025-05-01-preview"}


def test_sso_redirect_uris_are_added_beside_what_the_app_registration_has(platform_azure: LocalAzure) -> None:
    az = platform_azure
    theirs = {"redirectUris": ["https://other.example/auth/callback"], "logoutUrl": "https://other.example/bye"}
    az.arm.set_application_web(SSO_CLIENT_ID, theirs)
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-redirects")
    reply = bootstrap(az, aks_id("aks-redirects"), "r-redirects", profile="platform")
    assert reply["outcome"] == "succeeded", (reply["error"], reply["steps"])
    web = az.arm.application(SSO_CLIENT_ID)["web"]
    assert web == {"redirectUris": ["https://other.example/auth/callback",
                                    "https://argocd.platform.example/auth/callback"],
                   "logoutUrl": "https://other.example/bye"}
    assert any("added redirect URIs https://argocd.platform.example/auth/callback" in s for s in reply["steps"])
    az.arm.clear_log()
    assert bootstrap(az, aks_id("aks-redirects"), "r-again", profile="platform")["outcome"] == "succeeded"
    assert not [r for r in az.arm.requests if r.method == "PATCH" and "/v1.0/applications/" in r.path]
