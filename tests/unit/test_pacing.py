"""Token-bucket pacing of ARM requests, on an injected clock: bursts, refill, reservations, ARM's own word."""
from __future__ import annotations

import contextvars

import pytest

from shared.azure.pacing import ARM_LIMITS, Limit, Paced, Pacer, arm_request_keys, paced_pass
from shared.settings import Settings, SettingsError

SUB = "6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01"
WRITES, IDENTITIES = (SUB, "writes"), (SUB, "identity-creates")
ARM = "https://management.azure.com"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pacer(limits: dict[str, Limit], *, max_sleep: float = 0.0, claim_grace: float = 60.0,
          ) -> tuple[Pacer, Clock, list[float]]:
    clock, slept = Clock(), []
    return Pacer(limits, clock=clock, sleep=slept.append, max_sleep=max_sleep, claim_grace=claim_grace), clock, slept


def wait_of(p: Pacer, holder: str, keys: tuple[tuple[str, str], ...] = (WRITES,)) -> float:
    """0 when the request may go now, else the retry_after of the Paced it raised."""
    try:
        p.acquire(holder, keys)
    except Paced as paced:
        assert paced.status == 429 and paced.retryable and paced.retry_after is not None
        return paced.retry_after
    return 0.0


def test_a_burst_goes_at_once_then_one_request_per_refill_in_line() -> None:
    p, _, _ = pacer({"writes": Limit(3, 2.0)})
    assert [wait_of(p, f"PUT /{i}") for i in range(6)] == [0, 0, 0, 0.5, 1.0, 1.5]


def test_a_deferred_request_claims_its_slot_and_later_ones_queue_behind_it() -> None:
    p, clock, _ = pacer({"writes": Limit(1, 1.0)})
    assert [wait_of(p, "PUT /a"), wait_of(p, "PUT /b"), wait_of(p, "PUT /c")] == [0, 1.0, 2.0]
    clock.now += 0.5
    assert wait_of(p, "PUT /b") == 0.5  # early: still its own slot, not a new one
    clock.now += 0.5
    assert wait_of(p, "PUT /b") == 0  # on time: goes without drawing another token
    assert wait_of(p, "PUT /d") == 2.0  # a newcomer lines up behind /c
    clock.now += 1.0
    assert wait_of(p, "PUT /c") == 0


def test_short_waits_are_slept_in_the_handler_longer_ones_are_not() -> None:
    p, _, slept = pacer({"writes": Limit(1, 2.0)}, max_sleep=1.0)
    assert [wait_of(p, f"PUT /{i}") for i in range(4)] == [0, 0, 0, 1.5]
    assert slept == [0.5, 1.0]


def test_an_identity_create_waits_for_the_stricter_of_its_buckets() -> None:
    p, clock, _ = pacer({"writes": Limit(200, 10.0), "identity-creates": Limit(2, 2.0)})
    both = (WRITES, IDENTITIES)
    assert [wait_of(p, f"PUT /id{i}", both) for i in range(4)] == [0, 0, 0.5, 1.0]
    assert wait_of(p, "PUT /credential") == 0  # plain writes are not held up by identity creates
    clock.now += 0.5
    assert wait_of(p, "PUT /id2", both) == 0


def test_a_reservation_nobody_claims_is_given_back() -> None:
    p, clock, _ = pacer({"writes": Limit(1, 1.0)}, claim_grace=0.5)
    assert [wait_of(p, "PUT /a"), wait_of(p, "PUT /b")] == [0, 1.0]
    clock.now += 1.6  # /b's slot was due 0.6 s ago
    assert wait_of(p, "PUT /c") == 0  # /b's token came back to the bucket
    assert wait_of(p, "PUT /b") == 1.0  # /b, late, lines up again (ARM's bucket holds 1: nothing more to refill)


def test_a_429_holds_the_buckets_for_its_retry_after() -> None:
    p, clock, _ = pacer({"writes": Limit(200, 10.0)})
    p.throttled((WRITES,), 3.0)
    assert wait_of(p, "PUT /a") == pytest.approx(3.0)
    clock.now += 3.0
    assert wait_of(p, "PUT /a") == 0


def test_arms_remaining_count_lowers_ours_never_raises_it() -> None:
    p, _, _ = pacer({"writes": Limit(200, 10.0)})
    p.remaining(WRITES, 1)
    assert wait_of(p, "PUT /a") == 0
    p.remaining(WRITES, 5000)
    assert wait_of(p, "PUT /b") == pytest.approx(0.1)


def test_a_clock_that_steps_back_adds_no_tokens() -> None:
    p, clock, _ = pacer({"writes": Limit(1, 1.0)})
    assert wait_of(p, "PUT /a") == 0
    clock.now -= 100
    assert wait_of(p, "PUT /b") == 1.0


