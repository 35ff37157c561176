"""The poll schedule alone, without Azure or the service: what a cap costs and buys.

`./dev bench latency --trade-off` prints, for each kind of wait at its typical duration (the latency benchmark's
medians) and caps around its default, the median, p95 and max notice latency and the mean reads per wait of the
schedule (`shared.bootstrap.poll_schedule.next_check`), durations drawn from a lognormal of spread `SIGMA`. Seconds
to run: how docs/performance.md's trade-off table was made, and why the defaults are what they are.
"""
from __future__ import annotations

import math
import random
import statistics

from shared.bootstrap.poll_schedule import next_check

SIGMA = 0.3
WAITS = 2000
#: kind: (typical duration in seconds, the caps to try)
KINDS = {"install (EXTENSION_POLL_SECONDS)": (180.0, (5.0, 10.0, 15.0, 30.0)),
         "registration (PROVIDER_POLL_SECONDS)": (80.0, (5.0, 10.0, 20.0, 30.0)),
         "create (CLUSTER_POLL_SECONDS)": (320.0, (15.0, 20.0, 30.0, 60.0)),
         "replication (IDENTITY_RETRY_SECONDS)": (20.0, (5.0, 10.0, 20.0))}


def checks(done: float, cap: float) -> tuple[float, int]:
    """Notice latency and reads of one wait that ends `done` seconds after it began."""
    at, reads = 0.0, 0
    while True:
        at += next_check(elapsed=at, cap=cap)
        reads += 1
        if at >= done:
            return at - done, reads


def main() -> None:
    rng = random.Random(27)
    print(f"The poll schedule alone: {WAITS} waits per row, lognormal about the typical duration, sigma {SIGMA:g}")
    for kind, (typical, caps) in KINDS.items():
        durations = [typical * math.exp(SIGMA * rng.gauss(0.0, 1.0)) for _ in range(WAITS)]
        for cap in caps:
            latencies, reads = zip(*(checks(d, cap) for d in durations), strict=True)
            ordered = sorted(latencies)
            print(f"  {kind:<38} typical {typical:4.0f}s  cap {cap:3.0f}s  median {statistics.median(ordered):5.1f}s"
                  f"  p95 {ordered[round(0.95 * (len(ordered) - 1))]:5.1f}s  max {ordered[-1]:5.1f}s  "
                  f"reads {statistics.mean(reads):5.1f} mean (target <= {typical / cap + 6:4.1f})")


if __name__ == "__main__":
    main()
