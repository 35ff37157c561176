"""User-assigned managed identities and their federated identity credentials (Microsoft.ManagedIdentity).

Creating an identity creates its principal, which role assignments (`localazure.arm.roles`) look up.
Identity ids say `/resourcegroups/`. Properties arrive and are echoed only at the api-versions whose spec has them
(bicep-types-az, generated/msi): `isolationScope` from 2024-11-30, `assignmentRestrictions` from 2025-05-31-preview,
and a federated credential's `claimsMatchingExpression` (instead of `subject`, never both) from 2025-01-31-preview.
Identities live in resource groups: none is read or written in a group that
does not exist (404 `ResourceGroupNotFound`, as Azure answers before the provider sees the request).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from localazure.arm.common import Json, new_guid, not_found_message, version_date
from localazure.arm.request import ArmError, Call, allow, string_map
from localazure.arm.server import Reply
from localazure.arm.subscriptions import SubscriptionRoutes

AUDIENCE = "api://AzureADTokenExchange"
#: The first api-version (by date) whose spec has each property.
ISOLATION_SCOPE_SINCE = "2024-11-30"
CLAIMS_MATCHING_SINCE = "2025-01-31"
ASSIGNMENT_RESTRICTIONS_SINCE = "2025-05-31"


@dataclass
class FederatedCredential:
    """A federated identity credential, on a managed identity here or on an application in Graph."""

    name: str
    issuer: str
    subject: str  # "" when the credential matches by claimsMatchingExpression instead
    audiences: list[str]
    claims_matching: Json | None = None  # {"value": ..., "languageVersion": ...}


@dataclass
class Identity:
    """A user-assigned managed identity and its federated identity credentials."""

    subscription: str
    resource_group: str
    name: str
    location: str
    tags: dict[str, str]
    tenant_id: str
    principal_id: str = field(default_factory=new_guid)
    client_id: str = field(default_factory=new_guid)
    credentials: dict[str, FederatedCredential] = field(default_factory=dict)
    busy_until: float = 0.0  # monotonic time until which a credential write is in flight
    isolation_scope: str = "None"
    assignment_restrictions: Json | None = None

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourcegroups/{self.resource_group}/providers/"
            f"Microsoft.ManagedIdentity/userAssignedIdentities/{self.name}"
        )

    def body(self, api_version: str) -> Json:
        properties: Json = {"tenantId": self.tenant_id, "principalId": self.principal_id, "clientId": self.client_id}
        if version_date(api_version) >= ISOLATION_SCOPE_SINCE:
            properties["isolationScope"] = self.isolation_scope
        if version_date(api_version) >= ASSIGNMENT_RESTRICTIONS_SINCE and self.assignment_restrictions is not None:
            properties["assignmentRestrictions"] = self.assignment_restrictions
        return {
            "id": self.id,
            "name": self.name,
            "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
            "location": self.location,
            "tags": dict(self.tags),
            "properties": properties,
        }

    def set_properties(self, body: Any, api_version: str) -> None:
        """Take the writable properties the api-version has (others are not in its contract: ARM drops them)."""
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict):
            return
        if version_date(api_version) >= ISOLATION_SCOPE_SINCE and properties.get("isolationScope") is not None:
            scope = properties["isolationScope"]
            if not isinstance(scope, str) or scope.lower() not in ("none", "regional"):
                raise ArmError(400, "BadRequest", "The property 'isolationScope' must be 'None' or 'Regional'.")
            self.isolation_scope = "None" if scope.lower() == "none" else "Regional"
        if version_date(api_version) >= ASSIGNMENT_RESTRICTIONS_SINCE and "assignmentRestrictions" in properties:
            restrictions = properties["assignmentRestrictions"]
            providers = restrictions.get("providers", []) if isinstance(restrictions, dict) else None
            if restrictions is not None and (not isinstance(providers, list) or
                                             not all(isinstance(p, str) and p for p in providers)):
                raise ArmError(400, "BadRequest",
                               "The property 'assignmentRestrictions.providers' must be a list of resource providers.")
            self.assignment_restrictions = None if restrictions is None else {"providers": list(providers or [])}

    def credential_body(self, credential: FederatedCredential, api_version: str = CLAIMS_MATCHING_SINCE) -> Json:
        properties: Json = {"issuer": credential.issuer}
        if credential.subject:
            properties["subject"] = credential.subject
        if credential.claims_matching is not None and version_date(api_version) >= CLAIMS_MATCHING_SINCE:
            properties["claimsMatchingExpression"] = dict(credential.claims_matching)
        properties["audiences"] = list(credential.audiences)
        return {
            "id": f"{self.id}/federatedIdentityCredentials/{credential.name}",
            "name": credential.name,
            "type": "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
            "properties": properties,
        }


_FIC_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-_]{2,119}$")
_MAX_CREDENTIALS = 20


class IdentityRoutes(SubscriptionRoutes):
    def __init__(self) -> None:
        super().__init__()
        self.fic_write_seconds = 0.0  # real seconds, not on the clock: the write's HTTP reply is held that long
        self._identities: dict[str, Identity] = {}

    def _identity(self, call: Call) -> Reply:
        allow(call, "GET", "PUT", "PATCH", "DELETE")
        key = "/" + "/".join(call.lower)
        identity = self._identities.get(key)
        subscription, resource_group, name = call.segments[1], call.segments[3], call.segments[7]
        self._require_resource_group(subscription, resource_group)
        if call.method == "PUT":
            body = call.body if isinstance(call.body, dict) else {}
            location = body.get("location")
            if not isinstance(location, str) or not location:
                raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
            tags = string_map(body.get("tags"), "tags")
            if identity is not None:
                if _region(location) != _region(identity.location):
                    raise ArmError(
                        400,
                        "InvalidResourceLocation",
                        f"The resource '{identity.name}' already exists in location '{identity.location}' in resource "
                        f"group '{identity.resource_group}'. A resource with the same name cannot be created in "
                        f"location '{location}'. Please select a new resource name.",
                    )
                identity.tags = tags
                identity.set_properties(body, call.api_version)
                return Reply(200, identity.body(call.api_version))
            identity = Identity(subscription, resource_group, name, location, tags, self.tenant_id)
            identity.set_properties(body, call.api_version)
            self._identities[key] = identity
            self._principals[identity.principal_id] = call.now
            return Reply(201, identity.body(call.api_version), {"Location": identity.id})
        if call.method == "DELETE":
            if identity is None:
                return Reply(204)
            del self._identities[key]
            return Reply(200)
        if identity is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                not_found_message("Microsoft.ManagedIdentity", "userAssignedIdentities", name, resource_group),
            )
        if call.method == "PATCH" and isinstance(call.body, dict) and "tags" in call.body:
            identity.tags = string_map(call.body["tags"], "tags")
        if call.method == "PATCH":
            identity.set_properties(call.body, call.api_version)
        return Reply(200, identity.body(call.api_version))

    def _parent_identity(self, call: Call) -> Identity:
        identity = self._identities.get("/" + "/".join(call.lower[:8]))
        if identity is None:
            raise ArmError(404, "ParentResourceNotFound", "The parent user-assigned identity doesn't exist.")
        return identity

    def _credential_list(self, call: Call) -> Reply:
        allow(call, "GET")
        identity = self._parent_identity(call)
        return Reply(200, {"value": [identity.credential_body(c, call.api_version)
                                     for c in identity.credentials.values()]})

    def _credential(self, call: Call) -> Reply:
        """Federated credentials: synchronous writes, one at a time per identity (409 otherwise)."""
        allow(call, "GET", "PUT", "DELETE")
        identity = self._parent_identity(call)
        name = call.segments[9]
        existing = identity.credentials.get(name.lower())
        if call.method == "GET":
            if existing is None:
                raise ArmError(
                    404,
                    "ResourceNotFound",
                    not_found_message(
                        "Microsoft.ManagedIdentity",
                        f"userAssignedIdentities/{identity.name}/federatedIdentityCredentials",
                        name,
                        identity.resource_group,
                    ),
                )
            return Reply(200, identity.credential_body(existing, call.api_version))
        if call.method == "DELETE":
            _refuse_concurrent_write(identity)
            if existing is None:
                return Reply(204)
            del identity.credentials[name.lower()]
            return self._hold(identity, Reply(200))
        if not _FIC_NAME.match(name):
            raise ArmError(400, "BadRequest", f"Federated Identity Credential name '{name}' is invalid.")
        credential = _credential_from(name if existing is None else existing.name, call.body, call.api_version)
        _refuse_concurrent_write(identity)
        for other in identity.credentials.values():
            if other is not existing and _matches(other) == _matches(credential):
                raise ArmError(
                    400, "BadRequest", "Issuer and subject combination already exists for this Managed Identity."
                )
        if existing is None and len(identity.credentials) >= _MAX_CREDENTIALS:
            raise ArmError(
                400,
                "BadRequest",
                f"A maximum of {_MAX_CREDENTIALS} federated identity credentials can be added to a "
                "user-assigned managed identity.",
            )
        identity.credentials[name.lower()] = credential
        body = identity.credential_body(credential, call.api_version)
        if existing is not None:
            return self._hold(identity, Reply(200, body))
        return self._hold(identity, Reply(201, body, {"Location": body["id"]}))

    def _hold(self, identity: Identity, reply: Reply) -> Reply:
        """Keep the identity's credential write in flight for fic_write_seconds (real time)."""
        identity.busy_until = time.monotonic() + self.fic_write_seconds
        reply.delay = self.fic_write_seconds
        return reply


