"""Role assignments (Microsoft.Authorization) at any scope, and the container registries they target.

Models the race every identity automation meets: a principal created seconds ago is not yet
replicated to where role assignments are checked, so assigning it a role fails with 400
`PrincipalNotFound` for principal_replication_seconds after the identity was created (on the clock).
"""

from __future__ import annotations

from dataclasses import dataclass

from localazure.arm.access import object_id
from localazure.arm.common import Json, not_found_message
from localazure.arm.identities import IdentityRoutes
from localazure.arm.request import ArmError, Call, allow
from localazure.arm.server import Reply


@dataclass
class RoleAssignment:
    """A role assignment (Microsoft.Authorization/roleAssignments) at a scope."""

    scope: str
    name: str
    role_definition_id: str
    principal_id: str
    principal_type: str

    @property
    def id(self) -> str:
        return f"{self.scope}/providers/Microsoft.Authorization/roleAssignments/{self.name}"

    def body(self) -> Json:
        return {
            "id": self.id,
            "name": self.name,
            "type": "Microsoft.Authorization/roleAssignments",
            "properties": {
                "roleDefinitionId": self.role_definition_id,
                "principalId": self.principal_id,
                "principalType": self.principal_type,
                "scope": self.scope,
            },
        }


_REGISTRY = "/providers/microsoft.containerregistry/registries/"


class RoleAssignmentRoutes(IdentityRoutes):
    def __init__(self) -> None:
        super().__init__()
        self.principal_replication_seconds = 20.0
        self._role_assignments: dict[str, RoleAssignment] = {}  # by lower-cased id
        self._registries: dict[str, Json] = {}  # lower-cased container registry id -> its GET body
        self._replications: dict[str, float] = {}  # principal id -> seconds it takes, when drawn
        #: Constrained delegation (the condition on a caller's own assignment, infra/modules/bootstrapper-role-
        #: assignment.bicep): the role definition ids each caller (client id) may grant and revoke; absent: any.
        self.delegation: dict[str, frozenset[str]] = {}

    def _replication(self, principal: str) -> float:
        """Seconds from a principal's creation until role assignments can name it (drawn once per principal when a
        benchmark draws durations)."""
        if self.durations is None:
            return self.principal_replication_seconds
        if principal not in self._replications:
            self._replications[principal] = self.durations.replication(principal, self.principal_replication_seconds)
        return self._replications[principal]

    def _role_assignment(self, call: Call) -> Reply:
        allow(call, "GET", "PUT", "DELETE")
        split = max(i for i, s in enumerate(call.lower) if s == "providers")
        scope = "/" + "/".join(call.segments[:split])
        name = call.segments[-1]
        key = "/" + "/".join(call.lower)
        existing = self._role_assignments.get(key)
        if call.method == "GET":
            if existing is None:
                raise ArmError(404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found.")
            return Reply(200, existing.body())
        if call.method == "DELETE":
            if existing is None:
                return Reply(204)
            self._delegable(call, existing.role_definition_id, "delete")
            del self._role_assignments[key]
            return Reply(200, existing.body())
        self._require_scope(scope)
        assignment = self._assignment_from(call, scope, name)
        self._delegable(call, assignment.role_definition_id, "write")
        if existing is not None:
            if (existing.principal_id, existing.role_definition_id.lower()) != (
                assignment.principal_id,
                assignment.role_definition_id.lower(),
            ):
                raise ArmError(
                    400, "RoleAssignmentUpdateNotPermitted", "Tenant ID, application ID, principal ID, and scope "
                    "are not allowed to be updated."
                )  # fmt: skip
            return Reply(200, existing.body())
        for other in self._role_assignments.values():
            if (other.scope.lower(), other.principal_id, other.role_definition_id.lower()) == (
                scope.lower(),
                assignment.principal_id,
                assignment.role_definition_id.lower(),
            ):
                raise ArmError(409, "RoleAssignmentExists", "The role assignment already exists.")
        self._role_assignments[key] = assignment
        return Reply(201, assignment.body())

    def _delegable(self, call: Call, role_definition_id: str, action: str) -> None:
        """ARM's 403 when the caller's delegation condition does not let it grant (or revoke) this role; a write
        must also name principalType ServicePrincipal (the condition's second clause)."""
        allowed = self.delegation.get(call.caller)
        if allowed is None:
            return
        role = role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()
        principal_type = ((call.body or {}).get("properties") or {}).get("principalType") if action == "write" else None
        if role in allowed and (action == "delete" or str(principal_type).lower() == "serviceprincipal"):
            return
        raise ArmError(
            403, "AuthorizationFailed", f"The client '{call.caller}' with object id '{object_id(call.caller)}' does "
            f"not have authorization or an ABAC condition not fulfilled to perform action 'Microsoft.Authorization/"
            f"roleAssignments/{action}' over scope '{call.path.split('?')[0]}' or the scope is invalid."
        )  # fmt: skip

    def _assignment_from(self, call: Call, scope: str, name: str) -> RoleAssignment:
        properties = call.body.get("properties") if isinstance(call.body, dict) else None
        if not isinstance(properties, dict):
            raise ArmError(400, "InvalidRequestContent", "The request body must contain an object 'properties'.")
        role, principal = properties.get("roleDefinitionId"), properties.get("principalId")
        if not isinstance(role, str) or "/roledefinitions/" not in role.lower() or not isinstance(principal, str):
            raise ArmError(400, "InvalidRoleAssignmentRequest", "roleDefinitionId and principalId are required.")
        created = self._principals.get(principal.lower())
        if created is None or call.now < created + self._replication(principal.lower()):
            raise ArmError(
                400,
                "PrincipalNotFound",
                f"Principal {principal.replace('-', '')} does not exist in the directory {self.tenant_id}. Check "
                "that you have the correct principal ID. If you are creating this principal and then immediately "
                "assigning a role, this error might be related to a replication delay.",
            )
        return RoleAssignment(
            scope=scope,
            name=name,
            role_definition_id=role,
            principal_id=principal.lower(),
            principal_type=str(properties.get("principalType") or "User"),
        )

    def _require_scope(self, scope: str) -> None:
        lower = scope.lower()
        if _REGISTRY in lower and lower not in self._registries:
            s = scope.strip("/").split("/")
            raise ArmError(404, "ResourceNotFound", not_found_message(s[5], s[6], s[7], s[3]))

    def _registry(self, call: Call) -> Reply:
        """`GET` a container registry: what the service reads is `properties.roleAssignmentMode` (2025-05-01-preview
        and later; older api-versions do not return it)."""
        allow(call, "GET")
        body = self._registries.get("/" + "/".join(call.lower))
        if body is None:
            s = call.segments
            raise ArmError(404, "ResourceNotFound", not_found_message(s[5], s[6], s[7], s[3]))
        if call.api_version < "2025-05-01-preview":
            return Reply(200, {**body, "properties": {k: v for k, v in body["properties"].items()
                                                      if k != "roleAssignmentMode"}})
        return Reply(200, body)
