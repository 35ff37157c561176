"""A burst of new clusters under ARM's throttling: makespan against the lower bound the limits impose (issue 5).

Run with `./dev bench burst` (200 clusters, two subscriptions); `--clusters N`; `--install SECONDS` for another
install duration; `--unpaced` to turn the service's pacing off and see what ARM's 429s alone do. Prints figures
and asserts nothing (tests/e2e/test_burst.py asserts the behaviour on a small burst). docs/performance.md has the
figures and the derivation of the bound.

One timeline: the service runs on the local Azure's `VirtualClock`, and so does everything that takes time:
Azure's (the extension install), ARM's token buckets (`ArmEmulator.throttle(on_clock=True)`), and the service's
waits (continuations the local bus delivers by moving the clock). A handler's run takes no time on it, so the
service never sleeps in a handler here (`ARM_PACE_MAX_SLEEP_SECONDS=0`): every pacing wait is a continuation.
Minutes of Azure pass in the seconds the service's own work takes, which is all the wall time is.
"""
from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from dataclasses import dataclass

from localazure.arm.subscriptions import REGISTERED
from localazure.stack import OTHER_SUBSCRIPTION, QUEUE, SUBSCRIPTION, WORK, LocalAzure

SUBSCRIPTIONS = (SUBSCRIPTION, OTHER_SUBSCRIPTION)
#: ARM's limits per subscription (bucket size, refill per second), and the Managed Identity RP's on identity PUTs.
LIMITS = {"reads": (250, 25.0), "writes": (200, 10.0), "deletes": (200, 10.0), "identity_creates": (10, 2.0)}
#: What the workload-identity profile writes per new cluster: identity, two federated credentials, extension.
WRITES_PER_CLUSTER = 4
IDENTITY_CREATES_PER_CLUSTER = 1
SESSIONS = 8  # host.json maxConcurrentSessions: messages handled at once


@dataclass(frozen=True)
class Bound:
    """No schedule can finish sooner: per subscription, the last identity cannot be created before the identity
    bucket lets it, nor the last write go before the write bucket does; the cluster that gets it then installs."""

    clusters: int  # per subscription
    install: float

    @property
    def writes(self) -> float:
        size, rate = LIMITS["writes"]
        return max(0, self.clusters * WRITES_PER_CLUSTER - size) / rate

    @property
    def identities(self) -> float:
        size, rate = LIMITS["identity_creates"]
        return max(0, self.clusters * IDENTITY_CREATES_PER_CLUSTER - size) / rate

    @property
    def seconds(self) -> float:
        return max(self.writes, self.identities) + self.install

    def explain(self) -> str:
        (w_size, w_rate), (i_size, i_rate) = LIMITS["writes"], LIMITS["identity_creates"]
        n = self.clusters
        return (
            "lower bound = max(writes, identity creates) + install, per subscription:\n"
            f"  writes           = ({n} clusters x {WRITES_PER_CLUSTER} writes - bucket {w_size}) / {w_rate:g}/s "
            f"= {self.writes:.1f}s\n"
            f"  identity creates = ({n} clusters x {IDENTITY_CREATES_PER_CLUSTER} - bucket {i_size}) / {i_rate:g}/s "
            f"= {self.identities:.1f}s\n"
            f"  install          = {self.install:.0f}s (the extension install, Azure's own time)\n"
            f"  bound            = max({self.writes:.1f}, {self.identities:.1f}) + {self.install:.0f} "
            f"= {self.seconds:.1f}s")


class _Counting(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.reserved = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.reserved += "reserved a slot" in record.getMessage()


def burst(clusters: int, *, paced: bool = True, install: float | None = None) -> None:
    settings = {"DEFAULT_PROFILE": "workload-identity"}
    if not paced:
        settings |= {name: "off" for name in ("ARM_PACE_READS", "ARM_PACE_WRITES", "ARM_PACE_DELETES",
                                              "ARM_PACE_IDENTITY_CREATES")}
    pacing = logging.getLogger("argoboot.pacing")
    counter = _Counting()
    pacing.addHandler(counter)
    pacing.setLevel(logging.INFO)
    # Subscriptions already used for Kubernetes (a fleet's): the burst measures ARM's limits, not registration.
    with LocalAzure(allowed_subscriptions=SUBSCRIPTIONS, settings=settings, provider_states=REGISTERED) as az:
        az.arm.throttle(**LIMITS, on_clock=True)
        if install is not None:
            az.arm.extension_install_seconds = install
        events = [az.arm.add_aks_cluster(SUBSCRIPTIONS[i % 2], "rg-burst", f"aks-burst-{i:03d}")
                  for i in range(clusters)]
        bound = Bound(clusters=-(-clusters // len(SUBSCRIPTIONS)), install=az.arm.extension_install_seconds)
        started, wall = az.clock(), time.perf_counter()
        for event in events:
            az.deliver_event(event)
        deliveries = az.drain(workers=SESSIONS, max_deliveries=100 * clusters)  # unpaced, a herd takes many
        wall = time.perf_counter() - wall
        records = [az.services.ledger.get_cluster(e["data"]["resourceUri"].lower()) for e in events]
        phases = Counter(r.phase if r else "missing" for r in records)
        errors = Counter(r.last_error_code for r in records if r and r.phase == "failed")
        makespan = max(r.last_changed for r in records if r) - started
        requests = az.arm.requests
        dead_letters = len(az.bus.dead_letters(QUEUE)) + len(az.bus.dead_letters(WORK))
    pacing.removeHandler(counter)
    kinds = Counter(r.kind for r in requests)
    throttled = Counter(r.method for r in requests if r.status == 429)
    print(f"Burst: {clusters} new AKS clusters, {len(SUBSCRIPTIONS)} subscriptions, profile workload-identity, "
          f"pacing {'on' if paced else 'off'}")
    print("  ARM limits per subscription: " + ", ".join(f"{k.replace('_', ' ')} {s} then {r:g}/s"
                                                        for k, (s, r) in LIMITS.items()))
    print(bound.explain())
    print(f"  makespan         = {makespan:.1f}s (virtual clock: burst delivered -> last cluster recorded)")
    print(f"  ratio            = {makespan / bound.seconds:.3f} x the lower bound (aim: <= 1.25)")
    print(f"  outcomes         = {dict(phases)}" + (f", failures {dict(errors)}" if errors else "")
          + f"; dead-lettered {dead_letters}")
    print(f"  429s             = {sum(throttled.values())}" + (f" ({dict(throttled)})" if throttled else ""))
    print(f"  pacing deferrals = {counter.reserved} (runs that reserved a slot and waited by continuation)")
    print(f"  ARM requests per cluster = {len(requests) / clusters:.2f}: reads {kinds['read'] / clusters:.2f}, "
          f"writes {(kinds['write'] + kinds['action']) / clusters:.2f}, deletes {kinds['delete'] / clusters:.2f}")
    print(f"  messages handled = {deliveries} ({deliveries / clusters:.1f} per cluster), {SESSIONS} at once; "
          f"wall time {wall:.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--unpaced", action="store_true", help="turn the service's pacing off (ARM's 429s only)")
    parser.add_argument("--install", type=float, help="seconds an extension install takes (the emulator's: 120)")
    args = parser.parse_args()
    burst(args.clusters, paced=not args.unpaced, install=args.install)


if __name__ == "__main__":
    main()
