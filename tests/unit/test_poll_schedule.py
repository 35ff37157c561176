"""The poll schedule (pure) and the planner that follows a cluster's waits, on an injected clock."""
from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.azure.pacing import Limit, Pacer
from shared.bootstrap.outcome import Awaited, Outcome, Phase
from shared.bootstrap.poll_planner import REGISTRATION_TIMED_OUT, WAIT_TIMED_OUT, PollPlanner
from shared.bootstrap.poll_schedule import (
    DEFAULT_READ_BUDGET,
    FIRST_CHECK,
    LEAD_FLOOR,
    MAX_STRETCH,
    MOST_CHECKS,
    POOLED_MIN,
    PRIOR_SPREAD,
    READ_BUDGET,
    SCOUT_GAP,
    SCOUT_SHARE,
    TARGET_LATENCY,
    Sample,
    Window,
    next_check,
    pooled_spread,
    usual_window,
)
from shared.settings import Settings

SUB = "6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01"


def history(median: float, spread: float, n: int = 40, seed: int = 1) -> list[Sample]:
    """Past installs around `median`, each bracketed by checks one second apart."""
    rng = random.Random(seed)
    samples = []
    for _ in range(n):
        done = median * math.exp(spread * rng.gauss(0, 1))
        samples.append(Sample(done - 1.0, done))
    return samples


def fitted(samples: list[Sample], kind: str = "install") -> Window | None:
    """The window of one group's samples, its spread measured on them (as the planner fits a kind of one group)."""
    return usual_window(samples, READ_BUDGET.get(kind, DEFAULT_READ_BUDGET), pooled_spread([samples]))


def checks_until(done: float, *, samples: list[Sample], cap: float, kind: str = "install",
                 scout: bool = False, behind: float | None = None) -> list[float]:
    """The times (from the wait's start) at which the schedule checks, up to the first that sees it done."""
    at, times, spread = 0.0, list[float](), pooled_spread([samples])
    while not times or times[-1] < done:
        at += next_check(kind=kind, elapsed=at, cap=cap, samples=samples, spread=spread, scout=scout, behind=behind)
        times.append(at)
    return times


def test_retry_after_is_honoured_exactly_even_beyond_the_cap() -> None:
    assert next_check(kind="install", elapsed=3.0, cap=15.0, retry_after=42.0) == 42.0
    assert next_check(kind="install", elapsed=3.0, cap=15.0, retry_after=2.0, samples=history(150, 0.05)) == 2.0


def test_without_history_it_starts_fast_and_backs_off_to_the_cap() -> None:
    times = checks_until(100.0, samples=[], cap=15.0)
    assert times[:6] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert max(gaps) == 15.0 and gaps[-1] == 15.0
    assert next_check(kind="install", elapsed=0.0, cap=15.0) == FIRST_CHECK


def test_a_scout_backs_off_only_up_to_the_scout_gap_and_only_while_its_group_has_no_history() -> None:
    times = checks_until(100.0, samples=[], cap=15.0, scout=True)
    gaps = [b - a for a, b in itertools.pairwise([0.0, *times])]
    assert times[:5] == [0.5, 1.0, 2.0, 4.0, 8.0] and max(gaps) == SCOUT_GAP and times[-1] - 100.0 < SCOUT_GAP
    # A scout stalled for an hour backs off to the cap too: its dense first minutes cost it about 65 checks more than
    # the back-off's 245 (so MAX_WAIT_POLLS, 240, ends its wait after about 45 minutes, not 60).
    stalled, plain = (checks_until(3600.0, samples=[], cap=15.0, scout=scout) for scout in (True, False))
    assert stalled[-1] - stalled[-2] == 15.0 and len(stalled) - len(plain) < 70
    samples = history(150.0, 0.05)
    assert checks_until(150.0, samples=samples, cap=15.0, scout=True) == \
        checks_until(150.0, samples=samples, cap=15.0)  # with history, the window's checks


