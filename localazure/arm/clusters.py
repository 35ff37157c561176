"""AKS managed clusters and Arc connected clusters: created from Python, read (and AKS updated) over HTTP.

The bodies imitate the real ones (Azure REST spec examples and recorded wire traffic), quirks included:
AKS ids say `/resourcegroups/`, the AKS type is `ManagedClusters`, AKS says `issuerURL` where Arc says
`issuerUrl`. Also the Event Grid event ARM publishes for a cluster write or delete.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from localazure.arm.cluster_access import access_properties
from localazure.arm.common import Json, iso, new_guid, not_found_message, resource_key, version_date
from localazure.arm.request import ArmError, Call, allow
from localazure.arm.server import Reply
from localazure.arm.subscriptions import SubscriptionRoutes

if TYPE_CHECKING:
    from localazure.arm.extensions import Extension


@dataclass(frozen=True)
class ClusterKind:
    """What differs between AKS and Arc clusters in paths, ids and bodies."""

    namespace: str
    resource_type: str
    body_type: str
    async_segment: str
    latest_api: str

    @property
    def operation_prefix(self) -> str:
        return f"{self.namespace}/{self.resource_type}"


AKS = ClusterKind(
    "Microsoft.ContainerService",
    "managedClusters",
    "Microsoft.ContainerService/ManagedClusters",
    "ManagedClusters",
    "2025-10-01",
)
ARC = ClusterKind(
    "Microsoft.Kubernetes",
    "connectedClusters",
    "Microsoft.Kubernetes/connectedClusters",
    "ConnectedClusters",
    "2026-05-01",
)
CLUSTER_KINDS = {(k.namespace.lower(), k.resource_type.lower()): k for k in (AKS, ARC)}


#: Cluster states in which AKS refuses another mutation (`OperationNotAllowed`).
TERMINAL_CLUSTER_STATES = frozenset({"succeeded", "failed", "canceled"})


@dataclass
class Cluster:
    """An AKS managed cluster or an Arc connected cluster, as far as the bootstrapper looks at it."""

    kind: ClusterKind
    subscription: str
    resource_group: str
    name: str
    location: str
    node_counts: tuple[int, ...]
    identity: str
    oidc_issuer: bool
    workload_identity: bool
    provisioning_state: str
    ready_at: float | None
    tags: dict[str, str]
    created: float
    tenant_id: str
    principal_id: str = field(default_factory=new_guid)  # the control plane's identity
    client_id: str = field(default_factory=new_guid)
    kubelet_principal_id: str = field(default_factory=new_guid)  # the nodes' identity: another principal
    kubelet_client_id: str = field(default_factory=new_guid)
    etag: str = field(default_factory=new_guid)  # changes with every write, as AKS's eTag does
    dns_suffix: str = field(default_factory=lambda: secrets.token_hex(4))
    issuer_guid: str = field(default_factory=new_guid)
    extensions: dict[str, Extension] = field(default_factory=dict)
    sku: str = "Base"  # AKS: Base, or Automatic (deployment safeguards refuse pods without resource limits)
    kubernetes_version: str | None = None  # None: the kind's usual one
    pool_taints: tuple[tuple[str, ...], ...] = ()  # AKS: nodeTaints per agent pool, in node_counts' order
    connectivity: str = "Connected"  # Arc agents: Connected, Connecting, Offline, Expired, AgentNotInstalled
    disconnected_at: float | None = None  # since when extension operations cannot progress (agents away)
    oss_argocd: bool = False  # an open-source Argo CD already runs in the `argocd` namespace (Helm or manifests)
    aad_rbac: bool = True  # AKS: Entra integration with Azure RBAC for Kubernetes authorization (aadProfile)
    private: bool = False  # AKS: a private API server (apiServerAccessProfile.enablePrivateCluster)

    @property
    def untainted_nodes(self) -> int:
        """Nodes a pod without tolerations can be scheduled on (NoSchedule / NoExecute taints keep it off)."""
        taints = (*self.pool_taints, *([()] * len(self.node_counts)))
        return sum(n for n, t in zip(self.node_counts, taints, strict=False)
                   if not any(x.rsplit(":", 1)[-1] in ("NoSchedule", "NoExecute") for x in t))

    @property
    def k8s_version(self) -> str:
        return self.kubernetes_version or ("1.33.3" if self.kind is AKS else "1.31.4")

    @property
    def key(self) -> str:
        return resource_key(
            self.subscription, self.resource_group, self.kind.namespace, self.kind.resource_type, self.name
        )

    @property
    def node_count(self) -> int:
        return sum(self.node_counts)

    @property
    def resource_uri(self) -> str:
        """The id as Event Grid subjects spell it (lower-case `resourcegroups`)."""
        return (
            f"/subscriptions/{self.subscription}/resourcegroups/{self.resource_group}/providers/"
            f"{self.kind.namespace}/{self.kind.resource_type}/{self.name}"
        )

    @property
    def node_resource_group(self) -> str:
        return f"MC_{self.resource_group}_{self.name}_{self.location}"

    def state(self, now: float) -> str:
        if self.ready_at is not None and now >= self.ready_at:
            return "Succeeded"
        return self.provisioning_state

    def issuer_url(self) -> str:
        if self.kind is AKS:
            return f"https://{self.location}.oic.prod-aks.azure.com/{self.tenant_id}/{self.issuer_guid}/"
        return f"https://oidcdiscovery-northamerica-endpoint-{self.dns_suffix}.z01.azurefd.net/{self.issuer_guid}/"

    def body(self, api_version: str, now: float) -> Json:
        return self._aks_body(api_version, now) if self.kind is AKS else self._arc_body(api_version, now)

    def _aks_body(self, api_version: str, now: float) -> Json:
        state = self.state(now)
        msi = self.identity in ("SystemAssigned", "UserAssigned")
        rg_id = f"/subscriptions/{self.subscription}/resourcegroups/{self.resource_group}"
        pools: list[Json] = [
            {
                "name": f"nodepool{i + 1}",
                "count": count,
                "vmSize": "Standard_D4ds_v5",
                "osType": "Linux",
                "type": "VirtualMachineScaleSets",
                "mode": "System" if i == 0 else "User",
                "maxPods": 110,
                "provisioningState": state,
                "powerState": {"code": "Running"},
                "orchestratorVersion": self.k8s_version,
                "currentOrchestratorVersion": self.k8s_version,
                "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202510.03.0",
            }
            for i, count in enumerate(self.node_counts)
        ]
        for pool, taints in zip(pools, self.pool_taints, strict=False):
            if taints:
                pool["nodeTaints"] = list(taints)
        properties: Json = {
            "provisioningState": state,
            "powerState": {"code": "Running"},
            "kubernetesVersion": self.k8s_version,
            "currentKubernetesVersion": self.k8s_version,
            "dnsPrefix": f"{self.name}-dns",
            "fqdn": f"{self.name}-dns-{self.dns_suffix}.hcp.{self.location}.azmk8s.io",
            "azurePortalFQDN": f"{self.name}-dns-{self.dns_suffix}.portal.hcp.{self.location}.azmk8s.io",
            "agentPoolProfiles": pools,
            "servicePrincipalProfile": {"clientId": "msi" if msi else self.client_id},
            "nodeResourceGroup": self.node_resource_group,
            "enableRBAC": True,
            **access_properties(self),
            "maxAgentPools": 100,
            "networkProfile": {
                "networkPlugin": "azure",
                "networkPluginMode": "overlay",
                "loadBalancerSku": "standard",
                "outboundType": "loadBalancer",
                "podCidr": "10.244.0.0/16",
                "serviceCidr": "10.0.0.0/16",
                "dnsServiceIP": "10.0.0.10",
                "ipFamilies": ["IPv4"],
            },
        }
        if msi:
            properties["identityProfile"] = {
                "kubeletidentity": {
                    "resourceId": f"/subscriptions/{self.subscription}/resourcegroups/"
                    f"{self.node_resource_group}/providers/"
                    f"Microsoft.ManagedIdentity/userAssignedIdentities/{self.name}-agentpool",
                    "clientId": self.kubelet_client_id,
                    "objectId": self.kubelet_principal_id,
                }
            }
        if _aks_reports_oidc(api_version):
            oidc: Json = {"enabled": self.oidc_issuer}
            if self.oidc_issuer:
                oidc["issuerURL"] = self.issuer_url()
            properties["oidcIssuerProfile"] = oidc
            properties["securityProfile"] = {"workloadIdentity": {"enabled": self.workload_identity}}
        body: Json = {
            "id": f"{rg_id}/providers/Microsoft.ContainerService/managedClusters/{self.name}",
            "location": self.location,
            "name": self.name,
            "tags": dict(self.tags),
            "type": self.kind.body_type,
            "eTag": self.etag,
            "sku": {"name": self.sku, "tier": "Standard" if self.sku == "Automatic" else "Free"},
            "systemData": self._system_data(),
            "properties": properties,
        }
        if self.identity == "SystemAssigned":
            body["identity"] = {"type": "SystemAssigned", "principalId": self.principal_id, "tenantId": self.tenant_id}
        elif self.identity == "UserAssigned":
            control_plane = f"{rg_id}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{self.name}-identity"
            body["identity"] = {
                "type": "UserAssigned",
                "userAssignedIdentities": {
                    control_plane: {"principalId": self.principal_id, "clientId": self.client_id}
                },
            }
        return body

    def _system_data(self) -> Json:
        """ARM's record of who created the resource and when (AKS and Arc both return it)."""
        return {
            "createdBy": "localazure",
            "createdByType": "User",
            "createdAt": iso(self.created),
            "lastModifiedBy": "localazure",
            "lastModifiedByType": "User",
            "lastModifiedAt": iso(self.created),
        }

    def _arc_body(self, api_version: str, now: float) -> Json:
        properties: Json = {
            "agentPublicKeyCertificate": base64.b64encode(self.issuer_guid.encode() * 4).decode(),
            "kubernetesVersion": self.k8s_version,
            "totalNodeCount": self.node_count,
            "totalCoreCount": self.node_count * 4,
            "agentVersion": "1.24.4",
            "provisioningState": self.state(now),
            "connectivityStatus": self.connectivity,
            "lastConnectivityTime": iso(now if self.disconnected_at is None else self.disconnected_at),
            "distribution": "k3s",
            "infrastructure": "generic",
            "privateLinkState": "Disabled",
            "azureHybridBenefit": "NotApplicable",
        }
        # 2024-01-01 predates the workload identity feature: neither profile is in its body.
        if version_date(api_version) > "2024-01-01":
            oidc: Json = {"enabled": self.oidc_issuer}
            if self.oidc_issuer:
                oidc["issuerUrl"] = self.issuer_url()
            properties["oidcIssuerProfile"] = oidc
            properties["securityProfile"] = {"workloadIdentity": {"enabled": self.workload_identity}}
        return {
            "id": f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/"
            f"Microsoft.Kubernetes/connectedClusters/{self.name}",
            "name": self.name,
            "type": self.kind.body_type,
            "location": self.location,
            "tags": dict(self.tags),
            "identity": {"type": "SystemAssigned", "principalId": self.principal_id, "tenantId": self.tenant_id},
            "systemData": self._system_data(),
            "properties": properties,
        }


