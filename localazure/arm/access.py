"""Azure RBAC, as far as the local ARM models it: which actions a caller may perform, and ARM's 403s when not.

Every caller may do everything unless a test narrows it (`ArmEmulator.set_permissions`), so only tests about the
role see a refusal. A route checks the action the request itself needs and the actions on linked resources the
resource provider checks as well (AKS: `userAssignedIdentities/assign/action` on a user-assigned control-plane
identity, on every PUT of the cluster); the error codes and message shapes are ARM's (AuthorizationFailed,
LinkedAuthorizationFailed, both 403).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from localazure.arm.request import ArmError


class Permissions:
    """Allowed actions per caller (its client id); a caller without an entry may do everything."""

    def __init__(self) -> None:
        self._allowed: dict[str, frozenset[str]] = {}

    def set(self, client_id: str, actions: Iterable[str] | None) -> None:
        """Allow exactly these actions (case-insensitive, no wildcards), or everything again with None."""
        if actions is None:
            self._allowed.pop(client_id, None)
        else:
            self._allowed[client_id] = frozenset(action.lower() for action in actions)

    def may(self, client_id: str, action: str) -> bool:
        allowed = self._allowed.get(client_id)
        return allowed is None or action.lower() in allowed

    def require(self, client_id: str, action: str, scope: str, linked: Sequence[tuple[str, str]] = ()) -> None:
        """Raise ARM's 403 unless the caller may do `action` on `scope` and each (action, scope) in `linked`."""
        who = f"The client '{client_id}' with object id '{object_id(client_id)}'"
        if not self.may(client_id, action):
            raise ArmError(
                403,
                "AuthorizationFailed",
                f"{who} does not have authorization to perform action '{action}' over scope '{scope}' or the scope "
                "is invalid. If access was recently granted, please refresh your credentials.",
            )
        missing = [(a, s) for a, s in linked if not self.may(client_id, a)]
        if missing:
            actions = ",".join(a for a, _ in missing)
            scopes = ",".join(s for _, s in missing)
            raise ArmError(
                403,
                "LinkedAuthorizationFailed",
                f"{who} has permission to perform action '{action}' on scope '{scope}'; however, it does not have "
                f"permission to perform action(s) '{actions}' on the linked scope(s) '{scopes}' (respectively) or "
                "the linked scope(s) are invalid.",
            )


def object_id(client_id: str) -> str:
    """A stable object (principal) id for a client id: the local Azure has no directory to look it up in."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"localazure-principal:{client_id}"))
