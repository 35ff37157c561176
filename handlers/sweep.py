"""Timer trigger: the sweep that catches what events missed (see `shared.pipeline.sweep`).

The schedule comes from the app setting SWEEP_SCHEDULE (an NCRONTAB expression, e.g. `0 */30 * * * *`
for every 30 minutes). The host runs a timer as a singleton across instances, so sweeps never
overlap; the messages it sends carry per-minute ids, so even a rerun adds no duplicate work.
"""
from __future__ import annotations

import azure.functions as func

from shared.log_context import get_logger
from shared.services import services
from shared.telemetry import start_telemetry

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = get_logger("argoboot.sweep")


@bp.function_name("sweep")
@bp.timer_trigger(arg_name="timer", schedule="%SWEEP_SCHEDULE%", run_on_startup=False, use_monitor=True)
def sweep(timer: func.TimerRequest) -> None:
    start_telemetry()
    report = services().sweeper.run()
    if timer.past_due:
        log.info("sweep ran late (past due); %d clusters enqueued", len(report.enqueued))
