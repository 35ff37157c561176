"""The resource providers a cluster needs registered, read and registered by the reconciler's first step.

Provider registration is per subscription and slow (Azure answers `Registering` for seconds to minutes), so the
instance remembers what it read (`ProviderCache`): a provider seen Registered is not read again for a while, and one
seen in any other state (Registering, NotRegistered) is not read again before its own check is due, on the poll
schedule of `shared.bootstrap.poll_schedule` from when it was first seen so (0.5 s, then doubling up to
`PROVIDER_POLL_SECONDS`). However many clusters of a subscription wait on it, and however often a cluster being
created is checked, a registering provider costs one read per check of its own schedule. A registration in progress
ends the run with a WAITING outcome that the poll schedule follows (`Awaited("providers")`).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

from shared.azure.api import AzureApi
from shared.bootstrap.outcome import Awaited, Outcome, Phase, Run
from shared.bootstrap.poll_schedule import next_check
from shared.bootstrap.single_flight import SingleFlight

EXTENSIONS_NAMESPACE = "Microsoft.KubernetesConfiguration"  # where cluster extensions (and their types) live
REQUIRED_PROVIDERS = ("Microsoft.Kubernetes", "Microsoft.ContainerService", EXTENSIONS_NAMESPACE)
_REGISTERING = "registering"


def registered(states: dict[str, str], namespace: str) -> bool:
    """Whether the namespace (in any casing: ids carry it lower-cased at times) is Registered in `states`."""
    return next((s for n, s in states.items() if n.lower() == namespace.lower()), "").lower() == "registered"


@dataclass(frozen=True)
class _Pending:
    """A provider last seen not Registered: its state, since when it has been so, and when to read it again."""

    state: str
    since: float
    due: float


@dataclass
class ProviderCache:
    """What the instance read of the providers, per subscription: Registered for `ttl`; any other state until its
    next check on the poll schedule capped at `poll_cap` (0: read at every pass)."""

    clock: Callable[[], float]
    ttl: float
    poll_cap: float = 0.0
    _seen: dict[tuple[str, str], float] = field(default_factory=dict)
    _pending: dict[tuple[str, str], _Pending] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fresh(self, subscription: str, namespace: str) -> bool:
        seen = self._seen.get((subscription, namespace))
        return seen is not None and self.clock() - seen < self.ttl

    def mark(self, subscription: str, namespace: str) -> None:
        with self._lock:
            self._seen[(subscription, namespace)] = self.clock()
            self._pending.pop((subscription, namespace), None)

    def remembered(self, subscription: str, namespace: str) -> str | None:
        """The state last seen of a provider not Registered, when no read of it is due: its next check is later, or
        another run is reading it now (a due check is claimed by the run that asks first). None: read it."""
        with self._lock:
            pending = self._pending.get((subscription, namespace))
            if pending is None:
                return None
            now = self.clock()
            if now >= pending.due:
                self._pending[(subscription, namespace)] = replace(pending, due=self._due(pending.since, now))
                return None
            return pending.state

    def last(self, subscription: str, namespace: str) -> str | None:
        """The state last seen of a provider not Registered, due or not."""
        pending = self._pending.get((subscription, namespace))
        return pending.state if pending is not None else None

    def seen_pending(self, subscription: str, namespace: str, state: str, *, began: bool = False) -> None:
        """A read (or a register: `began`) found the provider in `state`; its next check is due on the schedule."""
        with self._lock:
            now, key = self.clock(), (subscription, namespace)
            before = self._pending.get(key)
            since = before.since if before is not None and before.state == state and not began else now
            self._pending[key] = _Pending(state, since, self._due(since, now))

    def _due(self, since: float, now: float) -> float:
        return now + next_check(elapsed=now - since, cap=self.poll_cap) if self.poll_cap > 0 else now


@dataclass
class ProviderSteps:
    """Reads and registers REQUIRED_PROVIDERS in a cluster's subscription. Runs that read the same provider at the
    same time share one request (`shared.bootstrap.single_flight`)."""

    api: AzureApi
    cache: ProviderCache
    flights: SingleFlight = field(default_factory=SingleFlight)

    def states(self, subscription: str, namespaces: tuple[str, ...] = REQUIRED_PROVIDERS) -> dict[str, str]:
        """Each provider's registration state. Not read: a provider seen Registered recently, one whose next check is
        not due, and, once a read found one still Registering, the others seen Registering (the run waits anyway:
        they are read when the first is done)."""
        states: dict[str, str] = {}
        waiting = False  # a provider before this one is still registering
        for namespace in namespaces:
            last = self.cache.last(subscription, namespace)
            if self.cache.fresh(subscription, namespace):
                state = "Registered"
            elif waiting and last is not None and last.lower() == _REGISTERING:
                state = last
            elif (remembered := self.cache.remembered(subscription, namespace)) is not None:
                state = remembered
            else:
                state = self.flights.read((subscription.lower(), namespace.lower()),
                                          partial(self.api.provider_state, subscription, namespace))
                self._saw(subscription, namespace, state)
            waiting = waiting or state.lower() == _REGISTERING
            states[namespace] = state
        return states

    def register(self, run: Run, subscription: str, states: dict[str, str]) -> Outcome:
        """Register what is not registered; WAITING while any provider is still registering, else SUCCEEDED."""
        pending, began = [], False
        for namespace, state in states.items():
            if state.lower() in ("notregistered", "unregistered"):
                state = states[namespace] = self.api.register_provider(subscription, namespace)
                began = True
                run.step(f"registered provider {namespace} ({state})")
                self._saw(subscription, namespace, state, began=True)
            if state.lower() != "registered":
                pending.append(namespace)
        if pending:
            return run.wait("providers", f"waiting for {', '.join(pending)} to finish registering",
                            Awaited("providers", began=began))
        return Outcome(Phase.SUCCEEDED)

    def _saw(self, subscription: str, namespace: str, state: str, *, began: bool = False) -> None:
        if state.lower() == "registered":
            self.cache.mark(subscription, namespace)
        else:
            self.cache.seen_pending(subscription, namespace, state, began=began)
