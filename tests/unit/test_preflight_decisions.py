"""Pure pre-flight decisions: version ranges, what a version takes, schedulable nodes, the identity's group."""
from __future__ import annotations

import pytest

from shared.bootstrap.cluster_facts import cluster_facts
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.cluster_shape import automatic_resources
from shared.bootstrap.extension_versions import in_range, parse_versions
from shared.bootstrap.identity_placement import IdentityPlacement, PlacementError
from shared.bootstrap.install_failures import argocd_already_present
from shared.bootstrap.ownership import changed_settings, owned

SUB = "6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01"
OTHER = "0d9e4b7a-53c1-4f0e-8e2b-7c6a5d4f3e21"
CLUSTER = parse_cluster_id(f"/subscriptions/{SUB}/resourceGroups/rg-a/providers/Microsoft.ContainerService/"
                           "managedClusters/aks-1")


@pytest.mark.parametrize(("version", "spec", "inside"), [
    ("1.33.3", "1.18..1.21", False), ("1.20.9", "1.18..1.21", True), ("1.21.0", "1.18..1.21", True),
    ("1.23.1", ">1.22", True), ("1.22.5", ">1.22", False), ("1.29.0", "<1.30", True), ("1.30.0", "<1.30", False),
    ("1.30.2", ">=1.30", True), ("1.25.4", "1.25", True), ("1.26.0", "1.25", False), ("1.31.4", "<=1.31", True),
])
def test_kubernetes_version_ranges(version: str, spec: str, inside: bool) -> None:
    assert in_range(version, spec) is inside


def test_a_version_takes_clusters_by_type_distribution_and_kubernetes_version() -> None:
    [version] = parse_versions({"value": [{"properties": {
        "version": "1.2.0", "supportedClusterTypes": ["managedCluster", "connectedCluster"],
        "unsupportedKubernetesVersions": {"connectedCluster": [{"distributions": ["k3s"],
                                                                "unsupportedVersions": ["<1.30"]}]}}}]})
    assert version.takes("aks", "AKS", "1.28.0")
    assert not version.takes("arc", "k3s", "1.29.1") and version.takes("arc", "k3s", "1.31.4")
    assert version.takes("arc", "AKS_Edge_K3s", "1.29.1")  # the rule names only k3s
    [aks_only] = parse_versions({"value": [{"properties": {"version": "1.0.0",
                                                           "supportedClusterTypes": ["managedCluster"]}}]})
    assert not aks_only.takes("arc", "k3s", "1.31.4")
    assert parse_versions({"value": [{"properties": {}}, "junk"]}) == []
    for unreadable in (None, {}, {"value": "1.0.0"}, []):  # a shape that says nothing of what is offered
        with pytest.raises(ValueError, match="no `value` list"):
            parse_versions(unreadable)


def test_tainted_windows_stopped_and_spot_pools_do_not_count() -> None:
    pools = [
        {"name": "system", "count": 3, "nodeTaints": ["CriticalAddonsOnly=true:NoSchedule"]},
        {"name": "win", "count": 2, "osType": "Windows"},
        {"name": "spot", "count": 4, "scaleSetPriority": "Spot"},
        {"name": "off", "count": 2, "powerState": {"code": "Stopped"}},
        {"name": "soft", "count": 1, "nodeTaints": ["team=a:PreferNoSchedule"]},
        {"name": "user", "count": 2},
    ]
    facts = cluster_facts("aks", {"location": "eastus", "identity": {"type": "SystemAssigned"},
                                  "sku": {"name": "Automatic"},
                                  "properties": {"provisioningState": "Succeeded", "agentPoolProfiles": pools,
                                                 "currentKubernetesVersion": "1.33.3"}})
    assert (facts.node_count, facts.argocd_nodes) == (14, 3)
    assert [p.split(" ")[1] for p in facts.unschedulable_pools] == ["system", "win", "spot", "off"]
    assert "kubernetes.azure.com/scalesetpriority=spot:NoSchedule" in facts.unschedulable_pools[2]
    assert (facts.sku, facts.kubernetes_version, facts.distribution) == ("Automatic", "1.33.3", "AKS")
    assert automatic_resources(facts)["controller.resources.limits.memory"] == "1Gi"


