"""The service against the local Azure where it now answers as Azure does: a fresh subscription, the extension
type echoed in whatever casing it was sent, an identity resource group that does not exist."""
from __future__ import annotations

from typing import Any

import pytest

from localazure.stack import SUBSCRIPTION, LocalAzure
from tests.e2e.helpers import RG, aks_id, record, replies, send_request


def test_a_fresh_subscription_is_registered_then_bootstrapped(azurite: Any) -> None:
    with LocalAzure(azurite=azurite) as az:  # the default: the Kubernetes providers NotRegistered
        event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-first")
        az.deliver_event(event)
        az.drain()
        registers = [r.path.split("/")[4] for r in az.arm.requests if r.method == "POST"]
        # Each once, then waited for; creating the AKS cluster had registered Microsoft.ContainerService.
        assert sorted(registers) == ["Microsoft.Kubernetes", "Microsoft.KubernetesConfiguration"]
        first_cluster_read = next(i for i, r in enumerate(az.arm.requests) if "/managedClusters/" in r.path)
        assert first_cluster_read > max(i for i, r in enumerate(az.arm.requests) if r.method == "POST")
        assert all(r.status != 409 for r in az.arm.requests)  # never a request into an unregistered namespace
        rec = record(az, event["data"]["resourceUri"])
        assert rec.phase == "succeeded"
        steps = [h["step"] for h in rec.history]
        assert all(any(s.startswith(f"registered provider {ns}") for s in steps) for ns in registers), steps
        assert az.arm.extension(event["data"]["resourceUri"], "argocd")["properties"]["provisioningState"] == \
            "Succeeded"


@pytest.mark.parametrize("sent", ["Microsoft.ArgoCD", "microsoft.argocd", "MICROSOFT.ARGOCD"])
def test_the_extension_type_in_any_casing_is_the_services_own(local_azure: LocalAzure, sent: str) -> None:
    """Azure echoes `extensionType` as it was sent: whoever installed it, the service must not care."""
    az = local_azure
    cluster_id = aks_id("aks-typed")
    az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-typed")
    az.arm.add_extension(cluster_id, "argocd", extension_type=sent, settings={"redis-ha.enabled": "true"})
    assert az.arm.extension(cluster_id, "argocd")["properties"]["extensionType"] == sent
    az.arm.clear_log()
    send_request(az, cluster_id, message_id=f"m-{sent}")
    az.drain()
    assert [r.method for r in az.arm.requests if "/extensions/" in r.path] == ["GET"]  # converged: nothing written
    [reply] = replies(az)
    assert reply["outcome"] == "succeeded" and reply["error"] is None


def test_an_identity_resource_group_that_does_not_exist_fails_with_azures_answer(azurite: Any, tmp_path: Any) -> None:
    from tests.e2e.azure_state import copy_profiles

    settings = {"PROFILES_DIR": str(copy_profiles(tmp_path)), "IDENTITY_RESOURCE_GROUP": "rg-identities"}
    with LocalAzure(azurite=azurite, provider_states={}, settings=settings) as az:
        az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-wi")
        send_request(az, aks_id("aks-wi"), message_id="m-wi", profile="workload-identity")
        az.drain()
        [reply] = replies(az)
        assert reply["outcome"] == "failed"
        assert reply["error"]["code"] == "ResourceGroupNotFound" and "rg-identities" in reply["error"]["message"]
        assert az.arm.identities() == [] and az.arm.extension(aks_id("aks-wi"), "argocd") is None
