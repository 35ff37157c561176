"""A few clusters at once against an ARM that throttles hard: makespan and 429s (issue 28).

Run with `./dev bench throttled` (4 clusters, profile workload-identity, one fresh subscription whose
Microsoft.Kubernetes and Microsoft.KubernetesConfiguration are not registered); `--clusters N`, `--share S` (the
fraction of ARM's buckets, default 0.02), `--install SECONDS` (default 30: at 2 % the writes alone hold the last
extension PUT back about 70 s, so the emulator's 120 s install would put any schedule past the issue's 150 s),
`--runs N` (the threads take messages in another order each run: the figures vary; default 3). Prints figures, with
the makespan against the lower bound that ARM's buckets alone force (`lower_bound`), and asserts nothing
(tests/e2e/test_resumed_pass.py and tests/unit/test_pacing.py assert the behaviour). The figures before issue 28: the
same file run against main's code (docs/performance.md says how).

ARM's buckets per subscription and principal (reads 250 then 25/s, writes and deletes 200 then 10/s) are Microsoft's
published limits (../shared/reference/arm-reference.md §6.3, "request-limits-and-throttling"); at 2 % they are reads
5 then 0.5/s, writes 4 then 0.2/s. The Managed Identity provider's own limit on identity creates (2/s, arm-reference
§4) is not ARM's bucket and stays as it is. The service is not told: its pacer keeps ARM's full limits as its
defaults and learns the rest from ARM's remaining-requests headers and 429s, as it would against a subscription
that other tools drain. One timeline, as in `benchmarks/burst.py`: Azure's waits, ARM's buckets and the service's
continuations on the local Azure's virtual clock; a handler never sleeps (`ARM_PACE_MAX_SLEEP_SECONDS=0`).
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from typing import Any

from localazure.stack import SUBSCRIPTION, LocalAzure

#: ARM's published buckets (size, refill per second) per subscription; the identity creates are the MSI RP's.
ARM_BUCKETS = {"reads": (250, 25.0), "writes": (200, 10.0), "deletes": (200, 10.0)}
IDENTITY_CREATES = (10, 2.0)
SESSIONS = 8  # host.json maxConcurrentSessions
MAX_DELIVERIES = 2000  # a run that handles more messages than this for 4 clusters is not getting anywhere


def scaled(share: float) -> dict[str, tuple[int, float]]:
    """ARM's buckets at `share` of their size and refill (a bucket holds at least one request)."""
    return {kind: (max(1, round(size * share)), rate * share) for kind, (size, rate) in ARM_BUCKETS.items()}


def lower_bound(requests: list[Any], limits: dict[str, tuple[int, float]], *, registration: float,
                install: float) -> tuple[float, str]:
    """What the buckets alone force, whatever the schedule: the writes after the providers' registration (the
    identities, credentials and extensions wait for it) start from a full bucket at best, then come at its refill,
    and the last extension still installs; the reads this run made at best spend the whole bucket at once, then come
    at its refill. Both counted from the request log (granted requests: a 429 took no token)."""
    granted = [r for r in requests if r.status != 429]
    (w_size, w_rate), (r_size, r_rate) = limits["writes"], limits["reads"]
    writes = sum(1 for r in granted if r.kind in ("write", "action") and not r.path.lower().endswith("/register"))
    reads = sum(1 for r in granted if r.kind == "read")
    by_writes = registration + max(0, writes - w_size) / w_rate + install
    by_reads = max(0, reads - r_size) / r_rate
    return max(by_writes, by_reads), (
        f"writes: {registration:.0f}s registration + ({writes} writes - {w_size}) / {w_rate:g}/s + {install:.0f}s "
        f"install = {by_writes:.1f}s; reads: ({reads} granted - {r_size}) / {r_rate:g}/s = {by_reads:.1f}s")


