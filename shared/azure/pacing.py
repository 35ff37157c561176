"""Client-side pacing of ARM requests, so that ARM's limits slow a burst of clusters down instead of failing it.

Called by `shared.azure.pacing_policy.PacingPolicy`, which sits in the pipeline of every ARM client
`shared.azure.arm_gateway.ArmGateway` builds and asks before each attempt (azure-core's retries included: ARM
counts those too).

The model is ARM's own: a token bucket per subscription and request kind (reads: 250 at once, then 25 per second;
writes and deletes: 200, then 10 per second) plus the Managed Identity provider's limit on identity creates (about
2 per second); the `ARM_PACE_*` app settings set them. A request goes when every bucket it draws on has a token.
When one has not:

- a short wait (up to `ARM_PACE_MAX_SLEEP_SECONDS`) is slept in the handler: cheaper than a trip through the queue;
- a longer one is never slept. Nothing is sent; tokens are *reserved* (the buckets go below zero, so later requests
  line up behind them), and `Paced` (an `AzureError`, status 429, with `retry_after`) makes the reconciler end the
  run WAITING. A reconcile pass starts over from its first read when it comes back, so the reconciler runs each
  pass inside `paced_pass`, and the reservation is the pass's: every request it made so far, or what passes of its
  kind usually cost, whichever is more. The continuation comes back at the reservation's time, makes its requests
  from the reserved tokens and gives back what it did not use. So each deferred cluster comes back once, in its
  turn, instead of re-reading into an empty bucket a step at a time. (A request outside any pass reserves for
  itself, under its method and path.) A reservation not claimed within `claim_grace` of its time (the run went
  another way) is given back.

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
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from shared.azure.errors import AzureError
from shared.log_context import get_logger

log = get_logger("argoboot.pacing")

#: (subscription, kind); kinds are ARM's buckets plus the Managed Identity provider's identity creates.
BucketKey = tuple[str, str]
KINDS = ("reads", "writes", "deletes", "identity-creates")
PACED = "RequestsPaced"
COST_SAMPLES = 16  # complete passes per shape whose median cost a pass of that shape is admitted with
SCARCE_AFTER_429 = 60.0  # seconds after ARM throttled a kind of request during which its budget counts as spent
RATE_RECOVERY = 1.05  # a bucket's believed refill grows by this factor per request ARM grants (up to the setting)
RATE_FLOOR = 1 / 1000  # the lowest believed refill, as a share of the setting's
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
    """`tokens` is what ARM has left minus what is reserved (so it goes negative); at most `burst - reserved`.
    `rate` is the refill ARM is believed to grant: the setting's, halved by each round of 429s, and back up by
    RATE_RECOVERY per request ARM grants (see `Pacer.throttled`)."""

    limit: Limit
    tokens: float
    updated: float
    rate: float
    reserved: int = 0
    lowered: float = float("-inf")  # when a 429 last halved `rate`

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)  # a clock that steps back adds nothing
        self.tokens = min(self.limit.burst - self.reserved, self.tokens + elapsed * self.rate)
        self.updated = max(self.updated, now)

    def wait(self, amount: float = 1.0) -> float:
        """Seconds until `amount` tokens are there."""
        return 0.0 if self.tokens >= amount else (amount - self.tokens) / self.rate


@dataclass(frozen=True)
class _Reservation:
    due: float
    amounts: Mapping[BucketKey, int]  # tokens held per bucket, for every request of the pass that comes back
    cause: tuple[BucketKey, ...]  # the buckets of the request that was deferred (what `Paced` names)


@dataclass
class _Pass:
    """The requests of one reconcile pass, paced as one (see `paced_pass`); a request outside any pass is a pass of
    its own, named by its method and path."""

    holder: str
    shape: str | None = None  # what kind of pass (the caller's word): passes of a shape cost alike
    resumed: bool = False  # it continues a pass ARM interrupted: its reads are recalled, it costs less than its shape
    kept: int = 0  # reads it made that a continuation gets back (`shared.azure.pass_memory`), not made again
    made: Counter[BucketKey] = field(default_factory=Counter)
    pacers: list[Pacer] = field(default_factory=list)


_PASS: ContextVar[_Pass | None] = ContextVar("argoboot_paced_pass", default=None)


@contextmanager
def paced_pass(holder: str, shape: str, *, resumed: bool = False) -> Iterator[None]:
    """Pace the ARM requests made inside as one pass of `holder` (a cluster's reconcile). The pass is admitted with
    what passes of the same `shape` usually cost, taken at its first request, or deferred whole before it sends
    anything; deferred half-way (it cost more than usual), it reserves the request that waited and the reads it will
    make again, or what its shape usually costs, whichever is more. Its continuation then goes through without a
    second deferral a step later, and tokens it does not use are given back when the pass ends. `resumed`: the pass
    continues one that ARM or the pacer interrupted (its reads are recalled, `shared.azure.pass_memory`): it comes
    with its reservation, or is paced per request, and its cost says nothing about its shape's."""
    current = _Pass(holder.lower(), shape, resumed)
    token = _PASS.set(current)
    try:
        yield
    finally:
        _PASS.reset(token)
        for pacer in current.pacers:
            pacer.settle(current)


def keeps_reads(count: int) -> None:
    """`count` reads of the running pass are kept for its continuation, which will not make them again."""
    current = _PASS.get()
    if current is not None:
        current.kept = count


def grow_pass(shape: str) -> None:
    """The running pass turned out to be of `shape` (a poll that found the wait over goes on as a whole pass): a
    deferral from now on reserves the rest of what that shape costs."""
    current = _PASS.get()
    if current is not None:
        current.shape = shape


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
        self._prepaid: dict[str, Counter[BucketKey]] = {}  # tokens of a pass let in from its reservation, not yet used
        self._costs: dict[str, deque[Counter[str]]] = {}  # per shape: requests per kind of its last complete passes
        self._throttled_at: dict[BucketKey, float] = {}  # last 429 per bucket, paced or not
        self._lock = threading.Lock()

    def acquire(self, holder: str, keys: Sequence[BucketKey]) -> None:
        """Return when the request may go (at once, or after a short sleep); raise `Paced` when it must wait longer.
        `holder` names the request (method and path) when it is made outside a `paced_pass`."""
        current = _PASS.get()
        run = current if current is not None else _Pass(holder)
        with self._lock:
            now = self._clock()
            self._expire(now)
            if current is not None and self not in current.pacers:
                current.pacers.append(self)
            wait = self._admit(run.holder, now)
            if current is not None and not run.made and not run.resumed and run.holder not in self._prepaid:
                wait = max(wait, self._enter(run, tuple(keys), now))
            run.made.update(keys)
            wait = max(wait, self._draw(run, tuple(keys), now))
        if wait > 0:
            self._sleep(wait)

    def settle(self, run: _Pass) -> None:
        """The pass is over: give back the tokens it was let in with and did not use; learn what a complete pass of
        its shape costs (a deferred one is not complete: it comes back)."""
        with self._lock:
            now = self._clock()
            for key, left in self._prepaid.pop(run.holder, Counter()).items():
                for bucket in self._refilled((key,), now):
                    bucket.tokens += left
            if run.shape is not None and not run.resumed and run.holder not in self._reservations:
                costs = Counter[str]()
                for (_, kind), count in run.made.items():
                    costs[kind] += count
                self._costs.setdefault(run.shape, deque(maxlen=COST_SAMPLES)).append(costs)

    def throttled(self, keys: Sequence[BucketKey], retry_after: float) -> None:
        """ARM answered 429: no new request from these buckets before `retry_after` seconds, and ARM refills them
        slower than believed (someone else spends from them, or the subscription's limits are lower): their rate is
        halved, once per `retry_after` (the 429s of requests sent together are one round), but not below a request
        per `retry_after` + 1 seconds (ARM's Retry-After is the time to its next token, in whole seconds)."""
        with self._lock:
            now = self._clock()
            for key in keys:
                self._throttled_at[key] = now
            for bucket in self._refilled(keys, now):
                if now - bucket.lowered >= retry_after:
                    # ARM grants the next one within Retry-After (whole seconds, rounded up): never believed slower
                    floor = max(bucket.limit.per_second * RATE_FLOOR, 1 / (retry_after + 1))
                    bucket.rate = max(min(floor, bucket.rate), bucket.rate / 2)
                    bucket.lowered = now
                bucket.tokens = min(bucket.tokens, 1 - retry_after * bucket.rate)

    def granted(self, keys: Sequence[BucketKey]) -> None:
        """ARM answered a request without throttling it: the buckets' believed refill grows back towards the setting."""
        with self._lock:
            for bucket in self._refilled(keys, self._clock()):
                bucket.rate = min(bucket.limit.per_second, bucket.rate * RATE_RECOVERY)

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

    def _admit(self, holder: str, now: float) -> float:
        """A pass that comes back for its reservation: too early, it is deferred again (same slot); in time, its
        tokens become its own, and the seconds left to its slot are returned (slept: at most `max_sleep`)."""
        reservation = self._reservations.get(holder)
        if reservation is None:
            return 0.0
        wait = reservation.due - now
        if wait > self.max_sleep:
            raise Paced(reservation.cause, wait)
        del self._reservations[holder]
        prepaid = self._prepaid.setdefault(holder, Counter())
        for key, amount in reservation.amounts.items():
            for bucket in self._refilled((key,), now):
                bucket.reserved -= amount
            prepaid[key] += amount
        return max(0.0, wait)

    def _enter(self, run: _Pass, keys: tuple[BucketKey, ...], now: float) -> float:
        """A pass's first request: take at once what passes of its shape usually cost (its own tokens from then on),
        or defer the whole pass, reserving that much, when the buckets will not hold it within the max sleep.
        A shape with no complete pass yet is paced per request."""
        size = self._size(run.shape, keys)
        if not size:
            return 0.0
        size |= Counter(keys)  # and at least the request itself
        buckets = {key: bucket for key in size for bucket in self._refilled((key,), now)}
        waits = {key: bucket.wait(min(size[key], bucket.limit.burst)) for key, bucket in buckets.items()}
        wait = max(waits.values(), default=0.0)
        if wait > self.max_sleep:
            short = tuple(key for key in sorted(waits, key=lambda k: KINDS.index(k[1])) if waits[key] > self.max_sleep)
            wait = self._reserve(run, size, short, now)
            log.info("paced %s: reserved a slot in %.1fs", run.holder, wait)
            raise Paced(short, wait)  # named by the buckets it waits for
        prepaid = self._prepaid.setdefault(run.holder, Counter())
        for key, bucket in buckets.items():
            amount = min(size[key], bucket.limit.burst)
            bucket.tokens -= amount
            prepaid[key] += amount
        return wait

    def _size(self, shape: str | None, keys: tuple[BucketKey, ...]) -> Counter[BucketKey]:
        """What a pass of `shape` usually costs in the request's subscription (nothing when it is not known)."""
        usual = self._usual(shape)
        subscription = keys[0][0]
        return Counter({(subscription, kind): count for kind, count in usual.items() if count > 0})

    def _draw(self, run: _Pass, keys: tuple[BucketKey, ...], now: float) -> float:
        """Take the request's tokens (its pass's own first); defer the whole pass when a bucket is short too long."""
        prepaid = self._prepaid.get(run.holder, Counter())
        drawn = [key for key in keys if prepaid[key] <= 0]
        buckets = self._refilled(drawn, now)
        wait = max((bucket.wait() for bucket in buckets), default=0.0)
        if wait > self.max_sleep:
            wait = self._defer(run, keys, now)
            log.info("paced %s: reserved a slot in %.1fs", run.holder, wait)
            raise Paced(keys, wait)
        for key in keys:
            if prepaid[key] > 0:
                prepaid[key] -= 1
        for bucket in buckets:
            bucket.tokens -= 1
        if run.holder in self._prepaid and not +prepaid:
            del self._prepaid[run.holder]
        return wait

    def _defer(self, run: _Pass, keys: tuple[BucketKey, ...], now: float) -> float:
        """Reserve, for when the pass comes back, the request that waited and the reads it made and will make again
        (not those it gets back from `shared.azure.pass_memory`: `keeps_reads`; e.g. a poll of the extension), or
        what its shape usually costs (unless it resumes one: it got part of the way), whichever is more, per bucket;
        its writes went.
        The tokens it was let in with count towards it. So a resumed pass always gets further than the last one.
        Returns the seconds until every bucket has them."""
        amounts = Counter(keys)  # `made` counts it already
        amounts.update({key: max(0, count - amounts[key] - run.kept) for key, count in run.made.items()
                        if key[1] == "reads"})
        for key, usual in self._size(None if run.resumed else run.shape, keys).items():
            amounts[key] = max(amounts[key], usual)  # a resumed pass has got part of its way already
        return self._reserve(run, amounts, keys, now)

    def _reserve(self, run: _Pass, amounts: Counter[BucketKey], keys: tuple[BucketKey, ...], now: float) -> float:
        held = self._prepaid.pop(run.holder, Counter())
        due = now
        reserved: dict[BucketKey, int] = {}
        for key in set(amounts) | set(held):
            for bucket in self._refilled((key,), now):
                amount, have = min(amounts[key], bucket.limit.burst), held[key]  # ARM's bucket holds no more
                due = max(due, now + max(0.0, amount - have - bucket.tokens) / bucket.rate)
                bucket.tokens -= amount - have
                bucket.reserved += amount
                if amount:
                    reserved[key] = amount
        self._reservations[run.holder] = _Reservation(due, reserved, keys)
        return due - now

    def _usual(self, shape: str | None) -> Counter[str]:
        """The median requests per kind of the shape's last complete passes (none for a request on its own)."""
        passes = self._costs.get(shape or "", ())
        if not passes:
            return Counter()
        kinds = {kind for costs in passes for kind in costs}
        return Counter({kind: sorted(costs[kind] for costs in passes)[(len(passes) - 1) // 2] for kind in kinds})

    def _expire(self, now: float) -> None:
        """Give back the tokens of reservations nobody came for."""
        for holder, reservation in list(self._reservations.items()):
            if now > reservation.due + self._claim_grace:
                for key, amount in reservation.amounts.items():
                    for bucket in self._refilled((key,), now):
                        bucket.reserved -= amount
                        bucket.tokens += amount
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
                bucket = self._buckets[key] = _Bucket(limit, float(limit.burst), now, limit.per_second)
            bucket.refill(now)
            buckets.append(bucket)
        return buckets
