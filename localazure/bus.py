"""A local stand-in for Service Bus with the semantics the service relies on.

Sessions (one message of a session in flight at a time, FIFO within a session), duplicate detection
by message id, scheduled messages (on the shared clock), delivery counts, and dead-lettering after the max
delivery count or when the handler dead-letters explicitly, with the reason and description kept. Messages
reach the function as the real `azure.functions` type.

Settlement is the function's (automatic completion is off, as in host.json): it completes, dead-letters or
abandons each message once through `BusSettler`. A second settlement is refused as Service Bus refuses it
(the lock is gone), and a delivery left unsettled is redelivered as when its lock expires; both are recorded
in `settlement_violations`, which `LocalAzure` turns into a failed test. Sending to a queue that does not
exist fails (`EntityNotFound`), to a disabled one (`EntityDisabled`), a message without a session id to a
session-enabled queue (`SessionRequired`), and a message id or session id over 128 characters, as Service Bus
and the SDK refuse them. Entity names are case-insensitive, as in Service Bus.

Rights: `send` is the namespace owner's (the tests' own injections); `sender(identity, may_send)` is a principal
holding `Azure Service Bus Data Sender` on those entities only (Azure's RBAC at entity scope), refused elsewhere
(`Unauthorized`). `LocalAzure` gives the app such a sender, and other teams one on the public request queue.
"""
from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from azure.functions.servicebus import ServiceBusMessage as FunctionsServiceBusMessage

from shared.azure.outbox import OutgoingMessage, Undeliverable


@dataclass(frozen=True)
class Envelope:
    """A message as the broker holds it."""

    message: OutgoingMessage
    sequence_number: int
    enqueued_at: float
    delivery_count: int = 0


@dataclass(frozen=True)
class DeadLetter:
    envelope: Envelope
    reason: str
    description: str


Settled = Literal["completed", "dead-lettered", "abandoned"]
MAX_ID_LENGTH = 128  # azure-servicebus refuses longer message ids (MESSAGE_PROPERTY_MAX_LENGTH)


class EntityNotFound(Undeliverable, LookupError):
    """Service Bus' MessagingEntityNotFound: the queue does not exist (the outbox's Undeliverable, as in Azure)."""


class EntityDisabled(Undeliverable):
    """Service Bus' MessagingEntityDisabled: the queue exists but takes no messages."""


class SessionRequired(Undeliverable, ValueError):
    """A session-enabled entity refuses a message without a SessionId (the documented request-reply rule)."""


class Unauthorized(Undeliverable, PermissionError):
    """The sender holds no Send right on the entity (Service Bus answers 401 `Unauthorized access`)."""


class SettlementRefused(RuntimeError):
    """The lock of this delivery is gone (settled already, or the delivery is over): Service Bus refuses it."""


class BusObserver(Protocol):
    """Sees every message sent and every delivery settled (the message contract checks in `localazure.contract`)."""

    def sent(self, message: OutgoingMessage) -> None: ...
    def settled(self, queue: str, message: OutgoingMessage, how: Settled) -> None: ...


@dataclass
class Queue:
    name: str
    requires_session: bool
    max_delivery_count: int
    disabled: bool = False
    active: list[Envelope] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    seen_ids: dict[str, float] = field(default_factory=dict)
    completed: int = 0
    duplicates_dropped: int = 0


