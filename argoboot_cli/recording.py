"""Keeps the ledger in step with an `argoboot run`, so `status` and the service see what it did.

A run writes the fields a queue run writes for an explicit bootstrap request (phase, what it waits on
and since when, steps, error, attempts, last request, desired intent and profile, configuration hash,
what the service created for the cluster, which an uninstall later removes) as
`shared.processing` folds them, and leaves the queue's own bookkeeping (continuation chain, waiters,
poll count) alone, so a service run of the same cluster carries on unharmed. Writes are ETag-conditional, like the
service's: on a conflict the record is re-read and the change re-applied.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from shared.clusters import ClusterRef
from shared.ledger import ClusterRecord, Ledger, LedgerConflict, RequestRecord
from shared.outcome import Outcome, Phase
from shared.profiles import Profile

_RETRIES = 5


class RunRecorder:
    def __init__(self, ledger: Ledger, cluster: ClusterRef, profile: Profile, request_id: str,
                 clock: Callable[[], float] = time.time) -> None:
        self._ledger = ledger
        self._cluster = cluster
        self._profile = profile
        self._clock = clock
        now = clock()
        self._request = RequestRecord(request_id=request_id, cluster_key=cluster.key, action="bootstrap",
                                      status="accepted", created=now, updated=now)
        self._installs = 0
        self.written = False

    def record(self, outcome: Outcome) -> None:
        """Fold one reconcile pass into the cluster's record and the run's request row."""
        self._installs += outcome.installs
        now = self._clock()
        for _ in range(_RETRIES):
            base = self._ledger.get_cluster(self._cluster.key) or ClusterRecord.new(self._cluster, now)
            waiting = outcome.phase is Phase.WAITING
            same_wait = base.phase == Phase.WAITING.value and base.waiting_on == outcome.waiting_on
            succeeded = outcome.phase is Phase.SUCCEEDED
            kept = tuple(i for i in base.created if i not in outcome.removed)
            updated = replace(
                base.with_history(now, list(outcome.steps)), phase=outcome.phase.value,
                waiting_on=outcome.waiting_on,
                waiting_since=(base.waiting_since if same_wait else now) if waiting else None,
                intent="installed", deleted_at=None, profile=self._profile.name, overrides=None,
                profile_digest=self._profile.digest if succeeded else base.profile_digest,
                config_hash=outcome.config_hash or base.config_hash,
                created=kept + tuple(i for i in outcome.created if i not in kept),
                actions_required=outcome.actions_required if outcome.config_hash else base.actions_required,
                last_changed=now, last_request_id=self._request.request_id, last_error_code=outcome.error_code,
                last_error_message=outcome.error_message,
                attempts=(base.attempts if self.written else 0) + self._installs)
            try:
                self._ledger.save_cluster(updated)
                break
            except LedgerConflict:
                continue
        else:
            raise LedgerConflict(f"{self._cluster.key}: gave up after {_RETRIES} conflicting ledger writes")
        self._installs = 0
        self.written = True
        self._request = self._ledger.save_request(replace(
            self._request, status=outcome.phase.value, updated=now, error_code=outcome.error_code,
            error_message=outcome.error_message))
