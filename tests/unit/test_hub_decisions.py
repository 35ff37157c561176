"""Hub and spoke, the pure parts: the profile's `hub:` section, a spoke's pre-flight, its cluster Secret on the hub."""
from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml

from shared.bootstrap.argocd_extension import ExtensionState
from shared.bootstrap.cluster_facts import ApiAccess, ClusterFacts
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.hub_profile import ADMIN_ROLE, CLUSTER_ADMIN_ROLE
from shared.bootstrap.hub_registration import (
    REGISTRATIONS_KEY,
    ca_from_kubeconfig,
    kept_on_hub,
    parse_registrations,
    registration,
    registration_settings,
    spoke_name,
)
from shared.bootstrap.hub_size import check_size, registrations_budget
from shared.bootstrap.profiles import parse_profile
from shared.bootstrap.spoke_preflight import hub_ready, same_tenant, spoke_access
from shared.errors import PermanentError, ProfileError

SUB = "6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01"
HUB_ID = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.ContainerService/managedClusters/hub"
SPOKE = parse_cluster_id(f"/subscriptions/{SUB}/resourceGroups/rg-a/providers/Microsoft.ContainerService/"
                         "managedClusters/app")
HUB = parse_cluster_id(HUB_ID)
PEM = b"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"
CA = base64.b64encode(PEM).decode()
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def facts(entra: bool = True, rbac: bool = True, private: bool = False, tenant: str | None = TENANT,
          fqdn: str | None = "app-dns-1.hcp.eastus.azmk8s.io") -> ClusterFacts:
    return ClusterFacts("Succeeded", "eastus", True, 3, None, False,
                        access=ApiAccess(entra, rbac, private, fqdn, tenant))


def spoke_profile(**hub: Any) -> Any:
    return parse_profile("spokes", {"hub": {"cluster": HUB_ID, **hub}}, source="spokes.yaml")


def test_a_spoke_profile_defaults_to_cluster_admin_and_refuses_private_clusters() -> None:
    hub = spoke_profile().hub
    assert hub is not None and hub.cluster == HUB and hub.role_id == CLUSTER_ADMIN_ROLE
    assert (hub.private_clusters, hub.arc_clusters, hub.own_argocd) == ("refuse", "ownArgoCD", False)
    admin = spoke_profile(role="Admin", namespaces=["team-a"]).hub
    assert admin is not None and admin.role_id == ADMIN_ROLE and admin.namespaces == ("team-a",)


