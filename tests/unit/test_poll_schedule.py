"""The poll schedule (pure) and the planner that follows a cluster's wait, on an injected clock: Retry-After exactly,
else 0.5 s doubling up to the kind's cap, stretched only when the read budget is scarce, and nothing learned."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.azure.pacing import Limit, Pacer
from shared.bootstrap.outcome import Awaited, Outcome, Phase
from shared.bootstrap.poll_planner import WAIT_TIMED_OUT, PollPlanner
from shared.bootstrap.poll_schedule import FIRST_CHECK, MAX_STRETCH, SCARCE_BELOW, WaitState, next_check, stretch
from shared.settings import Settings

SUB = "6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01"


def checks_until(done: float, cap: float, headroom: float = 1.0) -> list[float]:
    """The times (from the wait's start) at which the schedule checks, up to the first that sees it done."""
    at, times = 0.0, list[float]()
    while not times or times[-1] < done:
        at += next_check(elapsed=at, cap=cap, headroom=headroom)
        times.append(at)
    return times


def test_the_first_check_comes_after_half_a_second_and_each_gap_doubles_up_to_the_cap() -> None:
    times = checks_until(100.0, cap=10.0)
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert times[:5] == [0.5, 1.5, 3.5, 7.5, 15.5]
    assert gaps[:5] == [0.5, 1.0, 2.0, 4.0, 8.0] and set(gaps[5:]) == {10.0}
    assert next_check(elapsed=0.0, cap=10.0) == FIRST_CHECK


@given(gap=st.floats(0.01, 1000.0), cap=st.floats(0.5, 600.0))
def test_after_a_gap_under_the_cap_the_next_is_twice_as_long(gap: float, cap: float) -> None:
    # A check after a gap of 0.5 * 2^k s falls at 0.5 * (2^(k+1) - 1) s: the next gap, from there, is twice the last.
    elapsed = 2 * gap - FIRST_CHECK
    if elapsed >= 0:
        assert next_check(elapsed=elapsed, cap=cap) == min(cap, 2 * gap)


@given(elapsed=st.floats(0.0, 1e6), cap=st.floats(0.1, 3600.0), retry_after=st.floats(0.0, 1e5),
       headroom=st.floats(0.0, 1.0))
def test_azures_retry_after_is_honoured_exactly_whatever_the_cap_and_the_budget(
        elapsed: float, cap: float, retry_after: float, headroom: float) -> None:
    assert next_check(elapsed=elapsed, cap=cap, retry_after=retry_after, headroom=headroom) == retry_after


@given(elapsed=st.floats(-10.0, 1e6), cap=st.floats(0.1, 3600.0), headroom=st.floats(-1.0, 2.0))
def test_no_gap_exceeds_its_cap_and_none_is_zero(elapsed: float, cap: float, headroom: float) -> None:
    gap = next_check(elapsed=elapsed, cap=cap, headroom=headroom)
    assert 0 < gap <= cap
    assert gap >= min(cap, FIRST_CHECK)  # never two checks at once


@given(elapsed=st.floats(0.0, 1e4), cap=st.floats(0.5, 600.0), headroom=st.floats(0.0, 1.0))
def test_gaps_stretch_only_when_the_read_budget_is_scarce(elapsed: float, cap: float, headroom: float) -> None:
    plain, paced = next_check(elapsed=elapsed, cap=cap), next_check(elapsed=elapsed, cap=cap, headroom=headroom)
    if headroom >= SCARCE_BELOW:
        assert paced == plain
    else:
        assert plain <= paced <= min(cap, plain * MAX_STRETCH)


@given(done=st.floats(0.0, 2000.0), cap=st.floats(0.5, 120.0), headroom=st.floats(0.0, 1.0))
def test_a_stretched_schedule_skips_checks_never_moves_them(done: float, cap: float, headroom: float) -> None:
    paced = checks_until(done, cap, headroom)
    assert set(paced) <= set(checks_until(paced[-1], cap))
    if done >= 2 * cap:  # once the gaps are at the cap (by 2 caps), no check is skipped: the end is seen as soon
        assert paced[-1] == checks_until(done, cap)[-1]


def test_the_stretch_rises_as_the_budget_runs_out() -> None:
    assert stretch(1.0) == stretch(SCARCE_BELOW) == 1.0
    assert 1.0 < stretch(SCARCE_BELOW / 2) < stretch(0.0) == MAX_STRETCH
    assert next_check(elapsed=1.5, cap=10.0, headroom=0.0) == 6.0  # up to 8 s: the check at 3.5 s is skipped
    assert checks_until(60.0, cap=10.0, headroom=0.0) == [1.5, 7.5, 15.5, 25.5, 35.5, 45.5, 55.5, 65.5]
    assert checks_until(60.0, cap=10.0) == [0.5, 1.5, 3.5, 7.5, 15.5, 25.5, 35.5, 45.5, 55.5, 65.5]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def waiting(kind: str, *, began: bool = False, since: float | None = None,
            retry_after: float | None = None) -> Outcome:
    return Outcome(Phase.WAITING, ("waiting",), waiting_on=kind, retry_after=retry_after,
                   awaited=Awaited(kind, began, since))


def test_the_planner_times_a_wait_from_its_start_across_runs() -> None:
    clock = Clock()
    planner = PollPlanner(Settings(), clock)
    tracked = planner.track(None, waiting("install", began=True), SUB)
    delays = [tracked.delay]
    while len(delays) < 7:
        clock.now += tracked.delay
        tracked = planner.track(tracked.wait, waiting("install"), SUB)
        delays.append(tracked.delay)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]  # EXTENSION_POLL_SECONDS caps them
    assert tracked.wait == WaitState("install", 1000.0, clock.now)
    assert planner.track(tracked.wait, Outcome(Phase.SUCCEEDED), SUB).wait is None
    assert planner.track(tracked.wait, Outcome(Phase.FAILED, error_code=WAIT_TIMED_OUT), SUB).wait is None