def test_arc_facts_carry_connectivity_and_distribution() -> None:
    facts = cluster_facts("arc", {"location": "westeurope", "properties": {
        "provisioningState": "Succeeded", "totalNodeCount": 3, "connectivityStatus": "Offline",
        "distribution": "k3s", "kubernetesVersion": "1.31.4"}})
    assert (facts.connectivity_status, facts.distribution, facts.argocd_nodes) == ("Offline", "k3s", 3)


def test_identity_placement_forms() -> None:
    assert IdentityPlacement.parse(None).home(CLUSTER).resource_group == "rg-a"
    assert not IdentityPlacement.parse("").home(CLUSTER).configured
    named = IdentityPlacement.parse("rg-ids").home(CLUSTER)
    assert (named.subscription, named.resource_group) == (SUB, "rg-ids")
    full = IdentityPlacement.parse(f"/subscriptions/{OTHER}/resourceGroups/rg-central").home(CLUSTER)
    assert (full.subscription, full.resource_group) == (OTHER, "rg-central")
    keyed = IdentityPlacement.parse(f"rg-default, {SUB.upper()}=/subscriptions/{OTHER}/resourceGroups/rg-x")
    assert (keyed.home(CLUSTER).subscription, keyed.home(CLUSTER).resource_group) == (OTHER, "rg-x")


@pytest.mark.parametrize(("raw", "problem"), [
    ("rg-a,rg-b", "second entry without a subscription"),
    ("not-a-guid=rg-a", "is not a subscription id"),
    ("rg/with/slashes", "neither a resource group name nor a resource group id"),
])
def test_identity_placement_refuses_what_it_cannot_read(raw: str, problem: str) -> None:
    with pytest.raises(PlacementError, match=problem):
        IdentityPlacement.parse(raw)


def test_ownership_from_the_ledger_or_the_marker_and_changes_shown_old_to_new() -> None:
    ext_id = f"{CLUSTER.id}/providers/Microsoft.KubernetesConfiguration/extensions/argocd"
    assert owned(CLUSTER, "argocd", {}, [ext_id.upper()])
    assert owned(CLUSTER, "argocd", {"argoboot.managedBy": "argoboot"}, [])
    assert not owned(CLUSTER, "argocd", {"argoboot.managedBy": "someone"}, [])
    lines = changed_settings({"a": "1", "b": "x" * 200}, {"a": "2", "b": None, "c": "3"})
    assert lines[0] == 'a: "1" -> "2"' and lines[1].endswith('..." -> (unset)') and len(lines[1]) < 100
    assert lines[2] == 'c: (unset) -> "3"'


def test_only_the_messages_of_an_argocd_already_there_are_recognised() -> None:
    assert argocd_already_present("... spec.selector: Invalid value: ...: field is immutable ...") is not None
    assert argocd_already_present('ServiceAccount "argocd-server" in namespace "argocd" exists and cannot be '
                                  "imported into the current release: invalid ownership metadata") is not None
    assert argocd_already_present("Helm installation failed : context deadline exceeded") is None
    assert argocd_already_present(None) is None


def test_a_cluster_answer_that_says_nothing_is_unknown_never_a_refusal() -> None:
    """No identity and no servicePrincipalProfile is not evidence of a service principal; no connectivityStatus
    is not evidence of offline agents: both checks are noted as unknown and pass."""
    from shared.bootstrap.preflight import connectivity, managed_identity
    from shared.bootstrap.profiles import Profile
    from shared.errors import PermanentError

    clusters = "/subscriptions/6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01/resourceGroups/rg/providers"

    aks = parse_cluster_id(f"{clusters}/Microsoft.ContainerService/managedClusters/a")
    arc = parse_cluster_id(f"{clusters}/Microsoft.Kubernetes/connectedClusters/c")
    notes: list[str] = []
    silent = cluster_facts("aks", {"location": "eastus", "properties": {"provisioningState": "Succeeded"}})
    assert silent.managed_identity is None
    managed_identity(aks, silent, notes.append)
    assert connectivity(arc, Profile(name="default"), cluster_facts("arc", {"properties": {}}), notes.append) is None
    assert [n.split(" unknown:")[0] for n in notes] == ["pre-flight check managed-identity",
                                                       "pre-flight check connectivity"]
    spn = cluster_facts("aks", {"properties": {"servicePrincipalProfile": {"clientId": "2f3c9d1e-0000"}}})
    with pytest.raises(PermanentError, match="service principal"):  # evidence: a service principal's client id
        managed_identity(aks, spn, notes.append)