def _aks_reports_oidc(api_version: str) -> bool:
    """AKS added `oidcIssuerProfile` in 2022-03-02-preview; the 2022-04-01 GA body still lacks it (wire)."""
    date = version_date(api_version)
    return date >= "2022-03-02" if "preview" in api_version.lower() else date >= "2022-06-01"


def cluster_event(cluster: Cluster, deleted: bool, now: float, tenant_id: str) -> Json:
    """The Event Grid (EventGridEvent schema) event ARM publishes for a cluster write or delete."""
    verb = "delete" if deleted else "write"
    operation = f"{cluster.kind.operation_prefix}/{verb}"
    data: Json = {
        "authorization": {
            "scope": cluster.resource_uri,
            "action": operation,
            "evidence": {"role": "Subscription Admin"},
        },
        "claims": {},
        "correlationId": new_guid(),
        "resourceProvider": cluster.kind.namespace,
        "resourceUri": cluster.resource_uri,
        "operationName": operation,
        "status": "Succeeded",
        "subscriptionId": cluster.subscription,
        "tenantId": tenant_id,
    }
    if deleted:  # httpRequest only comes with updates and deletes
        data["httpRequest"] = {
            "clientRequestId": new_guid(),
            "clientIpAddress": "203.0.113.10",
            "method": "DELETE",
            "url": f"https://management.azure.com{cluster.resource_uri}?api-version={cluster.kind.latest_api}",
        }
    return {
        "topic": f"/subscriptions/{cluster.subscription}",
        "subject": cluster.resource_uri,
        "eventType": "Microsoft.Resources.ResourceDeleteSuccess"
        if deleted
        else "Microsoft.Resources.ResourceWriteSuccess",
        "eventTime": iso(now),
        "id": new_guid(),
        "data": data,
        "dataVersion": "2",
        "metadataVersion": "1",
    }


