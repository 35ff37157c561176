"""The resource providers a cluster needs registered, read and registered by the reconciler's first step.

Provider registration is per subscription and slow (Azure answers `Registering` for seconds to minutes), so a
provider seen Registered is remembered per instance for a while (`ProviderCache`), and a registration in progress
ends the run with a WAITING outcome that the poll schedule follows (`Awaited("providers")`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from shared.azure.api import AzureApi
from shared.bootstrap.outcome import Awaited, Outcome, Phase, Run

EXTENSIONS_NAMESPACE = "Microsoft.KubernetesConfiguration"  # where cluster extensions (and their types) live
REQUIRED_PROVIDERS = ("Microsoft.Kubernetes", "Microsoft.ContainerService", EXTENSIONS_NAMESPACE)


def registered(states: dict[str, str], namespace: str) -> bool:
    """Whether the namespace (in any casing: ids carry it lower-cased at times) is Registered in `states`."""
    return next((s for n, s in states.items() if n.lower() == namespace.lower()), "").lower() == "registered"


@dataclass
class ProviderCache:
    """Providers seen Registered recently, per subscription (per instance): a later cluster skips their GETs."""

    clock: Callable[[], float]
    ttl: float
    _seen: dict[tuple[str, str], float] = field(default_factory=dict)

    def fresh(self, subscription: str, namespace: str) -> bool:
        seen = self._seen.get((subscription, namespace))
        return seen is not None and self.clock() - seen < self.ttl

    def mark(self, subscription: str, namespace: str) -> None:
        self._seen[(subscription, namespace)] = self.clock()


@dataclass
class ProviderSteps:
    """Reads and registers REQUIRED_PROVIDERS in a cluster's subscription."""

    api: AzureApi
    cache: ProviderCache

    def states(self, subscription: str) -> dict[str, str]:
        """Each required provider's registration state (reads; a provider seen Registered recently is not read)."""
        states = {}
        for namespace in REQUIRED_PROVIDERS:
            state = "Registered" if self.cache.fresh(subscription, namespace) else \
                self.api.provider_state(subscription, namespace)
            if state.lower() == "registered":
                self.cache.mark(subscription, namespace)
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
            if state.lower() == "registered":
                self.cache.mark(subscription, namespace)
            else:
                pending.append(namespace)
        if pending:
            return run.wait("providers", f"waiting for {', '.join(pending)} to finish registering",
                            Awaited("providers", began=began))
        return Outcome(Phase.SUCCEEDED)
