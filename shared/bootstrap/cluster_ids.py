"""Which resources are clusters we bootstrap, and how to name them.

Resource ids arrive in many casings (`resourcegroups`, `ManagedClusters`, `ConnectedClusters`);
everything here compares case-insensitively and keys on the lower-cased id, which is also the
Service Bus session id that serialises work per cluster.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ClusterKind = Literal["aks", "arc"]

# (namespace, type) as ARM spells them, by kind.
CLUSTER_TYPES: dict[ClusterKind, tuple[str, str]] = {
    "aks": ("Microsoft.ContainerService", "managedClusters"),
    "arc": ("Microsoft.Kubernetes", "connectedClusters"),
}
_KIND_BY_TYPE = {f"{ns}/{t}".lower(): kind for kind, (ns, t) in CLUSTER_TYPES.items()}

_RESOURCE_GROUP = re.compile(r"[-\w._()]{1,90}")
_CLUSTER_NAME = re.compile(r"[a-zA-Z0-9]|[a-zA-Z0-9][-_a-zA-Z0-9]{0,61}[a-zA-Z0-9]")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class InvalidClusterId(ValueError):
    """The text is not the resource id of an AKS or Arc cluster; the message says which part is wrong."""


@dataclass(frozen=True)
class ClusterRef:
    """An AKS managed cluster or an Arc connected cluster, identified by subscription, group and name."""

    subscription: str
    resource_group: str
    kind: ClusterKind
    name: str

    @property
    def namespace(self) -> str:
        return CLUSTER_TYPES[self.kind][0]

    @property
    def resource_type(self) -> str:
        return CLUSTER_TYPES[self.kind][1]

    @property
    def id(self) -> str:
        """The canonical ARM id (Azure's documented casing)."""
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
                f"/providers/{self.namespace}/{self.resource_type}/{self.name}")

    @property
    def key(self) -> str:
        """Lower-cased id: the session id, the ledger key, the thing two casings of one cluster share."""
        return self.id.lower()

    def __str__(self) -> str:
        return self.id


@dataclass(frozen=True)
class ListedCluster:
    """A cluster as a subscription-wide list shows it: enough to decide whether it needs a reconcile."""

    ref: ClusterRef
    tags: dict[str, str]


def cluster_kind_of(resource_id: str) -> ClusterKind | None:
    """The kind when `resource_id` names a cluster itself (not a child such as an agent pool), else None."""
    try:
        return parse_cluster_id(resource_id).kind
    except InvalidClusterId:
        return None


def parse_cluster_id(resource_id: str) -> ClusterRef:
    """Parse and validate a cluster resource id, whatever its casing."""
    from azure.mgmt.core.tools import parse_resource_id  # imported on first use: keeps indexing fast

    if not isinstance(resource_id, str) or not resource_id.strip():
        raise InvalidClusterId("clusterResourceId is empty; expected "
                               "/subscriptions/<id>/resourceGroups/<group>/providers/"
                               "Microsoft.ContainerService/managedClusters/<name> (or an Arc connectedClusters id)")
    text = resource_id.rstrip("/")  # no other leniency: schemas/install-request.v1.schema.json says the same
    parts = {k: str(v) for k, v in parse_resource_id(text).items() if v is not None}
    subscription = parts.get("subscription") or ""
    if not _GUID.fullmatch(subscription):
        raise InvalidClusterId(f"'{resource_id}' does not start with /subscriptions/<subscription GUID>")
    group = parts.get("resource_group") or ""
    if not _RESOURCE_GROUP.fullmatch(group):
        raise InvalidClusterId(f"'{resource_id}' has no valid resourceGroups/<name> segment")
    full_type = f"{parts.get('namespace') or ''}/{parts.get('type') or ''}".lower()
    kind = _KIND_BY_TYPE.get(full_type)
    if kind is None:
        raise InvalidClusterId(
            f"'{resource_id}' is a {full_type.strip('/') or 'non-resource'} id; expected "
            "Microsoft.ContainerService/managedClusters or Microsoft.Kubernetes/connectedClusters")
    if parts.get("children"):
        raise InvalidClusterId(f"'{resource_id}' names a child resource of a cluster, not the cluster itself")
    name = parts.get("name") or ""
    if not _CLUSTER_NAME.fullmatch(name):
        raise InvalidClusterId(f"'{name}' is not a valid cluster name")
    return ClusterRef(subscription=subscription.lower(), resource_group=group, kind=kind, name=name)


@dataclass(frozen=True)
class ResourceId:
    """Any top-level ARM resource id (e.g. a container registry), validated like a cluster id."""

    id: str
    subscription: str
    resource_group: str
    namespace: str
    resource_type: str
    name: str


def parse_resource_id(resource_id: str) -> ResourceId:
    """Parse /subscriptions/<guid>/resourceGroups/<g>/providers/<ns>/<type>/<name>; raise InvalidClusterId."""
    from azure.mgmt.core.tools import is_valid_resource_id
    from azure.mgmt.core.tools import parse_resource_id as parse

    text = resource_id.strip().rstrip("/") if isinstance(resource_id, str) else ""
    if not is_valid_resource_id(text):
        raise InvalidClusterId(f"'{resource_id}' is not an ARM resource id")
    parts = {k: str(v) for k, v in parse(text).items() if v is not None}
    if not _GUID.fullmatch(parts.get("subscription") or ""):
        raise InvalidClusterId(f"'{resource_id}' does not start with /subscriptions/<subscription GUID>")
    if parts.get("children") or not all(parts.get(k) for k in ("resource_group", "namespace", "type", "name")):
        raise InvalidClusterId(f"'{resource_id}' is not the id of a top-level resource in a resource group")
    return ResourceId(id=text, subscription=parts["subscription"].lower(), resource_group=parts["resource_group"],
                      namespace=parts["namespace"], resource_type=parts["type"], name=parts["name"])
