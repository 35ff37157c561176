"""Resource groups, as far as the bootstrapper needs them: whether one exists, and writes into one that does not.

Not created over HTTP here: a group exists once a test adds it (`add_resource_group`) or puts a cluster, an
identity or a registry in it. `GET /subscriptions/{s}/resourcegroups/{g}` answers 200 or 404
`ResourceGroupNotFound`, the code a PUT into a missing group gets from every resource provider.
"""

from __future__ import annotations

from localazure.arm.common import Json
from localazure.arm.request import ArmError, Call, allow
from localazure.arm.server import Reply
from localazure.arm.state import ArmState


class ResourceGroupRoutes(ArmState):
    def __init__(self) -> None:
        super().__init__()
        self._resource_groups: dict[tuple[str, str], str] = {}  # (subscription, group) lower-cased -> location

    def _note_group(self, subscription: str, resource_group: str, location: str = "eastus") -> None:
        self._resource_groups.setdefault((subscription.lower(), resource_group.lower()), location)

    def _require_group(self, subscription: str, resource_group: str) -> None:
        if (subscription.lower(), resource_group.lower()) not in self._resource_groups:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{resource_group}' could not be found.")

    def _resource_group(self, call: Call) -> Reply:
        allow(call, "GET")
        subscription, name = call.segments[1], call.segments[3]
        self._require_group(subscription, name)
        body: Json = {
            "id": f"/subscriptions/{subscription}/resourceGroups/{name}",
            "name": name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": self._resource_groups[(subscription.lower(), name.lower())],
            "properties": {"provisioningState": "Succeeded"},
        }
        return Reply(200, body)
