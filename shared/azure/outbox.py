"""Messages the service sends: install requests, continuations and replies.

The handlers depend on the `Outbox` protocol; in Azure it is
`shared.azure.service_bus_outbox.ServiceBusOutbox` (azure-servicebus with the app's identity), locally the Service
Bus stand-in in `localazure.bus`. Message ids are deterministic wherever a retry could send the same thing twice,
so duplicate detection drops them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to a queue; `scheduled_at` (epoch seconds) defers delivery, `session_id` keeps per-cluster order."""

    queue: str
    body: bytes
    message_id: str
    session_id: str | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    reply_to_session_id: str | None = None
    scheduled_at: float | None = None
    application_properties: dict[str, str | int] = field(default_factory=dict)
    content_type: str = "application/json"


class Undeliverable(Exception):
    """The destination cannot take this message (no such queue, a disabled one, a message it refuses as it is):
    sending it again cannot help. Anything else an outbox raises (the bus unreachable) is worth a retry."""


class Outbox(Protocol):
    def send(self, message: OutgoingMessage) -> None:
        """Send or schedule; raise Undeliverable when retrying cannot help."""
