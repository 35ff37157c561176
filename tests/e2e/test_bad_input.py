"""Bad input: a clear error, nothing lost, no handler ever raises for it."""
from __future__ import annotations

import json

import pytest

from localazure.stack import OTHER_SUBSCRIPTION, QUEUE, SUBSCRIPTION, LocalAzure
from tests.e2e.helpers import RG, aks_id, extension_puts, record, replies, send_request

AKS = aks_id("aks-1")


@pytest.mark.parametrize(("body", "reason", "field"), [
    (b"{not json", "InvalidJson", "JSON"),
    (json.dumps({"schemaVersion": 3, "action": "bootstrap", "clusterResourceId": AKS}).encode(),
     "UnsupportedSchemaVersion", "schemaVersion"),
    (json.dumps({"schemaVersion": 1, "action": "destroy", "clusterResourceId": AKS}).encode(),
     "UnknownAction", "action"),
    (json.dumps({"schemaVersion": 1, "action": "bootstrap"}).encode(), "MissingField", "clusterResourceId"),
    (json.dumps({"schemaVersion": 1, "action": "bootstrap", "clusterResourceId": "aks-1"}).encode(),
     "InvalidClusterResourceId", "clusterResourceId"),
    (json.dumps({"schemaVersion": 1, "action": "bootstrap", "clusterResourceId": AKS, "profile": "nope"}).encode(),
     "UnknownProfile", "profile"),
    (json.dumps({"schemaVersion": 1, "action": "bootstrap",
                 "clusterResourceId": aks_id("aks-1", OTHER_SUBSCRIPTION)}).encode(),
     "SubscriptionNotAllowed", "ALLOWED_SUBSCRIPTIONS"),
])
def test_bad_messages_are_dead_lettered_with_reason_and_field(local_azure: LocalAzure, body: bytes, reason: str,
                                                              field: str) -> None:
    az = local_azure
    send_request(az, AKS, message_id="bad-1", body=body)
    az.drain()
    [dead] = az.bus.dead_letters(QUEUE)
    assert dead.reason == reason and field in dead.description
    assert dead.envelope.delivery_count == 1  # refused at once, not retried ten times
    assert dead.envelope.message.body == body  # nothing lost
    [reply] = replies(az)
    assert reply["outcome"] == "rejected" and reply["error"]["code"] == reason
    assert reply["_correlationId"] == "bad-1"
    stored = az.services.ledger.get_request("bad-1")
    assert stored is not None and stored.status == "rejected" and stored.error_code == reason
    assert az.bus.errors == [] and az.arm.requests == []


def test_unknown_cluster_fails_permanently_recorded_and_replied(local_azure: LocalAzure) -> None:
    az = local_azure
    send_request(az, aks_id("ghost"), message_id="m-ghost", requestId="r-ghost")
    az.drain()
    rec = record(az, aks_id("ghost"))
    assert rec.phase == "failed" and rec.last_error_code == "ClusterNotFound"
    [reply] = replies(az)
    assert reply["requestId"] == "r-ghost" and reply["error"]["code"] == "ClusterNotFound"
    assert "does not exist" in reply["error"]["message"]
    assert az.bus.dead_letters(QUEUE) == [] and az.bus.queue(QUEUE).completed == 1  # no retries
    assert az.services.ledger.get_request("r-ghost").status == "failed"  # type: ignore[union-attr]


def test_service_principal_cluster_fails_with_the_fix(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-spn", identity="None")
    send_request(az, event["data"]["resourceUri"], message_id="m-spn")
    az.drain()
    [reply] = replies(az)
    assert reply["outcome"] == "failed" and reply["error"]["code"] == "ClusterNotManagedIdentity"
    assert "--enable-managed-identity" in reply["error"]["message"]
    assert extension_puts(az) == 0 and az.bus.queue(QUEUE).completed == 1


def test_events_that_are_not_for_clusters_are_ignored(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-1")
    pool = dict(event, id="e-pool", subject=event["subject"] + "/agentPools/nodepool1",
                data=dict(event["data"], resourceUri=event["data"]["resourceUri"] + "/agentPools/nodepool1"))
    deployment = dict(event, id="e-deploy", subject=f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/"
                      "Microsoft.Resources/deployments/d1", data={"operationName": "x"})
    other_type = dict(event, id="e-blob", eventType="Microsoft.Storage.BlobCreated")
    for ev in (pool, deployment, other_type, dict(event, data=None, subject=None)):
        az.deliver_event(ev)
    with pytest.raises(LookupError):
        az.bus.messages("nothing-here")
    assert az.bus.messages(QUEUE) == []


def test_event_for_a_disallowed_subscription_is_refused(local_azure: LocalAzure) -> None:
    az = local_azure
    event = az.arm.add_aks_cluster(OTHER_SUBSCRIPTION, RG, "aks-foreign")
    az.deliver_event(event)
    assert az.bus.messages(QUEUE) == []
    assert az.arm.requests == []


def test_cluster_delete_event_is_recorded(local_azure: LocalAzure) -> None:
    az = local_azure
    created = az.arm.add_aks_cluster(SUBSCRIPTION, RG, "aks-gone")
    az.deliver_event(created)
    az.drain()
    az.deliver_event(az.arm.delete_cluster(created["data"]["resourceUri"]))
    az.drain()
    rec = record(az, created["data"]["resourceUri"])
    assert rec.phase == "deleted" and "cluster is gone" in rec.history[-1]["step"]
