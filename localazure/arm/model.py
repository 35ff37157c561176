"""Resource state of the local ARM and the JSON bodies that ARM returns for it.

Pure data and rendering, no HTTP and no locking: `localazure.arm.emulator` owns these objects behind one
lock. The bodies imitate the real ones (Azure REST spec examples and recorded wire traffic),
including their quirks: AKS and MSI ids say `/resourcegroups/`, extension ids `/resourceGroups/`,
the AKS type is `ManagedClusters`, AKS says `issuerURL` where Arc says `issuerUrl`.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

Json = dict[str, Any]

#: The version a fresh `Microsoft.ArgoCD` install reports once it has succeeded.
LATEST_ARGOCD_VERSION = "1.0.0-preview"

INSTALL_FAILURE_MESSAGE = (
    "The extension operation failed with the following error:  Error: [ InnerError: [Helm installation "
    "failed : Unable to create/update Kubernetes resources for the extension : Recommendation Please check "
    "that there are no policies blocking the resource creation/update for the extension. Please refer to "
    "this URL for more details on this error: aka.ms/bing : InnerError [release argocd failed, and has been "
    "uninstalled due to atomic being set: failed pre-install: pod healthcheck failed]]] occurred while doing "
    "the operation : [Create] on the config, For general troubleshooting visit: https://aka.ms/k8s-extensions-TSG"
)


def ha_timeout_message(operation: str) -> str:
    """What a redis-ha install on too few nodes reports: Helm waits for pods that never schedule."""
    return (
        "The extension operation failed with the following error:  Error: [ InnerError: [Helm installation "
        f"failed : context deadline exceeded]] occurred while doing the operation : [{operation}] on the config, "
        "For general troubleshooting visit: https://aka.ms/k8s-extensions-TSG"
    )


class Failure(NamedTuple):
    """An ARM ErrorDetail: the code and message an operation ended with."""

    code: str
    message: str


def iso(t: float) -> str:
    """ARM's timestamp format (seven fractional digits, `Z`)."""
    dt = datetime.fromtimestamp(t, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond * 10:07d}Z"


def new_guid() -> str:
    return str(uuid.uuid4())


def version_date(api_version: str) -> str:
    """The date part of an api-version (`2022-04-02-preview` -> `2022-04-02`), comparable as a string."""
    return api_version[:10]


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
    "2026-03-01",
)
CLUSTER_KINDS = {(k.namespace.lower(), k.resource_type.lower()): k for k in (AKS, ARC)}

#: Cluster states in which AKS refuses another mutation (`OperationNotAllowed`).
TERMINAL_CLUSTER_STATES = frozenset({"succeeded", "failed", "canceled"})


def resource_key(subscription: str, resource_group: str, namespace: str, resource_type: str, name: str) -> str:
    """The case-insensitive identity of a resource: its canonical id, lower-cased."""
    path = f"/subscriptions/{subscription}/resourcegroups/{resource_group}/providers/{namespace}/{resource_type}/{name}"
    return path.lower()


def not_found_message(namespace: str, resource_type: str, name: str, resource_group: str) -> str:
    return (
        f"The Resource '{namespace}/{resource_type}/{name}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix"
    )


@dataclass
class Operation:
    """An extension's async operation, as its Azure-AsyncOperation URL reports it."""

    op_id: str
    resource_id: str
    activity: str  # Creating | Updating | Deleting
    ends: float
    failure: Failure | None
    canceled: bool = False

    def status(self, now: float) -> str:
        if self.canceled:
            return "Canceled"
        if now < self.ends:
            return self.activity
        return "Failed" if self.failure else "Succeeded"

    def body(self, now: float) -> Json:
        status = self.status(now)
        error: Json | None = None
        if status == "Canceled":
            error = {
                "code": "OperationCanceled",
                "message": "The operation was canceled because the extension was deleted.",
            }
        elif status == "Failed" and self.failure:
            error = self.failure._asdict()
        return {
            "id": f"{self.resource_id}/operations/{self.op_id}",
            "name": self.op_id,
            "status": status,
            "properties": {},
            "error": error,
        }


