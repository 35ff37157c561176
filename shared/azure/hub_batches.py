"""A hub's batch: the spokes' registrations (and removals) waiting for the hub's next PATCH.

Kept in the ledger (`TableLedger`): one row per queued spoke (Table storage caps a value at 64 KB, so the batch
cannot be one row) and a head row per hub holding the claim. Queuing writes only the spoke's own row (an upsert:
spokes on many instances never contend), and claiming writes the head ETag-conditionally, so one run only sends a
batch: at most one hub operation is started from it. A sent row is deleted only if unchanged since it was read
(its ETag), so a spoke that queued a newer change meanwhile keeps it for the next batch. `shared.bootstrap.hub_batching`
decides when.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class QueuedChange:
    """One spoke's change: its Secret manifest, or "" to remove it; when it was queued; the row's ETag."""

    manifest: str
    queued_at: float
    etag: str = ""


@dataclass(frozen=True)
class HubBatch:
    """Every queued change by spoke name; `claimed_at`: when a run took the batch to send it (a claim older than a
    hub operation is stale); `etag` of the head row (None: no head yet)."""

    hub_key: str
    pending: dict[str, QueuedChange] = field(default_factory=dict)
    claimed_at: float | None = None
    etag: str | None = None

    @property
    def since(self) -> float | None:
        """When the oldest queued change came (the batch is due a window after it)."""
        return min((c.queued_at for c in self.pending.values()), default=None)


class HubBatches(Protocol):
    def hub_batch(self, hub_key: str) -> HubBatch: ...
    def queue_hub_change(self, hub_key: str, name: str, manifest: str, at: float) -> None: ...
    def drop_hub_change(self, hub_key: str, name: str) -> None: ...
    def claim_hub_batch(self, batch: HubBatch, at: float | None) -> HubBatch: ...  # LedgerConflict when stale
    def release_hub_changes(self, batch: HubBatch) -> None: ...  # delete the rows still as read
