"""Settling queue messages from the function: complete, dead-letter with a reason, or abandon for a retry.

The contract (README, "host.json, on purpose"): automatic completion is off for both queues
(`autoCompleteMessages: false` in host.json and `auto_complete_messages=False` on the trigger), because Microsoft
documents that a function settling messages itself needs it off; otherwise the host completes a message the
function has already dead-lettered. So the function settles every message exactly once, on every path.

In Azure the Functions host's settlement gRPC service does it, through `azurefunctions-extensions-bindings-
servicebus`: `ServiceBusMessageActions` accepts any message object with a `lock_token` and sends
`str(message.lock_token)`, which the classic `func.ServiceBusMessage` carries from the trigger metadata. The
package is imported on first settlement, so it costs nothing at indexing. The local bus (`localazure.bus`) plugs
in its own settler via `use_settler`, and fails a test when a message is settled twice or not at all.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import azure.functions as func

from shared.log_context import get_logger
from shared.pipeline.processing import InboundMessage, Settlement

log = get_logger("argoboot.requests")


class MessageSettler(Protocol):
    def complete(self, msg: func.ServiceBusMessage) -> None: ...
    def dead_letter(self, msg: func.ServiceBusMessage, reason: str, description: str) -> None: ...
    def abandon(self, msg: func.ServiceBusMessage) -> None: ...


class FunctionsHostSettler:
    """Settles through the Functions host's settlement gRPC service, by the message's lock token."""

    @staticmethod
    def _actions() -> Any:
        from azurefunctions.extensions.bindings.servicebus import ServiceBusMessageActions

        return ServiceBusMessageActions.get_instance()

    def complete(self, msg: func.ServiceBusMessage) -> None:
        self._actions().complete(msg)

    def dead_letter(self, msg: func.ServiceBusMessage, reason: str, description: str) -> None:
        # Service Bus keeps 4096 characters of each; the service's reasons and descriptions are far shorter.
        self._actions().deadletter(msg, deadletter_reason=reason[:4096],
                                   deadletter_error_description=description[:4096])

    def abandon(self, msg: func.ServiceBusMessage) -> None:
        self._actions().abandon(msg)


_override: MessageSettler | None = None


def settler() -> MessageSettler:
    return _override or FunctionsHostSettler()


def use_settler(replacement: MessageSettler | None) -> None:
    global _override
    _override = replacement


def settle(msg: func.ServiceBusMessage, run: Callable[[InboundMessage], Settlement]) -> None:
    """Run one message and settle it exactly once: dead-letter with the reason `run` gives, else complete; an
    unexpected failure (ledger or bus unreachable) abandons it, so Service Bus redelivers it at once, until its max
    delivery count, then dead-letters it; the exception still propagates, so the host records the failed call."""
    inbound = InboundMessage(
        body=msg.get_body(), message_id=msg.message_id, session_id=msg.session_id, reply_to=msg.reply_to,
        reply_to_session_id=msg.reply_to_session_id, correlation_id=msg.correlation_id,
        delivery_count=msg.delivery_count, application_properties=dict(msg.application_properties or {}))
    actions = settler()
    try:
        settlement = run(inbound)  # logs an unexpected failure before it propagates
    except Exception:
        try:
            actions.abandon(msg)
        except Exception:  # the lock is lost or the host unreachable: the lock's expiry redelivers it
            log.exception("message=%s could not be abandoned; it is redelivered when its lock expires",
                          msg.message_id)
        raise
    if settlement.dead_letter:
        actions.dead_letter(msg, settlement.dead_letter_reason or "", settlement.dead_letter_description or "")
    else:
        actions.complete(msg)
