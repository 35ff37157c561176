"""Service Bus queue trigger on the public request queue: other teams' requests, checked and forwarded.

Other services hold `Azure Service Bus Data Sender` on this queue only. Each request is validated here, at its first
delivery, and either dead-lettered with its reason (answered where replies may go) or forwarded onto the cluster's
session of the internal work queue (`shared.pipeline.intake`), where `handlers.work_items` runs it. Nothing a sender
sets besides the body and its reply address goes further. Settlement: `handlers.settlement.settle`.
"""
from __future__ import annotations

import azure.functions as func

from handlers.settlement import settle
from shared.services import services
from shared.telemetry import start_telemetry

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.function_name("install_requests")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name="%INSTALL_QUEUE_NAME%",
                              connection="ServiceBusConnection", is_sessions_enabled=True,
                              auto_complete_messages=False)
def install_requests(msg: func.ServiceBusMessage) -> None:
    start_telemetry()
    settle(msg, services().intake.accept)
