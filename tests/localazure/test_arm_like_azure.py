"""Where the local ARM used to be friendlier than Azure, one test each: what a client nobody here wrote (`az`,
the SDKs) reads, it now gets as Azure gives it.

The cloud's metadata without a token; JWT access tokens with the claims clients decode; subscriptions, tenants,
the provider list and resource groups (a write into a missing group is 404 `ResourceGroupNotFound`); a fresh
subscription's provider states, per subscription; `Operation-Location` and ARM's standard headers; the extension
type echoed as sent; two principals on an AKS cluster and its eTag; api-version refused when missing, malformed or
not offered; the request log with queries and token calls. Real SDK clients over HTTPS wherever they reach it.
"""
from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.identity import DefaultAzureCredential
from azure.mgmt.kubernetesconfiguration.v2023_05_01 import SourceControlConfigurationClient
from azure.mgmt.kubernetesconfiguration.v2023_05_01.models import Extension, Scope, ScopeCluster
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.resources.models import ResourceGroup

from localazure.arm.api_versions import SUPPORTED
from localazure.arm.emulator import ArmEmulator
from localazure.arm.subscriptions import FRESH_SUBSCRIPTION, REGISTERED
from localazure.clock import VirtualClock

SUB = "6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01"
OTHER = "0d9e4b7a-53c1-4f0e-8e2b-7c6a5d4f3e21"
RG = "rg-platform"
SCOPE = "https://management.azure.com/.default"
AKS = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerService/managedClusters"
KC = "Microsoft.KubernetesConfiguration"


@pytest.fixture
def emu(clock: VirtualClock) -> Iterator[ArmEmulator]:
    """The default: every subscription starts as a fresh one."""
    with ArmEmulator(clock) as running:
        running.add_subscription(SUB, "Platform")
        yield running


def options(emu: ArmEmulator) -> dict[str, Any]:
    return {"base_url": emu.url, "connection_verify": emu.ca_path, "credential_scopes": [SCOPE]}


@pytest.fixture
def resources(emu: ArmEmulator, credential: DefaultAzureCredential) -> ResourceManagementClient:
    return ResourceManagementClient(credential, SUB, **options(emu))


def claims(token: str) -> dict[str, Any]:
    """A JWT's payload, decoded the way `az` and other clients do (no signature check)."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def raw(emu: ArmEmulator, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
    """Raw HTTPS, for what an SDK pipeline would hide (auth, missing api-version, its own retries)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, f"{emu.url}{path}", headers=headers | kwargs.pop("headers", {}),
                            verify=emu.ca_path, timeout=10, **kwargs)


def test_the_clouds_metadata_is_served_without_a_token(emu: ArmEmulator) -> None:
    one = raw(emu, "GET", "/metadata/endpoints?api-version=2022-09-01")
    assert one.status_code == 200
    cloud = one.json()
    assert cloud["resourceManager"] == f"{emu.url}/" and cloud["name"] == "AzureCloud"
    assert cloud["authentication"]["audiences"][0] == "https://management.core.windows.net/"
    assert cloud["authentication"]["loginEndpoint"] == "https://login.microsoftonline.com"
    assert cloud["microsoftGraphResourceId"] == "https://graph.microsoft.com/" and cloud["suffixes"]["storage"]
    listed = raw(emu, "GET", "/metadata/endpoints?api-version=2019-05-01")
    assert listed.status_code == 200 and listed.json() == [cloud]
    missing = raw(emu, "GET", "/metadata/endpoints")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "MissingApiVersionParameter"
    wrong = raw(emu, "GET", "/metadata/endpoints?api-version=2099-01-01")
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "InvalidApiVersionParameter"
    assert "2022-09-01" in wrong.json()["error"]["message"]
    # Everything else still needs a token.
    assert raw(emu, "GET", f"/subscriptions/{SUB}?api-version=2022-12-01").status_code == 401


