"""Pure decisions: cluster facts from ARM bodies (AKS vs Arc spellings) and the extension's HA setting."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.bootstrap.argocd_extension import desired_extension
from shared.bootstrap.cluster_facts import ApiAccess, ClusterFacts, cluster_facts
from shared.bootstrap.profiles import ProfileCatalog
from shared.errors import PermanentError
from shared.settings import REPOSITORY_PROFILES

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "arm-examples"
PROFILES = ProfileCatalog.load(REPOSITORY_PROFILES, "default").profiles


def aks_body(**props: object) -> dict[str, object]:
    base: dict[str, object] = {
        "provisioningState": "Succeeded", "servicePrincipalProfile": {"clientId": "msi"},
        "agentPoolProfiles": [{"name": "system", "count": 2}, {"name": "user", "count": 1}],
        "oidcIssuerProfile": {"enabled": True, "issuerURL": "https://eastus.oic.prod-aks.azure.com/t/g/"},
        "securityProfile": {"workloadIdentity": {"enabled": True}}}
    base.update(props)
    return {"location": "eastus", "identity": {"type": "SystemAssigned"}, "properties": base}


def test_aks_facts_sum_pools_and_keep_the_issuer_exactly() -> None:
    facts = cluster_facts("aks", aks_body())
    assert facts == ClusterFacts("Succeeded", "eastus", True, 3, "https://eastus.oic.prod-aks.azure.com/t/g/", True,
                                 distribution="AKS", schedulable_nodes=3,
                                 access=ApiAccess(entra=False, azure_rbac=False, private=False, fqdn=None,
                                                  tenant_id=None))


def test_aks_with_a_service_principal_is_not_managed_identity() -> None:
    body = aks_body(servicePrincipalProfile={"clientId": "2f3c9d1e-0000-4000-8000-000000000000"})
    body["identity"] = None
    assert cluster_facts("aks", body).managed_identity is False


def test_arc_facts_read_issuer_url_and_total_node_count() -> None:
    body = {"location": "westeurope", "identity": {"type": "SystemAssigned"},
            "properties": {"provisioningState": "Succeeded", "totalNodeCount": 2,
                           "oidcIssuerProfile": {"enabled": True, "issuerUrl": "https://oidc.example/abc/"}}}
    facts = cluster_facts("arc", body)
    assert (facts.node_count, facts.oidc_issuer_url, facts.managed_identity) == (2, "https://oidc.example/abc/", True)


@pytest.mark.skipif(not EXAMPLES.exists(), reason="reference examples are beside the project")
def test_facts_from_the_reference_examples() -> None:
    aks = json.loads((EXAMPLES / "aks_managedclusters_get_2025-10-01.json").read_text())
    body = aks.get("responses", {}).get("200", {}).get("body", aks)
    facts = cluster_facts("aks", body)
    assert facts.provisioning_state == "Succeeded" and facts.node_count and facts.node_count > 0
    assert facts.managed_identity is False  # the spec example uses a service principal ("clientid")


@pytest.mark.parametrize(("profile", "nodes", "expected"), [
    ("default", 4, "true"), ("default", 3, "false"), ("default", None, "false"),
    ("single-node", 5, "false"), ("ha", 4, "true"),
])
def test_redis_ha_follows_profile_and_node_count(profile: str, nodes: int | None, expected: str) -> None:
    facts = ClusterFacts("Succeeded", "eastus", True, nodes, None, False)
    assert desired_extension(PROFILES[profile], facts).settings == {"redis-ha.enabled": expected,
                                                                    "argoboot.managedBy": "argoboot"}


def test_forced_ha_on_a_small_cluster_is_refused_with_the_fix() -> None:
    facts = ClusterFacts("Succeeded", "eastus", True, 3, None, False)
    with pytest.raises(PermanentError, match="at least 4 schedulable nodes") as caught:
        desired_extension(PROFILES["ha"], facts)
    assert caught.value.code == "NotEnoughNodesForHA"
