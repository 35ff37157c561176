"""The outbox over Azure Service Bus (azure-servicebus), reached with the app's identity.

Implements `shared.azure.outbox.Outbox`; the SDK is imported on first send, so indexing stays fast.
"""
from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from shared.azure.outbox import OutgoingMessage, Undeliverable


class ServiceBusOutbox:
    """Sends through Azure Service Bus with an identity (no connection strings).

    One client per instance and one sender per queue, kept open: opening an AMQP link per message
    would cost more than the reconcile itself. Senders are not thread-safe, so each has a lock; a
    sender that failed is dropped and reopened on the next send.
    """

    def __init__(self, fully_qualified_namespace: str, credential: Any) -> None:
        self._namespace = fully_qualified_namespace
        self._credential = credential
        self._client: Any = None
        self._senders: dict[str, tuple[Any, threading.Lock]] = {}
        self._lock = threading.Lock()

    def _sender(self, queue: str) -> tuple[Any, threading.Lock]:
        from azure.servicebus import ServiceBusClient

        with self._lock:
            if self._client is None:
                self._client = ServiceBusClient(self._namespace, self._credential)
            if queue not in self._senders:
                self._senders[queue] = (self._client.get_queue_sender(queue), threading.Lock())
            return self._senders[queue]

    def send(self, message: OutgoingMessage) -> None:
        from azure.servicebus import ServiceBusMessage
        from azure.servicebus.exceptions import (
            MessagingEntityDisabledError,
            MessagingEntityNotFoundError,
            ServiceBusAuthorizationError,
            ServiceBusError,
        )

        try:
            sb_message = ServiceBusMessage(
                message.body, message_id=message.message_id, session_id=message.session_id,
                correlation_id=message.correlation_id, reply_to=message.reply_to,
                reply_to_session_id=message.reply_to_session_id, content_type=message.content_type,
                application_properties=dict(message.application_properties),  # type: ignore[arg-type]
            )
        except ValueError as exc:  # e.g. an id past 128 characters: the same message always fails
            raise Undeliverable(f"queue {message.queue}: {exc}") from exc
        sender, lock = self._sender(message.queue)
        try:
            with lock:
                if message.scheduled_at is None:
                    sender.send_messages(sb_message)
                else:
                    sender.schedule_messages(sb_message,
                                             datetime.fromtimestamp(message.scheduled_at, tz=UTC))
        except Exception as exc:
            with self._lock:
                self._senders.pop(message.queue, None)
            sender.close()
            refused = MessagingEntityNotFoundError | MessagingEntityDisabledError | ServiceBusAuthorizationError
            if isinstance(exc, refused):
                raise Undeliverable(f"queue {message.queue}: {exc}") from exc
            # A plain ServiceBusError the SDK marks not retryable is the entity refusing this message as it is (e.g.
            # no SessionId for a session-enabled entity): sending it again cannot help.
            if type(exc) is ServiceBusError and not getattr(exc, "_retryable", True):
                raise Undeliverable(f"queue {message.queue}: {exc}") from exc
            raise
