"""What the reconciler needs to know about a cluster, read from its ARM body.

AKS and Arc spell things differently (`issuerURL` vs `issuerUrl`, agent pools vs `totalNodeCount`);
these pure functions hide that so the reconciler decides on one shape.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.bootstrap.cluster_ids import ClusterKind


@dataclass(frozen=True)
class ClusterFacts:
    """The observed state of a cluster that matters for installing Argo CD."""

    provisioning_state: str
    location: str
    managed_identity: bool
    node_count: int | None
    oidc_issuer_url: str | None
    workload_identity: bool
    tags: Mapping[str, str] = field(default_factory=dict)
    tenant_id: str | None = None  # of the cluster's own identity: the tenant_id annotation of the cluster Secret


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def cluster_facts(kind: ClusterKind, body: Mapping[str, Any]) -> ClusterFacts:
    """Facts from a managedClusters or connectedClusters GET body (identity and properties as ARM sends them)."""
    props = _dict(body.get("properties"))
    identity_type = str(_dict(body.get("identity")).get("type") or "")
    oidc = _dict(props.get("oidcIssuerProfile"))
    workload = bool(_dict(_dict(props.get("securityProfile")).get("workloadIdentity")).get("enabled"))
    if kind == "aks":
        pools = props.get("agentPoolProfiles") or []
        nodes: int | None = sum(int(p.get("count") or 0) for p in pools if isinstance(p, Mapping))
        msi = identity_type.lower() in ("systemassigned", "userassigned") or \
            str(_dict(props.get("servicePrincipalProfile")).get("clientId") or "").lower() == "msi"
        issuer = oidc.get("issuerURL") if oidc.get("enabled") else None
    else:
        total = props.get("totalNodeCount")
        nodes = int(total) if isinstance(total, int) else None
        msi = True  # Arc agents always run with the cluster's system identity
        issuer = oidc.get("issuerUrl") if oidc.get("enabled") else None
    return ClusterFacts(
        provisioning_state=str(props.get("provisioningState") or "Unknown"),
        location=str(body.get("location") or ""),
        managed_identity=msi,
        node_count=nodes,
        oidc_issuer_url=issuer if isinstance(issuer, str) and issuer else None,
        workload_identity=workload,
        tags={str(k): str(v) for k, v in _dict(body.get("tags")).items()},
        tenant_id=str(_dict(body.get("identity")).get("tenantId") or "") or None,
    )
