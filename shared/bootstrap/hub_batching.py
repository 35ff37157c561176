"""How registration changes reach a hub: batched, one hub PATCH for every spoke ready within a short window.

A spoke's run adds its change (its Secret, or "" to remove it) to the hub's batch in the ledger
(`shared.azure.hub_batches`) and waits. The first run that finds the batch due (its oldest entry BATCH_WINDOW_SECONDS
old) and the hub's extension idle claims the batch (an ETag-conditional write: one claimant), sends ONE PATCH with
every pending change, and takes the sent entries off the batch. Every spoke then sees its registration in the hub's
settings on its next pass. So a burst of spokes costs the hub one PATCH per window or per hub operation, whichever is
longer, and at most one hub operation runs at a time (Azure would refuse a second with 409 Conflict).

Without a batch store (`argoboot plan`, whose writes are recorded, not sent) the change goes in a PATCH of its own.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from shared.azure.api import AzureApi
from shared.azure.hub_batches import HubBatch, HubBatches
from shared.azure.ledger import LedgerConflict
from shared.bootstrap.argocd_extension import EXTENSION_NAME
from shared.bootstrap.cluster_ids import ClusterRef
from shared.bootstrap.hub_registration import check_size, parse_registrations, registration_settings
from shared.bootstrap.outcome import Awaited, Outcome, Run

#: How long a batch collects spokes before it may be sent (a burst arriving within it shares one hub PATCH).
BATCH_WINDOW_SECONDS = 5.0
#: A claim older than this is a claimant that died between its claim and its PATCH: another run may take over.
CLAIM_SECONDS = 120.0
_WRITES = 5


def merged(current: Mapping[str, str], changes: Mapping[str, str]) -> dict[str, str]:
    """The hub's registrations after these changes ("" removes a spoke)."""
    result = {**current, **changes}
    return {name: manifest for name, manifest in result.items() if manifest}


@dataclass
class HubSender:
    api: AzureApi
    batches: HubBatches | None
    clock: Callable[[], float]

    def send(self, run: Run, hub: ClusterRef, installed: Mapping[str, str], changes: Mapping[str, str]) -> Outcome:
        """Queue these changes for the hub (whose extension is idle with `installed` settings) and send the batch
        when due; the run waits for the hub to apply them either way."""
        group = f"hub/{hub.key}"
        current = parse_registrations(installed)
        check_size(merged(current, changes), hub)  # this spoke is refused before it is queued, not the batch after
        if self.batches is None:
            self._patch(hub, installed, merged(current, changes))
            run.step(f"hub {hub.name}: PATCH sent for {len(changes)} registration change(s)")
            return run.wait("hub", f"waiting for hub {hub.name} to apply it", Awaited("update", group, began=True))
        batch = self._enqueue(hub, changes)
        now = self.clock()
        due = (batch.since or now) + BATCH_WINDOW_SECONDS
        if now < due:
            return run.wait("hub", f"queued for hub {hub.name}'s next PATCH ({len(batch.pending)} change(s) in its "
                            f"batch, sent within {due - now:.0f}s)", Awaited("update", group), due - now)
        if batch.claimed_at is not None and now - batch.claimed_at < CLAIM_SECONDS:
            return run.wait("hub", f"hub {hub.name}'s batch is being sent", Awaited("update", group),
                            BATCH_WINDOW_SECONDS)
        try:
            claimed = self.batches.save_hub_batch(replace(batch, claimed_at=now))
        except LedgerConflict:  # another run changed or claimed it: it is sent by that one, or on the next pass
            return run.wait("hub", f"hub {hub.name}'s batch changed meanwhile", Awaited("update", group),
                            BATCH_WINDOW_SECONDS)
        try:
            wanted = merged(current, claimed.pending)
            size = check_size(wanted, hub)
            self._patch(hub, installed, wanted)
        except Exception:
            self._release(hub, {})
            raise
        self._release(hub, claimed.pending)
        run.step(f"hub {hub.name}: one PATCH sent for {len(claimed.pending)} spoke change(s) (the hub's "
                 f"registrations: {len(wanted)} spokes, {size} bytes)")
        return run.wait("hub", f"waiting for hub {hub.name} to apply its batch", Awaited("update", group, began=True))

    def cancel(self, hub: ClusterRef, name: str) -> bool:
        """Take a spoke's queued registration off the hub's batch (its cluster is going); False while a claimed batch
        holds it (its PATCH may be landing: the removal waits for it rather than miss it)."""
        if self.batches is None:
            return True
        for _ in range(_WRITES):
            batch = self.batches.get_hub_batch(hub.key)
            if batch is None or not batch.pending.get(name):  # nothing queued, or its removal already is
                return True
            if batch.claimed_at is not None and self.clock() - batch.claimed_at < CLAIM_SECONDS:
                return False
            left = {k: v for k, v in batch.pending.items() if k != name}
            try:
                self.batches.save_hub_batch(replace(batch, pending=left, since=batch.since if left else None))
                return True
            except LedgerConflict:
                continue
        return False

    def _patch(self, hub: ClusterRef, installed: Mapping[str, str], registrations: Mapping[str, str]) -> None:
        settings = registration_settings(installed, registrations)
        self.api.patch_extension(hub, EXTENSION_NAME, {k: v for k, v in settings.items() if installed.get(k) != v})

    def _enqueue(self, hub: ClusterRef, changes: Mapping[str, str]) -> HubBatch:
        assert self.batches is not None
        for _ in range(_WRITES):
            batch = self.batches.get_hub_batch(hub.key) or HubBatch(hub.key)
            if all(batch.pending.get(name) == value for name, value in changes.items()):
                return batch
            try:
                return self.batches.save_hub_batch(replace(batch, pending={**batch.pending, **changes},
                                                           since=batch.since or self.clock()))
            except LedgerConflict:
                continue
        raise LedgerConflict(f"{hub.key}: gave up after {_WRITES} conflicting writes of its batch")

    def _release(self, hub: ClusterRef, sent: Mapping[str, str]) -> None:
        """Take the sent entries off the batch (those changed since stay) and drop the claim."""
        assert self.batches is not None
        for _ in range(_WRITES):
            batch = self.batches.get_hub_batch(hub.key) or HubBatch(hub.key)
            left = {name: value for name, value in batch.pending.items() if sent.get(name) != value}
            try:
                self.batches.save_hub_batch(replace(batch, pending=left, claimed_at=None,
                                                    since=(batch.since or self.clock()) if left else None))
                return
            except LedgerConflict:
                continue