def throttled(clusters: int, *, share: float, install: float) -> dict[str, float]:
    """Run the scenario; return its figures (also printed)."""
    limits = scaled(share)
    with LocalAzure(settings={"DEFAULT_PROFILE": "workload-identity"}) as az:
        az.arm.throttle(**limits, identity_creates=IDENTITY_CREATES, on_clock=True)
        az.arm.extension_install_seconds = install
        events = [az.arm.add_aks_cluster(SUBSCRIPTION, "rg-throttled", f"aks-throttled-{i}") for i in range(clusters)]
        az.arm.clear_log()
        started, wall = az.clock(), time.perf_counter()
        for event in events:
            az.deliver_event(event)
        try:
            deliveries = az.drain(workers=SESSIONS, max_deliveries=MAX_DELIVERIES)
            unfinished = ""
        except RuntimeError:  # the code before issue 28 made no progress at 2 %: say so, with what it had done
            deliveries = MAX_DELIVERIES
            unfinished = f" NOT FINISHED: still going after {MAX_DELIVERIES} messages, {az.clock() - started:.0f}s"
        wall = time.perf_counter() - wall
        records = [az.services.ledger.get_cluster(e["data"]["resourceUri"].lower()) for e in events]
        requests = list(az.arm.requests)
        registration = az.arm.provider_registration_seconds
        ended = az.clock()
    phases = Counter(r.phase if r else "missing" for r in records)
    makespan = (max(r.last_changed for r in records if r) if not unfinished else ended) - started
    throttled_by = Counter(r.method for r in requests if r.status == 429)
    provider_reads = sum(1 for r in requests if r.method == "GET" and "/providers/microsoft.kube" in r.path.lower()
                         and r.path.lower().rstrip("/").split("/")[-2] == "providers")
    kinds = Counter(r.kind for r in requests)
    bound, bound_text = lower_bound(requests, limits, registration=registration, install=install)
    print(f"Throttled: {clusters} workload-identity clusters at once, one fresh subscription (2 providers to "
          f"register, {registration:.0f}s), installs of {install:.0f}s")
    print("  ARM's buckets at " + f"{share:.0%}: " + ", ".join(f"{k} {s} then {r:g}/s" for k, (s, r) in limits.items())
          + f"; identity creates {IDENTITY_CREATES[0]} then {IDENTITY_CREATES[1]:g}/s (MSI's own)")
    print(f"  makespan         = {makespan:.1f}s (virtual clock: events delivered -> last cluster recorded)"
          + unfinished)
    print(f"  lower bound      = {bound:.1f}s ({bound_text}); makespan {makespan / bound:.3f} x the bound")
    print(f"  429s             = {sum(throttled_by.values())}" + (f" ({dict(throttled_by)})" if throttled_by else ""))
    print(f"  outcomes         = {dict(phases)}")
    print(f"  ARM requests     = {len(requests)} (reads {kinds['read']}, writes {kinds['write'] + kinds['action']}); "
          f"provider reads {provider_reads}")
    print(f"  messages handled = {deliveries}; wall time {wall:.1f}s")
    return {"makespan": makespan, "bound": bound, "throttled": float(sum(throttled_by.values())),
            "requests": float(len(requests)), "provider_reads": float(provider_reads),
            "finished": float(not unfinished)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clusters", type=int, default=4)
    parser.add_argument("--share", type=float, default=0.02, help="fraction of ARM's buckets (default 0.02)")
    parser.add_argument("--install", type=float, default=30.0, help="seconds an extension install takes")
    parser.add_argument("--runs", type=int, default=3, help="runs of the same scenario (default 3)")
    args = parser.parse_args()
    runs = [throttled(args.clusters, share=args.share, install=args.install) for _ in range(args.runs)]
    if len(runs) > 1:
        print(f"Over {len(runs)} runs: makespan median {statistics.median(r['makespan'] for r in runs):.1f}s "
              f"(min {min(r['makespan'] for r in runs):.1f}, max {max(r['makespan'] for r in runs):.1f}; lower bound "
              f"median {statistics.median(r['bound'] for r in runs):.1f}s); "
              f"429s median {statistics.median(r['throttled'] for r in runs):.0f} "
              f"(min {min(r['throttled'] for r in runs):.0f}, max {max(r['throttled'] for r in runs):.0f}); "
              f"finished {sum(int(r['finished']) for r in runs)} of {len(runs)}")


if __name__ == "__main__":
    main()
