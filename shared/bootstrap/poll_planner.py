"""Follows a cluster's waits from run to run and says when to check again: the glue between the reconciler's
outcomes and `shared.bootstrap.poll_schedule`.

The queue path (`shared.pipeline.processing`, which keeps the wait in the cluster's ledger row and schedules the
continuation at exactly the due time) and `argoboot run` (which keeps it in a variable and sleeps) call `track`
after every run and `remember` once the run is recorded. Past waits come from the ledger (`WaitHistory`), cached
per instance for `CACHE_SECONDS`; the read budget left comes from the instance's pacer.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from shared.azure.ledger import WaitHistory
from shared.bootstrap.outcome import Awaited, Outcome
from shared.bootstrap.poll_schedule import PRIOR_SPREAD, Sample, WaitState, next_check, pooled_spread
from shared.settings import Settings

#: Waits whose durations are recorded and predict the next ones: those this service started, a cluster's create
#: (ARM says when it began) and a race for a principal this service created.
HISTORY_KINDS = frozenset({"install", "update", "uninstall", "providers", "race", "create"})
#: Waits that interrupt another one (its clock keeps running underneath).
INTERRUPTIONS = frozenset({"throttled", "azure"})
#: Waits that a poll of the extension alone follows (the reconciler's `waiting_on="extension"`).
EXTENSION_WAITS = frozenset({"install", "update", "uninstall"})
#: Waits whose parts the reconciler reads one by one (each namespace's provider GET), so a part may skip a pass.
SPLIT_KINDS = frozenset({"providers"})
#: A part due this much after the pass is read on it anyway (one read now is as good as one a moment later).
DUE_EARLY = 0.5
CACHE_SECONDS = 60.0
#: A scout not tracked for this many of its kind's caps has gone (its cluster deleted, its wait moved to another
#: instance): the next wait of its group to be tracked here takes over.
SCOUT_LAPSE = 2.0
#: Failures that mean the service gave up waiting, not that Azure answered: the wait's end was never seen.
WAIT_TIMED_OUT = "WaitTimedOut"
REGISTRATION_TIMED_OUT = "ProviderRegistrationTimedOut"
_GAVE_UP = frozenset({WAIT_TIMED_OUT, REGISTRATION_TIMED_OUT})


Finished = tuple[str, str, Sample]  # kind, group, how long it took


@dataclass(frozen=True)
class Tracked:
    """After one run: the wait the cluster is in (None: done), seconds to the next check, and the waits that just
    ended and are worth remembering."""

    wait: WaitState | None
    delay: float
    finished: tuple[Finished, ...] = ()


@dataclass
class PollPlanner:
    """A wait's group may name several things awaited together, joined by `+` (the namespaces still registering):
    each part has its own history, the next check is the soonest any of them needs, and a part that drops out of
    the group has ended."""

    settings: Settings
    clock: Callable[[], float]
    history: WaitHistory | None = None
    headroom: Callable[[str], float] = lambda subscription: 1.0
    _cache: dict[tuple[str, str], tuple[float, list[Sample]]] = field(default_factory=dict)
    _spreads: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: (kind, part) -> when its scout was last tracked here, and when the scout's wait began
    _scouts: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    def cap(self, kind: str) -> float:
        """The longest gap between two checks of this kind of wait: the settings that were its fixed intervals."""
        s = self.settings
        return {"providers": s.provider_poll_seconds, "install": s.extension_poll_seconds,
                "update": s.extension_poll_seconds, "uninstall": s.extension_poll_seconds,
                "race": s.identity_retry_seconds}.get(kind, s.cluster_poll_seconds)

    def track(self, previous: WaitState | None, outcome: Outcome, subscription: str) -> Tracked:
        """The wait after this run's outcome, and when to look again."""
        now = self.clock()
        if outcome.terminal:
            if outcome.error_code in _GAVE_UP:  # the service stopped looking: the wait's end was never seen
                return Tracked(None, 0.0)
            return Tracked(None, 0.0, _ended(previous, _parts(previous.group) if previous else (), now))
        awaited = outcome.awaited or Awaited(outcome.waiting_on or "cluster")  # unsaid: the plain back-off
        headroom = self.headroom(subscription)
        if awaited.kind in INTERRUPTIONS:
            # Nothing was observed: the wait underneath goes on; back off from the last time anything was seen.
            wait = previous or WaitState(awaited.kind, "", now, now, witnessed=False)
            delay = next_check(kind=awaited.kind, elapsed=now - wait.seen, cap=self.cap(awaited.kind),
                               retry_after=outcome.retry_after, headroom=headroom)
            return Tracked(wait, delay)
        if previous is not None and not awaited.began and previous.kind == awaited.kind \
                and (not awaited.group or set(_parts(awaited.group)) <= set(_parts(previous.group))):
            group = awaited.group or previous.group
            wait = replace(previous, seen=now, group=group, parts_seen=_read(previous, group, awaited.unread, now))
            finished = _ended(previous, [p for p in _parts(previous.group) if p not in _parts(wait.group)], now)
        else:
            finished = _ended(previous, _parts(previous.group) if previous else (), now)
            began = now if awaited.since is None else min(now, awaited.since)
            witnessed = awaited.began or awaited.since is not None
            wait = WaitState(awaited.kind, awaited.group, began, now, witnessed=witnessed,
                             parts_seen=_read(previous, awaited.group, awaited.unread, now))
        wait = self._scouting(wait, now)
        if outcome.retry_after is not None:
            return Tracked(wait, outcome.retry_after, finished)
        delay = min(self._due_in(wait, part, headroom, now) for part in _parts(wait.group))
        return Tracked(wait, max(0.0, delay), finished)

    def _scouting(self, wait: WaitState, now: float) -> WaitState:
        """The wait, as its group's scout or not. A group with no history yet learns from one wait checked densely
        (its scout) while the others back off to the cap, or to half their lead on it (`_behind`): their checks would
        be as dense, and their ends later than the scout's, which places their window. A wait stays its group's scout
        until the group has history, and becomes it when this instance has no scout of its group tracked lately."""
        if not wait.witnessed or wait.kind not in HISTORY_KINDS:
            return wait
        blind = [(wait.kind, part) for part in _parts(wait.group) if not self.samples(wait.kind, part)]
        lapse = SCOUT_LAPSE * self.cap(wait.kind)
        scout = bool(blind) and (wait.scout or any(now - self._scouts.get(key, (-math.inf, 0.0))[0] > lapse
                                                  for key in blind))
        if scout:
            self._scouts.update(dict.fromkeys(blind, (now, wait.began)))
        return wait if scout == wait.scout else replace(wait, scout=scout)

    def _behind(self, wait: WaitState, part: str) -> float | None:
        """How long after the scout of its group this wait began, or None when it is the scout or no scout of it is
        known here; `next_check` uses it only while the group has no history."""
        if wait.scout:
            return None
        scouted = self._scouts.get((wait.kind, part))
        return None if scouted is None else max(0.0, wait.began - scouted[1])

    def not_due(self, wait: WaitState | None, subscription: str) -> frozenset[str]:
        """The parts of a wait whose own next check is not due yet, which the next pass need not read (it counts them
        as still in progress): each namespace of a registration follows its own history, so the one that usually
        takes longer is not read at every check of the quicker one."""
        if wait is None or wait.kind not in SPLIT_KINDS:
            return frozenset()
        now, headroom = self.clock(), self.headroom(subscription)
        return frozenset(part for part in _parts(wait.group) if self._due_in(wait, part, headroom, now) > DUE_EARLY)

    def _due_in(self, wait: WaitState, part: str, headroom: float, now: float) -> float:
        """Seconds from now until this part of the wait is next to be checked: on its own history, from its own last
        check."""
        seen = wait.part_seen(part)
        learn = wait.witnessed and wait.kind in HISTORY_KINDS
        return (seen - now) + next_check(kind=wait.kind, elapsed=seen - wait.began, cap=self.cap(wait.kind),
                                 samples=self.samples(wait.kind, part) if learn else (), headroom=headroom,
                                 spread=self.spread(wait.kind) if learn else PRIOR_SPREAD,
                                 scout=wait.scout, behind=self._behind(wait, part) if learn else None)

    def remember(self, tracked: Tracked) -> None:
        """Add the waits that ended to the history (call once the run is recorded, so a retried run adds nothing)."""
        for kind, group, sample in tracked.finished:
            self.samples(kind, group).append(sample)
            self._spreads.pop(kind, None)  # measured again at its next use: the first few samples move it most
            if self.history is not None:
                self.history.add_wait_sample(kind, group, sample)

    def spread(self, kind: str) -> float:
        """How widely this kind's waits spread about their groups' typical durations, pooled over all its groups
        (refreshed from the ledger now and then, like `samples`)."""
        now = self.clock()
        cached = self._spreads.get(kind)
        if cached is None or now - cached[0] > CACHE_SECONDS:
            groups = self.history.wait_groups(kind).values() if self.history is not None else \
                [samples for (k, _), (_, samples) in self._cache.items() if k == kind]
            cached = self._spreads[kind] = (now, pooled_spread(groups))
        return cached[1]

    def samples(self, kind: str, group: str) -> list[Sample]:
        """Past waits of this kind and group (this instance's copy, refreshed from the ledger now and then)."""
        now = self.clock()
        cached = self._cache.get((kind, group))
        if cached is None or now - cached[0] > CACHE_SECONDS:
            samples = self.history.wait_samples(kind, group) if self.history is not None else \
                (cached[1] if cached else [])
            cached = self._cache[(kind, group)] = (now, list(samples))
        return cached[1]


