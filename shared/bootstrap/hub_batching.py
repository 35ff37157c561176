"""How registration changes reach a hub: batched, one hub PATCH for every spoke ready within a short window.

A spoke's run adds its change (its Secret, or "" to remove it) to the hub's batch in the ledger
(`shared.azure.hub_batches`: a row of its own, so queuing never contends) and waits. The first run that finds the
batch due (its oldest entry BATCH_WINDOW_SECONDS old) and the hub's extension idle claims the batch (an
ETag-conditional write of its head: one claimant), reads the hub again, sends ONE PATCH with every queued change
the hub does not hold yet (none if it holds them all), and takes those rows off the batch (those queued again since
stay). Every spoke then sees its registration in the hub's
settings on its next pass. So a burst of spokes costs the hub one PATCH per window or per hub operation, whichever is
longer, and at most one hub operation runs at a time (Azure would refuse a second with 409 Conflict).

Without a batch store (`argoboot plan`, whose writes are recorded, not sent) the change goes in a PATCH of its own.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from shared.azure.api import AzureApi
from shared.azure.hub_batches import HubBatch, HubBatches, QueuedChange
from shared.azure.ledger import LedgerConflict
from shared.bootstrap.argocd_extension import EXTENSION_NAME, ExtensionState
from shared.bootstrap.cluster_ids import ClusterRef
from shared.bootstrap.hub_protection import HubProtection
from shared.bootstrap.hub_registration import entry_size, parse_registrations, registration_settings
from shared.bootstrap.hub_size import check_size, registrations_budget
from shared.bootstrap.outcome import Awaited, Outcome, Run
from shared.errors import PermanentError

#: How long a batch collects spokes before it may be sent (a burst arriving within it shares one hub PATCH).
BATCH_WINDOW_SECONDS = 5.0
#: A claim older than this is a claimant that died between its claim and its PATCH: another run may take over.
CLAIM_SECONDS = 120.0
_WRITES = 5


def merged(current: Mapping[str, str], changes: Mapping[str, str]) -> dict[str, str]:
    """The hub's registrations after these changes ("" removes a spoke)."""
    result = {**current, **changes}
    return {name: manifest for name, manifest in result.items() if manifest}


def fitting(current: Mapping[str, str], pending: Mapping[str, QueuedChange], budget: int) -> dict[str, QueuedChange]:
    """The queued changes one PATCH can carry under the hub's budget (bytes of registrations, `hub_size`): removals
    first (they make room), then the oldest: a batch that would overflow sends what fits, and the spokes left are
    refused one by one, never the batch."""
    size = sum(entry_size(m) for m in current.values())
    chosen: dict[str, QueuedChange] = {}
    for name, change in sorted(pending.items(), key=lambda item: (item[1].manifest != "", item[1].queued_at, item[0])):
        delta = entry_size(change.manifest) - entry_size(current.get(name, ""))
        if delta > 0 and size + delta > budget:
            continue
        chosen[name] = change
        size += delta
    return chosen


