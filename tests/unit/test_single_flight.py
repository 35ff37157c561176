"""Concurrent reads of one subscription-wide fact share one ARM request (issue 28): `SingleFlight` itself, the
providers (`ProviderSteps.states`) and the pre-flight's region-wide reads (`ReadCache`), with real threads.

Each read is held open long enough (0.3 s) for every thread to ask while it is in flight; before single-flight,
each thread made its own request (the tests on the providers and the versions fail on that code)."""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.azure.errors import AzureError
from shared.azure.pacing import PACED
from shared.bootstrap.preflight import ReadCache
from shared.bootstrap.providers import ProviderCache, ProviderSteps
from shared.bootstrap.single_flight import SingleFlight

RUNS = 4
HELD = 0.3  # seconds a read stays in flight


def _at_once(call: Callable[[], Any]) -> list[Any]:
    """`call` from RUNS threads released together; each result, or the exception it raised."""
    start = threading.Barrier(RUNS)

    def run() -> Any:
        start.wait()
        try:
            return call()
        except AzureError as exc:
            return exc

    with ThreadPoolExecutor(RUNS) as pool:
        return list(pool.map(lambda _: run(), range(RUNS)))


class _Providers:
    """The provider reads of an AzureApi: every namespace Registered, each read held open."""

    def __init__(self) -> None:
        self.reads: Counter[str] = Counter()
        self._lock = threading.Lock()

    def provider_state(self, subscription: str, namespace: str) -> str:
        with self._lock:
            self.reads[namespace] += 1
        time.sleep(HELD)
        return "Registered"


def test_concurrent_passes_of_one_subscription_make_one_read_of_each_provider() -> None:
    api = _Providers()
    steps = ProviderSteps(api, ProviderCache(clock=time.monotonic, ttl=600))  # type: ignore[arg-type]
    states = _at_once(lambda: steps.states("sub-1"))
    assert all(s == {"Microsoft.Kubernetes": "Registered", "Microsoft.ContainerService": "Registered",
                     "Microsoft.KubernetesConfiguration": "Registered"} for s in states), states
    assert set(api.reads.values()) == {1}, api.reads  # before: 4 reads of the first namespace, one per pass
    assert steps.flights.shared == len(api.reads) * (RUNS - 1)


def test_concurrent_misses_of_a_region_wide_read_make_one_request() -> None:
    reads = []

    def versions() -> list[str]:
        reads.append(1)
        time.sleep(HELD)
        return ["1.0.0"]

    cache = ReadCache(clock=time.monotonic, ttl=600)
    assert _at_once(lambda: cache.get(("extension-types", "eastus", ""), versions)) == [["1.0.0"]] * RUNS
    assert len(reads) == 1  # before: one per pass that missed the cache


def _failing(error: AzureError) -> Callable[[], str]:
    calls = []

    def read() -> str:
        calls.append(1)
        time.sleep(HELD)
        if len(calls) == 1:
            raise error
        return "read again"

    read.calls = calls  # type: ignore[attr-defined]
    return read


def test_arm_throttling_the_shared_read_throttles_every_run_that_waited_on_it() -> None:
    read = _failing(AzureError(429, "SubscriptionRequestsThrottled", "reads throttled", retry_after=20.0))
    flights = SingleFlight()
    results = _at_once(lambda: flights.read("key", read))
    assert len(read.calls) == 1  # type: ignore[attr-defined]  # ARM's bucket is empty for all: nobody reads again
    assert all(isinstance(r, AzureError) and r.status == 429 and r.retry_after == 20.0 for r in results), results
    assert len({id(r) for r in results}) == RUNS  # each run raises its own error


@pytest.mark.parametrize("error", [AzureError(429, PACED, "slot reserved for the reader's pass", retry_after=9.0),
                                   AzureError(500, "InternalServerError", "try again")])
def test_a_deferral_or_an_error_is_not_shared_the_others_read_for_themselves(error: AzureError) -> None:
    read = _failing(error)
    flights = SingleFlight()
    results = _at_once(lambda: flights.read("key", read))
    assert sum(isinstance(r, AzureError) for r in results) == 1, results
    assert results.count("read again") == RUNS - 1
    assert len(read.calls) == 2  # type: ignore[attr-defined]  # the others shared the next read among them


def test_a_read_after_the_one_in_flight_ended_is_made_afresh() -> None:
    flights, reads = SingleFlight(), []
    for _ in range(2):
        flights.read("key", lambda: reads.append(1))
    assert len(reads) == 2 and flights.shared == 0  # nothing is kept beyond the request in flight