def test_tokens_are_jwts_with_the_claims_clients_read(emu: ArmEmulator, credential: DefaultAzureCredential) -> None:
    before = time.time()
    token = credential.get_token(SCOPE).token
    got = claims(token)
    assert got["aud"] == "https://management.azure.com" and got["tid"] == emu.tenant_id
    assert got["iss"] == f"https://sts.windows.net/{emu.tenant_id}/" and got["oid"] and got["appid"]
    assert got["nbf"] == got["iat"] and before - 1 <= got["iat"] <= time.time() and got["exp"] - got["iat"] > 3600
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["typ"] == "JWT"
    assert raw(emu, "GET", f"/subscriptions/{SUB}?api-version=2022-12-01", token).status_code == 200

    forged_claims = base64.urlsafe_b64encode(json.dumps(got | {"tid": "someone-else"}).encode()).rstrip(b"=")
    forged = ".".join([token.split(".")[0], forged_claims.decode(), token.split(".")[2]])
    refused = raw(emu, "GET", f"/subscriptions/{SUB}?api-version=2022-12-01", forged)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "InvalidAuthenticationToken"
    graph_token = credential.get_token("https://graph.microsoft.com/.default").token
    assert claims(graph_token)["aud"] == "https://graph.microsoft.com"
    wrong_audience = raw(emu, "GET", f"/subscriptions/{SUB}?api-version=2022-12-01", graph_token)
    assert wrong_audience.status_code == 401
    assert wrong_audience.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"
    assert "https://graph.microsoft.com" in wrong_audience.json()["error"]["message"]

    # The token endpoint's calls are in the log, with their query (no secret: the identity header is not logged).
    assert [(r.kind, r.status, r.query["resource"]) for r in emu.token_requests] == [
        ("token", 200, "https://management.azure.com"), ("token", 200, "https://graph.microsoft.com")]
    assert all(r.query["api-version"] == "2019-08-01" for r in emu.token_requests)


def test_subscriptions_tenants_and_the_provider_list(emu: ArmEmulator, resources: ResourceManagementClient) -> None:
    listed = resources.send_request(HttpRequest("GET", "/subscriptions?api-version=2022-12-01")).json()["value"]
    assert [(s["subscriptionId"], s["displayName"], s["tenantId"], s["state"]) for s in listed] == [
        (SUB, "Platform", emu.tenant_id, "Enabled")]
    one = resources.send_request(HttpRequest("GET", f"/subscriptions/{SUB}?api-version=2022-12-01"))
    assert one.status_code == 200 and one.json()["id"] == f"/subscriptions/{SUB}"
    elsewhere = f"/subscriptions/{OTHER}/resourcegroups?api-version=2024-11-01"
    unknown = resources.send_request(HttpRequest("GET", elsewhere))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "SubscriptionNotFound"
    assert OTHER in unknown.json()["error"]["message"]
    tenants = resources.send_request(HttpRequest("GET", "/tenants?api-version=2022-12-01")).json()["value"]
    assert [t["tenantId"] for t in tenants] == [emu.tenant_id]

    providers = {p.namespace: p.registration_state for p in resources.providers.list()}
    assert providers == {"Microsoft.ContainerService": "NotRegistered", "Microsoft.Kubernetes": "NotRegistered",
                         KC: "NotRegistered", "Microsoft.ManagedIdentity": "Registered"}


