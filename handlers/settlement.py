"""Explicit dead-lettering for the queue trigger, so a refused request carries its reason and description.

The standard Python binding cannot settle messages; the Functions host's settlement service can, through
`azurefunctions-extensions-bindings-servicebus`. It is imported only when a message is refused, so it
costs nothing at indexing. The local bus (`localazure.bus`) plugs in its own settler via `use_settler`.
"""
from __future__ import annotations

from typing import Protocol

import azure.functions as func


class MessageSettler(Protocol):
    def dead_letter(self, msg: func.ServiceBusMessage, reason: str, description: str) -> None: ...


class FunctionsHostSettler:
    """Dead-letters through the Functions host's settlement gRPC service, by the message's lock token."""

    def dead_letter(self, msg: func.ServiceBusMessage, reason: str, description: str) -> None:
        from azurefunctions.extensions.bindings.servicebus import ServiceBusMessageActions

        ServiceBusMessageActions.get_instance().deadletter(
            msg, deadletter_reason=reason[:4096], deadletter_error_description=description[:4096])


_override: MessageSettler | None = None


def settler() -> MessageSettler:
    return _override or FunctionsHostSettler()


def use_settler(replacement: MessageSettler | None) -> None:
    global _override
    _override = replacement
