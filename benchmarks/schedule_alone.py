"""The poll schedule alone, without Azure or the service: what a read budget per install buys at a spread.

`./dev bench latency --schedule-alone` prints, for sigma 0.05 and 0.1 and read budgets of 6, 8, 10 and 12 per
install, the notice latency and reads of installs drawn as the latency benchmark draws them (its six region and HA
groups), each group's history built by the schedule's own checks (the bracket from the last check before the end to
the one that saw it), the spread pooled over the groups as the planner pools it. Over `SEEDS` seeds; the figures are
of the second half of each group's installs (those with history). About two minutes: a benchmark, not a test
(tests/unit/test_poll_schedule.py asserts the properties).
"""
from __future__ import annotations

import math
import random
import statistics
from unittest.mock import patch

from shared.bootstrap import poll_schedule
from shared.bootstrap.poll_schedule import Sample, next_check, pooled_spread

MEDIANS = (150.0, 95.0, 210.0, 130.0, 320.0, 190.0)  # the latency benchmark's install groups
PER_GROUP = 20
SEEDS = 8
CAP = 15.0  # EXTENSION_POLL_SECONDS


def installs(sigma: float, seed: int) -> tuple[list[float], list[int]]:
    """Latencies and reads of the installs with history, groups taking turns as clusters arrive."""
    rng = random.Random(seed)
    groups: dict[float, list[Sample]] = {m: [] for m in MEDIANS}
    latencies, reads = [], []
    for i in range(PER_GROUP):
        for median in MEDIANS:
            samples, spread = groups[median], pooled_spread(groups.values())
            done = min(400.0, max(60.0, median * math.exp(sigma * rng.gauss(0.0, 1.0))))
            at, times = 0.0, list[float]()
            while not times or times[-1] < done:
                at += next_check(kind="install", elapsed=at, cap=CAP, samples=samples, spread=spread)
                times.append(at)
            groups[median] = [*samples, Sample(times[-2] if len(times) > 1 else 0.0, times[-1])][-50:]
            if i >= PER_GROUP // 2:
                latencies.append(times[-1] - done)
                reads.append(len(times))
    return latencies, reads


def main() -> None:
    print(f"The poll schedule alone: installs of {len(MEDIANS)} groups (medians "
          + ", ".join(f"{m:g}" for m in MEDIANS) + f" s), {PER_GROUP} per group, the second half; {SEEDS} seeds")
    for sigma in (0.05, 0.1):
        for budget in (6.0, 8.0, 10.0, 12.0):
            medians, p95s, means, most = [], [], [], 0
            with patch.dict(poll_schedule.READ_BUDGET, {"install": budget}):
                for seed in range(1, SEEDS + 1):
                    latencies, reads = installs(sigma, seed)
                    latencies.sort()
                    medians.append(statistics.median(latencies))
                    p95s.append(latencies[round(0.95 * (len(latencies) - 1))])
                    means.append(statistics.mean(reads))
                    most = max(most, *reads)
            print(f"  sigma {sigma:<4g} budget {budget:4g} reads: median {statistics.mean(medians):4.1f}s  "
                  f"p95 {statistics.mean(p95s):4.1f}s ({min(p95s):.1f}-{max(p95s):.1f} over seeds)  "
                  f"reads {statistics.mean(means):4.1f} mean, {most} max")
