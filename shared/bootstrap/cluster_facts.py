"""What the reconciler needs to know about a cluster, read from its ARM body.

AKS and Arc spell things differently (`issuerURL` vs `issuerUrl`, agent pools vs `totalNodeCount`);
these pure functions hide that so the reconciler decides on one shape.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.bootstrap.cluster_ids import ClusterKind


@dataclass(frozen=True)
class ClusterFacts:
    """The observed state of a cluster that matters for installing Argo CD."""

    provisioning_state: str
    location: str
    managed_identity: bool | None  # None: the answer names neither a managed identity nor a service principal
    node_count: int | None
    oidc_issuer_url: str | None
    workload_identity: bool
    tags: Mapping[str, str] = field(default_factory=dict)
    tenant_id: str | None = None  # of the cluster's own identity: the tenant_id annotation of the cluster Secret
    kubernetes_version: str | None = None
    distribution: str | None = None  # AKS for managed clusters; Arc's `distribution` (k3s, AKS_Edge_K3s, ...)
    sku: str | None = None  # AKS `sku.name`: Base, or Automatic
    connectivity_status: str | None = None  # Arc only: Connected, Connecting, Offline, Expired, AgentNotInstalled
    schedulable_nodes: int | None = None  # nodes ordinary pods can run on; None: as many as node_count
    unschedulable_pools: tuple[str, ...] = ()  # why the other nodes do not count, one line per pool
    created_at: float | None = None  # epoch seconds ARM says the cluster was created (`systemData.createdAt`)
    kubelet_client_id: str | None = None  # AKS `identityProfile.kubeletidentity.clientId`: the nodes' identity
    access: ApiAccess | None = None  # AKS: how others reach its API server (None: Arc, or ARM sent no properties)

    @property
    def argocd_nodes(self) -> int | None:
        """The nodes Argo CD's pods can be scheduled on (it carries no tolerations and runs on Linux)."""
        return self.node_count if self.schedulable_nodes is None else self.schedulable_nodes


@dataclass(frozen=True)
class ApiAccess:
    """How a hub may reach an AKS cluster's API server, as its ARM body says (None where it says nothing)."""

    entra: bool  # aadProfile.managed: Microsoft Entra integration (an absent aadProfile: off)
    azure_rbac: bool  # aadProfile.enableAzureRBAC: Azure RBAC for Kubernetes authorization
    private: bool  # apiServerAccessProfile.enablePrivateCluster
    fqdn: str | None  # the API server's FQDN: privateFQDN on a private cluster, else fqdn
    tenant_id: str | None  # aadProfile.tenantID


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def cluster_facts(kind: ClusterKind, body: Mapping[str, Any]) -> ClusterFacts:
    """Facts from a managedClusters or connectedClusters GET body (identity and properties as ARM sends them)."""
    props = _dict(body.get("properties"))
    identity_type = str(_dict(body.get("identity")).get("type") or "")
    oidc = _dict(props.get("oidcIssuerProfile"))
    workload = bool(_dict(_dict(props.get("securityProfile")).get("workloadIdentity")).get("enabled"))
    schedulable: int | None = None
    excluded: tuple[str, ...] = ()
    if kind == "aks":
        pools = [p for p in props.get("agentPoolProfiles") or [] if isinstance(p, Mapping)]
        nodes: int | None = sum(_count(p) for p in pools)
        schedulable, excluded = _schedulable(pools)
        client_id = str(_dict(props.get("servicePrincipalProfile")).get("clientId") or "").lower()
        msi: bool | None = identity_type.lower() in ("systemassigned", "userassigned") or client_id == "msi" or \
            (None if not client_id else False)  # False only on evidence: a service principal's client id
        issuer = oidc.get("issuerURL") if oidc.get("enabled") else None
        version = props.get("currentKubernetesVersion") or props.get("kubernetesVersion")
        distribution: object = "AKS"
    else:
        total = props.get("totalNodeCount")
        nodes = int(total) if isinstance(total, int) else None
        msi = True  # Arc agents always run with the cluster's system identity
        issuer = oidc.get("issuerUrl") if oidc.get("enabled") else None
        version = props.get("kubernetesVersion")
        distribution = props.get("distribution")
    return ClusterFacts(
        provisioning_state=str(props.get("provisioningState") or "Unknown"),
        location=str(body.get("location") or ""),
        managed_identity=msi,
        node_count=nodes,
        oidc_issuer_url=issuer if isinstance(issuer, str) and issuer else None,
        workload_identity=workload,
        tags={str(k): str(v) for k, v in _dict(body.get("tags")).items()},
        tenant_id=str(_dict(body.get("identity")).get("tenantId") or "") or None,
        kubernetes_version=_text(version),
        distribution=_text(distribution),
        sku=_text(_dict(body.get("sku")).get("name")) if kind == "aks" else None,
        connectivity_status=_text(props.get("connectivityStatus")) if kind == "arc" else None,
        schedulable_nodes=schedulable,
        unschedulable_pools=excluded,
        created_at=_moment(_dict(body.get("systemData")).get("createdAt")),
        kubelet_client_id=_text(_dict(_dict(props.get("identityProfile")).get("kubeletidentity")).get("clientId"))
        if kind == "aks" else None,
        access=_access(props) if kind == "aks" and props else None,
    )


def _access(props: Mapping[str, Any]) -> ApiAccess:
    aad = _dict(props.get("aadProfile"))
    private = _dict(props.get("apiServerAccessProfile")).get("enablePrivateCluster") is True
    return ApiAccess(entra=aad.get("managed") is True, azure_rbac=aad.get("enableAzureRBAC") is True, private=private,
                     fqdn=_text(props.get("privateFQDN" if private else "fqdn")), tenant_id=_text(aad.get("tenantID")))


def _moment(value: object) -> float | None:
    """Epoch seconds of an ARM timestamp (ISO 8601, or the SDK's datetime)."""
    if isinstance(value, str) and value:
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    return value.timestamp() if isinstance(value, datetime) else None


def _text(value: object) -> str | None:
    return str(value) if isinstance(value, str | int | float) and str(value) else None


def _count(pool: Mapping[str, Any]) -> int:
    try:
        return int(pool.get("count") or 0)
    except (TypeError, ValueError):
        return 0


#: Taint effects that keep a pod without a matching toleration off a node (PreferNoSchedule only discourages).
_REPELLING = ("noschedule", "noexecute")


def _schedulable(pools: list[Mapping[str, Any]]) -> tuple[int, tuple[str, ...]]:
    """Nodes Argo CD can run on, as far as the ARM body tells: Linux pools that are running and carry no taint
    that repels pods without tolerations (spot pools are tainted by AKS itself). Why each other pool is left out."""
    count, excluded = 0, []
    for pool in pools:
        name, nodes = str(pool.get("name") or "?"), _count(pool)
        taints = [str(t) for t in pool.get("nodeTaints") or [] if str(t).rsplit(":", 1)[-1].lower() in _REPELLING]
        if str(pool.get("scaleSetPriority") or "").lower() == "spot":
            taints.append("kubernetes.azure.com/scalesetpriority=spot:NoSchedule")
        if str(pool.get("osType") or "Linux").lower() != "linux":
            why = f"{pool.get('osType')} nodes"
        elif str(_dict(pool.get("powerState")).get("code") or "Running").lower() != "running":
            why = "stopped"
        elif taints:
            why = f"taint {', '.join(taints)}"
        else:
            count += nodes
            continue
        if nodes:
            excluded.append(f"pool {name} ({nodes} node(s)): {why}")
    return count, tuple(excluded)
