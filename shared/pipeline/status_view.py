"""What the status API shows of the ledger: named fields copied one by one, never the stored record whole.

The ledger keeps things nobody outside needs and some they must not see: the waiters' reply queues
and correlation ids, continuation bookkeeping, ETags. Copying by name means a field added to the
record stays private until someone adds it here on purpose. Called by `handlers.status_api`.
"""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from shared.azure.ledger import ClusterRecord, RequestRecord
from shared.azure.rollout_store import Member, RolloutState
from shared.bootstrap.rollout_plan import RolloutPlan
from shared.pipeline.hub_view import registered_on

# Kept out of the API on purpose: who to answer and how (waiters), the continuation chain, storage details.
# protected_hash: derived from a secret; salted and slow, still nobody outside needs it. extension_seen: bookkeeping
# of the extension's lastModifiedAt (the sweep's "updated by someone else").
CLUSTER_INTERNAL_FIELDS = frozenset({"key", "polls", "continuation", "continuation_due", "wait", "waiters", "etag",
                                     "protected_hash", "extension_seen"})
REQUEST_INTERNAL_FIELDS = frozenset({"etag", "message_id"})  # the message id is the reply's CorrelationId
ROLLOUT_FAILURES_SHOWN = 100


def _time(epoch: float | None) -> str | None:
    """ISO 8601; a time no calendar date can show (a row written before message times were bounded) is None, so
    one bad row never makes the whole list answer 500."""
    try:
        return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC).isoformat()
    except (ValueError, OverflowError, OSError):
        return None


def cluster_summary(record: ClusterRecord) -> dict[str, Any]:
    """One cluster in a list: where it stands and why."""
    return {
        "clusterResourceId": record.cluster_id,
        "kind": record.kind,
        "phase": record.phase,
        "waitingOn": record.waiting_on,
        "waitingSince": _time(record.waiting_since),
        "desired": record.intent,
        "deletedAt": _time(record.deleted_at),
        "profile": record.profile,
        "overrides": record.overrides,
        "profileDigest": record.profile_digest,
        "configHash": record.config_hash,
        "created": list(record.created),
        "actionsRequired": list(record.actions_required),
        "gitopsRoot": record.gitops_root,
        "registeredOn": registered_on(record),  # hub and spoke: the hubs this cluster is a spoke of
        "attempts": record.attempts,
        "lastError": {"code": record.last_error_code, "message": record.last_error_message}
        if record.last_error_code else None,
        "lastRequestId": record.last_request_id,
        "firstSeen": _time(record.first_seen),
        "lastChanged": _time(record.last_changed),
    }


def cluster_view(record: ClusterRecord, spokes: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """One cluster in full: the summary and its recent history of steps; a hub's spokes when given."""
    history = [{"at": _time(entry["at"]), "step": entry["step"]} for entry in record.history]
    return cluster_summary(record) | {"history": history} | ({"spokes": spokes} if spokes is not None else {})


def request_view(record: RequestRecord) -> dict[str, Any]:
    """One request: what was asked for which cluster, and what became of it."""
    return {
        "requestId": record.request_id,
        "clusterKey": record.cluster_key or None,
        "action": None if record.action == "unknown" else record.action,
        "status": record.status,
        "error": {"code": record.error_code, "message": record.error_message} if record.error_code else None,
        "replyError": record.reply_error,
        "created": _time(record.created),
        "updated": _time(record.updated),
    }


def rollout_view(state: RolloutState, plan: RolloutPlan | None, members: list[Member]) -> dict[str, Any]:
    """A profile's rollout: how far it got, why it stopped, and every failed cluster with Azure's message."""
    waves = [wave.name for wave in plan.waves] if plan else []
    last = len(waves) - 1

    def wave_name(index: int) -> str | None:
        return waves[min(index, last)] if waves else None

    counts: Counter[str] = Counter(m.status for m in members)
    failed = [{"clusterResourceId": m.cluster_id, "wave": wave_name(m.wave), "code": m.code, "message": m.message,
               "at": _time(m.updated)} for m in members if m.status == "failed"][:ROLLOUT_FAILURES_SHOWN]
    return {
        "profile": state.profile,
        "status": state.status,
        "wave": None if state.status == "completed" else {"index": state.wave, "name": wave_name(state.wave),
                                                          "of": len(waves)},
        "waves": waves,
        "version": state.target,
        "previousVersion": state.stable,
        "newClustersGet": state.passed,
        "reason": state.reason,
        "soakingUntil": _time(state.soaking_since + plan.soak_seconds) if plan and state.soaking_since else None,
        "clusters": {status: counts[status] for status in ("waiting", "admitted", "succeeded", "failed", "gone")},
        "failures": failed,
        "started": _time(state.started),
        "updated": _time(state.updated),
    }
