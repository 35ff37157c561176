"""What the latency benchmarks share: the figures of one kind of wait (`Waits`), today's fixed intervals to compare
with, and how clusters are numbered (one subscription each, in arrival order)."""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field, replace

from localazure.arm.emulator import LoggedRequest
from localazure.stack import LocalAzure
from shared.bootstrap.outcome import Outcome
from shared.bootstrap.poll_planner import PollPlanner, Tracked
from shared.bootstrap.poll_schedule import FIRST_CHECK, WaitState

ARRIVAL_GAP = 20.0  # seconds between two clusters' requests
REGIONS = ("eastus", "westeurope", "southeastasia")


class FixedIntervals(PollPlanner):
    """Today's schedule, for comparison: Azure's Retry-After, else the kind's setting, every time, reading every
    namespace still registering at every check."""

    def not_due(self, wait: WaitState | None, subscription: str) -> frozenset[str]:
        return frozenset()

    def track(self, previous: WaitState | None, outcome: Outcome, subscription: str) -> Tracked:
        tracked = super().track(previous, outcome, subscription)
        if outcome.terminal or outcome.awaited is None:
            return tracked
        return replace(tracked, delay=outcome.retry_after if outcome.retry_after is not None
                       else self.cap(outcome.awaited.kind))


@dataclass(frozen=True)
class Seen:
    """One wait: how late its end was noticed, the reads until then, and whether its group was still learning (it
    followed the back-off, whose first check comes FIRST_CHECK after the wait began, not its group's window)."""

    latency: float
    reads: int
    learning: bool


@dataclass
class Waits:
    """Notice latency and reads of one kind of wait."""

    seen: list[Seen] = field(default_factory=list)

    def add(self, began: float, done: float, gets: list[LoggedRequest]) -> None:
        noticed = next((r for r in gets if r.started >= done), None)
        if noticed is not None:
            self.seen.append(Seen(noticed.started - done, sum(1 for r in gets if r.started <= noticed.started),
                                  any(abs(r.started - began - FIRST_CHECK) < 0.05 for r in gets)))

    def rows(self, fixed: bool) -> list[tuple[str, str]]:
        """(label, figures) over all waits, those with history and those of groups still learning; the fixed
        intervals have no history to go on, so all of it."""
        return [(label, self.row(label)) for label in (("all",) if fixed else ("all", "history", "learning"))]

    def row(self, which: str = "all") -> str:
        """Figures over all waits, those with history (`history`) or those of groups still learning (`learning`)."""
        picked = [s for s in self.seen if which == "all" or s.learning == (which == "learning")]
        if not picked:
            return "no data"
        ordered = sorted(s.latency for s in picked)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return (f"median {statistics.median(ordered):5.1f}s  p95 {p95:5.1f}s  max {ordered[-1]:5.1f}s  "
                f"reads {statistics.mean(s.reads for s in picked):4.1f} mean, {max(s.reads for s in picked):2d} max  "
                f"({len(ordered)} waits)")


def use_fixed_intervals(az: LocalAzure) -> None:
    """Make the local Azure's service follow today's fixed intervals instead of the poll schedule."""
    planner = az.services.processor.planner
    az.services.processor.planner = FixedIntervals(planner.settings, planner.clock, planner.history, planner.headroom)


def subscription_of(i: int) -> str:
    """The i-th cluster's subscription."""
    return f"{i:08x}-0e14-4b1e-9a7c-{i:012x}"


def outcomes(ends: list[tuple[str, str | None]], expected: str = "succeeded") -> None:
    """Say so when not every cluster ended as expected: the figures would leave those out."""
    odd = Counter(o for o in ends if o[0] != expected)
    if odd:
        print(f"  ({len(ends) - sum(odd.values())} {expected}; also {dict(odd)})")
