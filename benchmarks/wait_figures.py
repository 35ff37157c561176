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


@dataclass
class Waits:
    """Notice latency and reads of one kind of wait, by cluster (its index in arrival order), and whether the wait had
    history to go on: a wait without checks FIRST_CHECK after it began (the back-off's first) followed the window
    its group's past waits ended in."""

    latencies: dict[int, list[float]] = field(default_factory=dict)
    reads: dict[int, list[int]] = field(default_factory=dict)
    learning: dict[int, list[bool]] = field(default_factory=dict)

    def add(self, cluster: int, began: float, done: float, gets: list[LoggedRequest]) -> None:
        seen = next((r for r in gets if r.started >= done), None)
        if seen is None:
            return
        self.latencies.setdefault(cluster, []).append(seen.started - done)
        self.reads.setdefault(cluster, []).append(sum(1 for r in gets if r.started <= seen.started))
        self.learning.setdefault(cluster, []).append(
            any(abs(r.started - began - FIRST_CHECK) < 0.05 for r in gets))

    def row(self, which: str = "all") -> str:
        """Figures over all waits, those with history (`history`) or those of groups still learning (`learning`)."""
        picked = [(latency, reads) for i, latencies in self.latencies.items()
                  for latency, reads, learning in zip(latencies, self.reads[i], self.learning[i], strict=True)
                  if which == "all" or learning == (which == "learning")]
        if not picked:
            return "no data"
        ordered = sorted(latency for latency, _ in picked)
        reads = [r for _, r in picked]
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return (f"median {statistics.median(ordered):5.1f}s  p95 {p95:5.1f}s  max {ordered[-1]:5.1f}s  "
                f"reads {statistics.mean(reads):4.1f} mean, {max(reads):2d} max  ({len(ordered)} waits)")


#: The rows printed per kind of wait (the fixed intervals have no history to go on: all of it).
ROWS = (("all", "all     "), ("history", "history "), ("learning", "learning"))


def use_fixed_intervals(az: LocalAzure) -> None:
    """Make the local Azure's service follow today's fixed intervals instead of the poll schedule."""
    planner = az.services.processor.planner
    az.services.processor.planner = FixedIntervals(planner.settings, planner.clock, planner.history, planner.headroom)


def subscription_of(i: int) -> str:
    """The i-th cluster's subscription."""
    return f"{i:08x}-0e14-4b1e-9a7c-{i:012x}"


def subscription_number(path: str) -> int:
    """The cluster's index in arrival order, from the subscription in a request's path or a resource id."""
    return int(path.split("/")[2].split("-")[0], 16)


def outcomes(ends: list[tuple[str, str | None]], expected: str = "succeeded") -> None:
    """Say so when not every cluster ended as expected: the figures would leave those out."""
    odd = Counter(o for o in ends if o[0] != expected)
    if odd:
        print(f"  ({len(ends) - sum(odd.values())} {expected}; also {dict(odd)})")