def test_a_wait_that_began_soon_after_its_scout_checks_at_least_every_half_its_lead() -> None:
    # It ends about as long after the scout as it began after it: a check within half that comes after the
    # scout's end, which places its window, and before its own. A create's 60 s cap, 40 s behind its scout:
    gaps = [b - a for a, b in itertools.pairwise([0.0, *checks_until(400.0, samples=[], cap=60.0, behind=40.0)])]
    assert max(gaps) == 20.0
    far = [b - a for a, b in itertools.pairwise([0.0, *checks_until(400.0, samples=[], cap=60.0, behind=200.0)])]
    assert max(far) == 60.0  # two minutes behind or more: the cap
    # Gaps of LEAD_FLOOR or less are left alone: a burst's installs, seconds behind their scout, back off to 15 s.
    assert checks_until(200.0, samples=[], cap=15.0, behind=2.0) == checks_until(200.0, samples=[], cap=15.0)
    near = [b - a for a, b in itertools.pairwise([0.0, *checks_until(400.0, samples=[], cap=60.0, behind=2.0)])]
    assert max(near) == LEAD_FLOOR


def test_with_history_it_skips_to_the_usual_window_then_checks_it_sparsely_where_every_wait_pays() -> None:
    samples = history(150.0, 0.05)
    window = fitted(samples)
    assert window is not None and 120 < window.start < 150 < window.end < 185
    assert next_check(kind="install", elapsed=0.0, cap=15.0, samples=samples,
                      spread=pooled_spread([samples])) == window.start
    times = checks_until(window.end, samples=samples, cap=15.0)
    assert times == pytest.approx(list(window.checks))  # the window's checks, one after another, then nothing more
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # The early checks, which every wait pays for and few are caught by, are the sparsest; past the typical
    # duration, where the waits still running end fastest, the checks are dense and cheap.
    assert gaps[0] == max(gaps) and max(gaps[len(gaps) // 2:]) < gaps[0] / 2
    assert all(gap >= 1.0 for gap in gaps)


def simulate(samples: list[Sample], draw: list[float], kind: str = "install",
             spread: float | None = None) -> tuple[list[float], list[int]]:
    """Notice latencies (sorted) and reads of waits ending at `draw`, under the schedule from `samples` (and the
    spread measured on them, unless `spread`)."""
    latencies, reads = [], []
    spread = pooled_spread([samples]) if spread is None else spread
    for done in draw:
        at, times = 0.0, list[float]()
        while not times or times[-1] < done:
            at += next_check(kind=kind, elapsed=at, cap=600.0, samples=samples, spread=spread)
            times.append(at)
        latencies.append(times[-1] - done)
        reads.append(len(times))
    return sorted(latencies), reads


@pytest.mark.parametrize(("kind", "median", "spread"), [("install", 150.0, 0.05), ("install", 320.0, 0.05),
                                                         ("install", 150.0, 0.1), ("install", 320.0, 0.15),
                                                         ("providers", 45.0, 0.05), ("providers", 120.0, 0.1)])
def test_a_window_spends_no_more_reads_on_average_than_its_budget(kind: str, median: float, spread: float) -> None:
    samples = history(median, spread, n=50, seed=5)
    rng = random.Random(6)
    latencies, reads = simulate(samples, [median * math.exp(spread * rng.gauss(0, 1)) for _ in range(3000)], kind)
    budget = READ_BUDGET.get(kind, DEFAULT_READ_BUDGET)
    assert sum(reads) / len(reads) <= budget * 1.05  # the fit is of 50 samples, the draws of the distribution
    assert sum(latencies) / len(latencies) >= TARGET_LATENCY * 0.8  # and no fewer than the target needs


def test_a_tight_quick_wait_reaches_the_target_on_fewer_reads_than_the_budget() -> None:
    samples = history(45.0, 0.05, n=50, seed=7)
    rng = random.Random(8)
    latencies, reads = simulate(samples, [45.0 * math.exp(0.05 * rng.gauss(0, 1)) for _ in range(3000)])
    assert sum(latencies) / len(latencies) <= TARGET_LATENCY * 1.3
    assert sum(reads) / len(reads) <= DEFAULT_READ_BUDGET / 2  # the budget is a ceiling, not a quota


def test_a_check_just_before_the_window_does_not_repeat_at_once() -> None:
    samples = history(150.0, 0.05)
    window = usual_window(samples, DEFAULT_READ_BUDGET)
    assert window is not None
    for early in (1e-9, 0.1, 0.49):
        gap = next_check(kind="install", elapsed=window.start - early, cap=15.0, samples=samples)
        assert gap > early + 0.49


def test_without_a_past_wait_of_its_group_there_is_no_window() -> None:
    assert usual_window([], DEFAULT_READ_BUDGET, 0.05) is None
    assert next_check(kind="install", elapsed=0.0, cap=15.0, samples=[], spread=0.05) == FIRST_CHECK


@pytest.mark.parametrize(("median", "spread"), [(150.0, 0.05), (320.0, 0.05), (150.0, 0.1)])
def test_installs_from_the_usual_distribution_are_noticed_within_seconds_on_twelve_reads(median: float,
                                                                                        spread: float) -> None:
    samples = history(median, spread, n=50, seed=2)
    rng = random.Random(3)
    latencies, reads = simulate(samples, [median * math.exp(spread * rng.gauss(0, 1)) for _ in range(1000)])
    assert latencies[len(latencies) // 2] <= 2.0 and latencies[int(0.95 * len(latencies))] <= 5.0
    assert sum(reads) / len(reads) <= 12


def test_a_wait_longer_than_ever_seen_spreads_out_again_up_to_the_cap() -> None:
    samples = history(150.0, 0.05)
    window = usual_window(samples, DEFAULT_READ_BUDGET)  # the prior spread: any window will do
    assert window is not None
    assert next_check(kind="install", elapsed=window.end + 0.6, cap=15.0, samples=samples) == window.tail_gap
    late = next_check(kind="install", elapsed=window.end + 12, cap=15.0, samples=samples)
    assert window.tail_gap < late == 12.0  # backs off from the window's end
    assert next_check(kind="install", elapsed=window.end + 400, cap=15.0, samples=samples) == 15.0


def test_scarce_reads_stretch_the_gaps_but_never_past_the_cap() -> None:
    assert next_check(kind="install", elapsed=4.0, cap=15.0, headroom=0.9) == 4.0
    assert next_check(kind="install", elapsed=4.0, cap=60.0, headroom=0.0) == 4.0 * MAX_STRETCH
    assert next_check(kind="install", elapsed=4.0, cap=15.0, headroom=0.0) == 15.0


@given(kind=st.sampled_from(["install", "providers", "race", "cluster"]), elapsed=st.floats(0, 5000),
       cap=st.floats(0.01, 600), headroom=st.floats(0, 1), median=st.floats(5, 600), spread=st.floats(0, 1),
       n=st.integers(0, 60), scout=st.booleans(), behind=st.none() | st.floats(0, 600))
def test_a_schedule_never_exceeds_its_cap_once_the_wait_may_be_done(kind: str, elapsed: float, cap: float,
                                                                   headroom: float, median: float, spread: float,
                                                                   n: int, scout: bool, behind: float | None) -> None:
    samples = history(median, spread, n=n)
    gap = next_check(kind=kind, elapsed=elapsed, cap=cap, samples=samples, headroom=headroom, scout=scout,
                     behind=behind)
    assert gap >= min(cap, FIRST_CHECK)  # never a check right after the last (a clock would not even move)
    window = usual_window(samples, READ_BUDGET.get(kind, DEFAULT_READ_BUDGET))
    if scout and window is None:
        assert gap <= max(SCOUT_GAP, elapsed / SCOUT_SHARE) * MAX_STRETCH
    elif behind is not None and window is None:
        assert gap <= max(LEAD_FLOOR, elapsed / SCOUT_SHARE, behind / 2) * MAX_STRETCH
    if gap > cap:  # the only longer gap: the skip to the usual window, since nothing of this kind ended sooner
        assert window is not None and elapsed < window.start and elapsed + gap == pytest.approx(window.start)


@given(kind=st.sampled_from(["install", "providers"]), median=st.floats(20, 600), spread=st.floats(0.01, 0.3),
       n=st.integers(1, 50), seed=st.integers(0, 1000), at=st.floats(0, 1),
       pooled=st.floats(0.01, 0.3))
def test_a_wait_that_ends_by_its_windows_last_check_costs_at_most_the_windows_reads(
        kind: str, median: float, spread: float, n: int, seed: int, at: float, pooled: float) -> None:
    samples = history(median, spread, n=n, seed=seed)
    window = usual_window(samples, READ_BUDGET.get(kind, DEFAULT_READ_BUDGET), pooled)
    assert window is not None
    reads = len(window.checks)
    done = window.start + at * (window.checks[-1] - window.start)  # by its last check (past it: the back-off's)
    times, at_ = [], 0.0
    while not times or times[-1] < done:
        at_ += next_check(kind=kind, elapsed=at_, cap=600.0, samples=samples, spread=pooled)
        times.append(at_)
    assert len(times) <= reads  # the skip lands on the first of them: nothing is read before it
    assert times[-1] - done <= max(b - a for a, b in itertools.pairwise((0.0, *window.checks)))


def test_a_young_groups_window_takes_the_spread_pooled_over_the_kinds_groups() -> None:
    spread = pooled_spread([history(m, 0.05, n=40, seed=i) for i, m in enumerate((95.0, 150.0, 320.0))])
    assert 0.04 < spread < 0.06  # about each group's own median, whatever the medians
    young = history(200.0, 0.05, n=2, seed=9)  # two of its own: the pooled spread places them
    window = usual_window(young, DEFAULT_READ_BUDGET, spread)
    assert window is not None
    rng = random.Random(4)
    draws = [200.0 * math.exp(0.05 * rng.gauss(0, 1)) for _ in range(2000)]
    # The checks span where such waits end (the first is a cell's middle in, so a few end before it).
    assert sum(d < window.start for d in draws) / len(draws) <= 0.1
    assert sum(d > window.end for d in draws) / len(draws) <= 0.03
    assert window.end - window.start < 200.0 * (math.exp(0.05 * 3.3) - math.exp(-0.05 * 3.3))  # and not much more


def test_a_kinds_spread_is_the_prior_until_measured_on_enough_waits() -> None:
    assert pooled_spread([]) == pooled_spread([history(150.0, 0.05, n=1)]) == PRIOR_SPREAD
    assert pooled_spread([history(150.0, 0.05, n=POOLED_MIN)]) == PRIOR_SPREAD  # one degree of freedom short
    measured = pooled_spread([history(150.0, 0.05, n=POOLED_MIN + 1), history(95.0, 0.05, n=1)])
    assert measured != PRIOR_SPREAD and measured < 0.15  # a group of one says nothing of the spread


def test_a_wait_seen_done_at_its_first_check_does_not_skew_the_fit() -> None:
    # One install seen done at its window's first check, 120 s in: it ended anywhere in [0, 120], and its middle,
    # 60 s, is no duration. Beside the group's others it is left out of the window and of the kind's spread.
    good = [Sample(129.0, 130.0), Sample(134.0, 135.0), Sample(131.0, 132.0)]
    vague = Sample(0.0, 120.0)
    assert pooled_spread([[*good, vague]]) == pooled_spread([good]) < 0.05
    assert usual_window([*good, vague], DEFAULT_READ_BUDGET, 0.05) == usual_window(good, DEFAULT_READ_BUDGET, 0.05)
    alone = usual_window([vague], DEFAULT_READ_BUDGET, 0.05)  # all there is: better than nothing
    assert alone is not None and alone.end >= 120.0


def test_a_window_covers_the_brackets_its_samples_end_in_not_just_their_middles() -> None:
    # Ten installs, each seen running at 110 s and done at 130 s: each ended anywhere in between.
    samples = [Sample(110.0, 130.0)] * 10
    window = fitted(samples)  # all alike: the spread measured on them is nil
    assert window is not None and window.start <= 110.0 and window.end >= 130.0


def test_one_past_wait_places_a_groups_window_and_the_kinds_spread_narrows_it() -> None:
    spread = pooled_spread([history(m, 0.05, n=20, seed=i) for i, m in enumerate((95.0, 150.0))])
    [only] = history(320.0, 0.05, n=1, seed=3)
    window = usual_window([only], DEFAULT_READ_BUDGET, spread)
    assert window is not None and window.start < only.after < only.by < window.end
    wider = usual_window(history(320.0, 0.05, n=20, seed=3), DEFAULT_READ_BUDGET, spread)
    assert wider is not None and window.end - window.start > wider.end - wider.start  # one sample: less sure
    # Before the kind's spread is measured, the prior's: wider still, but a window all the same.
    assert pooled_spread([[only]]) == PRIOR_SPREAD
    prior = usual_window([only], DEFAULT_READ_BUDGET, pooled_spread([[only]]))
    assert prior is not None and prior.start < window.start and prior.end > window.end


def test_a_wide_fit_of_long_waits_holds_a_bounded_number_of_checks() -> None:
    # Hours-long waits that vary wildly: a window a second apart would be thousands of checks (and as many steps
    # for every lambda tried); the fit stops at MOST_CHECKS and keeps within the budget.
    for median, spread in ((3600.0, 1.5), (600.0, 2.0), (20000.0, 0.5)):
        samples = history(median, spread, n=20, seed=11)
        window = fitted(samples)
        assert window is not None and len(window.checks) <= MOST_CHECKS


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class History:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list[Sample]] = {}

    def wait_samples(self, kind: str, group: str) -> list[Sample]:
        return list(self.rows.get((kind, group), []))

    def wait_groups(self, kind: str) -> dict[str, list[Sample]]:
        return {group: list(samples) for (k, group), samples in self.rows.items() if k == kind}

    def add_wait_sample(self, kind: str, group: str, sample: Sample) -> None:
        self.rows.setdefault((kind, group), []).append(sample)


def waiting(kind: str, group: str = "", *, began: bool = False, retry_after: float | None = None) -> Outcome:
    return Outcome(Phase.WAITING, ("waiting",), waiting_on=kind, retry_after=retry_after,
                   awaited=Awaited(kind, group, began))


def test_the_planner_follows_an_install_and_remembers_how_long_it_took() -> None:
    clock, past = Clock(), History()
    planner = PollPlanner(Settings(), clock, past)
    began = planner.track(None, waiting("install", "eastus/default", began=True), SUB)
    assert began.wait is not None and began.wait.witnessed and began.delay == FIRST_CHECK
    clock.now += 10
    polled = planner.track(began.wait, waiting("install"), SUB)  # a short poll: group unknown, same wait
    assert polled.wait is not None and polled.wait.group == "eastus/default" and polled.wait.began == 1000.0
    assert polled.wait.scout and polled.delay == SCOUT_GAP and polled.finished == ()  # its group's first: it scouts
    clock.now += 10
    done = planner.track(polled.wait, Outcome(Phase.SUCCEEDED), SUB)
    assert done.wait is None and done.finished == (("install", "eastus/default", Sample(10.0, 20.0)),)
    planner.remember(done)
    assert past.rows[("install", "eastus/default")] == [Sample(10.0, 20.0)]


def test_a_wait_the_service_gave_up_on_teaches_nothing() -> None:
    clock, past = Clock(), History()
    planner = PollPlanner(Settings(), clock, past)
    began = planner.track(None, waiting("providers", "Microsoft.KubernetesConfiguration", began=True), SUB)
    clock.now += 900
    for code in (REGISTRATION_TIMED_OUT, WAIT_TIMED_OUT):
        gave_up = planner.track(began.wait, Outcome(Phase.FAILED, error_code=code), SUB)
        assert gave_up.wait is None and gave_up.finished == ()  # still registering when it stopped looking
    failed = planner.track(began.wait, Outcome(Phase.FAILED, error_code="ClusterNotFound"), SUB)
    assert failed.finished == (("providers", "Microsoft.KubernetesConfiguration", Sample(0.0, 900.0)),)  # Azure said


def test_the_planner_uses_the_ledgers_history_for_the_group() -> None:
    clock, past = Clock(), History()
    past.rows[("install", "eastus/default")] = history(150.0, 0.05)
    window = usual_window(past.rows[("install", "eastus/default")], DEFAULT_READ_BUDGET,
                          pooled_spread(past.rows.values()))
    assert window is not None
    planner = PollPlanner(Settings(), clock, past)
    assert planner.track(None, waiting("install", "eastus/default", began=True), SUB).delay == window.start
    # Another region has no history yet: the fast start.
    assert planner.track(None, waiting("install", "westeurope/default", began=True), SUB).delay == FIRST_CHECK


def test_providers_that_finish_leave_the_group_and_each_is_remembered() -> None:
    clock, past = Clock(), History()
    planner = PollPlanner(Settings(), clock, past)
    both = planner.track(None, waiting("providers", "Microsoft.Kubernetes+Microsoft.KubernetesConfiguration",
                                       began=True), SUB)
    clock.now += 40
    one = planner.track(both.wait, waiting("providers", "Microsoft.KubernetesConfiguration"), SUB)
    assert one.wait is not None and one.wait.began == 1000.0
    assert one.finished == (("providers", "Microsoft.Kubernetes", Sample(0.0, 40.0)),)
    clock.now += 80
    done = planner.track(one.wait, waiting("cluster", "eastus"), SUB)  # on to the next step
    assert done.finished == (("providers", "Microsoft.KubernetesConfiguration", Sample(40.0, 120.0)),)
    assert done.wait is not None and done.wait.kind == "cluster" and not done.wait.witnessed


def test_a_namespace_not_due_is_not_read_and_its_sample_brackets_from_its_last_real_read() -> None:
    clock, past = Clock(), History()
    past.rows[("providers", "B")] = history(120.0, 0.05)
    window = usual_window(past.rows[("providers", "B")], READ_BUDGET["providers"], pooled_spread(past.rows.values()))
    assert window is not None
    planner = PollPlanner(Settings(), clock, past)
    both = planner.track(None, waiting("providers", "A+B", began=True), SUB)
    assert both.wait is not None and both.delay == FIRST_CHECK  # A has no history: the fast start
    clock.now += 40
    assert planner.not_due(both.wait, SUB) == {"B"}  # B's window opens at about 110 s
    skipped = planner.track(both.wait, Outcome(Phase.WAITING, ("waiting",), waiting_on="providers",
                                               awaited=Awaited("providers", "A+B", unread=("B",))), SUB)
    assert skipped.wait is not None and skipped.wait.parts_seen == {"A": 1040.0, "B": 1000.0}
    assert skipped.delay == SCOUT_GAP  # A's back-off (it scouts A, which has no history); B's first check is later
    clock.now += 10
    one = planner.track(skipped.wait, Outcome(Phase.WAITING, ("waiting",), waiting_on="providers",
                                              awaited=Awaited("providers", "B", unread=("B",))), SUB)
    assert one.finished == (("providers", "A", Sample(40.0, 50.0)),)
    assert one.wait is not None and one.delay == pytest.approx(window.start - 50.0)  # B's first check, when due
    clock.now += one.delay
    assert planner.not_due(one.wait, SUB) == frozenset()
    read = planner.track(one.wait, waiting("providers", "B"), SUB)  # read at its check: still registering
    clock.now += 10
    done = planner.track(read.wait, waiting("cluster", "eastus"), SUB)
    [(kind, part, sample)] = done.finished
    assert (kind, part) == ("providers", "B") and (sample.after, sample.by) == pytest.approx((window.start,
                                                                                             window.start + 10))
    assert planner.not_due(None, SUB) == frozenset() and planner.not_due(done.wait, SUB) == frozenset()


def test_one_wait_of_a_new_group_scouts_and_its_end_places_the_others_window() -> None:
    clock, past = Clock(), History()
    planner = PollPlanner(Settings(), clock, past)
    scout = planner.track(None, waiting("install", "eastus/default", began=True), SUB).wait
    clock.now += 20
    other = planner.track(None, waiting("install", "eastus/default", began=True), SUB).wait
    elsewhere = planner.track(None, waiting("install", "westeurope/default", began=True), SUB).wait
    assert scout is not None and other is not None and elsewhere is not None
    assert scout.scout and not other.scout and elsewhere.scout  # one per group
    clock.now += 40
    assert planner.track(scout, waiting("install"), SUB).delay == SCOUT_GAP
    assert planner.track(other, waiting("install"), SUB).delay == Settings().extension_poll_seconds  # backs off
    clock.now += 90  # the scout ends at 150 s: the group's first sample
    done = planner.track(scout, Outcome(Phase.SUCCEEDED), SUB)
    planner.remember(done)
    [(_, _, sample)] = done.finished
    later = planner.track(other, waiting("install"), SUB)  # the other, 130 s in: the window one sample places
    assert later.wait is not None and not later.wait.scout
    assert later.delay == next_check(kind="install", elapsed=130.0, cap=15.0, samples=[sample], spread=PRIOR_SPREAD)
    assert later.delay < 130.0 * 0.1  # within the window the scout's end placed, not the back-off


def test_a_create_begun_soon_after_its_regions_scout_checks_every_half_its_lead() -> None:
    clock = Clock()
    planner = PollPlanner(Settings(), clock, History())  # a create's cap: CLUSTER_POLL_SECONDS, 60 s
    scout = planner.track(None, waiting("create", "eastus", began=True), SUB).wait
    clock.now += 40
    other = planner.track(None, waiting("create", "eastus", began=True), SUB).wait
    assert scout is not None and scout.scout and other is not None and not other.scout
    clock.now += 100
    assert planner.track(scout, waiting("create"), SUB).delay == SCOUT_GAP  # the scout, still running
    assert planner.track(other, waiting("create"), SUB).delay == 20.0  # half its 40 s lead, not the 60 s cap


def test_a_scout_keeps_scouting_on_another_instance_and_one_gone_quiet_is_replaced() -> None:
    clock = Clock()
    planner = PollPlanner(Settings(), clock, History())
    scout = planner.track(None, waiting("install", "eastus/default", began=True), SUB).wait
    assert scout is not None and scout.scout
    lapse = 2 * Settings().extension_poll_seconds
    clock.now += lapse - 1
    follower = planner.track(None, waiting("install", "eastus/default", began=True), SUB).wait
    assert follower is not None and not follower.scout
    elsewhere = PollPlanner(Settings(), clock, History())  # its continuation, handled by another instance
    assert elsewhere.track(scout, waiting("install"), SUB).delay == SCOUT_GAP
    clock.now += 2  # not tracked here for two caps: gone, and the next wait tracked here takes over
    successor = planner.track(follower, waiting("install"), SUB).wait
    assert successor is not None and successor.scout


def test_a_finished_wait_counts_in_the_kinds_spread_at_once() -> None:
    # In a burst the first installs end within seconds of each other: the spread they measure must place the
    # next windows now, not when the instance's cache of it expires (CACHE_SECONDS).
    clock, past = Clock(), History()
    planner = PollPlanner(Settings(), clock, past)
    assert planner.spread("install") == PRIOR_SPREAD
    for took in (12.0, 13.0, 11.0):  # well within CACHE_SECONDS in all
        began = planner.track(None, waiting("install", "eastus/default", began=True), SUB)
        clock.now += took - 0.5
        polled = planner.track(began.wait, waiting("install"), SUB)
        clock.now += 0.5
        planner.remember(planner.track(polled.wait, Outcome(Phase.SUCCEEDED), SUB))
    assert planner.spread("install") == pooled_spread(past.rows.values()) != PRIOR_SPREAD


def test_throttling_interrupts_a_wait_without_ending_it_and_its_retry_after_is_honoured() -> None:
    clock = Clock()
    planner = PollPlanner(Settings(), clock, History())
    install = planner.track(None, waiting("install", "eastus/default", began=True), SUB)
    clock.now += 5
    throttled = planner.track(install.wait, waiting("throttled", retry_after=30.0), SUB)
    assert throttled.wait == install.wait and throttled.delay == 30.0 and throttled.finished == ()


def test_caps_are_the_poll_settings() -> None:
    planner = PollPlanner(Settings(extension_poll_seconds=7, provider_poll_seconds=9, cluster_poll_seconds=11,
                                   identity_retry_seconds=3), Clock())
    assert [planner.cap(k) for k in ("install", "update", "uninstall", "providers", "cluster", "azure", "race")] == \
        [7, 7, 7, 9, 11, 11, 3]


def test_a_burst_that_drains_the_read_budget_stretches_the_checks() -> None:
    clock = Clock()
    pacer = Pacer({"reads": Limit(10, 1.0)}, clock=clock, max_sleep=100.0)
    planner = PollPlanner(Settings(), clock, History(), headroom=pacer.headroom)
    started = planner.track(None, waiting("install", "eastus/default", began=True), SUB)
    clock.now += 4
    relaxed = planner.track(started.wait, waiting("install"), SUB).delay
    for i in range(10):
        pacer.acquire(f"GET /{i}", ((SUB, "reads"),))
    assert pacer.headroom(SUB) == 0.0
    scarce = planner.track(started.wait, waiting("install"), SUB).delay
    assert relaxed == 4.0 and scarce == min(Settings().extension_poll_seconds, 4.0 * MAX_STRETCH)


def test_a_wait_that_does_not_say_what_it_awaits_still_backs_off_never_polls_at_once() -> None:
    clock = Clock()
    planner = PollPlanner(Settings(), clock, History())
    first = planner.track(None, Outcome(Phase.WAITING, ("waiting",), waiting_on="extension"), SUB)
    clock.now += first.delay
    second = planner.track(first.wait, Outcome(Phase.WAITING, ("waiting",), waiting_on="extension"), SUB)
    assert (first.delay, second.delay) == (FIRST_CHECK, FIRST_CHECK)
    clock.now += 10
    assert planner.track(second.wait, Outcome(Phase.WAITING, ("waiting",), waiting_on="extension"), SUB).delay > 10
