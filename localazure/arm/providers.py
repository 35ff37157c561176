"""Resource provider registration: the namespaces the local ARM knows, GET and register one, refuse the unregistered.

Also what ARM answers for a path no route serves (`unknown`): its namespace decides the error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from localazure.arm.common import Json
from localazure.arm.request import ArmError, Call
from localazure.arm.server import Reply
from localazure.arm.state import ArmState

#: Canonical namespace casing and the resource types each provider lists.
KNOWN_PROVIDERS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "microsoft.containerservice": (
        "Microsoft.ContainerService",
        ("managedClusters", "managedClusters/agentPools", "locations", "locations/operations"),
        ("2025-10-01", "2025-07-01", "2024-09-01", "2022-04-01"),
    ),
    "microsoft.kubernetes": (
        "Microsoft.Kubernetes",
        ("connectedClusters", "locations", "locations/operationStatuses", "operations"),
        ("2026-03-01", "2024-12-01-preview", "2024-01-01"),
    ),
    "microsoft.kubernetesconfiguration": (
        "Microsoft.KubernetesConfiguration",
        ("extensions", "extensionTypes", "fluxConfigurations", "sourceControlConfigurations", "operations"),
        ("2025-03-01", "2024-11-01", "2023-05-01"),
    ),
    "microsoft.managedidentity": (
        "Microsoft.ManagedIdentity",
        ("userAssignedIdentities", "userAssignedIdentities/federatedIdentityCredentials", "operations"),
        ("2024-11-30", "2023-01-31"),
    ),
}


PROVIDER_STATES = ("NotRegistered", "Registering", "Registered")


@dataclass
class Provider:
    """A subscription's registration of one resource provider namespace."""

    state: str
    ready_at: float = 0.0  # when Registering turns Registered

    def current(self, now: float) -> str:
        return "Registered" if self.state == "Registering" and now >= self.ready_at else self.state


def namespace_display(namespace: str) -> str:
    known = KNOWN_PROVIDERS.get(namespace.lower())
    return known[0] if known else namespace


def provider_body(subscription: str, namespace: str, state: str) -> Json:
    display, resource_types, api_versions = KNOWN_PROVIDERS.get(namespace.lower(), (namespace, (), ()))
    return {
        "id": f"/subscriptions/{subscription}/providers/{display}",
        "namespace": display,
        "registrationState": state,
        "registrationPolicy": "RegistrationRequired",
        "resourceTypes": [
            {
                "resourceType": resource_type,
                "locations": ["East US", "West Europe"],
                "apiVersions": list(api_versions),
                "capabilities": "SupportsTags, SupportsLocation",
            }
            for resource_type in resource_types
        ],
    }


class ProviderRoutes(ArmState):
    def __init__(self) -> None:
        super().__init__()
        self.provider_registration_seconds = 30.0
        self._providers: dict[tuple[str, str], Provider] = {}  # by (subscription, namespace)

    def _require_registration(self, call: Call) -> None:
        namespace = call.namespace
        if namespace is None or call.subscription is None:
            return
        if self._provider_state(call.subscription, namespace, call.now) != "Registered":
            message = (
                f"The subscription is not registered to use namespace '{namespace_display(namespace)}'. "
                "See https://aka.ms/rps-not-found for how to register subscriptions."
            )
            detail = {
                "code": "MissingSubscriptionRegistration",
                "target": namespace_display(namespace),
                "message": message,
            }
            raise ArmError(409, "MissingSubscriptionRegistration", message, details=[detail])

    def _provider_state(self, subscription: str, namespace: str, now: float) -> str:
        provider = self._providers.get((subscription, namespace.lower()))
        return "Registered" if provider is None else provider.current(now)

    def _provider(self, call: Call, *, register: bool) -> Reply:
        """GET a provider, or register it: synchronous 200, `Registered` provider_registration_seconds later."""
        subscription, namespace = call.segments[1], call.segments[3]
        key = (subscription.lower(), namespace.lower())
        if register and self._provider_state(key[0], key[1], call.now) == "NotRegistered":
            seconds = self.provider_registration_seconds
            if self.durations is not None:
                seconds = self.durations.registration(key[0], namespace, seconds)
            self._providers[key] = Provider("Registering", call.now + seconds)
        return Reply(200, provider_body(subscription, namespace, self._provider_state(key[0], key[1], call.now)))


def unknown(call: Call) -> NoReturn:
    """ARM's 404 for a path no route serves: a type unknown to a known namespace, or no provider at all."""
    namespace = call.namespace
    if namespace is not None and namespace.lower() in KNOWN_PROVIDERS:
        index = max(i for i, s in enumerate(call.lower[:-1]) if s == "providers")
        resource_type = "/".join(call.segments[index + 2 :: 2]) or "(none)"
        raise ArmError(
            404,
            "InvalidResourceType",
            f"The resource type '{resource_type}' could not be found in the namespace "
            f"'{namespace_display(namespace)}' for api version '{call.api_version}'.",
        )
    raise ArmError(
        404,
        "NoRegisteredProviderFound",
        f"No registered resource provider found for location 'eastus' and API version '{call.api_version}' "
        f"for type '{call.path}'.",
    )
