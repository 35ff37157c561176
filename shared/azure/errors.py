"""The service's view of Azure's errors, so the reconciler never imports azure-core.

`shared.azure.arm_gateway` translates `azure.core.exceptions.HttpResponseError` into these (with the original
chained as the cause); the reconciler decides from `status` and `code` alone.
"""
from __future__ import annotations

import re

#: ARM's answer to a request for a resource type whose provider the subscription has not registered.
UNREGISTERED = "MissingSubscriptionRegistration"


class AzureError(Exception):
    """An error response from Azure (or no response at all: status 0)."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def summary(self) -> str:
        """How a wait caused by this error reads in a cluster's steps."""
        return f"Azure answered {self.status} {self.code}"

    @property
    def not_found(self) -> bool:
        """404, or 409 MissingSubscriptionRegistration: a provider the subscription has not registered holds nothing
        there (ARM refuses to unregister one while resources of it exist), so a read or a delete finds nothing."""
        return self.status == 404 or (self.status == 409 and self.code == UNREGISTERED)

    @property
    def unregistered_namespace(self) -> str | None:
        """The provider a 409 MissingSubscriptionRegistration names (ARM quotes it in the message), else None."""
        found = re.search(r"namespace '([\w.]+)'", self.message) if self.status == 409 and self.code == UNREGISTERED \
            else None
        return found.group(1) if found else None

    @property
    def retryable(self) -> bool:
        """Throttling, server errors, dropped connections, 'another operation in progress' conflicts, and a new
        principal that Entra has not replicated yet (role assignments right after an identity is created).

        A plain 409 `Conflict` is the extension RP refusing a write while an operation on the extension runs:
        typically our own, started by a request whose answer was lost and then retried by azure-core."""
        return (
            self.status in (0, 408, 429)
            or self.status >= 500
            or (self.status == 409 and self.code == "Conflict")
            or self.code in {"OperationNotAllowed", "AnotherOperationInProgress",
                             "ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity",
                             "PrincipalNotFound"}
        )
