"""How soon the service notices that Azure is done, and how many reads that costs: the poll schedule against
today's fixed intervals, on the queue path and on `argoboot run`'s loop (issue 14).

Run with `./dev bench latency` (`--clusters N`, `--sigma S`, `--seed N`). Prints figures; asserts nothing
(tests/unit/test_poll_schedule.py and tests/e2e/test_poll_schedule.py assert the behaviour). docs/performance.md has
the figures and what they assume.

Azure's times are drawn per operation from seeded lognormals (`localazure.arm.timing`): provider registrations by
namespace, installs by region and by HA or not, clipped to 30-180 s and 60-400 s. Every cluster is in a subscription
of its own with two providers unregistered, so each run waits for two registrations and one install; clusters arrive
every `ARRIVAL_GAP` seconds, so later ones find the history earlier ones left in the ledger. Everything runs on the
local Azure's virtual clock. From the emulator's request log: the moment Azure is done (the register POST or the
PUT, plus its drawn duration), the first GET that sees it (the service acting on it), and the GETs in between.
Each wait's figures go in the "history" row when its group's past waits placed its checks, in the "learning" row
when it followed the back-off (a check `FIRST_CHECK` after it began).

Last, `argoboot run` against a zero-latency local Azure on the real clock (workload-identity profile, two providers
unregistered, no history): wall time and ARM requests, with the schedule and with today's intervals.
"""
from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from argoboot_cli.commands.run import follow, passes
from argoboot_cli.output import Output
from argoboot_cli.progress import Progress
from benchmarks import schedule_alone
from benchmarks.other_waits import CREATES, KINDS, REPLICATION, UNINSTALL
from benchmarks.wait_figures import (
    ARRIVAL_GAP,
    REGIONS,
    FixedIntervals,
    Waits,
    outcomes,
    subscription_of,
    use_fixed_intervals,
)
from localazure.arm.emulator import LoggedRequest
from localazure.arm.timing import Durations, Lognormal
from localazure.azurite import Azurite
from localazure.clock import VirtualClock
from localazure.stack import QUEUE, LocalAzure
from shared.azure.outbox import OutgoingMessage
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.poll_planner import PollPlanner
from shared.bootstrap.profiles import ProfileCatalog
from shared.bootstrap.reconciler import ProviderCache, Reconciler

UNREGISTERED = ("Microsoft.Kubernetes", "Microsoft.KubernetesConfiguration")
#: Install medians by region and HA (redis-ha takes longer); the fleet's spread comes from the groups.
INSTALL_MEDIANS = {("eastus", True): 150.0, ("eastus", False): 95.0, ("westeurope", True): 210.0,
                   ("westeurope", False): 130.0, ("southeastasia", True): 320.0, ("southeastasia", False): 190.0}
REGISTRATION_MEDIANS = {"Microsoft.Kubernetes": 45.0, "Microsoft.KubernetesConfiguration": 120.0}
PROFILES = {True: "default", False: "single-node"}  # on the emulator's 4 nodes: HA, and not
OTHER_CLUSTERS = 60  # clusters per other kind of wait


class RecordedDurations(Durations):
    """Remembers every duration it drew, by provider (subscription, namespace) and by extension id."""

    def __init__(self, seed: int, sigma: float) -> None:
        super().__init__(
            seed,
            registrations={ns: Lognormal(m, sigma, 30.0, 180.0) for ns, m in REGISTRATION_MEDIANS.items()},
            installs={key: Lognormal(m, sigma, 60.0, 400.0) for key, m in INSTALL_MEDIANS.items()})
        self.registrations: dict[tuple[str, str], float] = {}
        self.installs: dict[str, float] = {}

    def registration(self, subscription: str, namespace: str, default: float) -> float:
        seconds = self.registrations[(subscription.lower(), namespace.lower())] = \
            super().registration(subscription, namespace, default)
        return seconds

    def install(self, extension_id: str, region: str, settings: Mapping[str, str], default: float) -> float:
        seconds = self.installs[extension_id.lower()] = super().install(extension_id, region, settings, default)
        return seconds


