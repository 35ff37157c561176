"""Reading a message body as JSON within limits, so that a hostile body is refused, never a crash.

Python's parser raises RecursionError on deep nesting, ValueError on a 5,000-digit number, accepts NaN and
Infinity (not JSON), keeps the last of two equal keys (another reader may keep the first) and lets lone
surrogates through. Each of those is refused here with its own reason, before the body is looked at.
"""
from __future__ import annotations

import json
from typing import Any

from shared.errors import RequestRejected
from shared.untrusted import echo, shown

MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 16  # a request needs 4 (body, overrides, a section, a value): plenty of room, no recursion limit


def load_json(body: bytes) -> Any:
    """The body's JSON value; raise RequestRejected (BodyTooLarge, InvalidJson, JsonTooDeep, DuplicateKey)."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestRejected("BodyTooLarge", f"the body has {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestRejected("InvalidJson", f"the body is not UTF-8 ({exc.reason} at byte {exc.start}); send a "
                              'UTF-8 JSON object {"schemaVersion": 1, "action": "bootstrap", '
                              '"clusterResourceId": "..."}') from None
    depth = _depth(text)
    if depth > MAX_DEPTH:
        raise RequestRejected("JsonTooDeep", f"the body nests arrays and objects {depth} levels deep; at most "
                              f"{MAX_DEPTH} are accepted (a request needs 4)")
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except _DuplicateKey as exc:
        raise RequestRejected("DuplicateKey", f"key {shown(exc.key)} appears twice in one object; JSON readers "
                              "disagree on which one counts, so send each key once") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, and numbers past Python's digit limit
        raise RequestRejected("InvalidJson", f"the body is not JSON ({exc}); send a JSON object "
                              '{"schemaVersion": 1, "action": "bootstrap", "clusterResourceId": "..."}') from None
    surrogate = _lone_surrogate(data)
    if surrogate is not None:
        raise RequestRejected("InvalidJson", f"{echo(surrogate)} holds a lone UTF-16 surrogate (\\ud800-\\udfff "
                              "without its pair), which is no character; send UTF-8 text")
    return data


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(key)
        found[key] = value
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(text: str) -> int:
    """How deep arrays and objects nest (brackets inside strings do not count); 0 when too few brackets to
    matter, and it stops counting past the limit."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return 0  # cannot be too deep: skip the scan
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def _lone_surrogate(value: Any, where: str = "the body") -> str | None:
    """Where a string (or a key) holds a lone surrogate, or None. The depth is bounded by MAX_DEPTH."""
    if isinstance(value, str):
        return where if any("\ud800" <= ch <= "\udfff" for ch in value) else None
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if _lone_surrogate(key) is not None:
                return f"a key in {where}"
            items.append((f"{where}.{key}" if where != "the body" else key, item))
    elif isinstance(value, list):
        items = [(f"{where}[{i}]", item) for i, item in enumerate(value)]
    for path, item in items:
        found = _lone_surrogate(item, path)
        if found is not None:
            return found
    return None
