"""Settling queue messages from the function: complete, dead-letter with a reason, or abandon for a retry.

The contract (README, "host.json, on purpose"): automatic completion is off for the install queue
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

from typing import Any, Protocol

import azure.functions as func


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
