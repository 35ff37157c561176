"""The grammar of the ids the service accepts besides cluster ids: request ids and profile names.

One module, imported by every entry point (queue messages, events, the sweep, the status API, the CLI) and
published as the same patterns in `schemas/install-request.v1.schema.json` (tests/contract checks both agree).
ASCII only, so no Unicode case folding or normalisation can make two readers see two ids, and no id can be a
dot segment: ids become Table keys, URL path segments, log fields and message ids. Ids the service does not
choose (message ids, event ids) are turned into one of these by `derived_id`, never refused for their characters.
"""
from __future__ import annotations

import hashlib
import re
from typing import TypeGuard

REQUEST_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
PROFILE_NAME_PATTERN = "^[a-z0-9][a-z0-9-]{0,62}$"
REQUEST_ID_RULE = "1-128 ASCII letters, digits, '.', '_', ':' or '-', starting with a letter or digit"
PROFILE_NAME_RULE = "1-63 lower-case ASCII letters, digits and hyphens, starting with a letter or digit"

# Service Bus queue names: letters, digits, '.', '-', '_' and '/' between path segments, at most 260.
_QUEUE_SEGMENT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,258}[A-Za-z0-9])?", re.ASCII)


def _exact(pattern: str) -> re.Pattern[str]:
    """The published pattern as Python reads it exactly (ECMA-262's `$` ends the text; Python's allows a newline)."""
    return re.compile(pattern.removesuffix("$") + r"\Z", re.ASCII)


_REQUEST_ID = _exact(REQUEST_ID_PATTERN)
_PROFILE_NAME = _exact(PROFILE_NAME_PATTERN)


def is_request_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _REQUEST_ID.match(value) is not None


def is_profile_name(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _PROFILE_NAME.match(value) is not None


def derived_id(prefix: str, foreign: str) -> str:
    """An id of the request-id grammar made from text the service does not choose (an event id, a message id):
    `prefix + foreign` when that is one already (readable, and the same on every delivery), else `prefix` and a
    digest of the text, so the same text always gives the same id and no character can make it invalid."""
    candidate = prefix + foreign
    if is_request_id(candidate):
        return candidate
    return prefix + hashlib.sha256(foreign.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def message_request_id(message_id: str) -> str:
    """The request id of a message whose body names none: its message id when that is one, else derived from it
    (the ledger keeps the message id itself beside it, and the reply's CorrelationId is the message id)."""
    return message_id if is_request_id(message_id) else derived_id("msg-", message_id)


def reply_queue_problem(reply_to: str, request_queue: str) -> str | None:
    """Why the service will not send a reply to `reply_to` (None: it will). A reply goes to a queue of the same
    namespace, never to the service's own request queue (a loop), never through a dot segment."""
    segments = reply_to.split("/")
    if len(reply_to) > 260 or not all(_QUEUE_SEGMENT.fullmatch(s) for s in segments):
        return ("is not a Service Bus queue name (1-260 ASCII letters, digits, '.', '-', '_', '/' between segments, "
                "each starting and ending with a letter or digit)")
    if reply_to.lower() == request_queue.lower():
        return "names the service's own request queue; a reply there would be read as a new request"
    return None