def test_unpaced_kinds_always_go() -> None:
    p, _, slept = pacer({})
    assert [wait_of(p, f"PUT /{i}", (WRITES, IDENTITIES)) for i in range(500)] == [0] * 500
    assert slept == []


def test_requests_draw_on_arms_buckets_by_subscription_and_method() -> None:
    identity = (f"/subscriptions/{SUB.upper()}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"
                "userAssignedIdentities/argocd-x")
    holder, keys = arm_request_keys("PUT", f"{ARM}{identity}?api-version=2023-01-31") or ("", ())
    assert holder == f"PUT {identity.lower()}" and keys == (WRITES, IDENTITIES)
    credential = f"{ARM}{identity}/federatedIdentityCredentials/argoboot-repo-server?api-version=2023-01-31"
    assert arm_request_keys("PUT", credential) == (f"PUT {identity.lower()}/federatedidentitycredentials/"
                                                   "argoboot-repo-server", (WRITES,))
    assert arm_request_keys("GET", f"{ARM}{identity}") == (f"GET {identity.lower()}", ((SUB, "reads"),))
    assert arm_request_keys("DELETE", f"{ARM}{identity}") == (f"DELETE {identity.lower()}", ((SUB, "deletes"),))
    register = f"/subscriptions/{SUB}/providers/Microsoft.Kubernetes/register"
    assert arm_request_keys("POST", f"{ARM}{register}?api-version=2021-04-01") == (f"POST {register.lower()}",
                                                                                   (WRITES,))
    assert arm_request_keys("GET", f"{ARM}/providers/Microsoft.Kubernetes?api-version=2021-04-01") is None


def test_limits_parse_from_settings_with_arms_defaults() -> None:
    assert Limit.parse("200/10") == Limit(200, 10.0) and Limit.parse(" OFF ") is None
    for bad in ("200", "0/10", "200/0", "ten/1", "200/-1"):
        with pytest.raises(ValueError, match="burst"):
            Limit.parse(bad)
    assert Settings.from_env({"ALLOWED_SUBSCRIPTIONS": SUB}).arm_pacing == ARM_LIMITS
    settings = Settings.from_env({"ALLOWED_SUBSCRIPTIONS": SUB, "ARM_PACE_READS": "off",
                                  "ARM_PACE_IDENTITY_CREATES": "4/0.5", "ARM_PACE_MAX_SLEEP_SECONDS": "0"})
    assert "reads" not in settings.arm_pacing and settings.arm_pacing["identity-creates"] == Limit(4, 0.5)
    assert settings.arm_pace_max_sleep == 0
    with pytest.raises(SettingsError, match="ARM_PACE_WRITES"):
        Settings.from_env({"ALLOWED_SUBSCRIPTIONS": SUB, "ARM_PACE_WRITES": "fast"})


def test_after_arms_429_the_read_budget_counts_as_spent_for_a_while_paced_or_not() -> None:
    for limits in ({"reads": Limit(250, 25.0)}, {}):
        p, clock, _ = pacer(limits)
        reads = (SUB, "reads")
        assert p.headroom(SUB) == 1.0
        p.throttled((reads,), 1.0)
        assert p.headroom(SUB) == 0.0
        clock.now += 59
        assert p.headroom(SUB) == 0.0
        clock.now += 2
        assert p.headroom(SUB) == 1.0  # refilled (or not paced at all), and ARM has not refused since


READS = (SUB, "reads")


def pass_of(p: Pacer, requests: list[tuple[tuple[str, str], ...]], holder: str = "cluster-a",
            shape: str = "reconcile", *, resumed: bool = False) -> float | int:
    """Make the requests in one pass: how many went, or the retry_after of the Paced that ended it."""
    with paced_pass(holder, shape, resumed=resumed):
        for sent, keys in enumerate(requests):
            try:
                p.acquire(f"req {sent}", keys)
            except Paced as paced:
                assert paced.retry_after is not None
                return paced.retry_after
    return len(requests)


def test_a_pass_deferred_half_way_reserves_the_reads_it_made_and_the_request_that_waited() -> None:
    p, clock, _ = pacer({"reads": Limit(6, 1.0), "writes": Limit(1, 1.0)})
    read, write = (READS,), (WRITES,)
    assert pass_of(p, [read] * 3 + [write, write], "a") == 1.0  # the second write waits; 3 reads and 1 write held
    assert pass_of(p, [read] * 3, "b") == 1.0  # b's reads line up behind a's reservation
    clock.now += 1.0
    # a resumes at the write (its reads recalled: the tokens held for them are given back when it ends)
    assert pass_of(p, [write], "a", resumed=True) == 1
    assert pass_of(p, [read] * 3, "c", shape="poll") == 3


