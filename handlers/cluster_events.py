"""Event Grid trigger: cluster writes become bootstrap requests on the queue, deletes become clean-ups.

Event Grid gives the endpoint 30 s and retries on failure, so this only filters and enqueues; the
queue handler does the work. Events arrive duplicated, late and out of order: the message id is
derived from the event id (Service Bus drops the duplicate) and the reconciler re-reads the cluster.
"""
from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from shared.azure.outbox import OutgoingMessage
from shared.bootstrap.scope import out_of_scope
from shared.log_context import get_logger, log_scope
from shared.pipeline.event_grid import ClusterEvent, cluster_event, cluster_target
from shared.pipeline.install_request import InstallRequest
from shared.pipeline.intent import bounded_time
from shared.pipeline.outcome_record import log_run
from shared.pipeline.processing import EVENT_TIME_PROPERTY, SOURCE_PROPERTY
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
    """Act on one event; returns what was done ("enqueued", "refused", "ignored") for logs and tests.

    A write becomes a bootstrap and a delete an uninstall (cleaning up what the service created), both on the
    cluster's session of the work queue (only the app sends there, so the marks cannot be forged) and marked as
    coming from an event with its time (bounded to a window around now): the work handler then
    ignores a write that Event Grid delivers after the delete, and never undoes an explicit request."""
    found = cluster_event(fields.get("id"), fields.get("type"), fields.get("subject"), fields.get("data"),
                          fields.get("time"))
    if isinstance(found, str):
        target = cluster_target(fields.get("subject"), fields.get("data"))
        if target is None:
            log.debug("event %s ignored: %s", fields.get("id"), found)
            return "ignored"
        # A cluster's own event that cannot be acted on: never silent (an alert can count these records).
        event_id = str(fields.get("id"))
        with log_scope(cluster_id=target, request_id=event_id, correlation_id=event_id):
            log.warning("event=%s about a cluster not acted on: %s", event_id, found)
            log_run(None, "rejected", error_code="InvalidClusterResourceId", profile=None, source="event",
                    detail=f"event={event_id} {found}")
        return "ignored"
    request_id = found.request_id
    with log_scope(cluster_id=found.cluster.key, request_id=request_id, correlation_id=found.correlation_id):
        return _enqueue(found, request_id, svc or services())


def _enqueue(found: ClusterEvent, request_id: str, svc: Services) -> str:
    """Refuse or enqueue, inside the event's log scope so every line names the cluster."""
    refusal = out_of_scope(found.cluster, svc.settings)
    if refusal is not None:
        log.warning("event=%s cluster=%s refused: %s", found.event_id, found.cluster.key, refusal[1])
        log_run(found.cluster, "rejected", error_code=refusal[0], profile=None, source="event",
                detail=f"event={found.event_id} {refusal[1]}")
        return "refused"
    action = "uninstall" if found.kind == "delete" else "bootstrap"
    request = InstallRequest(request_id=request_id, action=action, cluster=found.cluster)
    properties: dict[str, str | int] = {SOURCE_PROPERTY: "event"}
    moment = bounded_time(found.epoch, svc.clock())  # an event's time is Event Grid's word: bounded all the same
    if moment is not None:
        properties[EVENT_TIME_PROPERTY] = str(moment)
    svc.outbox.send(OutgoingMessage(queue=svc.settings.work_queue_name, body=json.dumps(request.to_body()).encode(),
                                    message_id=found.message_id, session_id=found.cluster.session_id,
                                    correlation_id=found.correlation_id, application_properties=properties))
    log.info("event=%s cluster=%s %s enqueued as %s request=%s", found.event_id, found.cluster.key, found.kind,
             action, request.request_id)
    return "enqueued"
