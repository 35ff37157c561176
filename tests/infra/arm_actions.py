"""Which Azure RBAC action an ARM request needs: (method, path) from the emulator's request log -> action string.

Only request shapes listed here are known; anything else raises UnmappedRequest naming the path, so a new kind of
ARM call fails the role test until someone maps it (and decides whether the role should allow it).
"""
from __future__ import annotations

# Resource types the service touches, lower-cased namespace/type path -> the action prefix as Azure spells it.
RESOURCE_TYPES = {
    "microsoft.containerservice/managedclusters": "Microsoft.ContainerService/managedClusters",
    "microsoft.kubernetes/connectedclusters": "Microsoft.Kubernetes/connectedClusters",
    "microsoft.kubernetesconfiguration/extensions": "Microsoft.KubernetesConfiguration/extensions",
    "microsoft.kubernetesconfiguration/extensions/operations":
        "Microsoft.KubernetesConfiguration/extensions/operations",
    "microsoft.managedidentity/userassignedidentities": "Microsoft.ManagedIdentity/userAssignedIdentities",
    "microsoft.managedidentity/userassignedidentities/federatedidentitycredentials":
        "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
    "microsoft.authorization/roleassignments": "Microsoft.Authorization/roleAssignments",
    # Which pull role a profile's registry takes: its roleAssignmentMode (ABAC repository permissions or not).
    "microsoft.containerregistry/registries": "Microsoft.ContainerRegistry/registries",
}
# Pre-flight: which Microsoft.ArgoCD versions a region offers (the extension-types API, by location). Microsoft
# publishes one extension-type operation, `extensionTypes/read`, for every extension-types read (by location, by
# cluster, versions): ../shared/reference/azure-contract/operations.md.
EXTENSION_TYPE_READS = {"microsoft.kubernetesconfiguration/locations/extensiontypes/versions",
                        "microsoft.kubernetesconfiguration/locations/extensiontypes",
                        "microsoft.kubernetesconfiguration/extensiontypes"}
# Actions (POST <resource>/<action>): a hub registration reads a spoke's CA from its user kubeconfig.
POST_ACTIONS = {"microsoft.containerservice/managedclusters/listclusterusercredential":
                "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action"}
# Namespaces the service registers (POST .../providers/{ns}/register needs {ns}/register/action).
NAMESPACES = {ns.lower(): ns for ns in ("Microsoft.Kubernetes", "Microsoft.ContainerService",
                                        "Microsoft.KubernetesConfiguration", "Microsoft.ManagedIdentity")}
VERBS = {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}


def is_graph(path: str) -> bool:
    """A Microsoft Graph call (the emulator serves Graph beside ARM): no Azure RBAC action applies."""
    return path.startswith(("/v1.0/", "/beta/"))


def is_resource_graph(path: str) -> bool:
    """A Resource Graph query (POST /providers/Microsoft.ResourceGraph/resources): it checks no action of its own;
    it returns the rows of the resources the caller may read (Microsoft's "Permissions in Azure Resource Graph"), so
    the role's cluster, extension and identity reads cover it, and the local Azure filters its rows by them."""
    return path.rstrip("/").lower() == "/providers/microsoft.resourcegraph/resources"


class UnmappedRequest(ValueError):
    """An ARM request this module cannot map to an RBAC action; the message names it."""


def rbac_action(method: str, path: str) -> str:
    segments = [s for s in path.split("/") if s]
    lower = [s.lower() for s in segments]
    request = f"{method} {path}"
    # Generic resource lists (GET /subscriptions/{s}/resources): the sweep lists per cluster type instead; mapped so a
    # return to it fails the role coverage test (the role has no subscriptions/resources/read, issue 24 row 7).
    if method == "GET" and len(lower) == 3 and lower[0] == "subscriptions" and lower[2] == "resources":
        return "Microsoft.Resources/subscriptions/resources/read"
    # Pre-flight: the identity's resource group exists (GET /subscriptions/{s}/resourcegroups/{g}).
    if method == "GET" and len(lower) == 4 and lower[2] == "resourcegroups":
        return "Microsoft.Resources/subscriptions/resourceGroups/read"
    if method == "GET" and len(lower) == 5 and lower[2] == "resourcegroups" and lower[4] == "resources":
        return "Microsoft.Resources/subscriptions/resourceGroups/resources/read"
    if len(lower) < 2 or lower[0] != "subscriptions" or "providers" not in lower:
        raise UnmappedRequest(f"not a subscription resource path: {request}")
    # Provider registration: /subscriptions/{s}/providers/{ns}[/register]
    if lower[2] == "providers" and len(lower) == 4 and method == "GET":
        return "Microsoft.Resources/subscriptions/providers/read"
    if lower[2] == "providers" and len(lower) == 5 and lower[4] == "register" and method == "POST":
        if lower[3] not in NAMESPACES:
            raise UnmappedRequest(f"registration of a namespace the service does not use: {request}")
        return f"{NAMESPACES[lower[3]]}/register/action"
    # Everything else: the resource type is the namespace after the last /providers/ plus every other segment.
    last = len(lower) - 1 - lower[::-1].index("providers")
    rest = lower[last + 1:]
    if not rest:
        raise UnmappedRequest(f"no namespace after /providers/: {request}")
    namespace, pairs = rest[0], rest[1:]
    types, names = pairs[0::2], pairs[1::2]
    if not types:
        raise UnmappedRequest(f"no resource type: {request}")
    if method == "POST" and "/".join([namespace, *types]) in POST_ACTIONS:
        return POST_ACTIONS["/".join([namespace, *types])]
    if method == "GET" and "/".join([namespace, *types]) in EXTENSION_TYPE_READS:
        return "Microsoft.KubernetesConfiguration/extensionTypes/read"
    resource_type = RESOURCE_TYPES.get("/".join([namespace, *types]))
    if resource_type is None:
        raise UnmappedRequest(f"resource type {'/'.join([namespace, *types])} is not mapped: {request}")
    if len(names) < len(types) and method != "GET":  # a collection: only listing it is expected
        raise UnmappedRequest(f"{method} on a collection: {request}")
    if method not in VERBS:
        raise UnmappedRequest(f"method {method} is not mapped (POST actions need an entry of their own): {request}")
    return f"{resource_type}/{VERBS[method]}"
