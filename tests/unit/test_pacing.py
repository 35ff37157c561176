"""Token-bucket pacing of ARM requests, on an injected clock: bursts, refill, reservations, ARM's own word."""
from __future__ import annotations

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
            shape: str = "reconcile") -> float | int:
    """Make the requests in one pass: how many went, or the retry_after of the Paced that ended it."""
    with paced_pass(holder, shape):
        for sent, keys in enumerate(requests):
            try:
                p.acquire(f"req {sent}", keys)
            except Paced as paced:
                assert paced.retry_after is not None
                return paced.retry_after
    return len(requests)


def test_a_deferred_pass_reserves_for_the_reads_it_will_make_again_and_the_request_that_waited() -> None:
    p, clock, _ = pacer({"reads": Limit(6, 1.0), "writes": Limit(1, 1.0)})
    read, write = (READS,), (WRITES,)
    assert pass_of(p, [read] * 3 + [write, write], "a") == 1.0  # the second write waits; 3 reads and 1 write held
    assert pass_of(p, [read] * 3, "b") == 1.0  # b's reads line up behind a's reservation
    clock.now += 1.0
    assert pass_of(p, [read] * 3 + [write], "a") == 4  # a, back on time (its first write done): its own tokens


def test_a_pass_gives_back_the_reserved_tokens_it_did_not_use() -> None:
    p, clock, _ = pacer({"reads": Limit(4, 1.0)})
    assert pass_of(p, [(READS,)] * 2, "z") == 2
    assert pass_of(p, [(READS,)] * 4, "a") == pytest.approx(3.0)  # reserves the 2 reads it sent and the 3rd
    clock.now += 3.0
    assert pass_of(p, [(READS,)], "a") == 1  # it went another way this time: one read of the three
    assert pass_of(p, [(READS,)] * 2, "b") == 2  # the two it left are b's at once
    assert pass_of(p, [(READS,)], "c", shape="poll") == 1.0  # and the bucket had no more


def test_a_reservation_never_holds_more_than_the_bucket() -> None:
    p, clock, _ = pacer({"reads": Limit(2, 1.0)})
    assert pass_of(p, [(READS,)] * 5, "a") == pytest.approx(2.0)  # 3 made, but ARM's bucket holds 2 at most
    clock.now += 2.0
    assert pass_of(p, [(READS,)] * 2, "a") == 2
    assert pass_of(p, [(READS,)], "b", shape="poll") == 1.0  # the slot held 2, not 3: nothing left over


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
