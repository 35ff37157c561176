"""A hub's batch: the spokes' registrations (and removals) waiting for the hub's next PATCH.

Kept in the ledger (`TableLedger`: a head row per hub, and a row per queued spoke, since Table storage caps a value
at 64 KB), its head written ETag-conditionally like every ledger row: spokes on many
instances add to it at once, and the one that claims a flush (`claimed_at`, saved conditionally) is the only one to
PATCH the hub, so at most one hub operation is ever started from a batch. `shared.bootstrap.hub` decides when.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class HubBatch:
    """`pending`: spoke name -> its Secret manifest, or "" to remove it; `since`: when the oldest entry came;
    `claimed_at`: when a run took the batch to send it (a claim older than the hub's operation is stale)."""

    hub_key: str
    pending: dict[str, str] = field(default_factory=dict)
    since: float | None = None
    claimed_at: float | None = None
    etag: str | None = None  # of the batch's head row: every change writes it first, conditionally
    known: dict[str, str] = field(default_factory=dict, compare=False, repr=False)  # `pending` as read: the diff


class HubBatches(Protocol):
    def get_hub_batch(self, hub_key: str) -> HubBatch | None: ...
    def save_hub_batch(self, batch: HubBatch) -> HubBatch: ...  # LedgerConflict on a stale ETag