@dataclass
class Extension:
    """A cluster extension (Microsoft.KubernetesConfiguration/extensions)."""

    cluster: Cluster
    name: str
    extension_type: str
    release_train: str
    auto_upgrade: bool
    version: str | None
    scope: Json | None
    settings: dict[str, str]
    protected: dict[str, str]
    provisioning_state: str
    current_version: str | None
    created: float
    modified: float
    failure: Failure | None = None
    failed_at: float = 0.0
    operation: Operation | None = None

    @property
    def id(self) -> str:
        c = self.cluster
        return (
            f"/subscriptions/{c.subscription}/resourceGroups/{c.resource_group}/providers/{c.kind.namespace}/"
            f"{c.kind.resource_type}/{c.name}/providers/Microsoft.KubernetesConfiguration/extensions/{self.name}"
        )

    @property
    def async_path(self) -> str:
        """The extension path as ARM spells it in Azure-AsyncOperation (`ConnectedClusters`)."""
        c = self.cluster
        return (
            f"/subscriptions/{c.subscription}/resourceGroups/{c.resource_group}/providers/{c.kind.namespace}/"
            f"{c.kind.async_segment}/{c.name}/providers/Microsoft.KubernetesConfiguration/extensions/{self.name}"
        )

    def body(self) -> Json:
        properties: Json = {
            # The RP echoes the type lower-cased; clients must compare case-insensitively.
            "extensionType": self.extension_type.lower(),
            "autoUpgradeMinorVersion": self.auto_upgrade,
            "releaseTrain": self.release_train,
            "version": self.version,
            "scope": self.scope,
            "configurationSettings": dict(self.settings),
            "configurationProtectedSettings": {},  # write-only: never echoed
            "provisioningState": self.provisioning_state,
            "currentVersion": self.current_version,
            "statuses": [],
            "aksAssignedIdentity": None,
            "isSystemExtension": False,
        }
        if self.provisioning_state == "Failed" and self.failure:
            properties["errorInfo"] = self.failure._asdict()
            properties["statuses"] = [
                {
                    "code": self.failure.code,
                    "displayStatus": None,
                    "level": "Error",
                    "message": self.failure.message,
                    "time": iso(self.failed_at),
                }
            ]
        return {
            "id": self.id,
            "name": self.name,
            "type": "Microsoft.KubernetesConfiguration/extensions",
            "systemData": {
                "createdBy": "localazure",
                "createdByType": "Application",
                "createdAt": iso(self.created),
                "lastModifiedBy": "localazure",
                "lastModifiedByType": "Application",
                "lastModifiedAt": iso(self.modified),
            },
            "properties": properties,
        }


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
    principal_id: str = field(default_factory=new_guid)
    client_id: str = field(default_factory=new_guid)
    dns_suffix: str = field(default_factory=lambda: secrets.token_hex(4))
    issuer_guid: str = field(default_factory=new_guid)
    extensions: dict[str, Extension] = field(default_factory=dict)

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
        pools = [
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
                "orchestratorVersion": "1.33.3",
                "currentOrchestratorVersion": "1.33.3",
                "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202510.03.0",
            }
            for i, count in enumerate(self.node_counts)
        ]
        properties: Json = {
            "provisioningState": state,
            "powerState": {"code": "Running"},
            "kubernetesVersion": "1.33.3",
            "currentKubernetesVersion": "1.33.3",
            "dnsPrefix": f"{self.name}-dns",
            "fqdn": f"{self.name}-dns-{self.dns_suffix}.hcp.{self.location}.azmk8s.io",
            "azurePortalFQDN": f"{self.name}-dns-{self.dns_suffix}.portal.hcp.{self.location}.azmk8s.io",
            "agentPoolProfiles": pools,
            "servicePrincipalProfile": {"clientId": "msi" if msi else self.client_id},
            "nodeResourceGroup": f"MC_{self.resource_group}_{self.name}_{self.location}",
            "enableRBAC": True,
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
                    f"MC_{self.resource_group}_{self.name}_{self.location}/providers/"
                    f"Microsoft.ManagedIdentity/userAssignedIdentities/{self.name}-agentpool",
                    "clientId": self.client_id,
                    "objectId": self.principal_id,
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
            "sku": {"name": "Base", "tier": "Free"},
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

    def _arc_body(self, api_version: str, now: float) -> Json:
        properties: Json = {
            "agentPublicKeyCertificate": base64.b64encode(self.issuer_guid.encode() * 4).decode(),
            "kubernetesVersion": "1.31.4",
            "totalNodeCount": self.node_count,
            "totalCoreCount": self.node_count * 4,
            "agentVersion": "1.24.4",
            "provisioningState": self.state(now),
            "connectivityStatus": "Connected",
            "lastConnectivityTime": iso(now),
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
            "systemData": {
                "createdBy": "localazure",
                "createdByType": "User",
                "createdAt": iso(self.created),
                "lastModifiedBy": "localazure",
                "lastModifiedByType": "User",
                "lastModifiedAt": iso(self.created),
            },
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


@dataclass
class FederatedCredential:
    name: str
    issuer: str
    subject: str
    audiences: list[str]


@dataclass
class Identity:
    """A user-assigned managed identity and its federated identity credentials."""

    subscription: str
    resource_group: str
    name: str
    location: str
    tags: dict[str, str]
    tenant_id: str
    principal_id: str = field(default_factory=new_guid)
    client_id: str = field(default_factory=new_guid)
    credentials: dict[str, FederatedCredential] = field(default_factory=dict)
    busy_until: float = 0.0  # monotonic time until which a credential write is in flight

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourcegroups/{self.resource_group}/providers/"
            f"Microsoft.ManagedIdentity/userAssignedIdentities/{self.name}"
        )

    def body(self, api_version: str) -> Json:
        properties: Json = {"tenantId": self.tenant_id, "principalId": self.principal_id, "clientId": self.client_id}
        if version_date(api_version) >= "2024-11-30":
            properties["isolationScope"] = "None"
        return {
            "id": self.id,
            "name": self.name,
            "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
            "location": self.location,
            "tags": dict(self.tags),
            "properties": properties,
        }

    def credential_body(self, credential: FederatedCredential) -> Json:
        return {
            "id": f"{self.id}/federatedIdentityCredentials/{credential.name}",
            "name": credential.name,
            "type": "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
            "properties": {
                "issuer": credential.issuer,
                "subject": credential.subject,
                "audiences": list(credential.audiences),
            },
        }


AUDIENCE = "api://AzureADTokenExchange"


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


@dataclass
class Application:
    """An Entra application registration (Microsoft Graph), with its federated identity credentials by id."""

    object_id: str
    app_id: str
    display_name: str
    credentials: dict[str, FederatedCredential] = field(default_factory=dict)

    def credential_body(self, credential_id: str, credential: FederatedCredential) -> Json:
        return {
            "id": credential_id,
            "name": credential.name,
            "issuer": credential.issuer,
            "subject": credential.subject,
            "audiences": list(credential.audiences),
            "description": None,
        }


#: Canonical namespace casing and the resource types each provider lists.
KNOWN_PROVIDERS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "microsoft.containerservice": (
        "Microsoft.ContainerService",
        ("managedClusters", "managedClusters/agentPools", "locations", "locations/operations"),
        ("2025-10-01", "2025-07-01", "2024-09-01", "2022-04-01"),
    ),
    "microsoft.kubernetes": (
        "Microsoft.Kubernetes",
        ("connectedClusters", "locations", "locations/operationStatuses", "operations"),
        ("2026-03-01", "2024-12-01-preview", "2024-01-01"),
    ),
    "microsoft.kubernetesconfiguration": (
        "Microsoft.KubernetesConfiguration",
        ("extensions", "extensionTypes", "fluxConfigurations", "sourceControlConfigurations", "operations"),
        ("2025-03-01", "2024-11-01", "2023-05-01"),
    ),
    "microsoft.managedidentity": (
        "Microsoft.ManagedIdentity",
        ("userAssignedIdentities", "userAssignedIdentities/federatedIdentityCredentials", "operations"),
        ("2024-11-30", "2023-01-31"),
    ),
}


PROVIDER_STATES = ("NotRegistered", "Registering", "Registered")


@dataclass
class Provider:
    """A subscription's registration of one resource provider namespace."""

    state: str
    ready_at: float = 0.0  # when Registering turns Registered

    def current(self, now: float) -> str:
        return "Registered" if self.state == "Registering" and now >= self.ready_at else self.state


def namespace_display(namespace: str) -> str:
    known = KNOWN_PROVIDERS.get(namespace.lower())
    return known[0] if known else namespace


def provider_body(subscription: str, namespace: str, state: str) -> Json:
    display, resource_types, api_versions = KNOWN_PROVIDERS.get(namespace.lower(), (namespace, (), ()))
    return {
        "id": f"/subscriptions/{subscription}/providers/{display}",
        "namespace": display,
        "registrationState": state,
        "registrationPolicy": "RegistrationRequired",
        "resourceTypes": [
            {
                "resourceType": resource_type,
                "locations": ["East US", "West Europe"],
                "apiVersions": list(api_versions),
                "capabilities": "SupportsTags, SupportsLocation",
            }
            for resource_type in resource_types
        ],
    }