def _refuse_concurrent_write(identity: Identity) -> None:
    if time.monotonic() < identity.busy_until:
        raise ArmError(
            409,
            "ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity",
            f"Too many Federated Identity Credentials are written concurrently for the managed identity "
            f"'{identity.id.lower()}'. Concurrent Federated Identity Credentials writes under the same managed "
            "identity are not supported.",
        )


def _region(location: str) -> str:
    """`East US` and `eastus` are the same region."""
    return location.replace(" ", "").lower()


def _credential_from(name: str, body: Any, api_version: str) -> FederatedCredential:
    properties = body.get("properties") if isinstance(body, dict) else None
    if not isinstance(properties, dict) or not properties:
        raise ArmError(400, "BadRequest", "Federated Identity Credential from HTTP body has empty properties")
    audiences = properties.get("audiences")
    if not isinstance(audiences, list) or len(audiences) != 1 or not isinstance(audiences[0], str):
        raise ArmError(400, "BadRequest", "Federated identity credentials must have exactly one audience.")
    issuer, subject = properties.get("issuer"), properties.get("subject")
    expression = properties.get("claimsMatchingExpression")
    if version_date(api_version) < CLAIMS_MATCHING_SINCE:
        expression = None  # not in this version's contract
    if not isinstance(issuer, str) or not issuer:
        raise ArmError(400, "BadRequest", "The property 'issuer' of a Federated Identity Credential is required.")
    either = "Either 'subject' or 'claimsMatchingExpression' must be defined, but not both."
    if expression is None:
        if not isinstance(subject, str) or not subject:
            raise ArmError(400, "BadRequest", either if version_date(api_version) >= CLAIMS_MATCHING_SINCE else
                           "The properties 'issuer' and 'subject' of a Federated Identity Credential are required.")
        return FederatedCredential(name, issuer, subject, list(audiences))
    if subject not in (None, ""):
        raise ArmError(400, "BadRequest", either)
    value = expression.get("value") if isinstance(expression, dict) else None
    language = expression.get("languageVersion") if isinstance(expression, dict) else None
    if not isinstance(value, str) or not value or not isinstance(language, int) or isinstance(language, bool):
        raise ArmError(400, "BadRequest", "The property 'claimsMatchingExpression' needs a 'value' (a string) and a "
                       "'languageVersion' (an integer).")
    return FederatedCredential(name, issuer, "", list(audiences), {"value": value, "languageVersion": language})


def _matches(credential: FederatedCredential) -> tuple[str, str, str]:
    """What makes two credentials of one identity the same trust: issuer and subject (or expression)."""
    expression = (credential.claims_matching or {}).get("value", "")
    return credential.issuer, credential.subject, str(expression)
