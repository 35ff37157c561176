"""Client-side pacing of ARM requests, so that ARM's limits slow a burst of clusters down instead of failing it.

Called by `shared.azure.pacing_policy.PacingPolicy`, which sits in the pipeline of every ARM client
`shared.azure.arm_gateway.ArmGateway` builds and asks before each attempt (azure-core's retries included: ARM
counts those too).

The model is ARM's own: a token bucket per subscription and request kind (reads: 250 at once, then 25 per second;
writes and deletes: 200, then 10 per second) plus the Managed Identity provider's limit on identity creates (about
2 per second); the `ARM_PACE_*` app settings set them. A request goes when every bucket it draws on has a token.
When one has not:

- a short wait (up to `ARM_PACE_MAX_SLEEP_SECONDS`) is slept in the handler: cheaper than a trip through the queue;
- a longer one is never slept. The request's tokens are *reserved* (the buckets go below zero, so later requests
  line up behind it), nothing is sent, and `Paced` (an `AzureError`, status 429, with `retry_after`) makes the
  reconciler end the run WAITING. The continuation makes the same request (same method and path), finds its
  reservation due and goes without drawing again. So each deferred cluster comes back once, in its turn, instead of
  N clusters retrying into an empty bucket N times each. A reservation not claimed within `claim_grace` of its time
  (the run went another way) is given back.

ARM stays the judge: every reply's `x-ms-ratelimit-remaining-subscription-*` header lowers a bucket to what ARM
says is left, and a 429 empties the request's buckets until its `Retry-After`.

Pacing is per instance (in process). With several Functions instances, each paces alone against the whole budget;
the remaining-requests headers make each one see what the others spent, so together they overshoot by at most what
is in flight at once, and the 429s that still happen are honoured (short ones slept, long ones waited for by
continuation), never failed.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from shared.azure.errors import AzureError
from shared.log_context import get_logger

log = get_logger("argoboot.pacing")

#: (subscription, kind); kinds are ARM's buckets plus the Managed Identity provider's identity creates.
BucketKey = tuple[str, str]
KINDS = ("reads", "writes", "deletes", "identity-creates")
PACED = "RequestsPaced"
SCARCE_AFTER_429 = 60.0  # seconds after ARM throttled a kind of request during which its budget counts as spent
_KIND_BY_METHOD = {"GET": "reads", "HEAD": "reads", "PUT": "writes", "PATCH": "writes", "POST": "writes",
                   "DELETE": "deletes"}


@dataclass(frozen=True)
class Limit:
    """A token bucket: `burst` requests at once, then `per_second`."""

    burst: int
    per_second: float

    @classmethod
    def parse(cls, text: str) -> Limit | None:
        """`<burst>/<per second>` (e.g. `200/10`), or `off` for no pacing; ValueError says what is wrong."""
        if text.strip().lower() == "off":
            return None
        burst, slash, rate = text.partition("/")
        try:
            limit = cls(int(burst), float(rate)) if slash else None
        except ValueError:
            limit = None
        if limit is None or limit.burst < 1 or limit.per_second <= 0:
            raise ValueError(f"{text!r} is not <burst>/<per second> with a burst of at least 1 and a positive rate "
                             "(e.g. 200/10), nor off")
        return limit


#: ARM's limits per subscription and principal (reads, writes, deletes), and the Managed Identity provider's on
#: identity creates (2 per second; the burst of 10 is the local ARM's): the defaults of the ARM_PACE_* settings.
ARM_LIMITS = {"reads": Limit(250, 25.0), "writes": Limit(200, 10.0), "deletes": Limit(200, 10.0),
              "identity-creates": Limit(10, 2.0)}


class Paced(AzureError):
    """The request was not sent: its slot is reserved `retry_after` seconds from now; try again then."""

    def __init__(self, keys: Sequence[BucketKey], retry_after: float) -> None:
        kinds = " and ".join(kind for _, kind in keys)
        super().__init__(429, PACED, f"pacing {kinds} in subscription {keys[0][0]} to ARM's limits (slot reserved)",
                         retry_after)

    @property
    def summary(self) -> str:
        return self.message


def arm_request_keys(method: str, url: str) -> tuple[str, tuple[BucketKey, ...]] | None:
    """The request's holder name (method and path, what a continuation sends again) and the buckets it draws on;
    None when ARM does not count it against a subscription."""
    path = unquote(urlsplit(url).path).rstrip("/").lower()
    segments = path.strip("/").split("/")
    kind = _KIND_BY_METHOD.get(method.upper())
    if kind is None or len(segments) < 2 or segments[0] != "subscriptions":
        return None
    keys = [(segments[1], kind)]
    if method.upper() == "PUT" and len(segments) == 8 and \
            segments[5:7] == ["microsoft.managedidentity", "userassignedidentities"]:
        keys.append((segments[1], "identity-creates"))
    return f"{method.upper()} {path}", tuple(keys)


@dataclass
class _Bucket:
    """`tokens` is what ARM has left minus what is reserved (so it goes negative); at most `burst - reserved`."""

    limit: Limit
    tokens: float
    updated: float
    reserved: int = 0

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)  # a clock that steps back adds nothing
        self.tokens = min(self.limit.burst - self.reserved, self.tokens + elapsed * self.limit.per_second)
        self.updated = max(self.updated, now)

    def wait(self) -> float:
        """Seconds until one more token is there."""
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.limit.per_second


@dataclass(frozen=True)
class _Reservation:
    due: float
    keys: tuple[BucketKey, ...]


class Pacer:
    """Token buckets per (subscription, kind), shared by every thread of the instance."""

    def __init__(self, limits: Mapping[str, Limit], *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, max_sleep: float = 2.0,
                 claim_grace: float = 60.0) -> None:
        unknown = set(limits) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown request kinds {sorted(unknown)}; pace {', '.join(KINDS)}")
        self.max_sleep = max_sleep
        self._limits = dict(limits)
        self._clock = clock
        self._sleep = sleep
        self._claim_grace = claim_grace
        self._buckets: dict[BucketKey, _Bucket] = {}
        self._reservations: dict[str, _Reservation] = {}
        self._throttled_at: dict[BucketKey, float] = {}  # last 429 per bucket, paced or not
        self._lock = threading.Lock()

    def acquire(self, holder: str, keys: Sequence[BucketKey]) -> None:
        """Return when the request may go (at once, or after a short sleep); raise `Paced` when it must wait longer."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            reservation = self._reservations.get(holder)
            if reservation is not None:
                wait = reservation.due - now
                if wait > self.max_sleep:
                    raise Paced(reservation.keys, wait)
                self._claim(holder, now)
            else:
                wait = self._take(holder, tuple(keys), now)
        if wait > 0:
            self._sleep(wait)

    def throttled(self, keys: Sequence[BucketKey], retry_after: float) -> None:
        """ARM answered 429: no new request from these buckets before `retry_after` seconds."""
        with self._lock:
            now = self._clock()
            for key in keys:
                self._throttled_at[key] = now
            for bucket in self._refilled(keys, now):
                bucket.tokens = min(bucket.tokens, 1 - retry_after * bucket.limit.per_second)

    def headroom(self, subscription: str, kind: str = "reads") -> float:
        """The share of the subscription's bucket left (1.0 when not paced; 0 for a while after ARM answered 429,
        paced or not): the poll schedule stretches its gaps when reads grow scarce rather than spend them on checks."""
        key = (subscription.lower(), kind)
        with self._lock:
            now = self._clock()
            if now - self._throttled_at.get(key, -SCARCE_AFTER_429) < SCARCE_AFTER_429:
                return 0.0
            buckets = self._refilled((key,), now)
            if not buckets:
                return 1.0
            return min(1.0, max(0.0, buckets[0].tokens / buckets[0].limit.burst))

    def remaining(self, key: BucketKey, remaining: int) -> None:
        """ARM says `remaining` requests are left in this bucket (other instances spend from it too)."""
        with self._lock:
            for bucket in self._refilled((key,), self._clock()):
                bucket.tokens = min(bucket.tokens, remaining - bucket.reserved)

    def _take(self, holder: str, keys: tuple[BucketKey, ...], now: float) -> float:
        buckets = self._refilled(keys, now)
        if not buckets:
            return 0.0
        wait = max(bucket.wait() for bucket in buckets)
        for bucket in buckets:
            bucket.tokens -= 1
        if wait > self.max_sleep:
            for bucket in buckets:
                bucket.reserved += 1
            self._reservations[holder] = _Reservation(now + wait, keys)
            log.info("paced %s: reserved a slot in %.1fs", holder, wait)
            raise Paced(keys, wait)
        return wait

    def _claim(self, holder: str, now: float) -> None:
        reservation = self._reservations.pop(holder)
        for bucket in self._refilled(reservation.keys, now):
            bucket.reserved -= 1

    def _expire(self, now: float) -> None:
        """Give back the tokens of reservations nobody came for."""
        for holder, reservation in list(self._reservations.items()):
            if now > reservation.due + self._claim_grace:
                for bucket in self._refilled(reservation.keys, now):
                    bucket.reserved -= 1
                    bucket.tokens += 1
                del self._reservations[holder]
                log.info("paced %s: reservation not claimed; its slot is given back", holder)

    def _refilled(self, keys: Sequence[BucketKey], now: float) -> list[_Bucket]:
        buckets = []
        for key in keys:
            limit = self._limits.get(key[1])
            if limit is None:
                continue
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(limit, float(limit.burst), now)
            bucket.refill(now)
            buckets.append(bucket)
        return buckets