def resumed(waiting_on: str | None, wait: WaitState | None) -> str | None:
    """What the next pass follows: once throttling or a passing Azure error interrupted a wait, the wait underneath,
    so that a poll of the extension that was paced comes back as one read, not as a whole pass."""
    if waiting_on in INTERRUPTIONS and wait is not None and wait.kind in EXTENSION_WAITS:
        return "hub" if wait.group.startswith("hub/") else "extension"  # a spoke's wait is on its hub's extension
    return waiting_on


def _parts(group: str) -> list[str]:
    return group.split("+")


def _read(previous: WaitState | None, group: str, unread: Sequence[str], now: float) -> dict[str, float]:
    """When each part of the group was last read: now, but for the parts this pass did not read."""
    return {part: previous.part_seen(part) if previous is not None and part in unread else now
            for part in _parts(group)}


def _ended(previous: WaitState | None, parts: Sequence[str], now: float) -> tuple[Finished, ...]:
    """The parts of a witnessed wait (its start known) that are over now, with how long they took: from the last
    check that read each one still in progress (not a pass that skipped it) to now."""
    if previous is None or not previous.witnessed or previous.kind not in HISTORY_KINDS:
        return ()
    return tuple((previous.kind, part, Sample(previous.part_seen(part) - previous.began, now - previous.began))
                 for part in parts)
