"""Service Bus queue trigger (sessions: one per cluster): runs the reconciler for each request.

Settlement: a refused request is dead-lettered with its reason; everything else completes, because
waits are continued by scheduled messages rather than by holding this one. An unexpected failure
(ledger or bus unreachable) raises, so the host abandons the message and Service Bus redelivers it
until its max delivery count, then dead-letters it.
"""
from __future__ import annotations

import azure.functions as func

from handlers.settlement import settler
from shared.pipeline.processing import InboundMessage
from shared.services import services
from shared.telemetry import start_telemetry

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.function_name("install_requests")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name="%INSTALL_QUEUE_NAME%",
                              connection="ServiceBusConnection", is_sessions_enabled=True)
def install_requests(msg: func.ServiceBusMessage) -> None:
    start_telemetry()
    inbound = InboundMessage(
        body=msg.get_body(), message_id=msg.message_id, session_id=msg.session_id, reply_to=msg.reply_to,
        correlation_id=msg.correlation_id, delivery_count=msg.delivery_count,
        application_properties=dict(msg.application_properties or {}))
    settlement = services().processor.process(inbound)  # logs an unexpected failure before it propagates
    if settlement.dead_letter:
        settler().dead_letter(msg, settlement.dead_letter_reason or "", settlement.dead_letter_description or "")