class LocalBus:
    """Queues on one clock; `send` is the service's Outbox, `run_until_idle` plays the Functions host."""

    duplicate_window = 600.0

    def __init__(self, clock: Callable[[], float], *, advance: Callable[[float], None] | None = None,
                 observer: BusObserver | None = None) -> None:
        self._clock = clock
        self._advance = advance
        self._observer = observer
        self._queues: dict[str, Queue] = {}
        self._lock = threading.RLock()
        self._sequence = itertools.count(1)
        self._locked_sessions: set[str] = set()
        self._in_flight: dict[str, tuple[Settled, str, str] | None] = {}  # lock token -> its settlement, if any
        self.errors: list[BaseException] = []
        self.settlement_violations: list[str] = []

    def create_queue(self, name: str, *, requires_session: bool = False, max_delivery_count: int = 10) -> Queue:
        with self._lock:
            queue = self._queues[name.lower()] = Queue(name, requires_session, max_delivery_count)
            return queue

    def queue(self, name: str) -> Queue:
        with self._lock:
            if name.lower() not in self._queues:
                raise EntityNotFound(f"queue {name!r} does not exist")
            return self._queues[name.lower()]

    def sender(self, identity: str, may_send: Iterable[str]) -> BusSender:
        """A principal with Data Sender on these entities only: what the app, or another team, may send to."""
        return BusSender(self, identity, frozenset(name.lower() for name in may_send))

    def send(self, message: OutgoingMessage) -> None:
        """Enqueue (or schedule) as the namespace owner; a message id seen within the duplicate window is dropped,
        as Service Bus does."""
        for name, value in (("message_id", message.message_id), ("session_id", message.session_id or "")):
            if len(value) > MAX_ID_LENGTH:  # the SDK's ValueError, which the outbox reports as Undeliverable
                raise Undeliverable(f"{name} cannot be longer than {MAX_ID_LENGTH} characters.")
        with self._lock:
            queue = self.queue(message.queue)
            if queue.disabled:
                raise EntityDisabled(f"queue {queue.name!r} is disabled")
            if queue.requires_session and not message.session_id:
                raise SessionRequired(f"queue {queue.name} requires sessions: the message has no session id")
            if self._observer is not None:  # what the entity accepted (a refused message was never sent)
                self._observer.sent(message)
            now = self._clock()
            if now - queue.seen_ids.get(message.message_id, -1e18) < self.duplicate_window:
                queue.duplicates_dropped += 1
                return
            queue.seen_ids[message.message_id] = now
            queue.active.append(Envelope(message, next(self._sequence), now))

    def messages(self, queue: str) -> list[OutgoingMessage]:
        """What is in a queue now (a peek, e.g. at a reply queue)."""
        with self._lock:
            return [e.message for e in self.queue(queue).active]

    def dead_letters(self, queue: str) -> list[DeadLetter]:
        with self._lock:
            return list(self.queue(queue).dead_letters)

    def settler(self) -> BusSettler:
        return BusSettler(self)

    def run_until_idle(self, queue: str, function: Callable[[Any], None], *, workers: int = 1,
                       max_deliveries: int = 10_000, until: float | None = None) -> int:
        """Deliver until nothing is left (or nothing is due by `until`, the clock then moved to it), moving the clock
        to each scheduled message; returns deliveries made."""
        return self.run_all_until_idle({queue: function}, workers=workers, max_deliveries=max_deliveries, until=until)

    def run_all_until_idle(self, functions: Mapping[str, Callable[[Any], None]], *, workers: int = 1,
                           max_deliveries: int = 10_000, until: float | None = None) -> int:
        """`run_until_idle` over several queues, each with its function (a host listening on all of them): due
        messages of the queues in the order given first, then the clock moves to the earliest scheduled one."""
        delivered = 0
        while delivered < max_deliveries:
            name, function, batch = next(((q, f, b) for q, f in functions.items() if (b := self._take(q, workers))),
                                         ("", None, []))
            if not batch:
                dues = [d for d in map(self._next_due, functions) if d is not None]
                due = min(dues) if dues else None
                if until is not None and (due is None or due > until):
                    self._wait_until(until)
                    return delivered
                if due is None:
                    return delivered
                self._wait_until(due)
                continue
            threads = [threading.Thread(target=self._deliver, args=(name, env, function)) for env in batch]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            delivered += len(batch)
        raise RuntimeError(f"queues {', '.join(functions)} did not go idle after {max_deliveries} deliveries")

    def deliver_one(self, queue: str, function: Callable[[Any], None]) -> bool:
        """Deliver the first message that is due now, if any (the clock does not move)."""
        batch = self._take(queue, 1)
        for env in batch:
            self._deliver(queue, env, function)
        return bool(batch)

    def _wait_until(self, due: float) -> None:
        if self._advance is not None:
            self._advance(due)
            return
        import time

        time.sleep(max(0.0, due - self._clock()))

    def _next_due(self, name: str) -> float | None:
        with self._lock:
            times = [e.message.scheduled_at or e.enqueued_at for e in self.queue(name).active]
            return min(times) if times else None

    def _take(self, name: str, limit: int) -> list[Envelope]:
        """Lock up to `limit` sessions and take the head message of each that is due."""
        with self._lock:
            queue, now = self.queue(name), self._clock()
            taken: list[Envelope] = []
            heads: dict[str | None, Envelope] = {}
            for env in sorted(queue.active, key=lambda e: e.sequence_number):
                if (env.message.scheduled_at or 0) > now:
                    continue
                session = env.message.session_id
                if session is None:
                    heads[f"\0{env.sequence_number}"] = env
                elif session not in heads:
                    heads[session] = env
            for session, env in heads.items():
                if len(taken) >= limit:
                    break
                if session in self._locked_sessions:
                    continue
                if session is not None:
                    self._locked_sessions.add(session)
                queue.active.remove(env)
                taken.append(replace(env, delivery_count=env.delivery_count + 1))
            return taken

    def _deliver(self, name: str, env: Envelope, function: Callable[[Any], None]) -> None:
        lock_token = str(uuid.uuid4())
        with self._lock:
            self._in_flight[lock_token] = None
        try:
            function(_functions_message(env, lock_token))
        except Exception as exc:  # the invocation failed; how the message is settled is the function's doing
            self.errors.append(exc)
        with self._lock:
            queue = self.queue(name)
            session = env.message.session_id
            self._locked_sessions.discard(session or f"\0{env.sequence_number}")
            settled = self._in_flight.pop(lock_token)
            if settled is None:  # nobody settled it: its lock expires and it comes back, as an abandon would
                self.settlement_violations.append(f"message {env.message.message_id!r} (delivery "
                                                  f"{env.delivery_count}) was not settled")
            how, reason, description = settled or ("abandoned", "", "")
            if how == "dead-lettered":
                queue.dead_letters.append(DeadLetter(env, reason, description))
            elif how == "completed":
                queue.completed += 1
            elif env.delivery_count >= queue.max_delivery_count:
                queue.dead_letters.append(DeadLetter(
                    env, "MaxDeliveryCountExceeded",
                    f"Message could not be consumed after {env.delivery_count} delivery attempts."))
                how = "dead-lettered"
            else:  # abandoned: back at the head of its session, available at once
                queue.active.append(env)
                queue.active.sort(key=lambda e: e.sequence_number)
        if self._observer is not None:
            self._observer.settled(name, env.message, how)

    def _settle(self, lock_token: str, how: Settled, reason: str = "", description: str = "") -> None:
        with self._lock:
            if lock_token not in self._in_flight or self._in_flight[lock_token] is not None:
                earlier = self._in_flight.get(lock_token)
                self.settlement_violations.append(
                    f"lock {lock_token} settled as {how} after "
                    f"{earlier[0] if earlier else 'its delivery ended'}")
                raise SettlementRefused(f"MessageLockLost: the lock {lock_token} is no longer held")
            self._in_flight[lock_token] = (how, reason, description)

    def assert_settled_once(self) -> None:
        """Fail when a delivery was settled twice or not at all (the function owns settlement)."""
        if self.settlement_violations:
            raise AssertionError("messages not settled exactly once:\n  " + "\n  ".join(self.settlement_violations))


