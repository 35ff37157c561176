"""Subscriptions, tenants and resource groups (Microsoft.Resources): what a client reads before any resource.

`az login` lists the tenant's subscriptions, `az group show` and `az identity create` without `-l` read a
resource group, and every resource lives in one: a PUT into a group that does not exist is 404
`ResourceGroupNotFound`, whatever the resource. A subscription is known once something is set up in it
(`ArmEmulator.add_subscription`, or a cluster, identity or provider state); another one is 404
`SubscriptionNotFound`. Clusters create their resource group (and AKS its node resource group), as Azure's
portal and CLI do. Also ARM's cloud metadata (`GET /metadata/endpoints`), which ARM serves without a token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from localazure.arm.common import Json
from localazure.arm.request import ArmError, Call, allow, string_map
from localazure.arm.server import Reply
from localazure.arm.state import ArmState

#: Provider states in a subscription nobody has used for Kubernetes yet: the three namespaces the tutorial
#: (and the service) registers are NotRegistered; every other namespace counts as Registered. Creating an AKS
#: (Arc) cluster registers Microsoft.ContainerService (Microsoft.Kubernetes), as creating one in Azure does.
FRESH_SUBSCRIPTION: Mapping[str, str] = {
    "Microsoft.ContainerService": "NotRegistered",
    "Microsoft.Kubernetes": "NotRegistered",
    "Microsoft.KubernetesConfiguration": "NotRegistered",
}
#: A subscription already used for Kubernetes: every namespace Registered.
REGISTERED: Mapping[str, str] = {}
#: The provider states a subscription can start with, by name (`argoboot emulator start --providers NAME`).
PROVIDER_PRESETS: Mapping[str, Mapping[str, str]] = {"fresh": FRESH_SUBSCRIPTION, "registered": REGISTERED}


@dataclass
class Subscription:
    subscription_id: str
    display_name: str
    tenant_id: str
    provider_states: dict[str, str]  # lower-cased namespace -> state at creation; absent: Registered

    def body(self) -> Json:
        return {
            "id": f"/subscriptions/{self.subscription_id}",
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "subscriptionId": self.subscription_id,
            "tenantId": self.tenant_id,
            "displayName": self.display_name,
            "state": "Enabled",
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "PayAsYouGo_2014-09-01",
                "spendingLimit": "Off",
            },
        }


@dataclass
class ResourceGroup:
    subscription: str
    name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)
    managed_by: str | None = None
    provisioning_state: str = "Succeeded"  # Deleting while `localazure.arm.resource_groups` deletes it

    def body(self) -> Json:
        body: Json = {
            "id": f"/subscriptions/{self.subscription}/resourceGroups/{self.name}",
            "name": self.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": self.location,
        }
        if self.managed_by:
            body["managedBy"] = self.managed_by
        if self.tags:
            body["tags"] = dict(self.tags)
        body["properties"] = {"provisioningState": self.provisioning_state}
        return body


def cloud_metadata(arm_url: str, api_version: str) -> Reply:
    """`GET /metadata/endpoints`: the cloud's endpoints as ARM describes them (`az cloud register` reads it).

    2022-09-01 answers this cloud alone; 2019-05-01 a list of clouds. The endpoints other than ARM's are
    Azure's public ones: nothing of the local Azure answers there, and no client here needs them.
    """
    cloud: Json = {
        "portal": "https://portal.azure.com",
        "authentication": {
            "loginEndpoint": "https://login.microsoftonline.com",
            "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "media": "https://rest.media.azure.net",
        "graphAudience": "https://graph.windows.net/",
        "graph": "https://graph.windows.net/",
        "name": "AzureCloud",
        "suffixes": {
            "azureDataLakeStoreFileSystem": "azuredatalakestore.net",
            "acrLoginServer": "azurecr.io",
            "sqlServerHostname": "database.windows.net",
            "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
            "keyVaultDns": "vault.azure.net",
            "storage": "core.windows.net",
            "azureFrontDoorEndpointSuffix": "azurefd.net",
            "storageSyncEndpointSuffix": "afs.azure.net",
            "mhsmDns": "managedhsm.azure.net",
            "mysqlServerEndpoint": "mysql.database.azure.com",
            "postgresqlServerEndpoint": "postgres.database.azure.com",
            "mariadbServerEndpoint": "mariadb.database.azure.com",
            "synapseAnalytics": "dev.azuresynapse.net",
            "attestationEndpoint": "attest.azure.net",
        },
        "batch": "https://batch.core.windows.net/",
        "resourceManager": arm_url.rstrip("/") + "/",
        "activeDirectoryDataLake": "https://datalake.azure.net/",
        "sqlManagement": "https://management.core.windows.net:8443/",
        "microsoftGraphResourceId": "https://graph.microsoft.com/",
        "appInsightsResourceId": "https://api.applicationinsights.io",
        "appInsightsTelemetryChannelResourceId": "https://dc.applicationinsights.azure.com/v2/track",
        "attestationResourceId": "https://attest.azure.net",
        "synapseAnalyticsResourceId": "https://dev.azuresynapse.net",
        "logAnalyticsResourceId": "https://api.loganalytics.io",
        "ossrDbmsResourceId": "https://ossrdbms-aad.database.windows.net",
    }
    if api_version == "2022-09-01":
        return Reply(200, cloud)
    if api_version == "2019-05-01":
        return Reply(200, [cloud])
    if not api_version:
        raise ArmError(
            400, "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )  # fmt: skip
    raise ArmError(
        400,
        "InvalidApiVersionParameter",
        f"The api-version '{api_version}' is invalid. The supported versions are '2022-09-01, 2019-05-01'.",
    )


class SubscriptionRoutes(ArmState):
    def __init__(self) -> None:
        super().__init__()
        self.default_provider_states: Mapping[str, str] = FRESH_SUBSCRIPTION  # for subscriptions made from now
        self._subscriptions: dict[str, Subscription] = {}  # by lower-cased id
        self._resource_groups: dict[tuple[str, str], ResourceGroup] = {}  # by (subscription, group), lower-cased

    def _subscription(self, subscription_id: str, display_name: str | None = None,
                      provider_states: Mapping[str, str] | None = None) -> Subscription:
        """The subscription, made on first use with the default provider states (or the given ones)."""
        key = subscription_id.lower()
        existing = self._subscriptions.get(key)
        if existing is not None:
            return existing
        states = self.default_provider_states if provider_states is None else provider_states
        made = Subscription(subscription_id, display_name or f"Local subscription {len(self._subscriptions) + 1}",
                            self.tenant_id, {ns.lower(): state for ns, state in states.items()})
        self._subscriptions[key] = made
        return made

    def _ensure_resource_group(self, subscription: str, name: str, location: str,
                               managed_by: str | None = None) -> ResourceGroup:
        self._subscription(subscription)
        key = (subscription.lower(), name.lower())
        group = self._resource_groups.get(key)
        if group is None:
            group = self._resource_groups[key] = ResourceGroup(subscription, name, location, managed_by=managed_by)
        return group

    def _require_subscription(self, call: Call) -> None:
        if call.subscription is not None and call.subscription not in self._subscriptions:
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{call.segments[1]}' could not be found.")

    def _require_resource_group(self, subscription: str, name: str) -> ResourceGroup:
        group = self._resource_groups.get((subscription.lower(), name.lower()))
        if group is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
        return group

    def _subscriptions_list(self, call: Call) -> Reply:
        allow(call, "GET")
        return Reply(200, {"value": [s.body() for s in self._subscriptions.values()], "count": {
            "type": "Total", "value": len(self._subscriptions)}})

    def _subscription_get(self, call: Call) -> Reply:
        allow(call, "GET")
        return Reply(200, self._subscriptions[call.lower[1]].body())

    def _tenants(self, call: Call) -> Reply:
        allow(call, "GET")
        tenant = {
            "id": f"/tenants/{self.tenant_id}",
            "tenantId": self.tenant_id,
            "tenantCategory": "Home",
            "country": "United States",
            "countryCode": "US",
            "displayName": "Local Azure",
            "domains": ["localazure.onmicrosoft.com"],
            "defaultDomain": "localazure.onmicrosoft.com",
            "tenantType": "AAD",
        }
        return Reply(200, {"value": [tenant]})

    def _resource_group_list(self, call: Call) -> Reply:
        allow(call, "GET")
        groups = [g.body() for (sub, _), g in self._resource_groups.items() if sub == call.subscription]
        return Reply(200, {"value": groups})

    def _resource_group(self, call: Call) -> Reply:
        """GET a group, or PUT one: 201 new, 200 existing (its location cannot change)."""
        allow(call, "GET", "PUT")
        subscription, name = call.segments[1], call.segments[3]
        if call.method == "GET":
            return Reply(200, self._require_resource_group(subscription, name).body())
        body = call.body if isinstance(call.body, dict) else {}
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        tags = string_map(body.get("tags"), "tags")
        existing = self._resource_groups.get((subscription.lower(), name.lower()))
        if existing is not None:
            if existing.location.replace(" ", "").lower() != location.replace(" ", "").lower():
                raise ArmError(
                    409,
                    "InvalidResourceGroupLocation",
                    f"Invalid resource group location '{location}'. The Resource group already exists in location "
                    f"'{existing.location}'.",
                )
            existing.tags = tags
            return Reply(200, existing.body())
        group = self._ensure_resource_group(subscription, name, location)
        group.tags = tags
        return Reply(201, group.body())
