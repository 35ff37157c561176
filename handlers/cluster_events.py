"""Event Grid trigger: cluster writes become bootstrap requests on the queue; deletes are recorded.

Event Grid gives the endpoint 30 s and retries on failure, so this only filters and enqueues; the
queue handler does the work. Events arrive duplicated, late and out of order: the message id is
derived from the event id (Service Bus drops the duplicate) and the reconciler re-reads the cluster.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import azure.functions as func

from shared.cluster_events import ClusterEvent, cluster_event
from shared.install_request import InstallRequest
from shared.ledger import ClusterRecord, LedgerConflict
from shared.log_context import get_logger, log_scope
from shared.messaging import OutgoingMessage
from shared.services import Services, services
from shared.telemetry import start_telemetry

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = get_logger("argoboot.events")


@bp.function_name("cluster_events")
@bp.event_grid_trigger(arg_name="event")
def cluster_events(event: func.EventGridEvent) -> None:
    """Entry point for both the Event Grid schema and CloudEvents 1.0 (the binding decodes either)."""
    start_telemetry()
    handle_event(_fields(event))


def _fields(event: Any) -> dict[str, Any]:
    if hasattr(event, "event_type"):  # Event Grid schema
        return {"id": event.id, "type": event.event_type, "subject": event.subject, "data": event.get_json(),
                "time": str(event.event_time) if event.event_time else None}
    return {"id": event.id, "type": event.type, "subject": event.subject, "data": event.get_json(),
            "time": str(event.time) if event.time else None}


def handle_event(fields: dict[str, Any], svc: Services | None = None) -> str:
    """Act on one event; returns what was done ("enqueued", "deleted", "refused", "ignored") for logs and tests."""
    found = cluster_event(fields.get("id"), fields.get("type"), fields.get("subject"), fields.get("data"),
                          fields.get("time"))
    if isinstance(found, str):
        log.debug("event %s ignored: %s", fields.get("id"), found)
        return "ignored"
    request_id = f"evt-{found.event_id}"[:128]
    with log_scope(cluster_id=found.cluster.key, request_id=request_id, correlation_id=found.event_id):
        return _act(found, request_id, svc or services())


def _act(found: ClusterEvent, request_id: str, svc: Services) -> str:
    """Refuse, record the delete or enqueue; inside the event's log scope, so every line names the cluster."""
    if found.cluster.subscription not in svc.settings.allowed_subscriptions:
        log.warning("event=%s cluster=%s refused: subscription %s is not in ALLOWED_SUBSCRIPTIONS",
                    found.event_id, found.cluster.key, found.cluster.subscription)
        return "refused"
    if found.kind == "delete":
        _record_delete(found, svc)
        return "deleted"
    request = InstallRequest(request_id=request_id, action="bootstrap", cluster=found.cluster)
    svc.outbox.send(OutgoingMessage(queue=svc.settings.queue_name, body=json.dumps(request.to_body()).encode(),
                                    message_id=found.message_id, session_id=found.cluster.key,
                                    correlation_id=found.event_id))
    log.info("event=%s cluster=%s enqueued request=%s", found.event_id, found.cluster.key, request.request_id)
    return "enqueued"


def _record_delete(event: ClusterEvent, svc: Services) -> None:
    """Mark the cluster deleted in the ledger (cleanup of what we created comes with the lifecycle work)."""
    for _ in range(5):
        now = svc.clock()
        record = svc.ledger.get_cluster(event.cluster.key) or ClusterRecord.new(event.cluster, now)
        updated = replace(record.with_history(now, [f"cluster deleted (event {event.event_id})"]),
                          phase="deleted", waiting_on=None, last_changed=now, continuation_due=None)
        try:
            svc.ledger.save_cluster(updated)
        except LedgerConflict:
            continue
        log.info("event=%s cluster=%s deleted; recorded", event.event_id, event.cluster.key)
        return
    raise LedgerConflict(f"{event.cluster.key}: could not record the delete")