def test_resource_groups_exist_before_what_lives_in_them(
    emu: ArmEmulator, resources: ResourceManagementClient, credential: DefaultAzureCredential
) -> None:
    msi = ManagedServiceIdentityClient(credential, SUB, **options(emu))
    with pytest.raises(ResourceNotFoundError) as missing:
        msi.user_assigned_identities.create_or_update(RG, "id-1", {"location": "eastus"})
    assert missing.value.error is not None and missing.value.error.code == "ResourceGroupNotFound"
    assert f"Resource group '{RG}' could not be found." in str(missing.value)
    assert emu.identities() == []  # nothing half-created
    with pytest.raises(ResourceNotFoundError):
        resources.resource_groups.get(RG)

    made = resources.resource_groups.create_or_update(RG, ResourceGroup(location="westeurope", tags={"team": "a"}))
    assert (made.name, made.location, made.tags, made.properties.provisioning_state) == (
        RG, "westeurope", {"team": "a"}, "Succeeded")
    assert made.id == f"/subscriptions/{SUB}/resourceGroups/{RG}"
    again = resources.resource_groups.create_or_update(RG, ResourceGroup(location="westeurope"))
    assert again.tags is None
    with pytest.raises(HttpResponseError) as moved:
        resources.resource_groups.create_or_update(RG, ResourceGroup(location="eastus"))
    assert moved.value.status_code == 409 and moved.value.error.code == "InvalidResourceGroupLocation"
    assert msi.user_assigned_identities.create_or_update(RG, "id-1", {"location": "westeurope"}).name == "id-1"

    # A cluster brings its group, and AKS the node resource group it manages.
    emu.add_aks_cluster(SUB, "rg-aks", "aks-1", location="eastus")
    groups = {g.name: g for g in resources.resource_groups.list()}
    assert set(groups) == {RG, "rg-aks", "MC_rg-aks_aks-1_eastus"}
    assert groups["MC_rg-aks_aks-1_eastus"].managed_by == \
        f"/subscriptions/{SUB}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks-1"
    assert emu.add_resource_group(SUB, "rg-ids", location="eastus") == f"/subscriptions/{SUB}/resourceGroups/rg-ids"
    assert resources.resource_groups.get("RG-IDS").location == "eastus"


def test_provider_states_are_a_fresh_subscriptions_by_default_and_per_subscription(
    emu: ArmEmulator, clock: VirtualClock, resources: ResourceManagementClient, credential: DefaultAzureCredential
) -> None:
    for namespace in FRESH_SUBSCRIPTION:
        assert resources.providers.get(namespace).registration_state == "NotRegistered"
    emu.add_subscription(OTHER, provider_states=REGISTERED)  # a subscription already used for Kubernetes
    other = ResourceManagementClient(credential, OTHER, **options(emu))
    assert {p.namespace: p.registration_state for p in other.providers.list()} == {
        "Microsoft.ContainerService": "Registered", "Microsoft.Kubernetes": "Registered", KC: "Registered",
        "Microsoft.ManagedIdentity": "Registered"}

    assert resources.providers.register(KC).registration_state == "Registering"
    clock.advance(emu.provider_registration_seconds)
    assert resources.providers.get(KC).registration_state == "Registered"
    assert resources.providers.get("Microsoft.Kubernetes").registration_state == "NotRegistered"  # one at a time
    emu.set_provider(OTHER, KC, "NotRegistered")
    assert other.providers.get(KC).registration_state == "NotRegistered"
    assert resources.providers.get(KC).registration_state == "Registered"  # the other subscription's is its own

    # Creating a cluster needed its namespace: AKS registers Microsoft.ContainerService, Arc Microsoft.Kubernetes;
    # a state set on purpose stays.
    emu.set_provider(SUB, "Microsoft.Kubernetes", "NotRegistered")
    emu.add_aks_cluster(SUB, RG, "aks-1")
    emu.add_arc_cluster(SUB, RG, "arc-1")
    assert resources.providers.get("Microsoft.ContainerService").registration_state == "Registered"
    assert resources.providers.get("Microsoft.Kubernetes").registration_state == "NotRegistered"
    emu.add_aks_cluster(OTHER, RG, "aks-2")
    assert resources.providers.get(KC).registration_state == "Registered"

    with ArmEmulator(clock, provider_states={"Microsoft.ManagedIdentity": "NotRegistered"}) as custom:
        custom.add_subscription(SUB)
        assert custom._provider_state(SUB, "microsoft.managedidentity", clock()) == "NotRegistered"
        assert custom._provider_state(SUB, KC, clock()) == "Registered"


