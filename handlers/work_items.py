"""Service Bus queue trigger on the internal work queue (sessions: one per cluster): runs the reconciler.

The app sends to this queue: requests forwarded by `handlers.install_requests`, Event Grid's cluster events, the
sweep's and the continuations' messages, each on the session the service derives from the cluster id. So one
cluster's work runs one message at a time whatever session a requester picked, and the `argoboot*` properties read
here are the service's own. Besides the app, only the platform team's groups granted Send here (infra:
`rolloutOperatorPrincipalIds`) post, their rollout actions, on session `rollout-<profile>`. Waits are continued by
scheduled messages, so every message is completed unless it is refused. Settlement (automatic completion off):
`handlers.settlement.settle`.
"""
from __future__ import annotations

import azure.functions as func

from handlers.settlement import settle
from shared.services import services
from shared.telemetry import start_telemetry

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.function_name("work_items")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE_NAME%",
                              connection="ServiceBusConnection", is_sessions_enabled=True,
                              auto_complete_messages=False)
def work_items(msg: func.ServiceBusMessage) -> None:
    start_telemetry()
    settle(msg, services().processor.process)
