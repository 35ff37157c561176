"""`POST .../userAssignedIdentities/{name}/listAssociatedResources`: the resources a user-assigned identity is
assigned to, as `az identity list-resources` and the portal's "Associated resources" read them.

The spec (msi, 2021-09-30-preview and 2022-01-31-preview, the versions that have the action) answers an
AssociatedResourcesListResult: `totalCount`, `value` of AzureResource (`id`, `name`, `type`, `resourceGroup`,
`subscriptionId`, `subscriptionDisplayName`) and `nextLink`, paged by `$top` / `$skip` / `$skiptoken`. Here the
resources that can hold an identity are clusters: an AKS cluster's control-plane identity
(`identity.userAssignedIdentities`) or kubelet identity (`identityProfile.kubeletidentity.resourceId`). `$filter`
and `$orderby` (OData over those fields) are refused: the local ARM does not evaluate OData.
"""

from __future__ import annotations

from urllib.parse import urlencode

from localazure.arm.clusters import ClusterRoutes
from localazure.arm.common import Json, not_found_message
from localazure.arm.identities import IdentityRoutes
from localazure.arm.providers import refuse_unoffered_version
from localazure.arm.request import ArmError, Call, allow
from localazure.arm.server import Reply

#: The msi versions whose spec has the action (bicep-types-az generated/msi: `Function listAssociatedResources`);
#: both are published versions of userAssignedIdentities (api-versions.md §4).
ACTION_VERSIONS = ("2022-01-31-preview", "2021-09-30-preview")


class AssociatedResourceRoutes(ClusterRoutes, IdentityRoutes):
    def _associated_resources(self, call: Call) -> Reply:
        allow(call, "POST")
        refuse_unoffered_version(call, "userAssignedIdentities/listAssociatedResources", ACTION_VERSIONS)
        subscription, resource_group, name = call.segments[1], call.segments[3], call.segments[7]
        self._require_resource_group(subscription, resource_group)
        identity = self._identities.get("/" + "/".join(call.lower[:8]))
        if identity is None:
            message = not_found_message("Microsoft.ManagedIdentity", "userAssignedIdentities", name, resource_group)
            raise ArmError(404, "ResourceNotFound", message)
        for unsupported in ("$filter", "$orderby"):
            if call.query.get(unsupported):
                raise ArmError(400, "BadRequest", f"The local ARM does not evaluate '{unsupported}' here.")
        found = sorted((self._associated(key) for key in self._assigned(identity.id)),
                       key=lambda r: str(r["id"]).lower())
        skip, top = _count(call, "$skiptoken") or _count(call, "$skip") or 0, _count(call, "$top")
        page = found[skip:] if top is None else found[skip : skip + top]
        next_link = None
        if top is not None and skip + top < len(found):
            query = {"api-version": call.api_version, "$top": top, "$skiptoken": skip + top}
            next_link = f"{self.url}{call.path}?{urlencode(query)}"
        return Reply(200, {"totalCount": len(found), "value": page, "nextLink": next_link})

    def _assigned(self, identity_id: str) -> list[str]:
        """The clusters that hold the identity, by key."""
        wanted = identity_id.lower()
        held = []
        for key, cluster in self._clusters.items():
            body = cluster.body(cluster.kind.latest_api, 0.0)
            assigned = {i.lower() for i in ((body.get("identity") or {}).get("userAssignedIdentities") or {})}
            kubelet = (((body.get("properties") or {}).get("identityProfile") or {}).get("kubeletidentity") or {})
            assigned.add(str(kubelet.get("resourceId", "")).lower())
            if wanted in assigned:
                held.append(key)
        return held

    def _associated(self, cluster_key: str) -> Json:
        cluster = self._clusters[cluster_key]
        subscription = self._subscription(cluster.subscription)
        return {
            "id": cluster.resource_uri,
            "name": cluster.name,
            "type": cluster.kind.body_type.lower(),  # lower-cased, as the spec's example and Resource Graph
            "resourceGroup": cluster.resource_group,
            "subscriptionId": cluster.subscription,
            "subscriptionDisplayName": subscription.display_name,
        }


def _count(call: Call, name: str) -> int | None:
    value = call.query.get(name.lower())
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise ArmError(400, "BadRequest", f"The query parameter '{name}' must be a non-negative integer.")
    return int(value)