def test_extension_writes_carry_operation_location_and_every_answer_arms_headers(
    emu: ArmEmulator, clock: VirtualClock, resources: ResourceManagementClient, credential: DefaultAzureCredential
) -> None:
    emu.set_provider(SUB, KC, "Registered")
    emu.set_provider(SUB, "Microsoft.ContainerService", "Registered")
    emu.add_aks_cluster(SUB, RG, "aks-1")
    kc = SourceControlConfigurationClient(credential, SUB, **options(emu))
    seen: list[Any] = []
    body = Extension(extension_type="microsoft.argocd", release_train="preview",
                     scope=Scope(cluster=ScopeCluster(release_namespace="argocd")))
    created = kc.extensions.begin_create(RG, "Microsoft.ContainerService", "managedClusters", "aks-1", "argocd", body,
                                         polling=False, raw_response_hook=lambda r: seen.append(r.http_response))
    assert created.result().extension_type == "microsoft.argocd"  # echoed as sent, here lower-case
    put = seen[-1]
    operation = put.headers["Azure-AsyncOperation"].split("/operations/")[1].split("?")[0]
    extension_id = f"{AKS}/aks-1/providers/{KC}/extensions/argocd"
    assert put.status_code == 201 and put.headers["Operation-Location"] == f"{extension_id}/operations/{operation}"
    assert put.headers["x-ms-ratelimit-remaining-subscription-writes"] == "199"
    clock.advance(emu.extension_install_seconds)

    url = f"{extension_id}?api-version=2023-05-01"
    patched = resources.send_request(HttpRequest("PATCH", url, json={"properties": {"configurationSettings": {
        "server.replicas": "2"}}}))
    assert patched.status_code == 202 and f"{extension_id}/operations/" in patched.headers["Operation-Location"]
    clock.advance(emu.extension_update_seconds)
    deleted = resources.send_request(HttpRequest("DELETE", url))
    assert deleted.status_code == 202 and f"{extension_id}/operations/" in deleted.headers["Operation-Location"]
    assert deleted.headers["x-ms-ratelimit-remaining-subscription-deletes"] == "199"

    token = credential.get_token(SCOPE).token
    read = raw(emu, "GET", f"{AKS}/aks-1?api-version=2025-10-01", token,
               headers={"x-ms-correlation-request-id": "c0ffee00-0000-4000-8000-000000000001"})
    assert read.status_code == 200
    assert read.headers["x-ms-correlation-request-id"] == "c0ffee00-0000-4000-8000-000000000001"  # echoed
    request_id = read.headers["x-ms-request-id"]
    assert read.headers["x-ms-routing-request-id"].startswith("EASTUS:") and \
        read.headers["x-ms-routing-request-id"].endswith(f":{request_id}")
    assert read.headers["Cache-Control"] == "no-cache" and read.headers["Pragma"] == "no-cache"
    assert read.headers["Expires"] == "-1" and read.headers["x-ms-ratelimit-remaining-subscription-reads"] == "249"
    uncorrelated = raw(emu, "GET", f"{AKS}/aks-1?api-version=2025-10-01", token)
    assert uncorrelated.headers["x-ms-correlation-request-id"] not in ("", uncorrelated.headers["x-ms-request-id"])
    tenant_level = raw(emu, "GET", "/subscriptions?api-version=2022-12-01", token)
    assert tenant_level.headers["x-ms-ratelimit-remaining-tenant-reads"] == "249"
    refused = raw(emu, "GET", f"{AKS}/aks-1")  # errors carry them too
    assert refused.status_code == 401 and refused.headers["x-ms-request-id"] and refused.headers["Cache-Control"]