@dataclass
class HubSender:
    api: AzureApi
    batches: HubBatches | None
    clock: Callable[[], float]
    protection: HubProtection | None = None  # the hub's protected settings in its PATCHes (None: no ledger)

    def send(self, run: Run, hub: ClusterRef, installed: Mapping[str, str], changes: Mapping[str, str]) -> Outcome:
        """Queue these changes for the hub (whose extension is idle with `installed` settings) and send the batch
        when due; the run waits for the hub to apply them either way."""
        current = parse_registrations(installed)
        try:
            check_size(merged(current, changes), hub, installed)  # this spoke is refused before it is queued
        except PermanentError:
            for name in changes:
                self.cancel(hub, name)  # queued on an earlier pass, when the hub still had room
            raise
        if self.batches is None:
            self._patch(hub, installed, merged(current, changes))
            run.step(f"hub {hub.name}: PATCH sent for {len(changes)} registration change(s)")
            return run.wait("hub", f"waiting for hub {hub.name} to apply it", Awaited("hub", began=True))
        batch = self.batches.hub_batch(hub.key)
        now = self.clock()
        for name, manifest in changes.items():
            queued = batch.pending.get(name)
            if queued is None or queued.manifest != manifest:
                self.batches.queue_hub_change(hub.key, name, manifest, now)
                batch = replace(batch, pending={**batch.pending, name: QueuedChange(manifest, now)})
        due = (batch.since or now) + BATCH_WINDOW_SECONDS
        if now < due:
            return run.wait("hub", f"queued for hub {hub.name}'s next PATCH ({len(batch.pending)} change(s) in its "
                            f"batch, sent within {due - now:.0f}s)", Awaited("hub"), due - now)
        batch = self.batches.hub_batch(hub.key)  # as it stands now, with what others queued (and their ETags)
        try:
            if batch.claimed_at is not None and now - batch.claimed_at < CLAIM_SECONDS:
                raise LedgerConflict  # claimed, and the claim is live: never taken over
            claimed = self.batches.claim_hub_batch(batch, now)
        except LedgerConflict:  # another run claimed it: it sends what is queued
            return run.wait("hub", f"hub {hub.name}'s batch is being sent", Awaited("hub"),
                            BATCH_WINDOW_SECONDS)
        try:
            return self._send_claimed(run, hub, claimed)
        finally:
            self._unclaim(hub)

    def _send_claimed(self, run: Run, hub: ClusterRef, claimed: HubBatch) -> Outcome:
        """The claimant's PATCH, from the hub as it is now: what this run read of it may predate another run's batch
        (a PATCH from that would be refused while the hub updates, or erase the spokes that batch added). Changes the
        hub already holds leave the batch without a PATCH; none left to send, none is sent."""
        assert self.batches is not None
        ext = self.api.get_extension(hub, EXTENSION_NAME)
        if ext is None or ext.in_progress:
            return run.wait("hub", f"hub {hub.name}'s extension is {ext.provisioning_state if ext else 'gone'}: one "
                            "hub operation at a time", Awaited("hub"))
        current = parse_registrations(ext.settings)
        held = {n: c for n, c in claimed.pending.items() if merged(current, {n: c.manifest}) == current}
        sent = fitting(current, {n: c for n, c in claimed.pending.items() if n not in held},
                       registrations_budget(ext.settings))
        wanted = merged(current, {name: change.manifest for name, change in sent.items()})
        if sent:
            size = check_size(wanted, hub, ext.settings)
            self._patch(hub, ext.settings, wanted)
        self.batches.release_hub_changes(replace(claimed, pending={**held, **sent}))
        if not sent:
            return run.wait("hub", f"hub {hub.name} already holds its batch's changes", Awaited("hub"))
        left = len(claimed.pending) - len(held) - len(sent)
        run.step(f"hub {hub.name}: one PATCH sent for {len(sent)} spoke change(s) (the hub's registrations: "
                 f"{len(wanted)} spokes, {size} bytes)" + (f"; {left} did not fit (refused on their next pass)"
                                                            if left else ""))
        return run.wait("hub", f"waiting for hub {hub.name} to apply its batch", Awaited("hub", began=True))

    def queued(self, hub: ClusterRef, name: str) -> float | None:
        """Seconds until this spoke's queued change can be sent (its batch not due yet, or being sent by another
        run), or None when it is not queued or the batch is due now (the run goes on and may send it)."""
        if self.batches is None:
            return None
        batch = self.batches.hub_batch(hub.key)
        if name not in batch.pending:
            return None
        now = self.clock()
        if batch.claimed_at is not None and now - batch.claimed_at < CLAIM_SECONDS:
            return BATCH_WINDOW_SECONDS
        due = (batch.since or now) + BATCH_WINDOW_SECONDS
        return due - now if now < due else None

    def cancel(self, hub: ClusterRef, name: str) -> bool:
        """Take a spoke's queued registration off the hub's batch (its cluster is going); False while a claimed batch
        holds it (its PATCH may be landing: the removal waits for it rather than miss it)."""
        if self.batches is None:
            return True
        batch = self.batches.hub_batch(hub.key)
        queued = batch.pending.get(name)
        if queued is None or not queued.manifest:  # nothing queued, or its removal already is
            return True
        if batch.claimed_at is not None and self.clock() - batch.claimed_at < CLAIM_SECONDS:
            return False
        self.batches.drop_hub_change(hub.key, name)
        return True

    def _patch(self, hub: ClusterRef, installed: Mapping[str, str], registrations: Mapping[str, str]) -> None:
        """One PATCH of the hub's registrations, carrying every protected setting of the hub (Azure deletes those an
        update leaves out)."""
        settings = registration_settings(installed, registrations)
        protected = self.protection.protected(hub) if self.protection is not None else {}
        self.api.patch_extension(hub, EXTENSION_NAME, {k: v for k, v in settings.items() if installed.get(k) != v},
                                 protected or None)
        if self.protection is not None:
            self.protection.sent(hub, protected)

    def applied(self, hub: ClusterRef, name: str, manifest: str, ext: ExtensionState | None) -> None:
        """The spoke's change is on the (idle) hub: a row still queued for it (queued again by a run that read the
        hub before the batch carrying it landed) goes, so that it does not make the next burst's batch due at once;
        the hub's record learns its lastModifiedAt is the service's (`HubProtection.seen`)."""
        if self.batches is not None:
            queued = self.batches.hub_batch(hub.key).pending.get(name)
            if queued is not None and queued.manifest == manifest:
                self.batches.drop_hub_change(hub.key, name)
        if self.protection is not None and ext is not None:
            self.protection.seen(hub, ext)

    def _unclaim(self, hub: ClusterRef) -> None:
        """Drop the claim (the head as it stands: only the claimant writes it while the claim holds)."""
        assert self.batches is not None
        for _ in range(_WRITES):
            try:
                self.batches.claim_hub_batch(self.batches.hub_batch(hub.key), None)
                return
            except LedgerConflict:
                continue
