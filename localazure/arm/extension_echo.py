"""What the KubernetesConfiguration RP adds to a cluster extension it was sent, as Azure answers it.

- `identity`: the only type the spec defines is `SystemAssigned` (the Azure CLI always sends it for Arc); Azure
  echoes it with the read-only `principalId` and `tenantId` of the identity it made, kept across updates.
- `scope`: none, or `{"cluster": {}}`, is the cluster scope in the extension type's default release namespace
  (`supportedScopes.clusterScopeSettings.defaultReleaseNamespace` of the extension-types API; `argocd` for
  Microsoft.ArgoCD, whose service accounts are `system:serviceaccount:argocd:*`). For a type without one, the
  extension's name (inferred: the RP's rule is unpublished).
- `systemData`: who created and last modified it, from the caller's token (`localazure.arm.tokens.actor`).
"""

from __future__ import annotations

from typing import Any

from localazure.arm.common import Json, iso, new_guid
from localazure.arm.extension_types import default_release_namespace
from localazure.arm.request import ArmError

#: Who `systemData` names for an extension set up from Python (someone else's, before the test began).
SOMEONE: tuple[str, str] = ("localazure", "Application")


def identity(sent: Any, existing: Json | None, tenant_id: str) -> Json | None:
    """The identity to echo: the sent `SystemAssigned` with its principal (the existing one if it had one)."""
    if sent is None:
        return existing
    kind = sent.get("type") if isinstance(sent, dict) else None
    if kind != "SystemAssigned":
        raise ArmError(400, "InvalidRequestContent", "The identity type of an extension must be 'SystemAssigned'.")
    if existing is not None:
        return existing
    return {"type": "SystemAssigned", "principalId": new_guid(), "tenantId": tenant_id}


def scope(sent: Any, extension_type: str, name: str) -> Json:
    """The scope to store: a namespace scope as sent, else the cluster scope with its release namespace."""
    if isinstance(sent, dict) and isinstance(sent.get("namespace"), dict):
        return sent
    cluster = sent.get("cluster") if isinstance(sent, dict) else None
    namespace = cluster.get("releaseNamespace") if isinstance(cluster, dict) else None
    if namespace is not None and not isinstance(namespace, str):
        raise ArmError(400, "InvalidRequestContent", "The property 'scope.cluster.releaseNamespace' must be a string.")
    return {"cluster": {"releaseNamespace": namespace or default_release_namespace(extension_type) or name}}


def system_data(created: float, created_by: tuple[str, str], modified: float, modified_by: tuple[str, str]) -> Json:
    return {
        "createdBy": created_by[0],
        "createdByType": created_by[1],
        "createdAt": iso(created),
        "lastModifiedBy": modified_by[0],
        "lastModifiedByType": modified_by[1],
        "lastModifiedAt": iso(modified),
    }