class BusSender:
    """A principal's sends: refused on any entity it holds no Send right on, then as the namespace's `send`."""

    def __init__(self, bus: LocalBus, identity: str, may_send: frozenset[str]) -> None:
        self._bus, self.identity, self.may_send = bus, identity, may_send

    def send(self, message: OutgoingMessage) -> None:
        if message.queue.lower() not in self.may_send:
            raise Unauthorized(f"Unauthorized access. 'Send' claim(s) are required to perform this operation. "
                               f"Resource: 'sb://localbus/{message.queue}'. Principal: {self.identity}")
        self._bus.send(message)


class BusSettler:
    """The host's settlement actions for messages this bus delivered (see handlers.settlement)."""

    def __init__(self, bus: LocalBus) -> None:
        self._bus = bus

    def complete(self, msg: Any) -> None:
        self._bus._settle(msg.lock_token, "completed")

    def dead_letter(self, msg: Any, reason: str, description: str) -> None:
        self._bus._settle(msg.lock_token, "dead-lettered", reason, description)

    def abandon(self, msg: Any) -> None:
        self._bus._settle(msg.lock_token, "abandoned")


def _functions_message(env: Envelope, lock_token: str) -> FunctionsServiceBusMessage:
    m = env.message
    return FunctionsServiceBusMessage(
        body=m.body, message_id=m.message_id, session_id=m.session_id, reply_to=m.reply_to,
        reply_to_session_id=m.reply_to_session_id,
        correlation_id=m.correlation_id, content_type=m.content_type, delivery_count=env.delivery_count,
        application_properties=dict(m.application_properties), user_properties=dict(m.application_properties),
        lock_token=lock_token, sequence_number=env.sequence_number,
        enqueued_time_utc=datetime.fromtimestamp(env.enqueued_at, tz=UTC),
        scheduled_enqueue_time_utc=(datetime.fromtimestamp(m.scheduled_at, tz=UTC)
                                    if m.scheduled_at else None))