def test_a_new_start_or_another_kind_restarts_the_clock_and_azures_start_sets_it() -> None:
    clock = Clock()
    planner = PollPlanner(Settings(), clock)
    first = planner.track(None, waiting("providers", began=True), SUB).wait
    clock.now += 40
    assert planner.track(first, waiting("providers", began=True), SUB).delay == FIRST_CHECK  # registered another
    assert planner.track(first, waiting("cluster"), SUB).delay == FIRST_CHECK  # on to the next step
    create = planner.track(first, waiting("create", since=clock.now - 200.0), SUB)  # created 200 s ago, says ARM
    assert create.wait == WaitState("create", clock.now - 200.0, clock.now)
    assert create.delay == Settings().cluster_poll_seconds


def test_the_schedule_is_the_same_on_every_instance_and_run_after_run() -> None:
    # No history: a continuation another instance handles, or a wait of a kind and region never seen, gets the
    # same checks as any other.
    clock = Clock()
    wait = WaitState("install", 1000.0, 1000.0)
    clock.now += 3.5
    delays = {PollPlanner(Settings(), clock).track(wait, waiting("install"), SUB).delay for _ in range(3)}
    assert delays == {4.0}


def test_throttling_interrupts_a_wait_without_ending_it_and_its_retry_after_is_honoured() -> None:
    clock = Clock()
    planner = PollPlanner(Settings(), clock)
    install = planner.track(None, waiting("install", began=True), SUB)
    clock.now += 5
    throttled = planner.track(install.wait, waiting("throttled", retry_after=30.0), SUB)
    assert throttled.wait == install.wait and throttled.delay == 30.0
    clock.now += 30
    again = planner.track(throttled.wait, waiting("azure"), SUB)  # no Retry-After: back off from the last sight
    assert again.wait == install.wait and again.delay == Settings().cluster_poll_seconds
    resumed = planner.track(again.wait, waiting("install"), SUB)
    assert resumed.wait is not None and resumed.wait.began == 1000.0


def test_caps_are_the_poll_settings() -> None:
    planner = PollPlanner(Settings(extension_poll_seconds=7, provider_poll_seconds=9, cluster_poll_seconds=11,
                                   identity_retry_seconds=3), Clock())
    assert [planner.cap(k) for k in ("install", "update", "uninstall", "providers", "create", "cluster", "azure",
                                     "race")] == [7, 7, 7, 9, 11, 11, 11, 3]


def test_a_burst_that_drains_the_read_budget_stretches_the_checks() -> None:
    clock = Clock()
    pacer = Pacer({"reads": Limit(10, 1.0)}, clock=clock, max_sleep=100.0)
    planner = PollPlanner(Settings(), clock, headroom=pacer.headroom)
    started = planner.track(None, waiting("install", began=True), SUB)
    clock.now += 1.5
    relaxed = planner.track(started.wait, waiting("install"), SUB).delay
    for i in range(10):
        pacer.acquire(f"GET /{i}", ((SUB, "reads"),))
    assert pacer.headroom(SUB) == 0.0
    scarce = planner.track(started.wait, waiting("install"), SUB).delay
    assert relaxed == 2.0 and scarce == 6.0  # the check at 3.5 s skipped: the next at 7.5 s
    assert planner.track(started.wait, waiting("install", retry_after=1.0), SUB).delay == 1.0  # Azure's word wins


def test_a_wait_that_does_not_say_what_it_awaits_still_backs_off_never_polls_at_once() -> None:
    clock = Clock()
    planner = PollPlanner(Settings(), clock)
    first = planner.track(None, Outcome(Phase.WAITING, ("waiting",), waiting_on="extension"), SUB)
    clock.now += first.delay
    second = planner.track(first.wait, Outcome(Phase.WAITING, ("waiting",), waiting_on="extension"), SUB)
    assert (first.delay, second.delay) == (FIRST_CHECK, 1.0)
    clock.now += 10
    assert planner.track(second.wait, Outcome(Phase.WAITING, ("waiting",), waiting_on="extension"), SUB).delay > 10
