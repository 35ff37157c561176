"""The status ledger's records and its protocol: what happened to each cluster and each request.

`shared.azure.table_ledger.TableLedger` keeps them in Azure Table storage. Written by the queue and Event Grid
handlers after every run; read by the same handlers (to coalesce waits and find who is waiting for a reply), by the
status API and by the request purge.
Writes are ETag-conditional so two instances never overwrite each other's record silently: a stale
write raises `LedgerConflict` and the caller re-reads and re-applies its change.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from shared.azure.hub_batches import HubBatches
from shared.azure.rollout_store import RolloutStore
from shared.bootstrap.cluster_ids import ClusterRef
from shared.bootstrap.poll_schedule import WaitState

HISTORY_LIMIT = 20
WAITERS_LIMIT = 50


class LedgerConflict(Exception):
    """Someone else changed the record since it was read."""


@dataclass(frozen=True)
class Waiter:
    """A request whose sender wants a reply when the cluster's outcome is known."""

    request_id: str
    reply_to: str | None
    correlation_id: str | None
    action: str = "bootstrap"
    reply_to_session_id: str | None = None  # the requester's ReplyToSessionId: the reply's SessionId
    reply_error: str | None = None  # why no reply goes where it asked (recorded on its request's row)
    explicit: bool = False  # a request someone sent: the chain it waits on does not honour the opt-out tag


@dataclass(frozen=True)
class Owned:
    """What the ledger says the service owns on a cluster, the input every decision about ownership takes, the
    same for the queue's runs, `argoboot run` and `argoboot plan`: what it created (its extension among them) and
    the hash of the protected settings it last sent (Azure never returns them)."""

    created: tuple[str, ...] = ()
    protected_hash: str | None = None
    extension_seen: str | None = None  # the extension's lastModifiedAt when the service last saw it converged

    @staticmethod
    def of(record: ClusterRecord | None) -> Owned:
        return record.owned if record is not None else NOTHING_OWNED


#: No ledger (or no record): only the extension's marker says it is the service's.
NOTHING_OWNED = Owned()


@dataclass(frozen=True)
class ClusterRecord:
    """One cluster's row. `continuation` numbers the scheduled follow-up that is live, if any."""

    key: str
    cluster_id: str
    kind: str
    phase: str = "pending"
    waiting_on: str | None = None
    waiting_since: float | None = None
    intent: str = "installed"  # or "absent": uninstalled on request, or the cluster was deleted
    deleted_at: float | None = None  # event time of the cluster's deletion: older write events are ignored
    profile: str | None = None
    profile_digest: str | None = None  # of the profile (with overrides) last applied successfully
    overrides: dict[str, Any] | None = None
    config_hash: str | None = None
    protected_hash: str | None = None  # salted hash of the protected settings last sent (never the values)
    extension_seen: str | None = None  # the extension's lastModifiedAt when last seen converged (`Owned`)
    gitops_root: dict[str, Any] | None = None  # the root Application: repoURL, path, targetRevision, applied
    created: tuple[str, ...] = ()
    actions_required: tuple[str, ...] = ()
    attempts: int = 0
    polls: int = 0
    last_error_code: str | None = None
    last_error_message: str | None = None
    last_request_id: str | None = None
    first_seen: float = 0.0
    last_changed: float = 0.0
    continuation: int = 0
    continuation_due: float | None = None
    wait: WaitState | None = None  # the wait in progress, for the poll schedule
    waiters: tuple[Waiter, ...] = ()
    history: tuple[dict[str, Any], ...] = ()
    etag: str | None = field(default=None, compare=False)

    @property
    def owned(self) -> Owned:
        return Owned(self.created, self.protected_hash, self.extension_seen)

    @classmethod
    def new(cls, cluster: ClusterRef, now: float) -> ClusterRecord:
        return cls(key=cluster.key, cluster_id=cluster.id, kind=cluster.kind, first_seen=now, last_changed=now)

    def with_history(self, now: float, entries: list[str]) -> ClusterRecord:
        """Append a run's steps; a check that only repeats the last step (`still Creating`) adds nothing, so the
        polls of a long wait do not push what happened out of the history."""
        last = self.history[-1]["step"] if self.history else None
        if entries and entries[0] == last:
            entries = entries[1:]
        added = tuple({"at": now, "step": text} for text in entries)
        return replace(self, history=(self.history + added)[-HISTORY_LIMIT:])

    def with_waiter(self, waiter: Waiter) -> ClusterRecord:
        if any(w.request_id == waiter.request_id for w in self.waiters):
            return self
        return replace(self, waiters=(*self.waiters, waiter)[-WAITERS_LIMIT:])


@dataclass(frozen=True)
class RequestRecord:
    """One request's row: who asked for what, and what became of it."""

    request_id: str
    cluster_key: str
    action: str
    status: str
    created: float
    updated: float
    error_code: str | None = None
    error_message: str | None = None
    message_id: str | None = None  # the message's id as it arrived, when the request id was derived from it
    reply_error: str | None = None  # why its reply was refused or could not be delivered (the request still ran)
    etag: str | None = field(default=None, compare=False)


class Ledger(HubBatches, Protocol):
    def get_cluster(self, key: str) -> ClusterRecord | None: ...
    def save_cluster(self, record: ClusterRecord) -> ClusterRecord: ...
    def get_request(self, request_id: str) -> RequestRecord | None: ...
    def save_request(self, record: RequestRecord) -> RequestRecord: ...
    def list_clusters(self, phase: str | None = None) -> list[ClusterRecord]: ...
    def purge_requests(self, updated_before: float) -> int: ...
    @property
    def rollouts(self) -> RolloutStore: ...  # staged profile rollouts, in the same storage
