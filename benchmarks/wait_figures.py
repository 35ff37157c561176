"""What the latency benchmarks share: the figures of one kind of wait (`Waits`), the fixed intervals to compare
with, `argoboot run`'s loop on the virtual clock (`run_here`), and how clusters are numbered (one subscription each,
in arrival order)."""
from __future__ import annotations

import io
import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from argoboot_cli.commands.run import follow, passes
from argoboot_cli.output import Output
from argoboot_cli.progress import Progress
from argoboot_cli.recording import RunRecorder
from localazure.arm.emulator import LoggedRequest
from localazure.clock import VirtualClock
from localazure.stack import LocalAzure
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.outcome import Outcome
from shared.bootstrap.poll_planner import PollPlanner, Tracked
from shared.bootstrap.poll_schedule import WaitState
from shared.bootstrap.profiles import ProfileCatalog
from shared.bootstrap.providers import ProviderCache
from shared.bootstrap.reconciler import Reconciler

ARRIVAL_GAP = 20.0  # seconds between two clusters' requests
REGIONS = ("eastus", "westeurope", "southeastasia")


#: The fixed intervals' settings before issue 27 lowered the caps (providers, extension, cluster, identity).
BEFORE = {"providers": 20.0, "install": 15.0, "update": 15.0, "uninstall": 15.0, "race": 10.0}


class FixedIntervals(PollPlanner):
    """The schedule before issue 14, for comparison: Azure's Retry-After, else the kind's setting as it was then
    (`BEFORE`, else CLUSTER_POLL_SECONDS's 60), every time."""

    def cap(self, kind: str) -> float:
        return BEFORE.get(kind, 60.0)

    def track(self, previous: WaitState | None, outcome: Outcome, subscription: str) -> Tracked:
        tracked = super().track(previous, outcome, subscription)
        if outcome.terminal or outcome.awaited is None:
            return tracked
        return replace(tracked, delay=outcome.retry_after if outcome.retry_after is not None
                       else self.cap(outcome.awaited.kind))


@dataclass
class Waits:
    """Notice latency (from Azure done to the first request that sees it) and reads of one kind of wait."""

    latencies: list[float] = field(default_factory=list)
    reads: list[int] = field(default_factory=list)

    def add(self, began: float, done: float, gets: list[LoggedRequest]) -> None:
        noticed = next((r for r in gets if r.started >= done), None)
        if noticed is not None:
            self.latencies.append(noticed.started - done)
            self.reads.append(sum(1 for r in gets if r.started <= noticed.started))

    def row(self) -> str:
        """Median, p95 and max notice latency, mean and max reads per wait."""
        if not self.latencies:
            return "no data"
        ordered = sorted(self.latencies)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return (f"median {statistics.median(ordered):5.1f}s  p95 {p95:5.1f}s  max {ordered[-1]:5.1f}s  "
                f"reads {statistics.mean(self.reads):4.1f} mean, {max(self.reads):2d} max  ({len(ordered)} waits)")


def use_fixed_intervals(az: LocalAzure) -> None:
    """Make the local Azure's service follow today's fixed intervals instead of the poll schedule."""
    planner = az.services.processor.planner
    az.services.processor.planner = FixedIntervals(planner.settings, planner.clock, planner.headroom)


def subscription_of(i: int) -> str:
    """The i-th cluster's subscription."""
    return f"{i:08x}-0e14-4b1e-9a7c-{i:012x}"


def outcomes(ends: list[tuple[str, str | None]], expected: str = "succeeded") -> None:
    """Say so when not every cluster ended as expected: the figures would leave those out."""
    odd = Counter(o for o in ends if o[0] != expected)
    if odd:
        print(f"  ({len(ends) - sum(odd.values())} {expected}; also {dict(odd)})")


class _VirtualProgress(Progress):
    """`argoboot run`'s progress, whose waits move the virtual clock instead of sleeping."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(Output("text", io.StringIO(), io.StringIO()), live=False)
        self._clock = clock

    def wait(self, seconds: float, why: str) -> None:
        self._clock.advance(seconds)


def run_here(az: LocalAzure, cluster_id: str, fixed: bool, action: str = "bootstrap", profile: str | None = None,
             overrides: Mapping[str, Any] | None = None) -> tuple[str, str | None]:
    """`argoboot run` (or `uninstall`) of one cluster on the local Azure's virtual clock, recorded in its ledger as
    the CLI records a run (so an uninstall owns what a run installed); its phase and error code."""
    assert isinstance(az.clock, VirtualClock)
    settings = az.services.settings
    resolved = ProfileCatalog.load(settings.profiles_dir, settings.default_profile).resolve(profile, overrides)
    cluster = parse_cluster_id(cluster_id)
    planner = (FixedIntervals if fixed else PollPlanner)(settings, az.clock)
    processor = az.services.processor.reconciler
    reconciler = Reconciler(api=processor.api, directory=processor.directory, settings=settings,
                            providers=ProviderCache(az.clock, 3600.0))
    recorder = RunRecorder(az.services.ledger, cluster, resolved, f"run-{action}-{cluster.name}", clock=az.clock,
                           action=action)
    outcome = follow(passes(reconciler, cluster, resolved, action), cluster.subscription, settings,
                     _VirtualProgress(az.clock), recorder, None, planner)
    return outcome.phase.value, outcome.error_code
