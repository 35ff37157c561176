"""Turns Event Grid resource events into cluster events, or says why an event is not for us.

A subscription topic delivers every resource write in the subscription (deployments, agent pools,
node-resource-group VMs, extensions...). Only writes and deletes of the clusters themselves matter;
everything else is ignored with a reason the handler logs at debug level.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from shared.bootstrap.cluster_ids import ClusterRef, InvalidClusterId, parse_cluster_id
from shared.bootstrap.names import derived_id

# A resource id whose last type is a cluster's: an event about a cluster itself, whatever its id's other parts.
_NAMES_A_CLUSTER = re.compile(r"/providers/(microsoft\.containerservice/managedclusters|microsoft\.kubernetes/"
                              r"connectedclusters)/[^/]+/*\Z", re.IGNORECASE)

_KINDS: dict[str, Literal["write", "delete"]] = {
    "microsoft.resources.resourcewritesuccess": "write",
    "microsoft.resources.resourcedeletesuccess": "delete",
}


@dataclass(frozen=True)
class ClusterEvent:
    """A successful write or delete of a cluster, as Event Grid reported it."""

    event_id: str
    kind: Literal["write", "delete"]
    cluster: ClusterRef
    event_time: str | None

    @property
    def epoch(self) -> float | None:
        """The event time in epoch seconds (None when absent or unreadable): orders a delete and a late write."""
        if not self.event_time:
            return None
        try:
            moment = datetime.fromisoformat(self.event_time.replace("Z", "+00:00"))
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
        except (ValueError, OverflowError):
            return None

    @property
    def request_id(self) -> str:
        """The request id of what the event starts: `evt-<event id>` when that fits the request-id grammar, else
        derived from the event id (whose characters are Event Grid's choice, never a reason to drop the event)."""
        return derived_id("evt-", self.event_id)

    @property
    def correlation_id(self) -> str:
        """The event id, which operators search the logs for; the request id instead when the event id is not
        printable text of at most 128 characters (Service Bus' limit for the ids of a message)."""
        printable = len(self.event_id) <= 128 and self.event_id.isprintable()
        return self.event_id if printable else self.request_id

    @property
    def message_id(self) -> str:
        """Deterministic per event, so a redelivered event is a duplicate to Service Bus."""
        text = f"{self.event_id}|{self.cluster.key}".encode("utf-8", "surrogatepass")
        return "evt-" + hashlib.sha256(text).hexdigest()[:40]


def cluster_event(event_id: Any, event_type: Any, subject: Any, data: Any,
                  event_time: str | None) -> ClusterEvent | str:
    """The cluster event, or a one-line reason why this event is ignored (fields are untrusted JSON values)."""
    kind = _KINDS.get(event_type.lower()) if isinstance(event_type, str) else None
    if kind is None:
        return f"event type {event_type!r} is not a resource write or delete success"
    if not isinstance(event_id, str) or not event_id:
        return "event has no id"
    if event_time is not None and not isinstance(event_time, str):
        event_time = None
    resource_uri = data.get("resourceUri") if isinstance(data, dict) else None
    target = resource_uri or subject
    if not isinstance(target, str):
        return "event names no resource (no data.resourceUri or subject)"
    try:
        cluster = parse_cluster_id(target)
    except InvalidClusterId as exc:
        return f"not a cluster: {exc}"
    return ClusterEvent(event_id=event_id, kind=kind, cluster=cluster, event_time=event_time)


def cluster_target(subject: Any, data: Any) -> str | None:
    """The resource of an event the service ignored when it was a cluster (so ignoring it is worth a warning, not a
    debug line): a managed or connected cluster by type, though its id did not parse. None for anything else."""
    target = data.get("resourceUri") if isinstance(data, dict) else None
    target = target or subject
    return target if isinstance(target, str) and _NAMES_A_CLUSTER.search(target) is not None else None
