"""Follows a cluster's wait from run to run and says when to check again: the glue between the reconciler's outcomes
and `shared.bootstrap.poll_schedule`.

The queue path (`shared.pipeline.processing`, which keeps the wait in the cluster's ledger row and schedules the
continuation at exactly the due time) and `argoboot run` (which keeps it in a variable and sleeps) call `track`
after every run; the read budget left comes from the instance's pacer.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from shared.bootstrap.outcome import Awaited, Outcome
from shared.bootstrap.poll_schedule import WaitState, next_check
from shared.settings import Settings

#: Waits that interrupt another one (its clock keeps running underneath).
INTERRUPTIONS = frozenset({"throttled", "azure"})
#: Waits that a poll of the extension alone follows (the reconciler's `waiting_on="extension"`).
EXTENSION_WAITS = frozenset({"install", "update", "uninstall"})
#: Failures that mean the service gave up waiting, not that Azure answered.
WAIT_TIMED_OUT = "WaitTimedOut"
REGISTRATION_TIMED_OUT = "ProviderRegistrationTimedOut"


@dataclass(frozen=True)
class Tracked:
    """After one run: the wait the cluster is in (None: done) and seconds to the next check."""

    wait: WaitState | None
    delay: float


@dataclass
class PollPlanner:
    settings: Settings
    clock: Callable[[], float]
    headroom: Callable[[str], float] = lambda subscription: 1.0

    def cap(self, kind: str) -> float:
        """The longest gap between two checks of this kind of wait (a Retry-After aside): its setting."""
        s = self.settings
        return {"providers": s.provider_poll_seconds, "install": s.extension_poll_seconds,
                "update": s.extension_poll_seconds, "uninstall": s.extension_poll_seconds,
                "hub": s.extension_poll_seconds,
                "race": s.identity_retry_seconds}.get(kind, s.cluster_poll_seconds)

    def track(self, previous: WaitState | None, outcome: Outcome, subscription: str) -> Tracked:
        """The wait after this run's outcome, and when to look again. The wait goes on (its clock keeps running)
        while the runs await the same kind and none started it anew; Azure's `since` (a create's start) sets the
        clock of a new one."""
        now = self.clock()
        if outcome.terminal:
            return Tracked(None, 0.0)
        awaited = outcome.awaited or Awaited(outcome.waiting_on or "cluster")  # unsaid: the plain back-off
        if awaited.kind in INTERRUPTIONS:
            # Nothing was observed: the wait underneath goes on; back off from the last time anything was seen.
            wait = previous or WaitState(awaited.kind, now, now)
            elapsed = now - wait.seen
        else:
            if previous is not None and previous.kind == awaited.kind and not awaited.began:
                wait = replace(previous, seen=now)
            else:
                wait = WaitState(awaited.kind, now if awaited.since is None else min(now, awaited.since), now)
            elapsed = now - wait.began
        delay = next_check(elapsed=elapsed, cap=self.cap(awaited.kind), retry_after=outcome.retry_after,
                           headroom=self.headroom(subscription))
        return Tracked(wait, delay)


def resumed(waiting_on: str | None, wait: WaitState | None) -> str | None:
    """What the next pass follows: once throttling or a passing Azure error interrupted a wait, the wait underneath,
    so that a poll of the extension that was paced comes back as one read, not as a whole pass."""
    if waiting_on in INTERRUPTIONS and wait is not None and wait.kind in EXTENSION_WAITS:
        return "extension"
    if waiting_on in INTERRUPTIONS and wait is not None and wait.kind == "hub":
        return "hub"  # a spoke's wait on its hub's extension: one read of the hub
    return waiting_on
