"""One read in flight per key: runs of the same instance that ask for the same subscription-wide fact at the same
time (a provider's state, a region's extension versions) share one ARM request instead of each making its own.

Eight sessions take the first events of a burst at once, and every cluster pass of a subscription starts by reading
the same providers and then the region's `Microsoft.ArgoCD` versions. Against a throttled subscription those copies
spend the read bucket that the clusters' own reads need. Why sharing is safe: a run that joins a read in flight gets
an answer ARM gave after the run asked, or at most one request's round trip before (the read had started when it
joined), which is as fresh as its own read would be; nothing is kept beyond that request (what is cached, and for
how long, stays the caller's: `ProviderCache`, `ReadCache`). ARM's 429 on the shared read is shared too: it says the
subscription's read bucket is empty, so the waiting runs' own reads would meet it as well, and their passes wait for
its `Retry-After` as the reader's does. Any other failure (the pacer's deferral, which reserved a slot for the
reader's pass only, or an error) is not shared: each waiting run then reads for itself. Per instance, in process:
another instance reads for itself.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from shared.azure.errors import AzureError
from shared.azure.pacing import PACED

T = TypeVar("T")


@dataclass
class _Flight:
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False
    value: Any = None
    throttled: AzureError | None = None  # ARM's 429 on the read, shared with the runs that waited on it


@dataclass
class SingleFlight:
    """Coalesces concurrent reads of the same key (see the module docstring)."""

    _flights: dict[Hashable, _Flight] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    shared: int = 0  # reads answered by another run's request (for tests and figures)

    def read(self, key: Hashable, read: Callable[[], T]) -> T:
        """`read()`'s answer, or the answer of the same read another run has in flight."""
        while True:
            with self._lock:
                flight = self._flights.get(key)
                leading = flight is None
                if flight is None:
                    flight = self._flights[key] = _Flight()
            if leading:
                return self._lead(key, flight, read)
            flight.done.wait()
            if flight.ok or flight.throttled is not None:
                with self._lock:
                    self.shared += 1
                if (throttled := flight.throttled) is not None:  # each run raises its own copy of ARM's answer
                    raise AzureError(throttled.status, throttled.code, throttled.message, throttled.retry_after)
                return flight.value  # type: ignore[no-any-return]
            # The read it waited on failed: read for itself (or join the next one in flight).

    def _lead(self, key: Hashable, flight: _Flight, read: Callable[[], T]) -> T:
        try:
            value = flight.value = read()
            flight.ok = True
            return value
        except AzureError as exc:
            if exc.status == 429 and exc.code != PACED:
                flight.throttled = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()
