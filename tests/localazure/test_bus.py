"""The Service Bus stand-in keeps the semantics the service relies on."""
from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from localazure.bus import EntityNotFound, LocalBus, SettlementRefused
from localazure.clock import VirtualClock
from shared.azure.outbox import OutgoingMessage, Undeliverable


def bus() -> tuple[LocalBus, VirtualClock]:
    clock = VirtualClock(start=1000.0)
    b = LocalBus(clock, advance=clock.advance_to)
    b.create_queue("q", requires_session=True, max_delivery_count=3)
    return b, clock


def msg(message_id: str, session: str = "s1", **kw: Any) -> OutgoingMessage:
    return OutgoingMessage(queue="q", body=message_id.encode(), message_id=message_id, session_id=session, **kw)


def test_sessions_are_ordered_and_never_processed_concurrently() -> None:
    b, _ = bus()
    for i in range(5):
        b.send(msg(f"a{i}", "A"))
        b.send(msg(f"b{i}", "B"))
    active: dict[str, int] = {"A": 0, "B": 0}
    seen: list[str] = []
    lock = threading.Lock()

    def handler(m: Any) -> None:
        with lock:
            active[m.session_id] += 1
            assert active[m.session_id] == 1
        time.sleep(0.005)
        with lock:
            seen.append(m.get_body().decode())
            active[m.session_id] -= 1
        b.settler().complete(m)

    assert b.run_until_idle("q", handler, workers=4) == 10
    assert [s for s in seen if s[0] == "a"] == [f"a{i}" for i in range(5)]
    assert [s for s in seen if s[0] == "b"] == [f"b{i}" for i in range(5)]


def test_duplicates_are_dropped_within_the_window() -> None:
    b, clock = bus()
    b.send(msg("m1"))
    b.send(msg("m1"))
    assert len(b.messages("q")) == 1 and b.queue("q").duplicates_dropped == 1
    clock.advance(LocalBus.duplicate_window + 1)
    b.send(msg("m1"))
    assert len(b.messages("q")) == 2


def test_scheduled_messages_wait_for_the_clock() -> None:
    b, clock = bus()
    b.send(msg("later", scheduled_at=clock() + 90))
    times: list[float] = []
    def handler(m: Any) -> None:
        times.append(clock())
        b.settler().complete(m)

    assert b.deliver_one("q", handler) is False
    b.run_until_idle("q", handler)
    assert times == [1090.0] and b.queue("q").completed == 1


def test_abandoned_messages_come_back_then_are_dead_lettered_after_max_delivery_count() -> None:
    b, _ = bus()
    b.send(msg("poison"))
    counts: list[int] = []

    def boom(m: Any) -> None:
        counts.append(m.delivery_count)
        b.settler().abandon(m)
        raise RuntimeError("ledger unreachable")

    b.run_until_idle("q", boom)
    assert counts == [1, 2, 3]
    [dead] = b.dead_letters("q")
    assert dead.reason == "MaxDeliveryCountExceeded" and "3 delivery attempts" in dead.description
    assert len(b.errors) == 3 and b.settlement_violations == []


def test_a_message_settled_twice_is_refused_and_fails_the_test() -> None:
    b, _ = bus()
    b.send(msg("twice"))
    refused: list[BaseException] = []

    def settle_twice(m: Any) -> None:
        b.settler().dead_letter(m, "InvalidJson", "not JSON")
        try:
            b.settler().complete(m)
        except SettlementRefused as exc:
            refused.append(exc)

    b.run_until_idle("q", settle_twice)
    assert len(refused) == 1 and "MessageLockLost" in str(refused[0])
    assert [d.reason for d in b.dead_letters("q")] == ["InvalidJson"] and b.queue("q").completed == 0
    with pytest.raises(AssertionError, match="settled as completed after dead-lettered"):
        b.assert_settled_once()


def test_a_message_not_settled_comes_back_and_fails_the_test() -> None:
    b, _ = bus()
    b.send(msg("forgotten"))
    b.run_until_idle("q", lambda m: None)
    assert [d.reason for d in b.dead_letters("q")] == ["MaxDeliveryCountExceeded"]  # redelivered as a lost lock
    with pytest.raises(AssertionError, match="'forgotten' \\(delivery 1\\) was not settled"):
        b.assert_settled_once()


def test_sending_to_a_missing_queue_or_with_a_long_message_id_fails_as_in_azure() -> None:
    b, _ = bus()
    with pytest.raises(EntityNotFound, match="'nowhere' does not exist"):
        b.send(OutgoingMessage(queue="nowhere", body=b"x", message_id="x"))
    with pytest.raises(Undeliverable, match="message_id cannot be longer than 128"):
        b.send(msg("m" * 129))
    assert b.messages("q") == []


def test_explicit_dead_letter_keeps_reason_and_description() -> None:
    b, _ = bus()
    b.send(msg("bad"))
    settler = b.settler()
    b.run_until_idle("q", lambda m: settler.dead_letter(m, "InvalidJson", "the body is not JSON"))
    [dead] = b.dead_letters("q")
    assert (dead.reason, dead.description, dead.envelope.delivery_count) == ("InvalidJson", "the body is not JSON", 1)


def test_session_queue_refuses_messages_without_session() -> None:
    b, _ = bus()
    with pytest.raises(ValueError, match="requires sessions"):
        b.send(OutgoingMessage(queue="q", body=b"x", message_id="x"))


def test_entities_refuse_what_service_bus_refuses_and_rights_are_per_entity() -> None:
    """Sessions required, a disabled entity, names compared case-insensitively, and a sender's Send right on named
    entities only (RBAC at entity scope): all Undeliverable, so a reply that hits one never retries the request."""
    from localazure.bus import EntityDisabled, SessionRequired, Unauthorized

    b, _ = bus()
    b.create_queue("Replies")
    with pytest.raises(SessionRequired):
        b.send(msg("no-session", session=""))
    b.send(OutgoingMessage(queue="REPLIES", body=b"x", message_id="any-case"))
    assert [m.message_id for m in b.messages("replies")] == ["any-case"]
    b.queue("replies").disabled = True
    with pytest.raises(EntityDisabled):
        b.send(OutgoingMessage(queue="replies", body=b"x", message_id="disabled"))
    team = b.sender("team-a", ["q"])
    team.send(msg("allowed"))
    with pytest.raises(Unauthorized) as refused:
        team.send(OutgoingMessage(queue="replies", body=b"x", message_id="elsewhere"))
    assert "team-a" in str(refused.value) and isinstance(refused.value, Undeliverable)
    assert [m.message_id for m in b.messages("q")] == ["allowed"]


def test_a_host_on_several_queues_delivers_each_to_its_function_in_clock_order() -> None:
    b, clock = bus()
    b.create_queue("work", requires_session=True)
    seen: list[tuple[str, str, float]] = []

    def on(queue: str) -> Any:
        def handler(m: Any) -> None:
            seen.append((queue, m.message_id, clock()))
            if m.message_id == "r1":  # the first queue's function forwards to the second, scheduled later
                b.send(OutgoingMessage(queue="work", body=b"", message_id="w1", session_id="c", scheduled_at=1060.0))
            b.settler().complete(m)
        return handler

    b.send(msg("r1"))
    b.send(OutgoingMessage(queue="work", body=b"", message_id="w0", session_id="c", scheduled_at=1030.0))
    assert b.run_all_until_idle({"q": on("q"), "work": on("work")}) == 3
    assert seen == [("q", "r1", 1000.0), ("work", "w0", 1030.0), ("work", "w1", 1060.0)]
    b.assert_settled_once()
