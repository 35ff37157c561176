"""The long-lived local Azure's control endpoint: loopback HTTP for what Azure offers no API for here.

Served by `localazure.serve`, called through `localazure.daemon.Control` (the `argoboot` CLI). Every
call must carry the token from the private state file. Routes:

  GET  /health                       alive, and which subscription the demo clusters live in
  POST /clusters                     add an AKS or Arc cluster (optionally announce it by Event Grid)
  GET  /clusters?id=ID               the cluster's ARM body and its argocd extension, or 404
  GET  /arm/requests?since=N         the ARM emulator's request log from entry N (method, path, query, status, kind)
  GET  /token/requests?since=N       the token endpoint's log from entry N (the same fields; kind `token`)
  POST /queues/NAME/messages         send a Service Bus message to the local bus
  GET  /queues/NAME                  peek: active messages and dead letters
  POST /shutdown                     stop the local Azure
"""
from __future__ import annotations

import hmac
import json
import os
import threading
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from localazure.arm.helm_failures import HA_NODES
from localazure.arm.server import Incoming, Reply
from localazure.daemon import TOKEN_HEADER
from localazure.stack import SUBSCRIPTION, LocalAzure
from shared.azure.outbox import OutgoingMessage
from shared.bootstrap.cluster_ids import parse_cluster_id

DEMO_RESOURCE_GROUP = "rg-demo"


class ControlApp:
    """Turns control requests into calls on one `LocalAzure`; `stop` is set by /shutdown."""

    def __init__(self, az: LocalAzure, token: str, stop: threading.Event, speed: float) -> None:
        self._az = az
        self._token = token
        self._stop = stop
        self._speed = speed

    def __call__(self, incoming: Incoming) -> Reply:
        if not hmac.compare_digest(incoming.headers.get(TOKEN_HEADER, ""), self._token):
            return Reply(401, {"error": f"missing or wrong {TOKEN_HEADER}"})
        url = urlsplit(incoming.target)
        query = dict(parse_qsl(url.query))
        parts = [p for p in url.path.split("/") if p]
        try:
            body = json.loads(incoming.body) if incoming.body else {}
            return self._route(incoming.method, parts, query, body)
        except (ValueError, TypeError, KeyError) as exc:
            return Reply(400, {"error": str(exc)})
        except LookupError as exc:
            return Reply(404, {"error": str(exc)})

    def _route(self, method: str, parts: list[str], query: dict[str, str], body: dict[str, Any]) -> Reply:
        match method, parts:
            case "GET", ["health"]:
                return Reply(200, {"status": "running", "pid": os.getpid(), "subscription": SUBSCRIPTION})
            case "POST", ["clusters"]:
                return self._add_cluster(body)
            case "GET", ["clusters"]:
                return self._cluster(query["id"])
            case "GET", [("arm" | "token") as which, "requests"]:
                since = int(query.get("since", "0"))
                log = (self._az.arm.requests if which == "arm" else self._az.arm.token_requests)[since:]
                return Reply(200, {"next": since + len(log), "requests": [
                    {"method": r.method, "path": r.path, "query": r.query, "status": r.status, "kind": r.kind}
                    for r in log]})
            case "POST", ["queues", name, "messages"]:
                self._az.bus.send(OutgoingMessage(
                    queue=name, body=str(body["body"]).encode(), message_id=str(body["messageId"]),
                    session_id=body.get("sessionId"), reply_to=body.get("replyTo"),
                    correlation_id=body.get("correlationId")))
                return Reply(202, {"queued": True})
            case "GET", ["queues", name]:
                return Reply(200, {
                    "active": [_message(m) for m in self._az.bus.messages(name)],
                    "deadLetters": [_message(d.envelope.message) | {"reason": d.reason, "description": d.description}
                                    for d in self._az.bus.dead_letters(name)]})
            case "POST", ["shutdown"]:
                self._stop.set()
                return Reply(202, {"stopping": True})
        raise LookupError(f"no control route {method} /{'/'.join(parts)}")

    def _add_cluster(self, body: dict[str, Any]) -> Reply:
        name = str(body["name"])
        group = str(body.get("resourceGroup") or DEMO_RESOURCE_GROUP)
        nodes = int(body.get("nodes", HA_NODES))
        creating = float(body.get("creatingSeconds", 0))  # Azure's seconds; the local Azure runs them faster
        arc = bool(body.get("arc"))
        busy = "Provisioning" if arc else "Creating"  # as each reports a cluster being made
        state, ready_after = (busy, creating / self._speed) if creating > 0 else ("Succeeded", None)
        if arc:
            event = self._az.arm.add_arc_cluster(SUBSCRIPTION, group, name, node_count=nodes,
                                                 provisioning_state=state, ready_after=ready_after)
        else:
            identity = "None" if body.get("servicePrincipal") else "SystemAssigned"
            event = self._az.arm.add_aks_cluster(SUBSCRIPTION, group, name, node_counts=(nodes,), identity=identity,
                                                 provisioning_state=state, ready_after=ready_after)
        if body.get("argocdByHand"):  # installed by a person: no marker, their own workload identity
            self._az.arm.add_extension(event["data"]["resourceUri"], "argocd", settings={
                "redis-ha.enabled": "true" if nodes >= HA_NODES else "false", "azure.workloadIdentity.enabled": "true",
                "azure.workloadIdentity.clientId": str(body["argocdByHand"])})
        if int(body.get("failInstalls") or 0) > 0:  # the local Azure's next installs, whichever cluster's
            self._az.arm.fail_extension_installs(times=int(body["failInstalls"]))
        if body.get("event"):
            self._az.deliver_event(event)
        return Reply(201, {"clusterResourceId": parse_cluster_id(event["data"]["resourceUri"]).id,
                           "eventDelivered": bool(body.get("event"))})

    def _cluster(self, cluster_id: str) -> Reply:
        cluster = self._az.arm.cluster(cluster_id)
        if cluster is None:
            raise LookupError(f"no cluster {cluster_id}")
        return Reply(200, {"cluster": cluster, "extension": self._az.arm.extension(cluster_id, "argocd")})


def _message(message: OutgoingMessage) -> dict[str, Any]:
    return {"messageId": message.message_id, "sessionId": message.session_id,
            "correlationId": message.correlation_id, "body": message.body.decode(errors="replace")}