@pytest.mark.parametrize(("hub", "key", "fix"), [
    ({"cluster": HUB_ID, "role": "Owner"}, "hub.role", "ClusterAdmin, Admin, Writer"),
    ({"cluster": HUB_ID, "role": "Writer"}, "hub.namespaces", "namespaced role"),
    ({"cluster": HUB_ID, "namespaces": ["a"]}, "hub.namespaces", "needs role Admin or Writer"),
    ({"cluster": HUB_ID, "role": "Admin", "namespaces": ["Not_A_Namespace"]}, "hub.namespaces", "namespace names"),
    ({"cluster": HUB_ID.replace("Microsoft.ContainerService/managedClusters", "Microsoft.Kubernetes/"
                                "connectedClusters")}, "hub.cluster", "must be an AKS cluster"),
    ({"cluster": "not-an-id"}, "hub.cluster", "not a cluster resource id"),
    ({}, "hub.cluster", "is required in a spoke profile"),
    ({"cluster": HUB_ID, "privateClusters": "yes"}, "hub.privateClusters", "refuse, reachable"),
    ({"cluster": HUB_ID, "hubs": 1}, "hub.hubs", "unknown key; hub has arcClusters"),
    ({"serve": True}, "workloadIdentity", "set workloadIdentity.enabled: true and list argocd-server"),
    ({"serve": True, "cluster": HUB_ID}, "hub.cluster", "names no hub"),
])
def test_invalid_hub_sections_name_the_key_and_the_fix(hub: dict[str, Any], key: str, fix: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile("p", {"hub": hub}, source="p.yaml")
    assert key in str(caught.value) and fix in str(caught.value)


def test_a_hub_profile_needs_workload_identity_for_controller_and_server() -> None:
    profile = parse_profile("hub", {"workloadIdentity": {"enabled": True, "serviceAccounts": [
        "argocd-application-controller", "argocd-server"]}, "hub": {"serve": True}}, source="hub.yaml")
    assert profile.hub is not None and profile.hub.serve


@pytest.mark.parametrize(("spoke", "code", "fix"), [
    (facts(entra=False), "SpokeWithoutEntra", "az aks update -g rg-a -n app --enable-aad --enable-azure-rbac"),
    (facts(rbac=False), "SpokeWithoutAzureRbac", "az aks update -g rg-a -n app --enable-azure-rbac"),
    (facts(private=True), "PrivateSpoke", "hub.privateClusters: reachable"),
    (facts(fqdn=None), "SpokeWithoutFqdn", "once the cluster reports one"),
])
def test_a_spoke_is_refused_only_on_arms_evidence_with_the_fix(spoke: ClusterFacts, code: str, fix: str) -> None:
    hub = spoke_profile().hub
    assert hub is not None
    with pytest.raises(PermanentError) as caught:
        spoke_access(SPOKE, spoke, hub)
    assert caught.value.code == code and fix in caught.value.message


def test_a_private_spoke_passes_where_the_profile_vouches_for_the_path() -> None:
    hub = spoke_profile(privateClusters="reachable").hub
    assert hub is not None
    assert spoke_access(SPOKE, facts(private=True), hub).private


def test_tenants_unknown_are_said_and_different_ones_refused() -> None:
    steps: list[str] = []
    same_tenant(SPOKE, facts(tenant=None), facts(), steps.append)
    assert steps and steps[0].startswith("tenant: unknown")
    with pytest.raises(PermanentError) as caught:
        same_tenant(SPOKE, facts(), facts(tenant="00000000-0000-0000-0000-000000000001"), steps.append)
    assert caught.value.code == "SpokeInAnotherTenant"


def test_the_hub_must_run_argocd_with_workload_identity_and_a_busy_hub_is_waited_for() -> None:
    steps: list[str] = []
    ok = {"azure.workloadIdentity.enabled": "true", "azure.workloadIdentity.clientId": "cid"}
    with pytest.raises(PermanentError, match="does not exist"):
        hub_ready(HUB, None, None, steps.append)
    with pytest.raises(PermanentError) as caught:
        hub_ready(HUB, facts(), ExtensionState("Microsoft.ArgoCD", "Succeeded", {}), steps.append)
    assert caught.value.code == "HubWithoutWorkloadIdentity"
    busy = hub_ready(HUB, facts(), ExtensionState("Microsoft.ArgoCD", "Updating", ok), steps.append)
    assert isinstance(busy, str) and "one hub operation at a time" in busy
    ready = hub_ready(HUB, facts(), ExtensionState("Microsoft.ArgoCD", "Succeeded", ok), steps.append)
    assert not isinstance(ready, str) and ready.client_id == "cid"


def test_only_the_ca_of_the_kubeconfig_is_kept() -> None:
    kubeconfig = yaml.safe_dump({"clusters": [{"cluster": {"certificate-authority-data": CA, "server": "https://x"}}],
                                 "users": [{"name": "u", "user": {"token": "secret-token"}}]})
    assert ca_from_kubeconfig(kubeconfig, SPOKE) == CA
    with pytest.raises(PermanentError) as caught:
        ca_from_kubeconfig("users: [{user: {token: secret-token}}]", SPOKE)
    assert caught.value.code == "SpokeCaUnreadable" and "secret-token" not in caught.value.message


def test_names_are_unique_when_two_spokes_share_a_name() -> None:
    other = parse_cluster_id(SPOKE.id.replace("rg-a", "rg-b"))
    assert spoke_name(SPOKE) != spoke_name(other) and spoke_name(SPOKE).startswith("app-")


def test_the_registration_reads_back_and_the_hub_keeps_it() -> None:
    mine = registration(SPOKE, facts(), spoke_profile(), "app.hcp.eastus.azmk8s.io", CA, "cid", "argocd")
    document = yaml.safe_load(mine.manifest)
    config = json.loads(document["stringData"]["config"])
    assert document["stringData"]["server"] == "https://app.hcp.eastus.azmk8s.io:443"
    assert config["tlsClientConfig"]["caData"] == CA
    assert config["execProviderConfig"]["env"]["AZURE_CLIENT_ID"] == "cid"
    settings = registration_settings({}, {mine.name: mine.manifest})
    assert settings["extraObjects[0]"] == settings["extraObjects[1]"] == ""  # no gaps in the list
    assert parse_registrations(settings) == {mine.name: mine.manifest}
    assert kept_on_hub(settings, {"extraObjects[0]": "x"}) == {"extraObjects[1]": "",
                                                               REGISTRATIONS_KEY: settings[REGISTRATIONS_KEY]}


def test_a_hub_is_refused_before_its_settings_pass_the_limit() -> None:
    mine = registration(SPOKE, facts(), spoke_profile(), "app.hcp.eastus.azmk8s.io", CA, "cid", "argocd")
    many = {f"s{i}": mine.manifest for i in range(registrations_budget({}) // mine.size)}
    assert check_size(many, HUB, {}) <= registrations_budget({})
    many["one-more"] = mine.manifest
    with pytest.raises(PermanentError) as caught:
        check_size(many, HUB, {})
    assert caught.value.code == "HubFull" and "hub of its own" in caught.value.message


def test_a_hubs_own_settings_leave_less_room_for_spokes_and_the_refusal_says_why() -> None:
    from shared.bootstrap.hub_size import SECRET_LIMIT, settings_bytes

    own = {"configs.rbac.policy\\.csv": "p, role:dev, applications, get, */*, allow\n" * 400}
    assert registrations_budget(own) == registrations_budget({}) - settings_bytes(own)
    mine = registration(SPOKE, facts(), spoke_profile(), "app.hcp.eastus.azmk8s.io", CA, "cid", "argocd")
    many = {f"s{i}": mine.manifest for i in range(registrations_budget({}) // mine.size)}
    check_size(many, HUB, {})
    with pytest.raises(PermanentError) as caught:
        check_size(many, HUB, own)
    assert f"Kubernetes Secret of at most {SECRET_LIMIT}" in caught.value.message


def test_a_batch_that_would_overflow_the_hub_sends_what_fits_oldest_first() -> None:
    from shared.azure.hub_batches import QueuedChange
    from shared.bootstrap.hub_batching import fitting

    mine = registration(SPOKE, facts(), spoke_profile(), "app.hcp.eastus.azmk8s.io", CA, "cid", "argocd")
    room = registrations_budget({}) // mine.size
    current = {f"old-{i}": mine.manifest for i in range(room - 2)}
    pending = {f"new-{i}": QueuedChange(mine.manifest, float(i)) for i in range(5)}
    pending["old-0"] = QueuedChange("", 9.0)  # a removal: always fits, and makes room
    sent = fitting(current, pending, registrations_budget({}))
    assert set(sent) == {"new-0", "new-1", "new-2", "old-0"}
