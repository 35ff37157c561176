"""Resource provider registration: GET and register a namespace, and refuse unregistered namespaces."""

from __future__ import annotations

from localazure.arm.model import Provider, namespace_display, provider_body
from localazure.arm.request import ArmError, Call
from localazure.arm.server import Reply
from localazure.arm.state import ArmState


class ProviderRoutes(ArmState):
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
            self._providers[key] = Provider("Registering", call.now + self.provider_registration_seconds)
        return Reply(200, provider_body(subscription, namespace, self._provider_state(key[0], key[1], call.now)))
