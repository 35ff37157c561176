"""Small helpers the end-to-end tests share: sending requests, reading replies and the ledger."""
from __future__ import annotations

import json
from typing import Any

from localazure.stack import QUEUE, REPLIES, SUBSCRIPTION, LocalAzure
from shared.azure.ledger import ClusterRecord
from shared.azure.outbox import OutgoingMessage
from shared.bootstrap.cluster_ids import session_id_of

RG = "rg-platform"


def aks_id(name: str, subscription: str = SUBSCRIPTION) -> str:
    return (f"/subscriptions/{subscription}/resourceGroups/{RG}/providers/"
            f"Microsoft.ContainerService/managedClusters/{name}")


def arc_id(name: str) -> str:
    return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.Kubernetes/connectedClusters/{name}"


def send_request(az: LocalAzure, cluster_id: str, *, message_id: str, reply_to: str | None = REPLIES,
                 body: bytes | None = None, **fields: Any) -> None:
    payload = body if body is not None else json.dumps(
        {"schemaVersion": 1, "action": "bootstrap", "clusterResourceId": cluster_id, **fields}).encode()
    az.bus.send(OutgoingMessage(queue=QUEUE, body=payload, message_id=message_id,
                                session_id=session_id_of(cluster_id.lower()),
                                reply_to=reply_to))


def replies(az: LocalAzure) -> list[dict[str, Any]]:
    try:
        return [json.loads(m.body) | {"_correlationId": m.correlation_id} for m in az.bus.messages(REPLIES)]
    except LookupError:
        return []


def record(az: LocalAzure, cluster_id: str) -> ClusterRecord:
    found = az.services.ledger.get_cluster(cluster_id.lower())
    assert found is not None, f"no ledger record for {cluster_id}"
    return found


def extension_puts(az: LocalAzure) -> int:
    return az.arm.count("PUT", r"/extensions/argocd$")
