"""Resource provider registration: the namespaces the local ARM knows, list, GET and register them, refuse the
unregistered. States are per subscription, seeded when the subscription is made (`subscriptions.FRESH_SUBSCRIPTION`
by default: what a new subscription has) and changed by `register` or `ArmEmulator.set_provider`.

Also what ARM answers for a path no route serves (`unknown`): its namespace decides the error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from localazure.arm.api_versions import supported_versions
from localazure.arm.common import Json
from localazure.arm.request import ArmError, Call, allow
from localazure.arm.server import Reply
from localazure.arm.subscriptions import SubscriptionRoutes

#: Canonical namespace casing and the resource types each provider lists (api-versions: `api_versions`).
KNOWN_PROVIDERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "microsoft.containerservice": (
        "Microsoft.ContainerService",
        ("managedClusters", "managedClusters/agentPools", "locations", "locations/operations"),
    ),
    "microsoft.kubernetes": (
        "Microsoft.Kubernetes",
        ("connectedClusters", "locations", "locations/operationStatuses", "operations"),
    ),
    "microsoft.kubernetesconfiguration": (
        "Microsoft.KubernetesConfiguration",
        ("extensions", "extensions/operations", "extensionTypes", "fluxConfigurations",
         "sourceControlConfigurations", "operations"),
    ),
    "microsoft.managedidentity": (
        "Microsoft.ManagedIdentity",
        ("userAssignedIdentities", "userAssignedIdentities/federatedIdentityCredentials", "operations"),
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
    display, resource_types = KNOWN_PROVIDERS.get(namespace.lower(), (namespace, ()))
    return {
        "id": f"/subscriptions/{subscription}/providers/{display}",
        "namespace": display,
        "registrationState": state,
        "registrationPolicy": "RegistrationRequired",
        "resourceTypes": [
            {
                "resourceType": resource_type,
                "locations": ["East US", "West Europe"],
                "apiVersions": list(supported_versions(display, resource_type)),
                "capabilities": "SupportsTags, SupportsLocation",
            }
            for resource_type in resource_types
        ],
    }


class ProviderRoutes(SubscriptionRoutes):
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
        if provider is not None:
            return provider.current(now)
        made = self._subscriptions.get(subscription)
        return "Registered" if made is None else made.provider_states.get(namespace.lower(), "Registered")

    def _provider_list(self, call: Call) -> Reply:
        """`GET /subscriptions/{s}/providers`: every namespace this ARM knows, with its state here."""
        allow(call, "GET")
        subscription = call.segments[1]
        return Reply(200, {"value": [
            provider_body(subscription, display, self._provider_state(call.lower[1], key, call.now))
            for key, (display, _) in KNOWN_PROVIDERS.items()]})

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


def refuse_unoffered_version(call: Call, type_name: str, offered: tuple[str, ...]) -> None:
    """ARM's 400 for an api-version a provider's type (or action) does not offer, as `api_versions` answers it."""
    if call.api_version.lower() not in offered:
        raise ArmError(
            400,
            "NoRegisteredProviderFound",
            f"No registered resource provider found for location 'eastus' and API version '{call.api_version}' for "
            f"type '{type_name}'. The supported api-versions are '{', '.join(offered)}'. The supported locations "
            "are 'eastus, westeurope'.",
        )


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