class ClusterRoutes(SubscriptionRoutes):
    def __init__(self) -> None:
        super().__init__()
        self.cluster_update_seconds = 240.0
        self._clusters: dict[str, Cluster] = {}

    def _add_cluster(
        self,
        kind: ClusterKind,
        subscription: str,
        resource_group: str,
        name: str,
        location: str,
        node_counts: tuple[int, ...],
        identity: str,
        oidc_issuer: bool,
        workload_identity: bool,
        provisioning_state: str,
        ready_after: float | None,
        tags: Mapping[str, str] | None,
        now: float,
        *,
        sku: str = "Base",
        kubernetes_version: str | None = None,
        pool_taints: tuple[tuple[str, ...], ...] = (),
        connectivity: str = "Connected",
    ) -> Json:
        cluster = Cluster(
            kind=kind,
            subscription=subscription,
            resource_group=resource_group,
            name=name,
            location=location,
            node_counts=node_counts,
            identity=identity,
            oidc_issuer=oidc_issuer,
            workload_identity=workload_identity,
            provisioning_state=provisioning_state,
            ready_at=None if ready_after is None else now + ready_after,
            tags=dict(tags or {}),
            created=now,
            tenant_id=self.tenant_id,
            sku=sku,
            kubernetes_version=kubernetes_version,
            pool_taints=pool_taints,
            connectivity=connectivity,
        )
        if cluster.connectivity != "Connected":
            cluster.disconnected_at = now
        if cluster.key in self._clusters:
            raise ValueError(f"cluster {cluster.resource_uri} already exists")
        self._ensure_resource_group(subscription, resource_group, location)
        # Making the cluster needed its namespace: Azure registers it then, and never unregisters a namespace
        # in use (a state set with `set_provider` stays as set).
        self._subscription(subscription).provider_states[kind.namespace.lower()] = "Registered"
        if kind is AKS:  # AKS makes the group its nodes (and the kubelet identity) live in, and manages it
            self._ensure_resource_group(subscription, cluster.node_resource_group, location,
                                        managed_by=cluster.resource_uri.replace("/resourcegroups/", "/resourceGroups/"))
        self._clusters[cluster.key] = cluster
        return cluster_event(cluster, deleted=False, now=now, tenant_id=self.tenant_id)

    def _cluster(self, call: Call) -> Reply:
        allow(call, "GET", "PUT")
        cluster = self._clusters.get("/" + "/".join(call.lower))
        if cluster is None:
            s = call.segments
            if call.method == "PUT":
                raise ArmError(400, "BadRequest", "The local ARM creates clusters from Python (add_aks_cluster).")
            raise ArmError(404, "ResourceNotFound", not_found_message(s[5], s[6], s[7], s[3]))
        if call.method == "PUT":
            return self._update_cluster(call, cluster)
        return Reply(200, cluster.body(call.api_version, call.now))

    def _update_cluster(self, call: Call, cluster: Cluster) -> Reply:
        """`az aks update` for the OIDC issuer and workload identity: a PUT of the whole cluster, then Updating."""
        if cluster.kind is not AKS:
            raise ArmError(400, "BadRequest", "Connected clusters are updated with PATCH and the agents' Helm chart.")
        # ARM checks the write, and AKS links the user-assigned control-plane identity the PUT names (a whole-cluster
        # PUT repeats it) on every PUT: the caller must be allowed to assign it.
        current = cluster.body(call.api_version, call.now)
        sent = call.body.get("identity") if isinstance(call.body, dict) else None
        identities = (sent if isinstance(sent, dict) else current.get("identity") or {}).get("userAssignedIdentities")
        linked = [("Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", str(identity))
                  for identity in (identities if isinstance(identities, dict) else {})]
        self._permissions.require(call.caller, "Microsoft.ContainerService/managedClusters/write", current["id"],
                                  linked)
        refuse_busy_cluster(cluster, call.now)
        properties = call.body.get("properties") if isinstance(call.body, dict) else None
        if not isinstance(properties, dict):
            raise ArmError(400, "InvalidRequestContent", "The request body must contain an object 'properties'.")
        oidc = bool((properties.get("oidcIssuerProfile") or {}).get("enabled"))
        workload = bool(((properties.get("securityProfile") or {}).get("workloadIdentity") or {}).get("enabled"))
        if cluster.oidc_issuer and not oidc:
            raise ArmError(400, "BadRequest", "OIDC issuer cannot be disabled once it is enabled.")
        if workload and not oidc:
            raise ArmError(
                400, "BadRequest", "Enabling workload identity requires enabling OIDC issuer (--enable-oidc-issuer)."
            )
        cluster.oidc_issuer, cluster.workload_identity = oidc, workload
        cluster.etag = new_guid()
        cluster.provisioning_state = "Updating"
        cluster.ready_at = call.now + self.cluster_update_seconds
        return Reply(200, cluster.body(call.api_version, call.now))


def refuse_busy_cluster(cluster: Cluster, now: float) -> None:
    """AKS refuses extension writes while the cluster itself is being created or updated."""
    state = cluster.state(now)
    if cluster.kind is AKS and state.lower() not in TERMINAL_CLUSTER_STATES:
        raise ArmError(
            409,
            "OperationNotAllowed",
            f"Operation is not allowed: Another operation ({state}) is in progress, please wait for it to finish "
            "before starting a new operation. See https://aka.ms/aks-pending-operation for more details",
        )