def test_aks_has_two_principals_and_an_etag_that_changes_on_update(
    emu: ArmEmulator, resources: ResourceManagementClient, credential: DefaultAzureCredential
) -> None:
    emu.set_provider(SUB, "Microsoft.ContainerService", "Registered")
    emu.add_aks_cluster(SUB, RG, "aks-1", oidc_issuer=False, workload_identity=False)
    first = raw(emu, "GET", f"{AKS}/aks-1?api-version=2025-10-01", credential.get_token(SCOPE).token)
    body = first.json()
    kubelet = body["properties"]["identityProfile"]["kubeletidentity"]
    assert kubelet["objectId"] != body["identity"]["principalId"]  # the nodes' identity is another principal
    assert kubelet["clientId"] and kubelet["resourceId"].endswith("/userAssignedIdentities/aks-1-agentpool")
    etag = body["eTag"]
    assert etag
    update = first.json()
    update["properties"]["oidcIssuerProfile"] = {"enabled": True}
    resources.resources.begin_create_or_update_by_id(f"{AKS}/aks-1", api_version="2025-10-01", parameters=update,
                                                     polling=False)
    after = raw(emu, "GET", f"{AKS}/aks-1?api-version=2025-10-01", credential.get_token(SCOPE).token).json()
    assert after["eTag"] != etag and after["properties"]["provisioningState"] == "Updating"


def test_api_versions_are_refused_when_missing_malformed_or_not_offered(
    emu: ArmEmulator, credential: DefaultAzureCredential, resources: ResourceManagementClient
) -> None:
    emu.set_provider(SUB, "Microsoft.ContainerService", "Registered")
    emu.add_aks_cluster(SUB, RG, "aks-1")
    token = credential.get_token(SCOPE).token

    def error(path: str) -> tuple[int, str, str]:
        answer = raw(emu, "GET", path, token)
        return answer.status_code, answer.json()["error"]["code"], answer.json()["error"]["message"]

    assert error(f"{AKS}/aks-1")[:2] == (400, "MissingApiVersionParameter")
    status, code, message = error(f"{AKS}/aks-1?api-version=banana")
    assert (status, code) == (400, "InvalidApiVersionParameter") and "'banana' is invalid" in message
    status, code, message = error(f"{AKS}/aks-1?api-version=2099-01-01")
    assert (status, code) == (400, "NoRegisteredProviderFound")
    assert "API version '2099-01-01' for type 'managedClusters'" in message and "2025-10-01" in message
    status, code, message = error(f"/subscriptions/{SUB}/resourcegroups?api-version=2099-01-01")
    assert (status, code) == (400, "InvalidApiVersionParameter") and "2024-11-01" in message
    status, code, _ = error(f"{AKS}/aks-1/providers/{KC}/extensions?api-version=2021-01-01-preview")
    assert (status, code) == (400, "NoRegisteredProviderFound")
    assert raw(emu, "GET", f"{AKS}/aks-1?api-Version=2025-10-01", token).status_code == 200  # ARM ignores the case

    # What a provider lists is what it takes.
    provider = resources.providers.get("Microsoft.ContainerService")
    listed = {t.resource_type: t.api_versions for t in provider.resource_types}
    assert tuple(listed["managedClusters"]) == SUPPORTED[("microsoft.containerservice", "managedclusters")]
    assert all(raw(emu, "GET", f"{AKS}/aks-1?api-version={v}", token).status_code == 200
               for v in listed["managedClusters"][:3])


def test_the_request_log_keeps_each_query(emu: ArmEmulator, resources: ResourceManagementClient) -> None:
    emu.clear_log()
    resources.providers.get(KC)
    assert list(resources.resources.list(filter="resourceType eq 'Microsoft.ContainerService/managedClusters'")) == []
    assert [r.query for r in emu.requests] == [
        {"api-version": "2025-04-01"},  # azure-mgmt-resource's own version
        {"$filter": "resourceType eq 'Microsoft.ContainerService/managedClusters'", "api-version": "2025-04-01"},
    ]
    assert [r.kind for r in emu.token_requests] == ["token"] and emu.token_requests[0].path == "/msi/token"
