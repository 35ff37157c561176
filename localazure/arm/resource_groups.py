"""Deleting a resource group, as ARM does it: an asynchronous operation that deletes what the group holds.

`DELETE /subscriptions/{s}/resourcegroups/{g}` answers 202 with a `Location` (ARM's
`/subscriptions/{s}/operationresults/{id}`) and a `Retry-After`; the group reads `Deleting` meanwhile and
refuses writes (409 `ResourceGroupBeingDeleted`). Polling the Location answers 202 until the operation ends
(resource_group_delete_seconds later, on the emulator's clock), then 200; from then on the group, its clusters (with
their extensions and the AKS node resource groups they manage), identities (with their federated credentials),
the container registries and the role assignments at or under its scope are gone (404). A group that does not
exist is 404 `ResourceGroupNotFound`. `HEAD` on a group is 204 or 404 (CheckExistence). Source: the
ResourceGroups_Delete operation of the resources spec (200/202, long-running by `Location`) and ARM's
async-operation guide (202 + Location + Retry-After while running, 200 when done).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import quote

from localazure.arm.common import new_guid
from localazure.arm.extensions import ExtensionRoutes
from localazure.arm.request import ArmError, Call, allow
from localazure.arm.roles import RoleAssignmentRoutes
from localazure.arm.server import Reply


@dataclass
class GroupDeletion:
    """A resource group's deletion in flight (or done), as its operation-results URL reports it."""

    subscription: str  # lower-cased
    group: str  # lower-cased
    ends: float
    done: bool = False


class ResourceGroupRoutes(ExtensionRoutes, RoleAssignmentRoutes):
    def __init__(self) -> None:
        super().__init__()
        self.resource_group_delete_seconds = 10.0
        self._group_deletions: dict[str, GroupDeletion] = {}  # by operation id

    def _settle(self, now: float) -> None:
        super()._settle(now)
        for deletion in self._group_deletions.values():
            if not deletion.done and now >= deletion.ends:
                self._delete_group_contents(deletion.subscription, deletion.group)
                deletion.done = True

    def _resource_group(self, call: Call) -> Reply:
        if call.method == "DELETE":
            return self._begin_group_delete(call)
        if call.method == "HEAD":  # ResourceGroups_CheckExistence (`az group exists`): 204 or 404, no body
            exists = (call.lower[1], call.lower[3]) in self._resource_groups
            return Reply(204 if exists else 404)
        group = self._resource_groups.get((call.lower[1], call.lower[3]))
        if call.method == "PUT" and group is not None and group.provisioning_state == "Deleting":
            raise ArmError(
                409,
                "ResourceGroupBeingDeleted",
                f"The resource group '{call.segments[3]}' is in deprovisioning state and cannot perform this "
                "operation.",
            )
        return super()._resource_group(call)

    def _begin_group_delete(self, call: Call) -> Reply:
        subscription, name = call.segments[1], call.segments[3]
        self._require_resource_group(subscription, name)
        key = (subscription.lower(), name.lower())
        op_id = next((i for i, d in self._group_deletions.items() if not d.done and (d.subscription, d.group) == key),
                     None)  # a repeated DELETE answers with the operation already running
        if op_id is None:
            op_id = new_guid().replace("-", "").upper()
            self._group_deletions[op_id] = GroupDeletion(*key, call.now + self.resource_group_delete_seconds)
            self._resource_groups[key].provisioning_state = "Deleting"
        return Reply(202, None, self._operation_headers(call, op_id))

    def _operation_headers(self, call: Call, op_id: str) -> dict[str, str]:
        remaining = max(0.0, self._group_deletions[op_id].ends - call.now)
        location = f"{self.url}/subscriptions/{quote(call.segments[1])}/operationresults/{op_id}"
        return {"Location": f"{location}?api-version={call.api_version}", "Retry-After": str(math.ceil(remaining))}

    def _group_operation_result(self, call: Call) -> Reply:
        """`GET /subscriptions/{s}/operationresults/{id}`: 202 while the deletion runs, 200 once it is done."""
        allow(call, "GET")
        deletion = self._group_deletions.get(call.segments[3])
        if deletion is None or deletion.subscription != call.lower[1]:
            raise ArmError(404, "OperationResultNotFound", f"The operation '{call.segments[3]}' was not found.")
        if deletion.done:
            return Reply(200)
        return Reply(202, None, self._operation_headers(call, call.segments[3]))

    def _delete_group_contents(self, subscription: str, group: str) -> None:
        prefix = f"/subscriptions/{subscription}/resourcegroups/{group}/"
        for key, cluster in list(self._clusters.items()):
            if key.startswith(prefix):
                for extension in cluster.extensions.values():
                    if extension.operation is not None:
                        extension.operation.canceled = True
                del self._clusters[key]
                managed = cluster.resource_uri.lower()
                for group_key, held in list(self._resource_groups.items()):
                    if (held.managed_by or "").lower() == managed:
                        self._delete_group_contents(*group_key)
        for key in [k for k in self._identities if k.startswith(prefix)]:
            del self._identities[key]
        for key in [k for k in self._registries if k.startswith(prefix)]:
            del self._registries[key]
        scope = prefix.rstrip("/")
        for key in [k for k, a in self._role_assignments.items()
                    if a.scope.lower() == scope or a.scope.lower().startswith(prefix)]:
            del self._role_assignments[key]
        self._resource_groups.pop((subscription, group), None)
