"""Keeps the ledger in step with an `argoboot run`, so `status` and the service see what it did.

A run writes the fields a queue run writes for an explicit bootstrap request, with the same function
(`shared.pipeline.processing.fold_outcome`), and leaves the queue's own bookkeeping (continuation chain, waiters,
poll count) alone, so a service run of the same cluster carries on unharmed. Writes are ETag-conditional, like the
service's: on a conflict the record is re-read and the change re-applied.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from shared.azure.ledger import ClusterRecord, Ledger, LedgerConflict, Owned, RequestRecord
from shared.bootstrap.cluster_ids import ClusterRef
from shared.bootstrap.outcome import Outcome
from shared.bootstrap.profiles import Profile
from shared.pipeline.processing import fold_outcome

_RETRIES = 5


class RunRecorder:
    def __init__(self, ledger: Ledger, cluster: ClusterRef, profile: Profile, request_id: str,
                 clock: Callable[[], float] = time.time, action: str = "bootstrap") -> None:
        self._ledger = ledger
        self._cluster = cluster
        self._profile = profile
        self._clock = clock
        now = clock()
        self._intent = "absent" if action == "uninstall" else "installed"
        self._request = RequestRecord(request_id=request_id, cluster_key=cluster.key, action=action,
                                      status="accepted", created=now, updated=now)
        self._installs = 0
        self.written = False

    def owned(self) -> Owned:
        """What the ledger says the service owns on the cluster (as the queue and `argoboot plan` read it)."""
        return Owned.of(self._ledger.get_cluster(self._cluster.key))

    def record(self, outcome: Outcome) -> None:
        """Fold one reconcile pass into the cluster's record and the run's request row."""
        self._installs += outcome.installs
        now = self._clock()
        for _ in range(_RETRIES):
            base = self._ledger.get_cluster(self._cluster.key) or ClusterRecord.new(self._cluster, now)
            # The first pass is the explicit request (attempts count from zero); later passes add to it.
            updated = fold_outcome(
                base, replace(outcome, installs=self._installs), now, intent=self._intent, deleted_at=None,
                profile=self._profile.name, overrides=None, profile_digest=self._profile.digest,
                request_id=None if self.written else self._request.request_id)
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
