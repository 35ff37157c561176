"""When to look again at something Azure is doing: the one poll schedule of the queue path and of `argoboot run`.

Pure (no clock, no I/O): `shared.bootstrap.poll_planner` feeds it the time waited so far, the past waits of the same
kind and group from the ledger, the read budget left, and the cap (the `*_POLL_SECONDS` / `IDENTITY_RETRY_SECONDS`
setting of the kind of wait). In order:

1. Azure's `Retry-After` (or the pacer's reserved slot), when it sent one: exactly that, never sooner.
2. With history (one past wait of this kind and group is enough, given the kind's spread: `pooled_spread`):
   nothing before the usual window (where about 99 % of such waits end, fitted to the past ones: `usual_window`);
   then the checks over it that notice an end within `TARGET_LATENCY` on average on the fewest reads, never more
   than the kind's `READ_BUDGET` on average (sparse early, where every wait pays for a check, dense where the waits
   still running end fastest); past it, checks back off from the window's end.
3. Without: a first check after `FIRST_CHECK` (a quick Azure is noticed at once), then each wait as long as the
   time waited so far (0.5, 1, 2, 4, 8 s ...), up to the cap; for the group's scout (the one wait of a group with
   no history that the planner lets check densely, so that the group learns), up to `SCOUT_GAP`, and for a wait
   that began soon after its scout, up to half its lead (`next_check`'s `behind`).

Reads are where Azure is likely to be done, not spread evenly over minutes in which it never is. When the read
budget runs low (a burst), the gaps stretch, up to `MAX_STRETCH` times. A gap never exceeds the cap, except for
Azure's own Retry-After and the skip to the start of the usual window (history says nothing ends before it).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache

FIRST_CHECK = 0.5  # seconds: one read, and an Azure that is already done is noticed at once
MIN_GAP = 1.0  # never two checks closer than this (history or not)
MIN_HISTORY = 5  # past waits of a kind and group before the loosely bracketed ones are left out of its fit
Z = 2.6  # the window spans e^(+-Z sigma) about the typical duration: about 99 % of waits end inside it
LOOSE = 0.05  # a sample bracketed within this fraction of its duration is precise enough to fit, however wide
#: A sample bracketed more widely than this fraction of its duration says little of when the wait ended (one seen
#: done at its window's first check ended anywhere before it): left out of a fit whenever its group has another.
VAGUE = 0.25
MIN_SIGMA = 0.01
POOLED_MIN = 2  # degrees of freedom (past waits beyond each group's first) before a kind's spread is measured
#: A kind's spread before it is measured: a wait takes its group's usual time give or take 20 % (one sigma). Wide on
#: purpose: a window too wide costs a few reads, one too narrow the latency of the waits that end past it.
PRIOR_SPREAD = 0.2
#: The longest gap of a group's scout: a wait of a group with no history yet, checked densely so that its end, the
#: group's first sample, is seen within the p95 aim of 5 s. One per group and instance
#: (`shared.bootstrap.poll_planner`). The others back off to the cap, but no further than half the time by which
#: the scout began before them (or LEAD_FLOOR): they end about that long after it, so a check comes between the
#: scout's end, which places their window, and their own.
SCOUT_GAP = 5.0
#: Gaps this short are left to the cap whatever the lead: the rule is for long caps (a create's 60 s). A burst's
#: installs all begin within a minute of their scout; checked every few seconds, they doubled its reads.
LEAD_FLOOR = 15.0
#: ... or 1/SCOUT_SHARE of the time waited so far, when longer: a scout that waits far longer than the kind's waits
#: take (an install stalled while an Arc cluster's agents are offline) backs off towards the cap, so that it does
#: not spend MAX_WAIT_POLLS checks in minutes.
SCOUT_SHARE = 60.0
#: The most reads a wait with history may spend on average, per kind (kinds not named get the default): under the
#: fixed intervals' 12.7 per install and 4.7 per registration, with room for each group's scout (SCOUT_GAP) and
#: the waits that back off while it runs. A create, the longest wait and one per cluster, may spend 12 (the most an
#: install may).
READ_BUDGET = {"providers": 3.75, "create": 12.0}
DEFAULT_READ_BUDGET = 10.0
TARGET_LATENCY = 1.0  # seconds: the mean notice latency the checks aim at, when the budget allows
#: Where the first check inside the window may go (fractions of the fitted waits over by then): the best is kept.
FIRST_QUANTILES = (0.003, 0.01, 0.03)
MAX_CELLS = 16  # the most equal-probability cells tried
MOST_CHECKS = 64  # the most checks a window may hold (what bounds the work of fitting a wide one)
TAIL_LEFT = 1e-4  # the waits a schedule's figures leave out: the slowest, which the cap alone decides
SCARCE_BELOW = 0.5  # fraction of the subscription's read budget left below which gaps stretch
MAX_STRETCH = 4.0


@dataclass(frozen=True)
class Sample:
    """One past wait, in seconds from its start: still in progress at the last check `after`, done by `by`."""

    after: float
    by: float


@dataclass(frozen=True)
class WaitState:
    """The wait a cluster is in: its kind and group (whose history predicts it), when it began, and when a check
    last saw it still in progress. `witnessed`: this service started what it awaits, so `began` is exact and the
    wait's duration may join the history. `parts_seen`: for a group of several things awaited together (the
    namespaces still registering), when a check last read each one (a part not read on a pass keeps its time).
    `scout`: the wait its group, with no history yet, learns from (see SCOUT_GAP)."""

    kind: str
    group: str
    began: float
    seen: float
    witnessed: bool
    parts_seen: dict[str, float] = field(default_factory=dict)
    scout: bool = False

    def part_seen(self, part: str) -> float:
        return self.parts_seen.get(part, self.seen)


@dataclass(frozen=True)
class Window:
    """Where past waits ended, and the checks spent on it (seconds from the wait's start): the first at `start`
    (all but the fastest few still in progress), the last at `end` (all but the slowest few done)."""

    checks: tuple[float, ...]

    @property
    def start(self) -> float:
        return self.checks[0]

    @property
    def end(self) -> float:
        return self.checks[-1]

    @property
    def tail_gap(self) -> float:
        """The gap between the last two checks: where checking a wait later than usual starts from."""
        return self.checks[-1] - self.checks[-2] if len(self.checks) > 1 else MIN_GAP


def usual_window(samples: Sequence[Sample], budget: float, spread: float = PRIOR_SPREAD) -> Window | None:
    """The window past waits end in, with checks over it that spend at most `budget` reads on average, or None
    without a sample.

    A fit, not the extremes seen: durations of one kind and group spread about a typical one by a factor (a
    lognormal). Sigma is the kind's `spread` (pooled over all its groups: `pooled_spread`) or the group's own when that
    is wider, widened for what few samples say of their mean and for how loosely each was bracketed. So one past wait
    of the group is enough to place it."""
    use = _precise(samples)
    if not use:
        return None
    logs = _logs(use)
    mean = sum(logs) / len(logs)
    sigma = max(spread, math.sqrt(sum((x - mean) ** 2 for x in logs) / len(logs)))
    # Each sample's end lies anywhere in its bracket (uniform, on the log scale), not at its middle: waits bracketed
    # by the same two checks look alike however they spread between them.
    bracket = sum(math.log(max(MIN_GAP, s.by) / max(MIN_GAP, s.after, s.by / 2)) ** 2 for s in use) / (12 * len(use))
    sigma = math.sqrt((sigma ** 2 + bracket) * (1 + 1 / len(logs)))
    return Window(_checks(round(mean, 4), round(max(MIN_SIGMA, sigma), 4), budget))


def pooled_spread(groups: Iterable[Sequence[Sample]]) -> float:
    """How widely one kind's waits spread about their own group's typical duration (sigma on the log scale), pooled
    over its groups: an install takes as long as others in its region give or take the same factor everywhere, so
    hundreds of samples say it far better than one group's few. PRIOR_SPREAD until there are POOLED_MIN degrees of
    freedom. (Taking it a standard error or a confidence bound above the estimate, in simulation, cost registrations
    their p95 and reads, and gained installs little.)"""
    squares, freedom = 0.0, 0
    for samples in groups:
        logs = _logs(_precise(samples))
        if len(logs) >= 2:
            mean = sum(logs) / len(logs)
            squares += sum((x - mean) ** 2 for x in logs)
            freedom += len(logs) - 1
    return math.sqrt(squares / freedom) if freedom >= POOLED_MIN else PRIOR_SPREAD


def _precise(samples: Sequence[Sample]) -> list[Sample]:
    """The samples worth fitting: those bracketed much more loosely than most and than LOOSE of their duration (waits
    noticed before there was history, or at the window's first check) are left out once there are enough others. A
    wait that ended late, bracketed by the sparser checks past the window, stays in, or the fit would forget its
    tails and narrow itself. Vague samples (VAGUE) are left out whenever there is any other."""
    samples = [s for s in samples if s.by - s.after <= VAGUE * s.by] or list(samples)
    if len(samples) < MIN_HISTORY:
        return samples
    widths = sorted(s.by - s.after for s in samples)
    loose = 2 * widths[len(widths) // 2]
    precise = [s for s in samples if s.by - s.after <= max(loose, LOOSE * s.by)]
    return precise if len(precise) >= MIN_HISTORY else samples


def _logs(samples: Sequence[Sample]) -> list[float]:
    return [math.log(max(MIN_GAP, (s.after + s.by) / 2)) for s in samples]


@lru_cache(maxsize=256)
def _checks(mean: float, sigma: float, budget: float) -> tuple[float, ...]:
    """The checks over the fitted lognormal's window that reach TARGET_LATENCY on the fewest mean reads, or, when
    `budget` mean reads do not reach it, the quickest within them; of two families of schedules:

    - gaps of sqrt(2 lambda / hazard): a check late in the window is cheap (only the waits still running pay for
      it) and catches many (the hazard is high there), one early is paid by every wait. That spacing gives the least
      mean latency for its mean reads when there are many checks (the inspection schedule of Barlow and Proschan),
      and no wide gap in the tails;
    - one check in the middle of each of a few cells of equal probability, better when only a few checks fit in the
      budget (a registration's)."""
    candidates = [_cells(mean, sigma, count) for count in range(1, MAX_CELLS + 1)]
    for first in FIRST_QUANTILES:
        start = math.exp(mean + sigma * _quantile(first))
        checks = _placed(mean, sigma, start, _solve(mean, sigma, start, True, TARGET_LATENCY))
        if checks is None or _expected(checks, mean, sigma)[1] > budget:
            checks = _placed(mean, sigma, start, _solve(mean, sigma, start, False, budget))
        if checks is not None:
            candidates.append(checks)

    def rank(checks: tuple[float, ...]) -> tuple[bool, float, float]:
        latency, reads = _expected(checks, mean, sigma)
        return reads > budget, max(latency, TARGET_LATENCY), reads

    return min(candidates, key=rank)


def _placed(mean: float, sigma: float, start: float, lam: float) -> tuple[float, ...] | None:
    """Checks from `start` to past the window's end, each gap sqrt(2 lam / hazard) at its middle; None when that
    takes more than MOST_CHECKS (a wide fit of long waits at a small lambda: thousands of checks a second apart)."""
    at, end = start, math.exp(mean + Z * sigma)
    checks = [at]
    while at < end:
        if len(checks) >= MOST_CHECKS:
            return None
        gap = math.sqrt(2 * lam / _hazard(at, mean, sigma))
        at += max(MIN_GAP, math.sqrt(2 * lam / _hazard(at + gap / 2, mean, sigma)))
        checks.append(at)
    return tuple(checks)


def _solve(mean: float, sigma: float, start: float, latency: bool, goal: float) -> float:
    """The lambda whose checks from `start` meet `goal`: the largest with at most that mean latency, or the smallest
    with at most that many mean reads (latency rises with lambda, reads fall); a lambda that needs too many checks
    is too small either way."""
    low, high = -10.0, 8.0  # log lambda
    for _ in range(18):
        middle = (low + high) / 2
        checks = _placed(mean, sigma, start, math.exp(middle))
        if checks is None:
            low = middle
            continue
        value = _expected(checks, mean, sigma)[0 if latency else 1]
        low, high = (middle, high) if (value <= goal) == latency else (low, middle)
    return math.exp(low if latency else high)


def _hazard(at: float, mean: float, sigma: float) -> float:
    """The fitted lognormal's hazard at `at` seconds: how likely a wait still running then ends within a second."""
    z = (math.log(at) - mean) / sigma
    density = math.exp(-z * z / 2) / (math.sqrt(2 * math.pi) * sigma * at)
    return max(1e-9, density / max(1e-12, 1 - _cdf(z)))


def _cells(mean: float, sigma: float, count: int) -> tuple[float, ...]:
    """The middles of `count` cells of equal probability between e^(mean - Z sigma) and e^(mean + Z sigma) under the
    fitted lognormal (no two checks closer than MIN_GAP)."""
    checks: list[float] = []
    for z in _cell_middles(count):
        at = math.exp(mean + sigma * z)
        if not checks or at - checks[-1] >= MIN_GAP:
            checks.append(at)
    return tuple(checks)


@cache
def _cell_middles(count: int) -> tuple[float, ...]:
    """Where the middles of `count` cells of equal probability between -Z and Z lie on the standard normal."""
    low, high = _cdf(-Z), _cdf(Z)
    return tuple(_quantile(low + (high - low) * (i + 0.5) / count) for i in range(count))


def _expected(checks: tuple[float, ...], mean: float, sigma: float) -> tuple[float, float]:
    """Mean notice latency and mean reads of waits from the fitted lognormal under these checks, followed, for the
    waits that end after the last, by the back-off `next_check` makes past the window (until all but TAIL_LEFT are
    done)."""
    latency = reads = 0.0
    before = partial = 0.0  # F and the partial mean E[T; T <= t] at the previous check
    scale = math.exp(mean + sigma * sigma / 2)
    window = Window(checks)
    at, count = checks[0], 0
    while before < 1 - TAIL_LEFT:
        count += 1
        z = (math.log(at) - mean) / sigma
        done, partial_now = _cdf(z), scale * _cdf(z - sigma)
        latency += at * (done - before) - (partial_now - partial)
        reads += count * (done - before)
        before, partial = done, partial_now
        at = checks[count] if count < len(checks) else at + max(window.tail_gap, at - window.end)
    return latency, reads


def _cdf(z: float) -> float:
    """The standard normal's distribution function."""
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _quantile(p: float) -> float:
    """The standard normal's p-quantile, by bisection on `_cdf` (math alone: the statistics module would cost the
    function app's cold start its imports)."""
    low, high = -10.0, 10.0
    for _ in range(64):
        middle = (low + high) / 2
        low, high = (middle, high) if _cdf(middle) < p else (low, middle)
    return (low + high) / 2


def stretch(headroom: float) -> float:
    """How much longer the gaps get when only `headroom` (0..1) of the read budget is left."""
    if headroom >= SCARCE_BELOW:
        return 1.0
    scarcity = (SCARCE_BELOW - max(0.0, headroom)) / SCARCE_BELOW
    return 1.0 + (MAX_STRETCH - 1.0) * scarcity


def next_check(*, kind: str, elapsed: float, cap: float, samples: Sequence[Sample] = (),
               retry_after: float | None = None, headroom: float = 1.0, spread: float = PRIOR_SPREAD,
               scout: bool = False, behind: float | None = None) -> float:
    """Seconds from now until the next check of a wait `elapsed` seconds old (`spread`: see `usual_window`;
    `scout`: it is its group's scout; `behind`: else how long after its group's scout it began, when one is known:
    see SCOUT_GAP)."""
    if retry_after is not None:
        return max(0.0, retry_after)
    elapsed = max(0.0, elapsed)
    window = usual_window(samples, READ_BUDGET.get(kind, DEFAULT_READ_BUDGET), spread)
    if window is not None and elapsed < window.start - MIN_GAP / 2:
        return window.start - elapsed  # history: nothing of this kind ends sooner
    # The next of the window's checks (a point this close is as good as the check that just ran), so they stay where
    # they are whenever the run happened.
    ahead = next((at for at in window.checks if at >= elapsed + MIN_GAP / 2), None) if window is not None else None
    if ahead is not None:
        gap = ahead - elapsed
    elif window is not None:
        gap = max(window.tail_gap, elapsed - window.end)  # later than usual: back off from the window's end
    else:
        gap = max(FIRST_CHECK, elapsed)
        if scout:
            gap = min(gap, max(SCOUT_GAP, elapsed / SCOUT_SHARE))
        elif behind is not None:
            gap = min(gap, max(LEAD_FLOOR, elapsed / SCOUT_SHARE, behind / 2))
    return min(cap, gap * stretch(headroom))
