"""Text from outside (message properties, ids, event fields, HTTP input) made safe to log and to echo.

A newline in a session id must not split a log record into two lines that look like the service's own, a
bidirectional override must not reorder what an operator reads, and an error body must not echo 64 KiB back.
The `argoboot` loggers pass every argument through `printable` (`shared.log_context`); whatever the service
echoes to a caller goes through `echo`, which also caps it.
"""
from __future__ import annotations

import re

#: How many characters of a value from outside an error message or a log line repeats.
ECHO_LIMIT = 200

# C0 and C1 controls, DEL, the Unicode line and paragraph separators, and the bidirectional controls.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def has_control(text: str, *, allow: str = "") -> bool:
    """Whether `text` holds a control character (other than those in `allow`, e.g. "\\n\\t" for multi-line text)."""
    return any(ch not in allow for ch in _UNSAFE.findall(text))


def printable(text: str) -> str:
    """`text` on one line: control characters as escapes (\\n, \\x1b, \\u2028), everything else kept."""
    return _UNSAFE.sub(_escape, text)


def echo(text: str, limit: int = ECHO_LIMIT) -> str:
    """Text from outside as an error message may repeat it: on one line, and at most `limit` characters of it."""
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text)} characters)"
    return printable(text)


def shown(value: object, limit: int = ECHO_LIMIT) -> str:
    """A JSON value from outside as an error message shows it: its repr (quoted, escaped), capped."""
    return echo(repr(value), limit)


def _escape(found: re.Match[str]) -> str:
    ch = found.group()
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
