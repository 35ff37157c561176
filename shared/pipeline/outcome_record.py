"""One structured log record per run's outcome and per sweep: what the alerts and the workbook in infra/ query.

The field names are fixed: the `argoboot.outcomes` logger's records carry them as attributes, which the
OpenTelemetry logging handler (`shared.telemetry`) turns into customDimensions of an Application Insights trace,
beside the ids every record carries (`shared.log_context`). `infra/modules/alerts.bicep` and `infra/workbook.json`
filter on `record_type` and read the other fields; tests/e2e/test_operations.py checks their queries against
records a test run produced. Rename a field here and there together.
"""
from __future__ import annotations

from typing import Any

from shared.azure.ledger import ClusterRecord
from shared.bootstrap.cluster_ids import ClusterRef
from shared.bootstrap.outcome import Phase
from shared.log_context import get_logger

log = get_logger("argoboot.outcomes")

RUN = "argoboot.run"  # one queue message's reconcile (or its refusal)
SWEEP = "argoboot.sweep"  # one sweep


def log_run(cluster: ClusterRef | None, outcome: str, *, error_code: str | None, profile: str | None, source: str,
            detail: str = "", notice_seconds: float | None = None, install_seconds: float | None = None) -> None:
    """The outcome of one run, its one INFO line: `outcome` is the phase it ended in (or `rejected`); `detail` is
    for people reading the line; the seconds where the run knows them (event to first run; install to its end)."""
    fields: dict[str, Any] = {
        "record_type": RUN, "outcome": outcome, "error_code": error_code or "", "profile": profile or "",
        "cluster_kind": cluster.kind if cluster else "", "subscription_id": cluster.subscription if cluster else "",
        "source": source,
    }
    if notice_seconds is not None:
        fields["notice_seconds"] = round(max(notice_seconds, 0.0), 3)
    if install_seconds is not None:
        fields["install_seconds"] = round(max(install_seconds, 0.0), 3)
    log.info("run cluster=%s outcome=%s error=%s profile=%s source=%s %s", cluster.key if cluster else "-",
             outcome, error_code, profile, source, detail, extra=fields)


def install_seconds(before: ClusterRecord | None, after: ClusterRecord, now: float) -> float | None:
    """How long the extension install (or update, or removal) this run saw end had taken: from the start of the
    wait on it (the ledger's `waiting_since`; throttling interrupts a wait without restarting it) to now."""
    if before is None or after.phase == Phase.WAITING.value or before.phase != Phase.WAITING.value:
        return None
    if before.waiting_on not in ("extension", "throttled") or before.waiting_since is None:
        return None
    return now - before.waiting_since


def log_sweep(*, clusters: int, enqueued: int, opted_out: int, out_of_scope: int, orphans_reported: int,
              failed_subscriptions: int, source: str = "arm", fallback: str | None = None,
              deferred: str | None = None) -> None:
    """The end of one sweep: `succeeded` when every allowed subscription was listed, else `partial`; `deferred`
    when Resource Graph's quota was spent. `source` says where the fleet was read (resource-graph, or arm), and
    `fallback` why not from Resource Graph."""
    counts = {"clusters": clusters, "enqueued": enqueued, "opted_out": opted_out, "out_of_scope": out_of_scope,
              "orphans_reported": orphans_reported, "failed_subscriptions": failed_subscriptions}
    outcome = "deferred" if deferred else "partial" if failed_subscriptions else "succeeded"
    log.info("sweep outcome=%s: %d clusters, %d enqueued, %d opted out, %d out of scope, %d orphans reported, "
             "%d subscriptions failed; read from %s%s", outcome, *counts.values(), source,
             f" ({deferred or fallback})" if deferred or fallback else "",
             extra={"record_type": SWEEP, "outcome": outcome, **counts, "source": source,
                    "fallback": fallback or "", "deferred": deferred or ""})
