"""How soon the service notices that Azure is done, and how many reads that costs: the poll schedule against the
fixed intervals it replaced, on the queue path and on `argoboot run`'s loop, for every kind of wait (issues 14, 27).

Run with `./dev bench latency` (`--clusters N`, `--sigmas S,S,...`, `--seed N`). Prints figures for each spread;
asserts nothing (tests/unit/test_poll_schedule.py and tests/e2e/test_poll_schedule.py assert the behaviour).
docs/performance.md has the figures and what they assume.

Azure's times are drawn per operation from seeded lognormals (`localazure.arm.timing`): provider registrations by
namespace, installs by region and by HA or not, clipped to 30-180 s and 60-400 s. Every cluster is in a subscription
of its own with two providers unregistered, so each run waits for two registrations and one install; clusters arrive
every `ARRIVAL_GAP` seconds. Everything runs on the local Azure's virtual clock. From the emulator's request log:
the moment Azure is done (the register POST or the PUT, plus its drawn duration), the first GET that sees it (the
service acting on it), and the GETs in between. Then the other kinds of wait (`benchmarks.other_waits`).

Last, `argoboot run` against a zero-latency local Azure on the real clock (workload-identity profile, two providers
unregistered): wall time and ARM requests, with the schedule and with the fixed intervals.
"""
from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from argoboot_cli.commands.run import follow, passes
from argoboot_cli.output import Output
from argoboot_cli.progress import Progress
from benchmarks import poll_plot, trade_off
from benchmarks.other_waits import CREATES, KINDS, REPLICATION, UNINSTALL
from benchmarks.wait_figures import (
    ARRIVAL_GAP,
    REGIONS,
    FixedIntervals,
    Waits,
    outcomes,
    run_here,
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
from shared.bootstrap.providers import ProviderCache
from shared.bootstrap.reconciler import Reconciler

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


#: One wait as the request log shows it: its kind, when it began (the POST or PUT), when Azure was done, the GETs after.
Wait = tuple[str, float, float, list[LoggedRequest]]


def waits_of(requests: list[LoggedRequest], durations: RecordedDurations) -> Iterator[Wait]:
    """Each registration and install: when it began, when Azure was done, and the GETs of it that followed."""
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
                yield ("registration", r.started, r.started + seconds,
                       [g for g in gets.get(path[:-len("/register")], []) if g.started > r.started])
        elif r.method == "PUT" and r.status == 201 and path.endswith("/extensions/argocd"):
            seconds = durations.installs.pop(path, None)
            if seconds is not None:
                yield ("install", r.started, r.started + seconds,
                       [g for g in gets.get(path, []) if g.started > r.started])


def measure(requests: list[LoggedRequest], durations: RecordedDurations) -> tuple[Waits, Waits]:
    """Registrations and installs: when Azure was done, when a GET first saw it, and the GETs until then."""
    registrations, installs = Waits(), Waits()
    for kind, began, done, gets in waits_of(requests, durations):
        (registrations if kind == "registration" else installs).add(began, done, gets)
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
    return measure(*queue_run(azurite, clusters, seed, sigma, fixed))


def queue_run(azurite: Azurite, clusters: int, seed: int, sigma: float,
              fixed: bool) -> tuple[list[LoggedRequest], RecordedDurations]:
    """The queue path's request log and Azure's drawn durations."""
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
        return list(az.arm.requests), durations


def cli_path(azurite: Azurite, clusters: int, seed: int, sigma: float, fixed: bool) -> tuple[Waits, Waits]:
    """`argoboot run`'s loop, one cluster after another."""
    with _local_azure(azurite, clusters, seed, sigma) as (az, durations):
        assert isinstance(az.clock, VirtualClock)
        ends = []
        for i, cluster_id in enumerate(_add_clusters(az, clusters)):
            ends.append(run_here(az, cluster_id, fixed, profile=_cluster(i)[2]))
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
        planner = (FixedIntervals if fixed else PollPlanner)(settings, time.time)
        reconciler = Reconciler(api=az.services.processor.reconciler.api,
                                directory=az.services.processor.reconciler.directory, settings=settings,
                                providers=ProviderCache(time.time, 3600.0))
        arm.clear_log()
        started = time.perf_counter()
        outcome = follow(passes(reconciler, cluster, profile), cluster.subscription, settings,
                         Progress(Output("text", io.StringIO()), live=False), None, None, planner)
        return time.perf_counter() - started, len(arm.requests), outcome.phase.value


def other_waits(azurite: Azurite, clusters: int, seed: int, sigma: float) -> None:
    """The other kinds of wait (`benchmarks.other_waits`), on both paths."""
    print(f"\nother waits, {clusters} clusters each: AKS creates by region (medians " + ", ".join(
        f"{r} {m:g}s" for r, m in CREATES.items()) + f"), uninstalls (median {UNINSTALL:g}s), principal replication "
        f"(median {REPLICATION:g}s), sigma {sigma:g}; 'reads' of a replication are its role-assignment PUTs")
    for path, cli in (("queue", False), ("run", True)):
        for kind, run in KINDS.items():
            for name, fixed in (("poll schedule", False), ("fixed intervals (before)", True)):
                waits = run(azurite, clusters, seed, sigma, fixed, cli)
                print(f"  {path:<6} {name:<25} {kind:<31} {waits.row()}")


def one_spread(azurite: Azurite, clusters: int, seed: int, sigma: float, others: bool) -> None:
    """Every kind of wait, both paths, both schedules, at one spread."""
    print(f"\n=== sigma {sigma:g}: {clusters} clusters, one subscription each with {len(UNREGISTERED)} providers "
          f"unregistered, a request every {ARRIVAL_GAP:g}s (virtual clock)")
    print("  installs:      lognormal by region and HA, medians " + ", ".join(
        f"{r}/{'HA' if ha else 'no HA'} {m:g}s" for (r, ha), m in INSTALL_MEDIANS.items())
          + f", sigma {sigma:g}, clipped to 60-400s")
    print("  registrations: lognormal by namespace, medians " + ", ".join(
        f"{ns} {m:g}s" for ns, m in REGISTRATION_MEDIANS.items()) + f", sigma {sigma:g}, clipped to 30-180s")
    for path, run in (("queue path (continuations)", queue_path), ("argoboot run's loop", cli_path)):
        print(f"\n{path}")
        for name, fixed in (("poll schedule", False), ("fixed intervals (before)", True)):
            registrations, installs = run(azurite, clusters, seed, sigma, fixed)
            for kind, waits in (("provider registered", registrations), ("extension installed", installs)):
                print(f"  {name if kind.startswith('provider') else '':<25} {kind:<20} {waits.row()}")
    if others:
        other_waits(azurite, min(clusters, OTHER_CLUSTERS), seed, sigma)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clusters", type=int,
                        help=f"clusters per run (default 120, with --plot {poll_plot.CLUSTERS}; fewer: quicker)")
    parser.add_argument("--sigmas", help="spreads of one region's (and HA's) install times and one namespace's "
                        "registrations, on the log scale, comma-separated (default 0.05,0.1,0.3; with --plot "
                        f"{poll_plot.SIGMA:g})")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--skip-zero-latency", action="store_true", help="leave out the real-clock runs (35 s)")
    parser.add_argument("--skip-other-waits", action="store_true",
                        help="leave out clusters still creating, uninstalls and principals replicating")
    parser.add_argument("--trade-off", action="store_true",
                        help="only the schedule, simulated: latency and reads against the cap (seconds)")
    parser.add_argument("--plot", nargs="?", const=poll_plot.DEFAULT_PATH, metavar="PNG",
                        help="only the picture of docs/poll-schedule.md: when the checks of a group of installs "
                        f"fall (queue path, --clusters, first sigma; default file {poll_plot.DEFAULT_PATH})")
    args = parser.parse_args()
    if args.trade_off:
        trade_off.main()
        return
    if args.plot:
        sigma = float(args.sigmas.split(",")[0]) if args.sigmas else poll_plot.SIGMA
        with Azurite() as azurite:
            waits = list(waits_of(*queue_run(azurite, args.clusters or poll_plot.CLUSTERS, args.seed, sigma,
                                             fixed=False)))
        poll_plot.plot(waits, args.plot, sigma)
        return
    with Azurite() as azurite:
        for sigma in (float(s) for s in (args.sigmas or "0.05,0.1,0.3").split(",")):
            one_spread(azurite, args.clusters or 120, args.seed, sigma, not args.skip_other_waits)
        if not args.skip_zero_latency:
            print("\nargoboot run, zero-latency local Azure, workload-identity profile, 2 providers unregistered "
                  "(real clock)")
            for name, fixed in (("poll schedule", False), ("fixed intervals (before)", True)):
                wall, requests, phase = zero_latency_run(azurite, fixed)
                print(f"  {name:<25} {phase} in {wall:5.2f}s wall, {requests} ARM requests")


if __name__ == "__main__":
    main()
