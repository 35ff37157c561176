"""`GET /providers/{namespace}/operations`: the operations a resource provider lists (Operations_List, in the shape
of the ARM common types: `name`, `isDataAction`, `display`, `origin`, paged by `nextLink`).

The names are the ones Microsoft publishes for the providers the local ARM serves, as
`../shared/reference/azure-contract/operations.md` lists them (the Azure permissions pages, generated from the
providers' own operation lists); the display texts are ours. The Azure CLI's `az identity` scenario tests read
Microsoft.ManagedIdentity's; clients use the list to check an action name before putting it in a role.
"""

from __future__ import annotations

from localazure.arm.api_versions import SUPPORTED
from localazure.arm.common import Json
from localazure.arm.providers import namespace_display, refuse_unoffered_version, unknown
from localazure.arm.request import Call, allow
from localazure.arm.server import Reply

_READ_WRITE_DELETE = ("read", "write", "delete")

#: Lower-cased namespace -> its operations' names after the namespace (operations.md, per provider).
OPERATIONS: dict[str, tuple[str, ...]] = {
    "microsoft.managedidentity": (
        "register/action", "identities/read", "operations/read", "userAssignedIdentities/read",
        "userAssignedIdentities/write", "userAssignedIdentities/delete", "userAssignedIdentities/assign/action",
        "userAssignedIdentities/listAssociatedResources/action", "userAssignedIdentities/revokeTokens/action",
        *(f"userAssignedIdentities/federatedIdentityCredentials/{v}" for v in _READ_WRITE_DELETE),
    ),
    "microsoft.kubernetesconfiguration": (
        "register/action", "unregister/action", *(f"extensions/{v}" for v in ("write", "read", "delete")),
        "extensions/operations/read", "extensionTypes/read",
        *(f"fluxConfigurations/{v}" for v in ("write", "read", "delete")), "fluxConfigurations/operations/read",
        "namespaces/read", "namespaces/listUserCredential/action", "operations/read",
        *(f"privateLinkScopes/{v}" for v in ("write", "delete", "read")),
        *(f"privateLinkScopes/privateEndpointConnectionProxies/{v}" for v in (
            "write", "delete", "read", "validate/action", "updatePrivateEndpointProperties/action",
            "operations/read")),
        *(f"privateLinkScopes/privateEndpointConnections/{v}" for v in ("write", "delete", "read")),
        *(f"sourceControlConfigurations/{v}" for v in ("write", "read", "delete")),
    ),
    "microsoft.kubernetes": (
        "register/action", "unregister/action", "connectedClusters/Read", "connectedClusters/Write",
        "connectedClusters/Delete", "connectedClusters/listClusterUserCredential/action",
        "connectedClusters/listClusterUserCredentials/action", "connectedClusters/agentryConfigurations/Read",
        "locations/operationstatuses/read", "locations/operationstatuses/write", "operations/read",
        "RegisteredSubscriptions/read",
    ),
    "microsoft.containerservice": (
        "register/action", "unregister/action", *(f"managedClusters/{v}" for v in _READ_WRITE_DELETE),
        *(f"managedClusters/{a}/action" for a in (
            "start", "stop", "abort", "listClusterAdminCredential", "listClusterUserCredential",
            "listClusterMonitoringUserCredential", "resetServicePrincipalProfile", "resetAADProfile",
            "rotateClusterCertificates", "runCommand", "unpinManagedCluster", "resolvePrivateLinkServiceId",
            "privateEndpointConnectionsApproval")),
        "managedClusters/commandResults/read", "managedClusters/accessProfiles/read",
        "managedClusters/accessProfiles/listCredential/action",
        *(f"managedClusters/{t}/{v}" for t in (
            "agentPools", "eventGridFilters", "maintenanceConfigurations", "trustedAccessRoleBindings")
          for v in _READ_WRITE_DELETE),
        "managedClusters/upgradeProfiles/read", "locations/operationresults/read", "locations/operations/read",
        "operations/read",
    ),
}  # fmt: skip


def operation_body(namespace: str, operation: str) -> Json:
    """One entry of the list: `display.resource` is the type the operation acts on, `display.operation` its verb."""
    parts = operation.split("/")
    action = parts[-1] == "action"
    verb = parts[-2] if action else parts[-1]
    resource = "/".join(parts[: -2 if action else -1]) or namespace
    title = verb[:1].upper() + verb[1:]
    return {
        "name": f"{namespace}/{operation}",
        "isDataAction": False,
        "display": {
            "provider": namespace,
            "resource": resource,
            "operation": title,
            "description": f"{title} action on {resource}" if action else f"{title} {resource}",
        },
        "origin": "user,system",
    }


def operations_list(call: Call) -> Reply:
    """`GET /providers/{namespace}/operations` (no subscription; any caller with a token may list)."""
    allow(call, "GET")
    key = call.lower[1]
    if key not in OPERATIONS:
        unknown(call)
    # The list is served at every version the provider publishes for its types (api_versions, from the contract).
    offered = tuple(sorted({v for (ns, _), versions in SUPPORTED.items() if ns == key for v in versions},
                           reverse=True))
    refuse_unoffered_version(call, "operations", offered)
    namespace = namespace_display(key)
    return Reply(200, {"value": [operation_body(namespace, o) for o in OPERATIONS[key]], "nextLink": None})
