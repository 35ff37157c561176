"""The local ARM's URL map: which route family answers which path. Add a resource here and in its own module."""

from __future__ import annotations

import re

from localazure.arm.associated_resources import AssociatedResourceRoutes
from localazure.arm.clusters import CLUSTER_KINDS, ClusterRoutes
from localazure.arm.common import Json
from localazure.arm.extension_type_catalog import ExtensionTypeCatalogRoutes
from localazure.arm.extensions import ExtensionRoutes
from localazure.arm.graph import GraphRoutes
from localazure.arm.hub_routes import HubAccessRoutes
from localazure.arm.identities import IdentityRoutes
from localazure.arm.operations import operations_list
from localazure.arm.providers import ProviderRoutes, unknown
from localazure.arm.request import ArmError, Call, allow
from localazure.arm.resource_graph import ResourceGraphRoutes
from localazure.arm.resource_groups import ResourceGroupRoutes
from localazure.arm.roles import RoleAssignmentRoutes
from localazure.arm.server import Reply


class ArmRoutes(ResourceGraphRoutes, ResourceGroupRoutes, AssociatedResourceRoutes, ExtensionTypeCatalogRoutes,
                ProviderRoutes, ExtensionRoutes, HubAccessRoutes, ClusterRoutes, RoleAssignmentRoutes, IdentityRoutes,
                GraphRoutes):
    """All the families; each one that reads another's resources comes before it (the MRO requires it).
    `SubscriptionRoutes` (subscriptions, tenants, resource groups) comes in through those that live in them."""

    def _route(self, call: Call) -> Reply:
        match call.lower:
            case ["subscriptions"]:
                return self._subscriptions_list(call)
            case ["subscriptions", _]:
                return self._subscription_get(call)
            case ["tenants"]:
                return self._tenants(call)
            case ["subscriptions", _, "resourcegroups"]:
                return self._resource_group_list(call)
            case ["subscriptions", _, "resourcegroups", _]:
                return self._resource_group(call)
            case ["subscriptions", _, "operationresults", _]:
                return self._group_operation_result(call)
            case ["providers", _, "operations"]:
                return operations_list(call)
            case ["providers", "microsoft.resourcegraph", "resources"]:
                return self._resource_graph(call)
            case ["subscriptions", _, "providers"]:
                return self._provider_list(call)
            case [*_, "providers", "microsoft.authorization", "roleassignments", _]:
                return self._role_assignment(call)
            case ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.containerregistry", "registries", _]:
                return self._registry(call)
            case ["subscriptions", _, "providers", _]:
                allow(call, "GET")
                return self._provider(call, register=False)
            case ["subscriptions", _, "providers", _, "register"]:
                allow(call, "POST")
                return self._provider(call, register=True)
        self._require_registration(call)
        match call.lower:
            case ["subscriptions", _, "resourcegroups", _, "providers", namespace, resource_type, _] if (
                namespace,
                resource_type,
            ) in CLUSTER_KINDS:
                return self._cluster(call)
            case ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.containerservice", "managedclusters",
                  _, "listclusterusercredential"]:
                return self._user_credential(call)
            case [*_, "providers", "microsoft.kubernetesconfiguration", "extensions"] if len(call.lower) == 11:
                return self._extension_list(call)
            case [*_, "providers", "microsoft.kubernetesconfiguration", "extensions", _] if len(call.lower) == 12:
                return self._extension(call)
            case ["subscriptions", _, "providers", "microsoft.kubernetesconfiguration", "locations", _,
                  "extensiontypes", _, "versions"]:
                return self._extension_type_versions(call)
            case ["subscriptions", _, "providers", "microsoft.kubernetesconfiguration", "locations", _,
                  "extensiontypes", *rest] if len(rest) in (0, 1, 3) and rest[1:2] in ([], ["versions"]):
                return self._extension_types_in_region(call)
            case ["subscriptions", _, "resourcegroups", _, "providers", _, _, _, "providers",
                  "microsoft.kubernetesconfiguration", "extensiontypes", *rest] if (
                len(rest) <= 3 and rest[1:2] in ([], ["versions"])
            ):
                cluster = self._parent_cluster(call)
                # managedClusters -> managedCluster: the cluster types the extension-types API names
                return self._extension_types_on_cluster(call, cluster.location, cluster.kind.resource_type[:-1])
            case [*_, "providers", "microsoft.kubernetesconfiguration", "extensions", _, "operations", _] if (
                len(call.lower) == 14
            ):
                return self._operation(call)
            case [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.managedidentity",
                "userassignedidentities",
                _,
            ]:
                return self._identity(call)
            case [*_, "userassignedidentities", _, "listassociatedresources"] if len(call.lower) == 9:
                return self._associated_resources(call)
            case [*_, "userassignedidentities", _, "federatedidentitycredentials"] if len(call.lower) == 9:
                return self._credential_list(call)
            case [*_, "userassignedidentities", _, "federatedidentitycredentials", _] if len(call.lower) == 10:
                return self._credential(call)
            case ["subscriptions", _, "providers", _, _] | ["subscriptions", _, "resourcegroups", _, "providers", _, _]:
                return self._list(call)
            case ["subscriptions", _, "resources"]:
                return self._resources(call)
        unknown(call)

    def _list(self, call: Call) -> Reply:
        """Subscription- and resource-group-wide lists of clusters and identities."""
        allow(call, "GET")
        namespace, resource_type = call.lower[-2], call.lower[-1]
        resource_group = call.lower[3] if call.lower[2] == "resourcegroups" else None
        bodies: list[Json]
        if (namespace, resource_type) in CLUSTER_KINDS:
            kind = CLUSTER_KINDS[(namespace, resource_type)]
            bodies = [
                c.body(call.api_version, call.now)
                for c in self._clusters.values()
                if c.kind is kind and _in_scope(c.subscription, c.resource_group, call.subscription, resource_group)
            ]
        elif (namespace, resource_type) == ("microsoft.managedidentity", "userassignedidentities"):
            bodies = [
                i.body(call.api_version)
                for i in self._identities.values()
                if _in_scope(i.subscription, i.resource_group, call.subscription, resource_group)
            ]
        else:
            unknown(call)
        return Reply(200, {"value": bodies})


    def _resources(self, call: Call) -> Reply:
        """`GET /subscriptions/{s}/resources?$filter=resourceType eq '...' [or ...]`: the generic list (ids,
        locations and tags; properties only with `$expand`). The sweep lists per cluster type instead (`_list`): this
        needs subscriptions/resources/read, which the app's role does not hold."""
        allow(call, "GET")
        wanted = {t.lower() for t in re.findall(r"resourceType eq '([^']+)'", call.query.get("$filter", ""))}
        if call.query.get("$filter") and not wanted:
            raise ArmError(400, "InvalidFilterInQueryString", "Only resourceType eq '...' filters are supported.")
        found: list[Json] = []
        for cluster in self._clusters.values():
            if cluster.subscription.lower() != call.subscription or (
                wanted and cluster.kind.body_type.lower() not in wanted
            ):
                continue
            body = cluster.body(cluster.kind.latest_api, call.now)
            found.append({k: body[k] for k in ("id", "name", "type", "location", "tags")})
        return Reply(200, {"value": found})


def _in_scope(subscription: str, resource_group: str, want_subscription: str | None, want_group: str | None) -> bool:
    return subscription.lower() == want_subscription and (want_group is None or resource_group.lower() == want_group)