def test_a_pass_is_admitted_with_what_its_shape_usually_costs_and_is_not_starved_half_way() -> None:
    p, clock, _ = pacer({"reads": Limit(12, 1.0)})
    for holder in ("x", "y"):
        assert pass_of(p, [(READS,)] * 4, holder, shape="install") == 4  # an install costs 4 reads
    with paced_pass("a", "install"):
        p.acquire("GET /cluster", (READS,))  # admitted: the 4 left are a's now
        # Someone else (a request of no pass) finds the bucket empty, and is deferred behind a's tokens...
        assert contextvars.Context().run(wait_of, p, "GET /other", (READS,)) == 1.0
        for _ in range(3):
            p.acquire("GET /more", (READS,))  # ...while a's other reads go, however scarce the bucket is
    clock.now += 1.0
    assert wait_of(p, "GET /other", (READS,)) == 0


def test_a_pass_that_the_buckets_cannot_hold_now_is_deferred_whole_before_it_sends_anything() -> None:
    p, clock, _ = pacer({"reads": Limit(10, 1.0)})
    for holder in ("x", "y"):
        assert pass_of(p, [(READS,)] * 4, holder, shape="install") == 4
    assert pass_of(p, [(READS,)] * 4, "a", shape="install") == 2.0  # 2 left, 4 needed: deferred at its first read
    assert pass_of(p, [(READS,)], "b", shape="poll") == 3.0  # a newcomer waits behind a's reservation
    clock.now += 2.0
    assert pass_of(p, [(READS,)] * 4, "a", shape="install") == 4  # back in time for the whole pass


def test_an_admission_never_holds_more_than_the_bucket() -> None:
    p, clock, slept = pacer({"reads": Limit(2, 1.0)}, max_sleep=10.0)
    assert pass_of(p, [(READS,)] * 5, "x", shape="install") == 5  # slept for 3 reads: a complete pass of 5
    clock.now += slept[-1]  # the bucket is empty again
    assert pass_of(p, [(READS,)] * 2, "a", shape="install") == 2
    assert slept[-1] == pytest.approx(2.0)  # admitted once the bucket held its 2 (never 5: ARM's holds no more)


def test_a_pass_gives_back_the_tokens_it_was_admitted_with_and_did_not_use() -> None:
    p, _, _ = pacer({"reads": Limit(8, 1.0)})
    assert pass_of(p, [(READS,)] * 3, "x", shape="install") == 3
    assert pass_of(p, [(READS,)], "a", shape="install") == 1  # admitted with 3, used 1
    assert pass_of(p, [(READS,)] * 4, "b", shape="poll") == 4  # the 2 it left are there at once


def test_arms_429s_halve_the_believed_refill_once_a_round_and_granted_requests_raise_it_back() -> None:
    p, clock, slept = pacer({"reads": Limit(10, 8.0)}, max_sleep=100.0)
    p.throttled((READS,), 1.0)
    p.throttled((READS,), 1.0)  # sent together: one round, one halving (8/s -> 4/s)
    assert wait_of(p, "GET /a", (READS,)) == 0 and slept[-1] == pytest.approx(1.0)  # one token in Retry-After
    clock.now += 1.0
    p.throttled((READS,), 1.0)  # a new round: 2/s
    assert wait_of(p, "GET /b", (READS,)) == 0 and slept[-1] == pytest.approx(1.0)  # 2 tokens short at 2/s
    clock.now += 1.0
    for _ in range(15):
        p.granted((READS,))
    assert wait_of(p, "GET /c", (READS,)) == 0
    assert slept[-1] == pytest.approx(1 / (2 * 1.05 ** 15))  # back up by 5 % per granted request


def test_a_deferred_pass_reserves_at_least_what_its_shape_usually_costs() -> None:
    p, clock, _ = pacer({"reads": Limit(11, 1.0)})
    for holder in ("x", "y"):
        assert pass_of(p, [(READS,)] * 5, holder) == 5  # complete passes: a reconcile costs 5 reads
    assert pass_of(p, [(READS,)], "poller", shape="poll") == 1  # a poll costs 1; a shape of its own
    assert pass_of(p, [(READS,)] * 5, "a") == pytest.approx(5.0)  # deferred at its first read: reserves 5, not 1
    clock.now += 5.0
    assert pass_of(p, [(READS,)] * 5, "a") == 5  # so it is not deferred again a read later


def test_a_request_outside_any_pass_reserves_for_itself_alone() -> None:
    p, clock, _ = pacer({"writes": Limit(1, 1.0)})
    with paced_pass("cluster-a", "reconcile"):
        p.acquire("PUT /a", (WRITES,))
    assert wait_of(p, "PUT /b") == 1.0
    clock.now += 1.0
    assert wait_of(p, "PUT /b") == 0 and wait_of(p, "PUT /c") == 1.0
