"""A profile's `hub:` section: its clusters are a hub Argo CD (`serve: true`), or spokes registered on one (`cluster:`).

Hub and spoke as argocd-2026.md section 4 describes it: the hub's application controller and server reach each
spoke's API server with the hub identity's Entra token (workload identity), authorised by Azure RBAC on the spoke. So
a hub profile needs workload identity, and its identity gets federated credentials for both service accounts; a spoke
profile names the hub, the built-in role the hub gets on each spoke, and what happens to clusters a hub cannot reach.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.bootstrap.cluster_ids import ClusterRef, InvalidClusterId, parse_cluster_id
from shared.errors import ProfileError
from shared.untrusted import shown

HUB_KEYS = frozenset({"serve", "cluster", "role", "namespaces", "privateClusters", "arcClusters", "ownArgoCD"})
#: What the hub's pods need an Entra token for: syncing to spokes (controller) and showing their resources (server).
HUB_SERVICE_ACCOUNTS = ("argocd-application-controller", "argocd-server")
#: Built-in role ids by the names a profile uses (../shared/reference/azure-contract/builtin-roles.md).
CLUSTER_ADMIN_ROLE = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"  # Azure Kubernetes Service RBAC Cluster Admin
ADMIN_ROLE = "3498e952-d568-435e-9b2c-8d77e338d7f7"  # Azure Kubernetes Service RBAC Admin
WRITER_ROLE = "a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb"  # Azure Kubernetes Service RBAC Writer
SPOKE_ROLES = {
    "ClusterAdmin": (CLUSTER_ADMIN_ROLE, "Azure Kubernetes Service RBAC Cluster Admin"),
    "Admin": (ADMIN_ROLE, "Azure Kubernetes Service RBAC Admin"),
    "Writer": (WRITER_ROLE, "Azure Kubernetes Service RBAC Writer"),
}
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", re.ASCII)  # a Kubernetes namespace (DNS label)
_MAX_NAMESPACES = 50

PrivateClusters = Literal["refuse", "reachable"]
ArcClusters = Literal["ownArgoCD", "refuse"]


@dataclass(frozen=True)
class Hub:
    """The `hub:` section. `serve`: the profile's clusters are hubs. Else `cluster` is the hub its clusters register
    on, with `role` (a key of SPOKE_ROLES) at the spoke's scope, or in each of `namespaces` only."""

    serve: bool = False
    cluster: ClusterRef | None = None
    role: str = "ClusterAdmin"
    namespaces: tuple[str, ...] = ()
    private_clusters: PrivateClusters = "refuse"  # "reachable": the operator vouches for a network path
    arc_clusters: ArcClusters = "ownArgoCD"  # Arc cluster connect is no endpoint a hub can use
    own_argocd: bool = False  # AKS spokes get their own extension as well

    @property
    def role_id(self) -> str:
        return SPOKE_ROLES[self.role][0]

    @property
    def role_name(self) -> str:
        return SPOKE_ROLES[self.role][1]


def parse_hub(value: Any, source: str, *, workload_identity: bool,
              service_accounts: tuple[str, ...]) -> Hub | None:
    """Validate `hub:`; a hub (`serve: true`) needs workload identity for argocd-application-controller and
    argocd-server, a spoke profile an AKS hub's resource id."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ProfileError(source, "hub", "must be a mapping: serve: true (a hub), or cluster: <the hub's AKS "
                           "resource id> (spokes)")
    serve = _flag(value, "serve", source, False)
    if serve:
        if "cluster" in value:
            raise ProfileError(source, "hub.cluster", "a hub profile (serve: true) names no hub; spokes' profiles do")
        missing = [a for a in HUB_SERVICE_ACCOUNTS if a not in service_accounts]
        if not workload_identity or missing:
            raise ProfileError(source, "workloadIdentity", "a hub reaches its spokes with its identity's Entra "
                               "token: set workloadIdentity.enabled: true and list "
                               f"{', '.join(missing or HUB_SERVICE_ACCOUNTS)} in workloadIdentity.serviceAccounts")
        return Hub(serve=True)
    return Hub(cluster=_hub_cluster(value.get("cluster"), source), role=_role(value.get("role"), source),
               namespaces=_namespaces(value, source), private_clusters=_choice(
                   value, "privateClusters", ("refuse", "reachable"), source),  # type: ignore[arg-type]
               arc_clusters=_choice(value, "arcClusters", ("ownArgoCD", "refuse"), source),  # type: ignore[arg-type]
               own_argocd=_flag(value, "ownArgoCD", source, False))


def _flag(value: Mapping[str, Any], key: str, source: str, default: bool) -> bool:
    found = value.get(key, default)
    if not isinstance(found, bool):
        raise ProfileError(source, f"hub.{key}", "must be true or false")
    return found


def _hub_cluster(raw: Any, source: str) -> ClusterRef:
    if not isinstance(raw, str):
        raise ProfileError(source, "hub.cluster", "is required in a spoke profile: the hub's AKS resource id "
                           "(/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ContainerService/"
                           "managedClusters/<name>), or serve: true for a hub profile")
    try:
        hub = parse_cluster_id(raw)
    except InvalidClusterId as exc:
        raise ProfileError(source, "hub.cluster", f"{shown(raw)} is not a cluster resource id: {exc}") from None
    if hub.kind != "aks":
        raise ProfileError(source, "hub.cluster", "a hub must be an AKS cluster: an Arc cluster's API server is "
                           "reached through cluster connect, a client-side proxy, so it cannot hold the hub identity")
    return hub


def _role(raw: Any, source: str) -> str:
    if raw is None:
        return "ClusterAdmin"
    if raw not in SPOKE_ROLES:
        raise ProfileError(source, "hub.role", f"{shown(str(raw))} is not one of {', '.join(SPOKE_ROLES)} (Azure "
                           "Kubernetes Service RBAC Cluster Admin, Admin or Writer)")
    return str(raw)


def _namespaces(value: Mapping[str, Any], source: str) -> tuple[str, ...]:
    raw = value.get("namespaces") or []
    if not isinstance(raw, list) or not all(isinstance(n, str) and _NAMESPACE.fullmatch(n) for n in raw):
        raise ProfileError(source, "hub.namespaces", "must be a list of Kubernetes namespace names")
    if len(set(raw)) != len(raw) or len(raw) > _MAX_NAMESPACES:
        raise ProfileError(source, "hub.namespaces", f"lists a namespace twice, or more than {_MAX_NAMESPACES}")
    role = value.get("role") or "ClusterAdmin"
    if role in ("Admin", "Writer") and not raw:
        raise ProfileError(source, "hub.namespaces", f"role {role} is a namespaced role: list the namespaces the "
                           "hub may deploy to (or use role ClusterAdmin for the whole cluster)")
    if role == "ClusterAdmin" and raw:
        raise ProfileError(source, "hub.namespaces", "restricting the hub to namespaces needs role Admin or Writer "
                           "(assigned in each namespace); ClusterAdmin covers the whole cluster")
    return tuple(raw)


def _choice(value: Mapping[str, Any], key: str, allowed: tuple[str, ...], source: str) -> str:
    found = value.get(key, allowed[0])
    if found not in allowed:
        raise ProfileError(source, f"hub.{key}", f"must be one of {', '.join(allowed)}")
    return str(found)
