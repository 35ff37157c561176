"""What the local ARM does to a request before any route sees it: injected faults and ARM's throttling.

Both are switched on per test through `ArmEmulator.inject` and `ArmEmulator.throttle`; the emulator
holds its lock around every call here.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from localazure.arm.request import ArmError, Call
from localazure.arm.server import Reply

INTERNAL_ERROR = (
    "Encountered internal server error. Diagnostic information: timestamp '', subscription id '', "
    "tracking id '', request correlation id ''."
)

_BUCKETS = {"read": "reads", "write": "writes", "action": "writes", "delete": "deletes"}
_DEFAULT_LIMITS: dict[str, tuple[int, float]] = {"reads": (250, 25.0), "writes": (200, 10.0), "deletes": (200, 10.0)}


@dataclass
class Fault:
    method: str | None
    pattern: re.Pattern[str]
    status: int
    code: str
    message: str
    remaining: int
    retry_after: int | None
    drop: bool
    lose_response: bool = False  # do the request, then hang up: the client never learns it succeeded

    def matches(self, method: str, path: str) -> bool:
        return self.remaining > 0 and self.method in (None, method) and self.pattern.search(path) is not None

    def reply(self) -> Reply:
        headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        return Reply(self.status, {"error": {"code": self.code, "message": self.message}}, headers)


class Faults:
    """Faults waiting for their next matching request, first added first used."""

    def __init__(self) -> None:
        self._pending: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._pending.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        """The fault this request meets, if any, used up by one."""
        fault = next((f for f in self._pending if f.matches(method, path)), None)
        if fault is not None:
            fault.remaining -= 1
            if fault.remaining == 0:
                self._pending.remove(fault)
        return fault


@dataclass
class _Bucket:
    """ARM's token bucket: `size` requests at once, refilled at `refill` per (scaled) second."""

    size: int
    refill: float
    tokens: float
    updated: float

    def take(self, now: float, scale: float) -> float:
        """Take a token; 0 when granted, else the emulated seconds until one is available."""
        self.tokens = min(float(self.size), self.tokens + (now - self.updated) * scale * self.refill)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.refill


class RateLimits:
    """ARM's token buckets per subscription and request kind; unlimited until `configure`.

    Refill runs on real monotonic time multiplied by the `time_scale` passed to `take`, or, configured
    `on_clock`, on the emulator's clock (the request's `now`).
    """

    def __init__(self, actor: str) -> None:
        self._actor = actor  # the caller's object id, as ARM names it in 429 messages
        self._limits: dict[str, tuple[int, float]] | None = None
        self._on_clock = False
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def configure(self, limits: dict[str, tuple[int, float]], *, on_clock: bool = False) -> None:
        """Enforce these (bucket size, refill per second) by bucket name, with every bucket full."""
        self._limits = limits
        self._on_clock = on_clock
        self._buckets.clear()

    def take(self, call: Call, time_scale: float) -> None:
        """Spend the request's tokens, or refuse it with ARM's 429 and Retry-After."""
        if self._limits is None or call.subscription is None:
            return
        names = [_BUCKETS[call.kind]]
        if call.method == "PUT" and _is_identity_path(call.lower):
            names.append("identity-creates")
        now, scale = (call.now, 1.0) if self._on_clock else (time.monotonic(), time_scale)
        for name in names:
            limit = self._limits.get(name)
            if limit is None:
                continue
            bucket = self._buckets.setdefault(
                (call.subscription, name), _Bucket(limit[0], limit[1], float(limit[0]), now)
            )
            wait = bucket.take(now, scale)
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                operation = {"reads": "read", "deletes": "delete"}.get(name, "write")
                raise ArmError(
                    429,
                    "SubscriptionRequestsThrottled",
                    f"Number of '{operation}' requests for subscription '{call.subscription}' actor "
                    f"'{self._actor}' exceeded. Please try again after '{seconds}' seconds.",
                    headers={"Retry-After": str(seconds)},
                )

    def report(self, call: Call, reply: Reply) -> None:
        """Add the remaining-requests header ARM puts on every reply: per subscription, or the tenant's for
        tenant-level reads (`GET /subscriptions`, `/tenants`), which no bucket here limits."""
        name = _BUCKETS[call.kind]
        if call.subscription is None:
            reply.headers[f"x-ms-ratelimit-remaining-tenant-{name}"] = str(_DEFAULT_LIMITS[name][0] - 1)
            return
        bucket = self._buckets.get((call.subscription, name))
        remaining = int(bucket.tokens) if bucket is not None else _DEFAULT_LIMITS[name][0] - 1
        reply.headers[f"x-ms-ratelimit-remaining-subscription-{name}"] = str(remaining)


def _is_identity_path(lower: list[str]) -> bool:
    return len(lower) == 8 and lower[5:7] == ["microsoft.managedidentity", "userassignedidentities"]
