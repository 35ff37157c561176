"""Parsing of install requests, cluster ids and Event Grid events: every refusal names the field."""
from __future__ import annotations

import json

import pytest

from shared.bootstrap.cluster_ids import InvalidClusterId, parse_cluster_id
from shared.errors import RequestRejected
from shared.pipeline.event_grid import ClusterEvent, cluster_event
from shared.pipeline.install_request import parse_install_request

SUB = "6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01"
AKS = f"/subscriptions/{SUB}/resourceGroups/rg-1/providers/Microsoft.ContainerService/managedClusters/aks-1"
ARC = f"/subscriptions/{SUB}/resourceGroups/rg-1/providers/Microsoft.Kubernetes/connectedClusters/arc-1"


def test_cluster_ids_in_any_casing_share_one_key() -> None:
    quirky = AKS.replace("resourceGroups", "resourcegroups").replace("managedClusters", "ManagedClusters").upper()
    quirky = quirky.replace(SUB.upper(), SUB.upper())
    a, b = parse_cluster_id(AKS), parse_cluster_id(quirky)
    assert a.key == b.key == AKS.lower()
    assert a.kind == "aks" and a.name == "aks-1" and a.resource_group == "rg-1"
    assert parse_cluster_id(ARC).kind == "arc"
    assert parse_cluster_id(ARC).id == ARC


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "empty"),
    ("/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/a",
     "subscription GUID"),
    (f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
     "microsoft.compute/virtualmachines"),
    (AKS + "/agentPools/nodepool1", "child resource"),
    (f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/-bad-",
     "not a valid cluster name"),
])
def test_invalid_cluster_ids_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(InvalidClusterId, match="(?i)" + fragment.replace("/", ".")):
        parse_cluster_id(text)


def body(**fields: object) -> bytes:
    return json.dumps({"schemaVersion": 1, "action": "bootstrap", "clusterResourceId": AKS, **fields}).encode()


def test_valid_request_defaults_request_id_to_message_id() -> None:
    request = parse_install_request(body(profile="single-node"), message_id="m-1")
    assert (request.request_id, request.action, request.profile, request.cluster.key) == \
        ("m-1", "bootstrap", "single-node", AKS.lower())
    assert parse_install_request(body(requestId="r-9"), message_id="m-1").request_id == "r-9"


@pytest.mark.parametrize(("raw", "reason", "field"), [
    (b"not json", "InvalidJson", "JSON"),
    (b"[1, 2]", "InvalidJson", "JSON object"),
    (body(schemaVersion=2), "UnsupportedSchemaVersion", "schemaVersion"),
    (body(action="explode"), "UnknownAction", "action"),
    (json.dumps({"schemaVersion": 1, "action": "bootstrap"}).encode(), "MissingField", "clusterResourceId"),
    (body(clusterResourceId=42), "InvalidClusterResourceId", "clusterResourceId"),
    (body(clusterResourceId="/subscriptions/x"), "InvalidClusterResourceId", "clusterResourceId"),
    (body(profile="Bad Profile!"), "InvalidProfile", "profile"),
    (body(requestId="has/slash"), "InvalidRequestId", "requestId"),
    (body(clusterResourceID=AKS), "UnknownField", "clusterResourceID"),
])
def test_bad_requests_are_rejected_naming_the_field(raw: bytes, reason: str, field: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        parse_install_request(raw, message_id="m-1")
    assert caught.value.reason == reason
    assert field in caught.value.description


def eg_data(resource_uri: str, operation: str) -> dict[str, object]:
    return {"resourceUri": resource_uri, "operationName": operation, "status": "Succeeded", "subscriptionId": SUB}


def test_cluster_write_and_delete_events_are_recognised() -> None:
    write = cluster_event("e1", "Microsoft.Resources.ResourceWriteSuccess", AKS.lower(),
                          eg_data(AKS.lower(), "Microsoft.ContainerService/managedClusters/write"), None)
    assert isinstance(write, ClusterEvent) and write.kind == "write" and write.cluster.key == AKS.lower()
    delete = cluster_event("e2", "microsoft.resources.resourcedeletesuccess", ARC, eg_data(ARC, "x/delete"), None)
    assert isinstance(delete, ClusterEvent) and delete.kind == "delete" and delete.cluster.kind == "arc"
    again = cluster_event("e1", "Microsoft.Resources.ResourceWriteSuccess", AKS, eg_data(AKS, "w"), None)
    assert isinstance(again, ClusterEvent) and again.message_id == write.message_id


@pytest.mark.parametrize(("event_type", "uri"), [
    ("Microsoft.Resources.ResourceWriteSuccess", AKS + "/agentPools/nodepool1"),
    ("Microsoft.Resources.ResourceWriteSuccess",
     AKS + "/providers/Microsoft.KubernetesConfiguration/extensions/argocd"),
    ("Microsoft.Resources.ResourceWriteSuccess", f"/subscriptions/{SUB}/resourceGroups/MC_rg_aks_eastus/providers/"
     "Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-vmss"),
    ("Microsoft.Resources.ResourceWriteSuccess",
     f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Resources/deployments/d1"),
    ("Microsoft.Resources.ResourceWriteFailure", AKS),
    ("Microsoft.Resources.ResourceActionSuccess", AKS),
    ("Microsoft.Storage.BlobCreated", AKS),
    (None, None),
])
def test_other_events_are_ignored_with_a_reason(event_type: str | None, uri: str | None) -> None:
    found = cluster_event("e1", event_type, uri, eg_data(uri, "op") if uri else None, None)
    assert isinstance(found, str) and found
