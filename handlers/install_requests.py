"""Service Bus queue trigger (sessions: one per cluster): runs the reconciler for each request.

Settlement (automatic completion off, see `handlers.settlement`): every message is settled here exactly once.
A refused request is dead-lettered with its reason; everything else is completed, because waits are continued
by scheduled messages rather than by holding this one. An unexpected failure (ledger or bus unreachable) abandons
the message, so Service Bus redelivers it at once, until its max delivery count, then dead-letters it; the
exception still propagates, so the host records the failed invocation.
"""
from __future__ import annotations

import azure.functions as func

from handlers.settlement import settler
from shared.log_context import get_logger
from shared.pipeline.processing import InboundMessage
from shared.services import services
from shared.telemetry import start_telemetry

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = get_logger("argoboot.requests")


@bp.function_name("install_requests")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name="%INSTALL_QUEUE_NAME%",
                              connection="ServiceBusConnection", is_sessions_enabled=True,
                              auto_complete_messages=False)
def install_requests(msg: func.ServiceBusMessage) -> None:
    start_telemetry()
    inbound = InboundMessage(
        body=msg.get_body(), message_id=msg.message_id, session_id=msg.session_id, reply_to=msg.reply_to,
        correlation_id=msg.correlation_id, delivery_count=msg.delivery_count,
        application_properties=dict(msg.application_properties or {}))
    actions = settler()
    try:
        settlement = services().processor.process(inbound)  # logs an unexpected failure before it propagates
    except Exception:
        try:
            actions.abandon(msg)
        except Exception:  # the lock is lost or the host unreachable: the lock's expiry redelivers it
            log.exception("message=%s could not be abandoned; it is redelivered when its lock expires",
                          msg.message_id)
        raise
    if settlement.dead_letter:
        actions.dead_letter(msg, settlement.dead_letter_reason or "", settlement.dead_letter_description or "")
    else:
        actions.complete(msg)