def _cluster(i: int) -> tuple[str, str, str]:
    """Subscription, region and profile of the i-th cluster."""
    return subscription_of(i), REGIONS[i % len(REGIONS)], PROFILES[(i // len(REGIONS)) % 2 == 0]


def measure(requests: list[LoggedRequest], durations: RecordedDurations) -> tuple[Waits, Waits]:
    """Registrations and installs: when Azure was done, when a GET first saw it, and the GETs until then."""
    registrations, installs = Waits(), Waits()
    gets: dict[str, list[LoggedRequest]] = {}
    for r in requests:
        if r.method == "GET":
            gets.setdefault(r.path.lower(), []).append(r)
    for r in requests:
        path = r.path.lower()
        if r.method == "POST" and path.endswith("/register"):
            subscription, namespace = path.split("/")[2], path.split("/")[4]
            seconds = durations.registrations.pop((subscription, namespace), None)
            if seconds is not None:
                registrations.add(r.started, r.started + seconds,
                                  [g for g in gets.get(path[:-len("/register")], []) if g.started > r.started])
        elif r.method == "PUT" and r.status == 201 and path.endswith("/extensions/argocd"):
            seconds = durations.installs.pop(path, None)
            if seconds is not None:
                installs.add(r.started, r.started + seconds, [g for g in gets.get(path, []) if g.started > r.started])
    return registrations, installs


@contextmanager
def _local_azure(azurite: Azurite, clusters: int, seed: int, sigma: float,
                 **kwargs: object) -> Iterator[tuple[LocalAzure, RecordedDurations]]:
    subscriptions = tuple(subscription_of(i) for i in range(clusters))
    with LocalAzure(azurite=azurite, allowed_subscriptions=subscriptions, **kwargs) as az:  # type: ignore[arg-type]
        durations = az.arm.durations = RecordedDurations(seed, sigma)
        yield az, durations


def _add_clusters(az: LocalAzure, clusters: int) -> list[str]:
    ids = []
    for i in range(clusters):
        subscription, region, _ = _cluster(i)
        for namespace in UNREGISTERED:
            az.arm.set_provider(subscription, namespace, "NotRegistered")
        event = az.arm.add_aks_cluster(subscription, "rg-latency", f"aks-latency-{i:03d}", location=region)
        ids.append(event["data"]["resourceUri"])
    return ids


def queue_path(azurite: Azurite, clusters: int, seed: int, sigma: float, fixed: bool) -> tuple[Waits, Waits]:
    """Requests through the queue; the continuations carry the waits."""
    with _local_azure(azurite, clusters, seed, sigma) as (az, durations):
        if fixed:
            use_fixed_intervals(az)
        start = az.clock()
        ids = _add_clusters(az, clusters)
        for i, cluster_id in enumerate(ids):
            body = {"schemaVersion": 1, "action": "bootstrap", "clusterResourceId": cluster_id,
                    "profile": _cluster(i)[2]}
            az.bus.send(OutgoingMessage(queue=QUEUE, body=json.dumps(body).encode(), message_id=f"latency-{i}",
                                        session_id=parse_cluster_id(cluster_id).session_id,
                                        scheduled_at=start + i * ARRIVAL_GAP))
        az.drain(workers=8)
        records = [az.services.ledger.get_cluster(c.lower()) for c in ids]
        outcomes([(r.phase, r.last_error_code) if r else ("missing", None) for r in records])
        return measure(az.arm.requests, durations)


class _VirtualProgress(Progress):
    """`argoboot run`'s progress, whose waits move the virtual clock instead of sleeping."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(Output("text", io.StringIO(), io.StringIO()), live=False)
        self._clock = clock

    def wait(self, seconds: float, why: str) -> None:
        self._clock.advance(seconds)


def cli_path(azurite: Azurite, clusters: int, seed: int, sigma: float, fixed: bool) -> tuple[Waits, Waits]:
    """`argoboot run`'s loop, one cluster after another, with the ledger's history."""
    with _local_azure(azurite, clusters, seed, sigma) as (az, durations):
        assert isinstance(az.clock, VirtualClock)
        settings = az.services.settings
        profiles = ProfileCatalog.load(settings.profiles_dir, settings.default_profile)
        kind: Callable[..., PollPlanner] = FixedIntervals if fixed else PollPlanner
        planner = kind(settings, az.clock, az.services.ledger)
        reconciler = Reconciler(api=az.services.processor.reconciler.api, directory=az.services.processor.reconciler
                                .directory, settings=settings, providers=ProviderCache(az.clock, 3600.0))
        ends: list[tuple[str, str | None]] = []
        for i, cluster_id in enumerate(_add_clusters(az, clusters)):
            profile = profiles.resolve(_cluster(i)[2], None)
            cluster = parse_cluster_id(cluster_id)
            outcome = follow(passes(reconciler, cluster, profile), cluster.subscription, settings,
                             _VirtualProgress(az.clock), None, None, planner)
            ends.append((outcome.phase.value, outcome.error_code))
            az.clock.advance(ARRIVAL_GAP)
        outcomes(ends)
        return measure(az.arm.requests, durations)


def zero_latency_run(azurite: Azurite, fixed: bool) -> tuple[float, int, str]:
    """`argoboot run`'s loop on the real clock against an Azure that is done at once; no history."""
    with LocalAzure(azurite=azurite, clock=time.time, settings={"DEFAULT_PROFILE": "workload-identity"}) as az:
        arm = az.arm
        arm.provider_registration_seconds = 0.01  # the register call answers Registering, the next GET Registered
        arm.extension_install_seconds = arm.extension_update_seconds = 0.0
        arm.principal_replication_seconds = 0.0
        subscription = subscription_of(0)
        for namespace in UNREGISTERED:
            arm.set_provider(subscription, namespace, "NotRegistered")
        cluster = parse_cluster_id(arm.add_aks_cluster(subscription, "rg-zero", "aks-zero")["data"]["resourceUri"])
        settings = az.services.settings
        profile = ProfileCatalog.load(settings.profiles_dir, settings.default_profile).resolve(None, None)
        planner = (FixedIntervals if fixed else PollPlanner)(settings, time.time, None)
        reconciler = Reconciler(api=az.services.processor.reconciler.api,
                                directory=az.services.processor.reconciler.directory, settings=settings,
                                providers=ProviderCache(time.time, 3600.0))
        arm.clear_log()
        started = time.perf_counter()
        outcome = follow(passes(reconciler, cluster, profile), cluster.subscription, settings,
                         Progress(Output("text", io.StringIO()), live=False), None, None, planner)
        return time.perf_counter() - started, len(arm.requests), outcome.phase.value


def other_waits(azurite: Azurite, clusters: int, seed: int, sigma: float) -> None:
    """The other kinds of wait (`benchmarks.other_waits`), on the queue path."""
    print(f"\nother waits, queue path, {clusters} clusters each: AKS creates by region (medians " + ", ".join(
        f"{r} {m:g}s" for r, m in CREATES.items()) + f"), uninstalls (median {UNINSTALL:g}s), principal replication "
        f"(median {REPLICATION:g}s), sigma {sigma:g}; 'reads' of a replication are its role-assignment PUTs")
    for kind, run in KINDS.items():
        for name, fixed in (("poll schedule", False), ("fixed intervals (before)", True)):
            waits = run(azurite, clusters, seed, sigma, fixed)
            for i, (label, row) in enumerate(waits.rows(fixed)):
                print(f"  {name if i == 0 else '':<25} {kind if i == 0 else '':<31} {label:<8} {row}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clusters", type=int, default=120)
    parser.add_argument("--sigma", type=float, default=0.05,
                        help="spread of one region's (and HA's) install times and one namespace's registrations, "
                        "on the log scale (default 0.05)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--skip-zero-latency", action="store_true", help="leave out the real-clock runs (35 s)")
    parser.add_argument("--skip-other-waits", action="store_true",
                        help="leave out clusters still creating, uninstalls and principals replicating")
    parser.add_argument("--schedule-alone", action="store_true",
                        help="only the schedule, simulated: checks per window against spread (seconds)")
    args = parser.parse_args()
    if args.schedule_alone:
        schedule_alone.main()
        return
    print(f"Notice latency and reads: {args.clusters} clusters, one subscription each with "
          f"{len(UNREGISTERED)} providers unregistered, a request every {ARRIVAL_GAP:g}s (virtual clock)")
    print("  installs:      lognormal by region and HA, medians " + ", ".join(
        f"{r}/{'HA' if ha else 'no HA'} {m:g}s" for (r, ha), m in INSTALL_MEDIANS.items())
          + f", sigma {args.sigma:g}, clipped to 60-400s")
    print("  registrations: lognormal by namespace, medians " + ", ".join(
        f"{ns} {m:g}s" for ns, m in REGISTRATION_MEDIANS.items()) + f", sigma {args.sigma:g}, clipped to 30-180s")
    with Azurite() as azurite:
        for path, run in (("queue path (continuations)", queue_path), ("argoboot run's loop", cli_path)):
            print(f"\n{path}")
            for name, fixed in (("poll schedule", False), ("fixed intervals (before)", True)):
                registrations, installs = run(azurite, args.clusters, args.seed, args.sigma, fixed)
                for kind, waits in (("provider registered", registrations), ("extension installed", installs)):
                    for i, (label, row) in enumerate(waits.rows(fixed)):
                        print(f"  {name if kind.startswith('provider') and i == 0 else '':<25} "
                              f"{kind if i == 0 else '':<20} {label:<8} {row}")
        if not args.skip_other_waits:
            other_waits(azurite, min(args.clusters, OTHER_CLUSTERS), args.seed, args.sigma)
        if not args.skip_zero_latency:
            print("\nargoboot run, zero-latency local Azure, workload-identity profile, 2 providers unregistered, "
                  "no history (real clock)")
            for name, fixed in (("poll schedule", False), ("fixed intervals (before)", True)):
                wall, requests, phase = zero_latency_run(azurite, fixed)
                print(f"  {name:<25} {phase} in {wall:5.2f}s wall, {requests} ARM requests")


if __name__ == "__main__":
    main()
