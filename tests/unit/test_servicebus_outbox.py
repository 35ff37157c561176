"""The Service Bus outbox maps our messages onto azure-servicebus messages exactly (no broker runs here).

Only the broker is replaced: the real `ServiceBusMessage` objects are built and inspected.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.azure.outbox import OutgoingMessage, Undeliverable
from shared.azure.service_bus_outbox import ServiceBusOutbox


class RecordingSender:
    def __init__(self, fail: bool = False, error: Exception | None = None) -> None:
        self.sent: list[Any] = []
        self.scheduled: list[tuple[Any, datetime]] = []
        self.closed = False
        self.error = error or (ConnectionError("link detached") if fail else None)

    def send_messages(self, message: Any) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append(message)

    def schedule_messages(self, message: Any, when: datetime) -> None:
        self.scheduled.append((message, when))

    def close(self) -> None:
        self.closed = True


class RecordingClient:
    def __init__(self, *senders: RecordingSender) -> None:
        self.senders = list(senders)
        self.opened: list[str] = []

    def get_queue_sender(self, queue: str) -> RecordingSender:
        self.opened.append(queue)
        return self.senders.pop(0)


def outbox(client: RecordingClient) -> ServiceBusOutbox:
    box = ServiceBusOutbox("ns.servicebus.windows.net", credential=object())
    box._client = client
    return box


def test_messages_keep_ids_session_reply_and_schedule() -> None:
    sender = RecordingSender()
    client = RecordingClient(sender)
    box = outbox(client)
    box.send(OutgoingMessage(queue="q", body=b"{}", message_id="m1", session_id="/subscriptions/x", reply_to="r",
                             correlation_id="c1", application_properties={"argobootContinuation": 2}))
    box.send(OutgoingMessage(queue="q", body=b"{}", message_id="m2", session_id="s", scheduled_at=1_800_000_000.0))
    [sent] = sender.sent
    assert (sent.message_id, sent.session_id, sent.reply_to, sent.correlation_id, sent.content_type) == \
        ("m1", "/subscriptions/x", "r", "c1", "application/json")
    assert sent.application_properties == {"argobootContinuation": 2}
    [(scheduled, when)] = sender.scheduled
    assert scheduled.message_id == "m2" and when == datetime.fromtimestamp(1_800_000_000, tz=UTC)
    assert client.opened == ["q"]  # one sender per queue, reused


def test_a_failed_sender_is_closed_and_reopened() -> None:
    broken, fresh = RecordingSender(fail=True), RecordingSender()
    client = RecordingClient(broken, fresh)
    box = outbox(client)
    with pytest.raises(ConnectionError):
        box.send(OutgoingMessage(queue="q", body=b"1", message_id="a", session_id="s"))
    box.send(OutgoingMessage(queue="q", body=b"1", message_id="a", session_id="s"))
    assert broken.closed and [m.message_id for m in fresh.sent] == ["a"] and client.opened == ["q", "q"]


def test_a_queue_that_does_not_exist_or_a_message_it_cannot_take_is_undeliverable_not_a_retry() -> None:
    from azure.servicebus.exceptions import MessagingEntityNotFoundError

    not_found = MessagingEntityNotFoundError(message="The messaging entity 'sb://ns/nope' could not be found")
    missing = RecordingSender(error=not_found)
    box = outbox(RecordingClient(missing))
    with pytest.raises(Undeliverable, match="queue nope: The messaging entity"):
        box.send(OutgoingMessage(queue="nope", body=b"{}", message_id="reply-1"))
    assert missing.closed
    with pytest.raises(Undeliverable, match="message_id cannot be longer than 128"):
        box.send(OutgoingMessage(queue="q", body=b"{}", message_id="m" * 129))
    with pytest.raises(ConnectionError):  # the bus unreachable: worth a retry, so not Undeliverable
        outbox(RecordingClient(RecordingSender(fail=True))).send(OutgoingMessage(queue="q", body=b"1",
                                                                                 message_id="a"))
