"""Timer trigger: deletes request rows last changed more than REQUEST_RETENTION_DAYS ago, once a day.

The schedule is a fixed CRON (03:30 UTC daily) rather than a `%SETTING%`: the retention is the knob that
matters, and a fixed schedule cannot fail to resolve when the host starts. The host runs a timer as a
singleton across instances (a storage lease), so purges never race each other; a missed run is simply
caught up by the next one. Cluster rows are never purged: they are the fleet's state.
"""
from __future__ import annotations

import azure.functions as func

from shared.log_context import get_logger
from shared.services import services
from shared.telemetry import start_telemetry

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = get_logger("argoboot.retention")
PURGE_SCHEDULE = "0 30 3 * * *"
DAY = 86400.0


@bp.function_name("purge_requests")
@bp.timer_trigger(arg_name="timer", schedule=PURGE_SCHEDULE, run_on_startup=False, use_monitor=True)
def purge_requests(timer: func.TimerRequest) -> None:
    start_telemetry()
    svc = services()
    days = svc.settings.request_retention_days
    deleted = svc.ledger.purge_requests(updated_before=svc.clock() - days * DAY)
    log.info("purged %d request rows unchanged for %d days%s", deleted, days,
             " (run was past due)" if timer.past_due else "")
